"""Drivers: the procedures that exercise an implementation on one case and return plain tensors.

The grader's sandboxed worker runs them on a submission, a student check and
:func:`genlab.exercises.run_cases` run them in-process; the judge
(:func:`genlab.exercises._core.judge`) then reads only the tensors they return.
A driver takes ``(fn, case, inputs, ns)``: the implementation, the case's JSON form
(:func:`genlab.exercises._core.job_case`), the tensors it refers to and the
notebook namespace.
"""

from __future__ import annotations

import builtins
import importlib
from typing import Any

import torch

from ._core import META_DTYPES, Call, Case, Item, job_case, judge
from .scenarios import run_scenario

# Bound at import, before any submitted code runs: a cell that patches builtins cannot
# change how a driver reads the implementation's outputs.
_isinstance, _type, _len, _str = builtins.isinstance, builtins.type, builtins.len, builtins.str
_Tensor = torch.Tensor
#: What torch says when code reads the values of a meta tensor (``.item()``, ``bool(t)``, ``.tolist()``).
_READS_VALUES = ("cannot be called on meta tensors", "Cannot copy out of meta tensor")


# --------------------------------------------------------------------------- argument decoding

def _decode(value, inputs, fresh: bool = True):
    """Turn the job's JSON argument back into Python values: tensors, generators, lists."""
    if _isinstance(value, dict):
        if "__t__" in value:
            t = inputs[value["__t__"]]
            t = t.clone() if fresh else t
            if "stride" in value:  # a non-contiguous view, rebuilt from its buffer as the case declared it
                t = t.as_strided([int(v) for v in value["size"]], [int(v) for v in value["stride"]])
            return t
        if "__meta__" in value:
            meta = value["__meta__"]
            if meta.get("dtype") not in META_DTYPES:
                raise TypeError(f"a meta input of dtype {meta.get('dtype')!r}")
            return torch.empty([int(v) for v in meta["shape"]], dtype=getattr(torch, meta["dtype"]), device="meta")
        if "__gen__" in value:
            return torch.Generator().manual_seed(int(value["__gen__"]))
        return {k: _decode(v, inputs, fresh) for k, v in value.items()}
    if _isinstance(value, list):
        return [_decode(v, inputs, fresh) for v in value]
    return value


def _plain(value, key: str, out: dict) -> None:
    """Store a returned value under ``key`` if it is a plain tensor (tuples become ``key.0``...)."""
    if _type(value) is _Tensor:
        if value.device.type == "meta":  # no values: the dtype rides on an empty tensor, the shape beside it
            out[key] = torch.empty(0, dtype=value.dtype)
            out[f"{key}@meta"] = torch.tensor(list(value.shape), dtype=torch.int64)
        else:
            out[key] = value.detach().clone().contiguous().cpu()
    elif _type(value) in (tuple, list) and 0 < _len(value) <= 8:
        for i, v in enumerate(value):
            _plain(v, f"{key}.{i}", out)
    else:
        raise TypeError(f"returned a {_type(value).__name__}, not a plain torch.Tensor")


# --------------------------------------------------------------------------- drivers

def drive_call(fn, case, inputs, ns) -> dict:  # noqa: ARG001
    """Call ``fn(*args, **kwargs)``; optionally back-propagate ``out.sum()`` and repeat."""
    opts = case.get("options", {})
    out: dict = {}
    for r in range(int(opts.get("repeat", 1))):
        if "seed" in opts:
            torch.manual_seed(int(opts["seed"]) + r)
        args = _decode(case["args"], inputs)
        kwargs = _decode(case["kwargs"], inputs)
        grad = [int(i) for i in opts.get("grad", [])]
        for i in grad:
            args[i] = args[i].requires_grad_(True)
        try:
            result = fn(*args, **kwargs)
        except (RuntimeError, NotImplementedError) as exc:
            on_meta = any(_type(a) is _Tensor and a.device.type == "meta" for a in args)
            if on_meta and any(w in _str(exc) for w in _READS_VALUES):
                # the function reads input values (e.g. validates a mask): a meta tensor has none, so
                # the device property cannot be observed here; the other cases judge the function
                return {"meta_not_applicable": torch.tensor(1)}
            if on_meta and "device" in _str(exc):  # a tensor made on the CPU met a meta input: say so
                raise RuntimeError("a tensor made inside the function is not on the input's device (a 'meta' "
                                   f"input met a CPU tensor): create new tensors on the input's device ({exc})") from None
            raise
        suffix = "" if r == 0 else f"#{r}"
        _plain(result, "out" + suffix, out)
        if r == 0:  # the inputs after the call: the judge checks nothing was modified in place
            for i, a in enumerate(args):
                if _type(a) is _Tensor and a.device.type != "meta":
                    out[f"in.{i}"] = a.detach().clone().contiguous()
        if grad:
            if _type(result) is not _Tensor or not result.requires_grad:
                raise TypeError("the output is not connected to the inputs' autograd graph "
                                "(no gradient can flow back to them)")
            result.sum().backward()
            for i in grad:
                if args[i].grad is None:
                    raise TypeError(f"no gradient reached argument {i}")
                out[f"grad.{i}{suffix}"] = args[i].grad.detach().clone()
    return out


