"""What a lab grades: items, points, cases, references and how outputs are compared.

A lab spec is plain data (:class:`LabSpec` holding :class:`Item` s holding
:class:`Case` s). The parent process builds the inputs of every case from one
seed, writes them for the worker as plain tensors, and later compares the
tensors the worker sends back with the reference, computed here in the parent.
The worker never sees a spec, a reference output or the seed.

Comparison kinds:

- ``"close"``: the reference is called on the same inputs; shapes must match and
  values agree within ``rtol``/``atol`` (``torch.allclose`` semantics).
- ``"exact"``: same shape and exactly equal values (reshapes and permutes).
- ``"custom"``: ``Item.check(case_inputs, outputs, reference)`` decides, for
  random functions (statistics, structure) and modules (behaviour).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

#: A case's arguments are tensors, plain JSON values or :class:`Gen` markers.
Value = Any


@dataclass(frozen=True)
class Gen:
    """Stands for ``torch.Generator().manual_seed(seed)``, built fresh inside the worker."""

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
        make: ``make(g) -> Call`` draws the inputs from the parent's seeded generator ``g``.
        public: public cases show their inputs and expected output in feedback;
            held-back cases only say that they failed and why.
        driver: the worker procedure that exercises the submission (see
            ``genlab.grading.worker.DRIVERS``): ``"call"``, ``"module"``, ``"scenario"``
            (options ``scenario``: a name in ``genlab.grading.scenarios.SCENARIOS``).
        options: driver options (plain JSON): ``grad`` (indices of arguments that
            require grad; the worker back-propagates ``out.sum()``), ``repeat``
            (call again on fresh copies), ``seed`` (``torch.manual_seed`` before each call).
    """

    name: str
    make: Callable[[torch.Generator], Call]
    public: bool = True
    driver: str = "call"
    options: dict[str, Any] = field(default_factory=dict)


#: ``check(call, outputs, reference) -> None`` (pass) or a failure message.
CheckFn = Callable[[Call, dict[str, torch.Tensor], Callable[..., Any] | None], "str | None"]


@dataclass
class Item:
    """A graded function or class, named as in the lab's exercise cell.

    Attributes:
        name: the function/class name (item id).
        points: what the item is worth; all or nothing (every case must pass).
        cases: public and held-back cases.
        reference: dotted path of the genlab reference (``"genlab.losses.kl_divergence"``);
            also what a submission must not call for this item.
        fallback: a closed-form reference used when the genlab one cannot be imported.
        also_forbidden: more dotted paths that count as "calling the reference".
        compare: ``"close"``, ``"exact"`` or ``"custom"``.
        check: the decision for ``"custom"`` items (also run after ``close``/``exact`` if given).
        rtol, atol: tolerances for ``"close"``.
        expected: one line for the feedback: what a correct implementation does.
        hint: one line for the feedback when the item fails.
    """

    name: str
    points: float
    cases: list[Case]
    reference: str | None = None
    fallback: Callable[..., Any] | None = None
    also_forbidden: tuple[str, ...] = ()
    compare: str = "close"
    check: CheckFn | None = None
    rtol: float = 1e-4
    atol: float = 1e-5
    expected: str = ""
    hint: str = ""

    def forbidden(self) -> list[tuple[str, str]]:
        """``(module, name)`` pairs a submission's definition of this item must not use."""
        paths = ([self.reference] if self.reference else []) + list(self.also_forbidden)
        return [tuple(p.rsplit(".", 1)) for p in paths]  # type: ignore[misc]

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
class LabSpec:
    """Everything the grader needs to know about one lab.

    Attributes:
        lab: the lab's number and name, ``"02_vae"``.
        items: the graded items, in notebook order.
        title: human title for feedback.
    """

    lab: str
    items: list[Item]
    title: str = ""

    @property
    def max_points(self) -> float:
        return float(sum(i.points for i in self.items))

    def item(self, name: str) -> Item:
        for it in self.items:
            if it.name == name:
                return it
        raise KeyError(name)


# --------------------------------------------------------------------------- helpers for specs

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
    """``[a, b, c, d, ...] (shape ...)`` for feedback."""
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


# --------------------------------------------------------------------------- behaviour scenarios

def scenario_case(name: str, scenario: str, args: list, public: bool = True, seeded: bool = True) -> Case:
    """A case that runs :mod:`genlab.grading.scenarios` ``scenario`` with plain JSON ``args``.

    For a held-back case whose scenario takes a seed first (``seeded``), that seed
    is drawn from the run's generator, so held-back setups change with ``--seed``.
    """
    a = list(args)  # a copy: the spec's list cannot change the case later

    def make(g: torch.Generator) -> Call:
        if seeded and not public:
            return Call([randint(g, 0, 2**20)] + list(a[1:]))
        return Call(list(a))

    return Case(name, make, public=public, driver="scenario", options={"scenario": scenario})


def scenario_check(scenario: str, reference: Callable[..., Any], messages: dict[str, str],
                   rtol: float = 1e-4, atol: float = 1e-6,
                   loose: Callable[[list], dict[str, float]] | None = None) -> CheckFn:
    """A check that runs the same scenario on ``reference`` in the parent and compares observations.

    The reference's observations are computed once per set of arguments and cached.
    ``loose(args)`` gives per-key absolute tolerances for a case (e.g. under autocast).
    """
    from .scenarios import compare_scenarios, run_scenario

    cache: dict[str, dict[str, torch.Tensor]] = {}

    def check(call: Call, outputs: dict[str, torch.Tensor], ref) -> str | None:  # noqa: ARG001
        key = repr(call.args)
        if key not in cache:
            cache[key] = run_scenario(scenario, reference, list(call.args), None)
        return compare_scenarios(outputs, cache[key], messages, rtol, atol, loose(list(call.args)) if loose else None)

    return check
