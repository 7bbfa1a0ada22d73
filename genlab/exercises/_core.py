"""The data of an exercise entry and the one judging path shared by the student check and the grader.

An entry (:class:`Item`) holds, once: the reference, the public and held-back
:class:`Case` s (each tagged with the contract property it tests), the judge, the
named mistakes and the hint slots. A :class:`Lab` groups a graded lab's items.

Judging one case, everywhere: ``call = case.make(g)`` draws the inputs, a driver of
:mod:`genlab.exercises.drivers` exercises the implementation on them (in the grader's
sandboxed worker, or in-process for a student check and :func:`~genlab.exercises.drivers.run_cases`), and
:func:`judge` compares the driver's plain-tensor outputs with the reference.

Comparison kinds (``Item.compare``):

- ``"close"``: the reference is called on the same inputs; shapes must match and
  values agree within ``rtol``/``atol`` (``torch.allclose`` semantics).
- ``"exact"``: same shape and exactly equal values (reshapes and permutes).
- ``"custom"``: ``Item.check(call, outputs, reference)`` decides, for random
  functions (statistics, structure) and modules (behaviour).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

#: A case's arguments are tensors, plain JSON values or :class:`Gen` markers.
Value = Any

#: The contract properties a case can be tagged with.
PROPERTIES = ("value", "shape", "device-dtype", "gradients", "extreme", "side-effects", "randomness",
              "activations", "io", "behaviour")


@dataclass(frozen=True)
class Gen:
    """Stands for ``torch.Generator().manual_seed(seed)``, built fresh where the case runs."""

    seed: int


@dataclass
class Call:
    """The arguments of one call of a graded function (made by a case's ``make``)."""

    args: list[Value] = field(default_factory=list)
    kwargs: dict[str, Value] = field(default_factory=dict)


@dataclass
class Case:
    """One test of an item.

    Attributes:
        name: short id, unique within the item (``"public-1"``, ``"held-2"``).
        make: ``make(g) -> Call`` draws the inputs from a seeded generator ``g`` (the
            grader seeds it per run, so held-back inputs change with ``--seed``).
        public: public cases run in the student check too and show their inputs in
            feedback; held-back cases are drawn only by the grader.
        driver: the procedure of :mod:`genlab.exercises.drivers` that exercises the
            implementation: ``"call"``, ``"module"``, ``"scenario"`` (option ``scenario``:
            a name in ``genlab.exercises.scenarios.SCENARIOS``).
        options: driver options (plain JSON): ``grad`` (indices of arguments that
            require grad; the driver back-propagates ``out.sum()``), ``repeat``
            (call again on fresh copies), ``seed`` (``torch.manual_seed`` before each call).
        tags: the contract properties this case tests (see :data:`PROPERTIES`).
    """

    name: str
    make: Callable[[torch.Generator], Call]
    public: bool = True
    driver: str = "call"
    options: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ("value",)


#: ``check(call, outputs, reference) -> None`` (pass) or a failure message.
CheckFn = Callable[[Call, dict[str, torch.Tensor], Callable[..., Any] | None], "str | None"]

#: ``{label: (wrong implementation, substring of the student check's message)}``.
Mistakes = dict[str, tuple[Any, str]]


@dataclass
class Item:
    """A graded function or class, named as in the lab's exercise cell: its whole contract.

    Attributes:
        name: the function/class name (item id; the student check is ``check_<name>``).
        points: what the item is worth; all or nothing (every case must pass).
        cases: public and held-back cases.
        reference: dotted path of the one reference implementation (the library's, or
            the exercise module's for lab-only functions); also what a submission must not call.
        fallback: a closed-form reference used when the dotted one cannot be imported.
        also_forbidden: more dotted paths a submission must not call for this item.
        protected: more dotted paths of genlab functions that compute this item (closed
            forms elsewhere); with ``reference`` and ``also_forbidden`` they are what
            :func:`genlab.exercises.protected_references` lists.
        compare: ``"close"``, ``"exact"`` or ``"custom"``.
        check: the decision for ``"custom"`` items (also run after ``close``/``exact`` if given).
        rtol, atol: tolerances for ``"close"``.
        expected: one line for the feedback: what a correct implementation does.
        hint: one line for the feedback when the item fails.
        diagnose: ``diagnose(fn) -> str | None``, the student check's own probes that
            name a mistake (raising :class:`~genlab.exercises._student.CheckFailed`); it
            runs before the public cases; its return value is added to the pass line.
        mistakes: named wrong implementations and the message substring each must trigger.
        hints: the hint ladder (levels 1-3), filled by the next issue.
    """

    name: str
    points: float
    cases: list[Case]
    reference: str | None = None
    fallback: Callable[..., Any] | None = None
    also_forbidden: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()
    compare: str = "close"
    check: CheckFn | None = None
    rtol: float = 1e-4
    atol: float = 1e-5
    expected: str = ""
    hint: str = ""
    diagnose: Callable[[Any], str | None] | None = None
    mistakes: Mistakes = field(default_factory=dict)
    hints: tuple[str, ...] = ()

    def forbidden(self) -> list[tuple[str, str]]:
        """``(module, name)`` pairs a submission's definition of this item must not use."""
        paths = ([self.reference] if self.reference else []) + list(self.also_forbidden)
        return [tuple(p.rsplit(".", 1)) for p in paths]  # type: ignore[misc]

    def protected_names(self) -> list[str]:
        """Dotted names of every genlab function that computes this item."""
        paths = ([self.reference] if self.reference else []) + list(self.also_forbidden) + list(self.protected)
        if self.fallback is not None and "<" not in self.fallback.__qualname__:  # a closed form kept here
            paths.append(f"{self.fallback.__module__}.{self.fallback.__qualname__}")
        return list(dict.fromkeys(paths))

    def resolve_reference(self) -> tuple[Callable[..., Any] | None, str]:
        """The reference callable and where it came from (``"genlab"`` or ``"fallback"``)."""
        if self.reference:
            module, name = self.reference.rsplit(".", 1)
            try:
                return getattr(importlib.import_module(module), name), "genlab"
            except (ImportError, AttributeError):
                pass
        return self.fallback, ("fallback" if self.fallback else "none")


@dataclass
class Lab:
    """Everything graded in one lab.

    Attributes:
        lab: the lab's number and name, ``"02_vae"``.
        items: the graded items, in notebook order.
        title: human title for feedback.
        questions: the lab's concept questions (filled by the next issue).
    """

    lab: str
    items: list[Item]
    title: str = ""
    questions: tuple[Any, ...] = ()

    @property
    def max_points(self) -> float:
        return float(sum(i.points for i in self.items))

    def item(self, name: str) -> Item:
        for it in self.items:
            if it.name == name:
                return it
        raise KeyError(name)


#: The name the grader used for a lab's contract.
LabSpec = Lab


def build_lab(lab: str, title: str, items: list[Item], *, mistakes: dict[str, Mistakes],
              namespace: dict[str, Any]) -> Lab:
    """A :class:`Lab` whose items are wired by name to the tables their lab module keeps once.

    Every item gets its hint ladder from :data:`genlab.exercises.hints.HINTS`; an item that
    names no mistakes or no ``diagnose`` of its own gets ``mistakes[item.name]`` and the lab
    module's ``_diagnose_<item.name>`` (looked up in ``namespace``, the module's ``globals()``),
    where those exist. So an entry's declaration states only what is particular to it.
    """
    from .hints import item_ladder  # the ladders of every lab, kept apart from the judging code

    for it in items:
        it.hints = item_ladder(it.name)
        if not it.mistakes:
            it.mistakes = mistakes.get(it.name, {})
        if it.diagnose is None:
            it.diagnose = namespace.get(f"_diagnose_{it.name}")
    return Lab(lab=lab, title=title, items=items)


# --------------------------------------------------------------------------- judging

def clone_call(call: Call) -> tuple[list, dict]:
    """Fresh copies of a call's arguments (tensors cloned, generators rebuilt)."""
    def c(v):
        if isinstance(v, torch.Tensor):
            return v.clone()
        if isinstance(v, Gen):
            return torch.Generator().manual_seed(v.seed)
        if isinstance(v, (list, tuple)):
            return type(v)(c(x) for x in v)
        return v
    return [c(a) for a in call.args], {k: c(v) for k, v in call.kwargs.items()}


def _is_meta(v: Any) -> bool:
    if isinstance(v, torch.Tensor):
        return v.device.type == "meta"
    if isinstance(v, (list, tuple)):
        return any(_is_meta(x) for x in v)
    return False


def is_meta_call(call: Call) -> bool:
    """Whether a case feeds a tensor on the ``meta`` device (shapes and dtypes, no values)."""
    return any(_is_meta(a) for a in call.args) or any(_is_meta(v) for v in call.kwargs.values())


def materialize(call: Call) -> tuple[list, dict]:
    """The call's arguments with every meta tensor replaced by a CPU tensor of its shape and dtype."""
    def m(v):
        if isinstance(v, torch.Tensor) and v.device.type == "meta":
            return torch.full(v.shape, 0.5, dtype=v.dtype) if v.is_floating_point() else torch.zeros(v.shape, dtype=v.dtype)
        if isinstance(v, (list, tuple)):
            return type(v)(m(x) for x in v)
        return v
    drawn = getattr(call, "cpu", None)
    if isinstance(drawn, Call):  # on_meta kept the values it drew
        return clone_call(drawn)
    args, kwargs = clone_call(call)
    return [m(a) for a in args], {k: m(v) for k, v in kwargs.items()}


def judge_meta(item: Item, call: Call, outputs: dict[str, torch.Tensor]) -> str | None:
    """A meta-device case: every output on ``meta``, with the reference's shape and dtype.

    Only layout is compared (a meta tensor has no values): the reference runs on CPU
    tensors of the same shapes and dtypes. A tensor made without ``device=`` (noise, a
    mask, a constant, a hidden state) lands on the CPU and is named here.
    """
    if "meta_not_applicable" in outputs:  # it reads input values, which a meta tensor lacks
        return None
    ref, _ = item.resolve_reference()
    got = outputs_of(outputs)
    if got is None:
        return "no tensor output"
    gots = got if isinstance(got, tuple) else (got,)
    n = len(gots)
    for i in range(n):
        key = "out" if n == 1 and "out" in outputs else f"out.{i}"
        if f"{key}@meta" not in outputs:
            return ("a tensor on the 'meta' device went in and the output came back on the CPU: every tensor "
                    "made inside the function (noise, masks, constants, hidden states) must be created on "
                    "the input's device")
    if ref is None:
        return None
    args, kwargs = materialize(call)
    want = ref(*args, **kwargs)
    wants = want if isinstance(want, tuple) else (want,)
    if len(wants) != n:
        return f"returned {n} tensor(s), expected {len(wants)}"
    for i, (w, gt) in enumerate(zip(wants, gots, strict=True)):
        key = "out" if n == 1 and "out" in outputs else f"out.{i}"
        shape = tuple(int(v) for v in outputs[f"{key}@meta"].tolist())
        if shape != tuple(w.shape):
            return f"on a meta input: shape {shape}, expected {tuple(w.shape)}"
        if gt.dtype != w.dtype:
            return f"on a meta input: dtype {gt.dtype}, expected {w.dtype}"
    return None


def judge(item: Item, call: Call, outputs: dict[str, torch.Tensor]) -> str | None:
    """None when the driver's ``outputs`` for ``call`` pass; otherwise why not (kept short)."""
    if is_meta_call(call):
        return judge_meta(item, call, outputs)
    ref, _ = item.resolve_reference()
    for i, a in enumerate(call.args):
        after = outputs.get(f"in.{i}")
        if isinstance(a, torch.Tensor) and after is not None and not (
                after.shape == a.shape and torch.equal(after.double().nan_to_num(), a.double().nan_to_num())):
            return f"argument {i} was modified in place: the inputs must come back unchanged"
    if item.compare in ("close", "exact"):
        if ref is None:
            return "no reference available for this item (grader configuration)"
        args, kwargs = clone_call(call)
        want = ref(*args, **kwargs)
        got = outputs_of(outputs)
        if got is None:
            return "no tensor output"
        wants = want if isinstance(want, tuple) else (want,)
        gots = got if isinstance(got, tuple) else (got,)
        if len(wants) != len(gots):
            return f"returned {len(gots)} tensor(s), expected {len(wants)}"
        for w, gt in zip(wants, gots, strict=True):
            why = compare_tensors(gt, w, item.compare, item.rtol, item.atol)
            if why:
                return why
    if item.check is not None:
        return item.check(call, outputs, ref)
    return None


#: Tensor dtypes a meta-device argument may have (named in the case's JSON form).
META_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "uint8", "bool")