def _is_reference_class(obj, paths) -> bool:
    for path in paths:
        module_name, name = path.rsplit(".", 1)
        try:
            ref = getattr(importlib.import_module(module_name), name)
        except Exception:  # noqa: BLE001
            continue
        if _isinstance(ref, _type) and (obj is ref or (_isinstance(obj, _type) and issubclass(obj, ref))):
            return True
    return False


def drive_module(cls, case, inputs, ns) -> dict:
    """Build ``cls(**init)``, run it, back-propagate, train a few steps: behaviour as tensors.

    Options: ``init`` (constructor kwargs), ``latent`` (feed ``(B, d)`` codes,
    trying ``d`` from ``LATENT_DIM``/``latent_dim``/the config, then common
    sizes), ``steps`` (Adam steps towards a fixed random target).
    """
    opts = case.get("options", {})
    torch.manual_seed(int(opts.get("seed", 0)))
    out: dict = {}
    out["is_reference"] = torch.tensor(int(_is_reference_class(cls, opts.get("forbidden", []))))
    out["is_class"] = torch.tensor(int(_isinstance(cls, _type)))  # a factory function is not the class asked for
    try:
        model = cls(**opts.get("init", {}))
    except TypeError:
        model = cls()
    if not _isinstance(model, torch.nn.Module):
        raise TypeError(f"{getattr(cls, '__name__', 'it')}() is a {_type(model).__name__}, not an nn.Module")
    x = _decode(case["args"], inputs)[0]
    if opts.get("latent"):
        cfg = getattr(model, "config", None) or getattr(model, "cfg", None)
        sizes = [ns.get("LATENT_DIM"), getattr(model, "latent_dim", None), getattr(cfg, "latent_dim", None),
                 16, 2, 8, 32, 64, 10, 20]
        z, y, last = None, None, None
        for d in sizes:
            if not _isinstance(d, int) or d <= 0:
                continue
            z = torch.randn(x.shape[0], d)
            try:
                y = model(z)
                break
            except Exception as exc:  # noqa: BLE001 - try the next latent size
                last, z, y = exc, None, None
        if y is None:
            raise TypeError(f"could not feed codes (B, d) to the decoder: {last}")
        inp = z
    else:
        inp = x
        y = model(inp)
    _plain(y, "out", out)
    params = [p for p in model.parameters() if p.requires_grad]
    out["n_params"] = torch.tensor(_len(params))
    out["n_conv"] = torch.tensor(sum(1 for m in model.modules()
                                     if _isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))))
    out["is_reference"] = out["is_reference"] | torch.tensor(int(any(
        _is_reference_class(_type(m), opts.get("forbidden", [])) for m in model.modules())))
    if params:
        y.float().pow(2).mean().backward()
        out["n_params_grad"] = torch.tensor(sum(1 for p in params if p.grad is not None and p.grad.abs().sum() > 0))
        steps = int(opts.get("steps", 0))
        if steps:
            target = torch.randn(y.shape)
            opt = torch.optim.Adam(params, lr=float(opts.get("lr", 1e-2)))
            losses = []
            for _ in range(steps):
                opt.zero_grad()
                loss = (model(inp).float() - target).pow(2).mean()
                loss.backward()
                opt.step()
                losses.append(loss.item())
            out["losses"] = torch.tensor(losses)
    else:
        out["n_params_grad"] = torch.tensor(0)
    return out


def drive_scenario(fn, case, inputs, ns) -> dict:
    """Run a trusted behaviour scenario of :mod:`genlab.exercises.scenarios` on the submission."""
    opts = case.get("options", {})
    args = _decode(case["args"], inputs)
    out = run_scenario(opts["scenario"], fn, args, ns, opts.get("forbidden", []))
    return {k: v.detach().clone().contiguous() for k, v in out.items() if _type(v) is _Tensor}


DRIVERS = {"call": drive_call, "module": drive_module, "scenario": drive_scenario}


def run_cases(item: Item, fn: Any, *, seed: int = 0, public_only: bool = False,
              namespace: dict[str, Any] | None = None) -> list[tuple[Case, Call, str]]:
    """Draw ``item``'s cases from ``seed``, run them in this process, judge them.

    Trusted code only (the student's own notebook, tests): no sandbox. Returns the
    failures as ``(case, call, message)``.
    """
    g = torch.Generator().manual_seed(seed)
    failures = []
    for case in item.cases:
        call = case.make(g)  # drawn for every case, so held-back draws do not depend on public_only
        if public_only and not case.public:
            continue
        tensors: dict[str, torch.Tensor] = {}
        jc = job_case(item, case, call, tensors)
        try:
            outputs = DRIVERS[case.driver](fn, jc, tensors, namespace or {})
            msg = judge(item, call, outputs)
        except Exception as exc:  # noqa: BLE001 - the implementation (or a shape the reference rejects) raised
            msg = f"raised {type(exc).__name__}: {exc}"
        if msg:
            failures.append((case, call, msg))
    return failures