def strided_layout(t: torch.Tensor) -> tuple[list[int], list[int], int] | None:
    """``(size, stride, buffer length)`` of a non-contiguous view worth rebuilding, else None.

    A transposed or sliced input travels as the flat buffer its strides address (a little
    larger than the tensor for a slice) and is rebuilt with ``as_strided`` where the case
    runs, so the implementation sees the same non-contiguous layout in the grader's worker
    as in the student check. Expanded (stride 0) and empty tensors travel contiguous.
    """
    if t.is_contiguous() or t.numel() == 0 or t.device.type == "meta":
        return None
    size, stride = list(t.shape), list(t.stride())
    if any(st <= 0 for sz, st in zip(size, stride, strict=True) if sz > 1):
        return None
    n = 1 + sum((sz - 1) * st for sz, st in zip(size, stride, strict=True))
    return (size, stride, n) if n <= 4 * t.numel() else None


def encode(value: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """A case argument as plain JSON for a driver, its tensors stored in ``tensors`` under ``key...``.

    A meta-device tensor travels as its shape and dtype only; a non-contiguous view as its
    buffer and strides (:func:`strided_layout`); any other tensor as a contiguous copy.
    """
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if t.device.type == "meta":
            dtype = str(t.dtype).removeprefix("torch.")
            if dtype not in META_DTYPES:
                raise TypeError(f"case input {key}: a meta tensor of dtype {t.dtype} cannot go to the worker")
            return {"__meta__": {"shape": list(t.shape), "dtype": dtype}}
        layout = strided_layout(t)
        if layout is not None:
            size, stride, n = layout
            buf = torch.zeros(n, dtype=t.dtype)
            buf.as_strided(size, stride).copy_(t)
            tensors[key] = buf
            return {"__t__": key, "size": size, "stride": stride}
        tensors[key] = t.clone().contiguous()
        return {"__t__": key}
    if isinstance(value, Gen):
        return {"__gen__": value.seed}
    if isinstance(value, (list, tuple)):
        return [encode(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: encode(v, f"{key}.{k}", tensors) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"case input {key} of type {type(value).__name__} cannot go to the worker")


def job_case(item: Item, case: Case, call: Call, tensors: dict[str, torch.Tensor]) -> dict:
    """The JSON form of one drawn case, as a driver reads it."""
    key = f"{item.name}/{case.name}"
    return {"name": case.name, "driver": case.driver,
            "options": dict(case.options, forbidden=[".".join(f) for f in item.forbidden()]),
            "args": encode(list(call.args), f"{key}/a", tensors),
            "kwargs": encode(dict(call.kwargs), f"{key}/k", tensors)}


# --------------------------------------------------------------------------- helpers for cases

def on_meta(make: Callable[[torch.Generator], Call]) -> Callable[[torch.Generator], Call]:
    """A case maker whose tensor arguments are moved to the ``meta`` device (shapes and dtypes only).

    Judged by :func:`judge_meta`: the outputs must be on ``meta`` with the reference's shapes
    and dtypes, so a tensor made inside without the input's device fails.
    """
    def wrapped(g: torch.Generator) -> Call:
        c = make(g)
        move = lambda v: v.to("meta") if isinstance(v, torch.Tensor) else v  # noqa: E731
        meta = Call([move(a) for a in c.args], {k: move(v) for k, v in c.kwargs.items()})
        meta.cpu = c  # the drawn values, for the reference's shapes and dtypes (never sent to the worker)
        return meta
    return wrapped


def noncontig(make: Callable[[torch.Generator], Call]) -> Callable[[torch.Generator], Call]:
    """A case maker whose tensors of two or more axes come as non-contiguous views.

    Same values and shapes as ``make`` draws; each such tensor is stored with its last two
    axes swapped and transposed back (a transposed map), so a ``.view`` that needs
    contiguous memory fails. The layout travels to the grader's worker with the case
    (:func:`strided_layout`).
    """
    def t(v):
        if isinstance(v, torch.Tensor) and v.dim() >= 2:
            return v.transpose(-1, -2).contiguous().transpose(-1, -2)
        return v

    def wrapped(g: torch.Generator) -> Call:
        c = make(g)
        return Call([t(a) for a in c.args], {k: t(v) for k, v in c.kwargs.items()})
    return wrapped


def layout_cases(make: Callable[[torch.Generator], Call], *, noncontig: bool = True) -> list[Case]:
    """The layout cases of one draw: on the ``meta`` device, public and held back, then (unless
    ``noncontig=False``) as non-contiguous views, public and held back.

    ``make`` draws the values (see :func:`on_meta` and :func:`noncontig` for what each variant tests).
    """
    cases = [Case("public-meta", on_meta(make), tags=("device-dtype",)),
             Case("held-meta", on_meta(make), public=False, tags=("device-dtype",))]
    if noncontig:
        cases += [Case("public-noncontig", _noncontig(make), tags=("shape",)),
                  Case("held-noncontig", _noncontig(make), public=False, tags=("shape",))]
    return cases


def randn(g: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    """Standard normal draws from the parent's generator."""
    return torch.randn(*shape, generator=g) * scale


def rand(g: torch.Generator, *shape: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """Uniform draws in ``[low, high)`` from the parent's generator."""
    return low + (high - low) * torch.rand(*shape, generator=g)


def randint(g: torch.Generator, low: int, high: int) -> int:
    """One integer in ``[low, high)``."""
    return int(torch.randint(low, high, (1,), generator=g))


def preview(t: torch.Tensor, n: int = 4) -> str:
    """``[a, b, c, d, ...] (shape ...)`` for feedback (a meta tensor has no values to show)."""
    if t.device.type == "meta":
        return f"a meta tensor of shape {tuple(t.shape)}, {t.dtype}"
    flat = t.detach().flatten()[:n].double().tolist()
    more = ", ..." if t.numel() > n else ""
    return "[" + ", ".join(f"{v:.4g}" for v in flat) + more + f"] (shape {tuple(t.shape)})"


def compare_tensors(got: torch.Tensor, want: torch.Tensor, kind: str, rtol: float, atol: float) -> str | None:
    """None when ``got`` matches ``want``; otherwise what differs, for feedback."""
    if tuple(got.shape) != tuple(want.shape):
        return f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    if got.is_complex() or want.is_complex():
        return "complex values are not expected here"
    g, w = got.double(), want.detach().double()
    if kind == "exact":
        if not torch.equal(g, w):
            return f"values differ: got {preview(got)}, expected {preview(want)}"
        return None
    if not torch.isfinite(g).all() and torch.isfinite(w).all():
        return "NaN or inf in the output"
    if not torch.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
        diff = float((g - w).abs().nan_to_num(float("inf")).max())
        return (f"values differ (max abs difference {diff:.3g}): got {preview(got)}, "
                f"expected {preview(want)}")
    return None


def outputs_of(outputs: dict[str, torch.Tensor], prefix: str = "out") -> torch.Tensor | tuple[torch.Tensor, ...] | None:
    """The call's output as the worker returned it: a tensor, or a tuple for ``out.0``, ``out.1``..."""
    if prefix in outputs:
        return outputs[prefix]
    parts = []
    i = 0
    while f"{prefix}.{i}" in outputs:
        parts.append(outputs[f"{prefix}.{i}"])
        i += 1
    return tuple(parts) if parts else None


_noncontig = noncontig  # under another name where a keyword argument shadows it
