"""Exercise entries of lab 07: the contract, cases, probes and mistakes of each graded item.

Grading spec of lab 07 (GPU training): autocast_settings, train_epoch, save/load_checkpoint.

Everything is graded by behaviour on the CPU (scenarios defined below and in :mod:`genlab.exercises.scenarios`):

- ``autocast_settings``: the (enabled, dtype, use_scaler) triple for CUDA with and
  without bf16, CPU, MPS, given as strings and as ``torch.device``; a scaler only
  with float16.
- ``train_epoch``: starting from eval mode, on batches of unequal sizes, with and
  without autocast and with a spy loss scaler: the weights after the epoch must
  equal the reference's, the returned loss is the mean per image, the forward
  pass runs in bf16 under ``amp`` and in fp32 without, the scaler is used.
- ``save_checkpoint``: a crash in the middle of the write leaves the previous file
  intact and no partial file; the file holds the model, optimiser, scaler (None
  without one), epoch and RNG state; 2 epochs + save + load (reference) + 2
  epochs equal 4 epochs exactly.
- ``load_checkpoint``: the same exact resume from a reference file, the epoch
  returned, a scaler's scale restored, a file without a scaler accepted.

The student check's probes:

Checks for lab 07 (GPU training): a device-agnostic AMP loop with checkpoint and resume.

Everything is checked by behaviour on the CPU, which is what a GPU run would do too:

* ``autocast_settings(device, bf16_supported=None) -> (enabled, dtype, use_scaler)``:
  bf16 where supported (no scaler), fp16 + GradScaler on CUDA without bf16;
* ``train_epoch(model, batches, optimizer, scaler, device, amp) -> float``: moves the
  model and every batch to ``device``, autocasts the forward pass when ``amp``, uses the
  scaler when one is given, and returns the epoch's mean loss;
* ``save_checkpoint(path, model, optimizer, scaler, epoch)``: atomic, readable with
  ``torch.load(weights_only=True)``, holding what an exact resume needs;
* ``load_checkpoint(path, model, optimizer, scaler) -> epoch``: the inverse, with
  ``weights_only=True``.

The resume test is the one that matters: 2 epochs, save, a fresh model and optimiser in a
scrambled RNG state, load, 2 more epochs must equal 4 uninterrupted epochs exactly.

Developed in course/07_gpu_training (lab 07).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ._core import Case, Item, Lab, Mistakes
from ._student import call, fail
from .hints import HINTS
from .scenarios import (
    DTYPES,
    Inject,
    Outputs,
    Tensor,
    as_flag,
    as_float,
    flat_params,
    scenario_case,
    scenario_check,
)

CHECKPOINT_KEYS = ("model", "optimizer", "scaler", "epoch", "rng")


# ----------------------------------------------------------------------------------------------
# References (what the solution does; the checks compare with these)
# ----------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------- references and scenarios
# The one reference implementation of each lab-only function, and the behaviour scenarios
# (genlab.exercises.scenarios) that exercise a submission of it.

def autocast_settings(device: Any, bf16_supported: bool | None = None) -> tuple[bool, torch.dtype, bool]:
    device = torch.device(device)
    if device.type == "cuda":
        if bf16_supported is None:
            bf16_supported = torch.cuda.is_bf16_supported()
        return (True, torch.bfloat16, False) if bf16_supported else (True, torch.float16, True)
    if device.type == "cpu":
        return True, torch.bfloat16, False
    return True, torch.float16, False


def autocast(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """``fn(device, bf16_supported)`` for each ``[device, flag, as_device_object]`` of ``args``."""
    rows = []
    for dev, flag, as_obj in args:
        d = torch.device(dev) if as_obj else dev
        res = fn(d) if flag is None and dev != "cuda" else fn(d, flag)
        if type(res) not in (tuple, list) or len(res) != 3:
            raise TypeError(f"autocast_settings({dev!r}, {flag!r}) returned {type(res).__name__}, "
                            "expected a tuple (enabled, dtype, use_scaler)")
        enabled, dtype, scaler = res
        if dtype not in DTYPES:
            raise TypeError(f"autocast_settings({dev!r}, {flag!r}) gave dtype {dtype!r}, not a torch float dtype")
        rows.append(torch.tensor([int(bool(enabled)), DTYPES.index(dtype), int(bool(scaler))]))
    return {"settings": torch.stack(rows)}


class _SNet(nn.Module):
    """A tiny classifier with dropout (the RNG matters) that records the dtype of its hidden layer."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Dropout(0.3), nn.Linear(12, 3))
        self.dtypes: list[torch.dtype] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        self.dtypes.append(y.dtype)
        return y


class SpyScaler:
    """A loss scaler that multiplies by 1024 and unscales in ``step``: ignoring it changes the result."""

    S = 1024.0

    def __init__(self) -> None:
        self.calls = {"scale": 0, "step": 0, "update": 0}

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        self.calls["scale"] += 1
        return loss * self.S

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.calls["step"] += 1
        with torch.no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.div_(self.S)
        optimizer.step()

    def update(self) -> None:
        self.calls["update"] += 1

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:  # noqa: ARG002 - accepted, no effect
        pass


def _sdata(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def _sbatches(x: torch.Tensor, y: torch.Tensor, bs: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    idx = torch.randperm(len(x))  # global RNG, as a DataLoader without a generator
    return [(x[idx[i:i + bs]], y[idx[i:i + bs]]) for i in range(0, len(x), bs)]


def train_epoch_scenario(fn: Callable, args: list, ns: dict | None = None) -> Outputs:
    """``fn(model, batches, optimizer, scaler, "cpu", amp)`` from eval mode; batches of unequal sizes."""
    seed, amp, use_scaler = int(args[0]), bool(args[1]), bool(args[2])
    out: Outputs = {}
    with torch.random.fork_rng(), Inject(ns, autocast_settings=_REFS["autocast_settings"]):
        torch.manual_seed(seed)
        model = _SNet()
        model.eval()  # train_epoch must switch dropout on itself
        opt = torch.optim.SGD(model.parameters(), lr=0.3)
        x, y = _sdata(seed, 29)
        scaler = SpyScaler() if use_scaler else None
        loss = fn(model, _sbatches(x, y, 12), opt, scaler, "cpu", amp)
        out["mean_loss"] = as_float(loss, "the returned loss").float()
        out["weights"] = flat_params(model)
        out["training_mode"] = as_flag(model.training)
        low = {torch.bfloat16, torch.float16}
        out["forward_autocast"] = as_flag(bool(model.dtypes) and all(d in low for d in model.dtypes))
        out["forward_fp32"] = as_flag(bool(model.dtypes) and all(d == torch.float32 for d in model.dtypes))
        if scaler is not None:
            out["scaler_calls"] = torch.tensor([scaler.calls[k] for k in ("scale", "step", "update")])
    return out


def train_epoch(model, batches, optimizer, scaler, device, amp):
    device = torch.device(device)
    model.to(device)
    model.train()
    _, dtype, _ = autocast_settings(device)
    total, count = 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def save_checkpoint(path, model, optimizer, scaler, epoch):
    path = Path(path)
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scaler": scaler.state_dict() if scaler is not None else None,
             "epoch": int(epoch), "rng": {"torch": torch.get_rng_state()}}
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path, model, optimizer, scaler):
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if state.get("optimizer"):
        optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    rng = state.get("rng") or {}
    if isinstance(rng, dict) and "torch" in rng:
        torch.set_rng_state(rng["torch"])
    return int(state["epoch"])


def _sepoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    """A trusted training epoch: shuffling and dropout draw from the global RNG."""
    model.train()
    for xb, yb in _sbatches(x, y, 8):
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _sscaler(scale: float):
    try:
        return torch.amp.GradScaler("cpu", init_scale=scale)
    except Exception:  # noqa: BLE001 - older torch: no CPU scaler
        return None


def _sresume(save: Callable, load: Callable, seed: int, folder: Path, out: Outputs) -> None:
    """2 epochs, save, scramble, fresh model + optimiser, load, 2 epochs == 4 epochs in one go."""
    x, y = _sdata(seed, 24)
    torch.manual_seed(seed)
    full = _SNet()
    opt = torch.optim.Adam(full.parameters(), lr=1e-2)
    for _ in range(4):
        _sepoch(full, opt, x, y)
    torch.manual_seed(seed)
    model = _SNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(2):
        _sepoch(model, opt, x, y)
    path = folder / "resume.pt"
    save(path, model, opt, None, 2)
    torch.manual_seed(seed + 999)  # a new session: other weights, other RNG state
    fresh = _SNet()
    opt2 = torch.optim.Adam(fresh.parameters(), lr=1e-2)
    epoch = load(path, fresh, opt2, None)
    out["resumed_epoch"] = as_float(epoch, "the returned epoch")
    for _ in range(2):
        _sepoch(fresh, opt2, x, y)
    out["resume_max_abs_diff"] = (flat_params(fresh) - flat_params(full)).abs().max().reshape(())


def _corrupting_save(obj: Any, f: Any, *a: Any, **k: Any) -> None:  # noqa: ARG001
    """Stands in for torch.save during the crash test: writes half a file, then fails."""
    if hasattr(f, "write"):
        f.write(b"partial checkpoint")
    else:
        with open(f, "wb") as fh:
            fh.write(b"partial checkpoint")
    raise OSError("simulated crash in the middle of the write (disk full / preempted)")


def save_scenario(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """Atomicity, content (keys, weights, epoch, RNG, scaler) and an exact resume through the reference loader."""
    seed = int(args[0])
    out: Outputs = {}
    with torch.random.fork_rng(), tempfile.TemporaryDirectory(prefix="genlab-ckpt-") as d:
        folder = Path(d)
        torch.manual_seed(seed)
        model = _SNet()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        x, y = _sdata(seed, 24)
        _sepoch(model, opt, x, y)
        path = folder / "ckpt.pt"
        _REFS["save_checkpoint"](path, model, opt, None, 1)
        real_save = torch.save
        torch.save = _corrupting_save
        try:
            fn(path, model, opt, None, 2)
        except Exception:  # noqa: BLE001 - the simulated crash is expected to propagate
            pass
        finally:
            torch.save = real_save
        try:
            intact = torch.load(path, map_location="cpu", weights_only=True).get("epoch") == 1
        except Exception:  # noqa: BLE001
            intact = False
        out["previous_checkpoint_intact"] = as_flag(intact)
        out["no_partial_file_left"] = as_flag(sorted(p.name for p in folder.iterdir()) == ["ckpt.pt"])
        io = _io_save_observations(fn, folder, model, opt, lambda p: _REFS["save_checkpoint"](p, model, opt, None, 1))
        for key, ok in io.items():
            out[key] = as_flag(ok)
        _sepoch(model, opt, x, y)
        rng = torch.get_rng_state()
        scaler = _sscaler(512.0)
        fn(path, model, opt, scaler, 2)
        state = torch.load(path, map_location="cpu", weights_only=True)
        keys = ("model", "optimizer", "scaler", "epoch", "rng")
        out["keys"] = as_flag(isinstance(state, dict) and set(state) >= set(keys))
        if not out["keys"]:
            return out
        ms = state["model"]
        out["model_saved"] = as_flag(isinstance(ms, dict) and set(ms) == set(model.state_dict())
                                   and all(torch.equal(ms[k], v) for k, v in model.state_dict().items()))
        out["optimizer_saved"] = as_flag(isinstance(state["optimizer"], dict) and bool(state["optimizer"].get("state")))
        out["epoch"] = as_float(state["epoch"], "the saved epoch")
        r = state["rng"]
        out["rng_saved"] = as_flag(isinstance(r, dict) and type(r.get("torch")) is Tensor and torch.equal(r["torch"], rng))
        if scaler is not None:
            sc = state["scaler"]
            out["scaler_saved"] = as_flag(isinstance(sc, dict) and float(sc.get("scale", 0)) == 512.0)
        fn(path, model, opt, None, 3)
        out["no_scaler_is_None"] = as_flag(torch.load(path, map_location="cpu", weights_only=True)["scaler"] is None)
        _sresume(fn, _REFS["load_checkpoint"], seed, folder, out)
    return out


def load_scenario(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """Exact resume from a reference-format file; epoch returned; scaler restored when both exist."""
    seed = int(args[0])
    out: Outputs = {}
    with torch.random.fork_rng(), tempfile.TemporaryDirectory(prefix="genlab-ckpt-") as d:
        folder = Path(d)
        with _IOSpy() as spy:
            _sresume(_REFS["save_checkpoint"], fn, seed, folder, out)
        out["weights_only_true"] = as_flag(bool(spy.loads) and spy.unsafe_loads() == 0)
        out["map_location_cpu"] = as_flag(bool(spy.loads) and all(_cpu_map_location(k) for k in spy.loads))
        torch.manual_seed(seed)
        net = _SNet()
        io = _io_load_observations(fn, folder, net, torch.optim.Adam(net.parameters(), lr=1e-2),
                                   _REFS["save_checkpoint"])
        out["unsafe_file_refused"] = as_flag(io["unsafe_file_refused"])
        torch.manual_seed(seed)
        model = _SNet()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        saved = _sscaler(256.0)
        if saved is not None:
            _REFS["save_checkpoint"](folder / "s.pt", model, opt, saved, 5)
            fresh = _sscaler(2.0)
            fn(folder / "s.pt", _SNet(), torch.optim.Adam(_SNet().parameters(), lr=1e-2), fresh)
            out["scaler_restored"] = torch.tensor(float(fresh.get_scale()))
            _REFS["save_checkpoint"](folder / "n.pt", model, opt, None, 6)
            epoch = fn(folder / "n.pt", _SNet(), torch.optim.Adam(_SNet().parameters(), lr=1e-2), _sscaler(2.0))
            out["file_without_scaler"] = as_float(epoch, "the returned epoch")
    return out


# --------------------------------------------------------------------------- I/O spies (check and grader)
# The I/O properties are observed by patching the calls a save or a load goes through: where
# torch.save writes, whether a rename puts the file in place, what torch.load is asked for,
# and what a crash at each step leaves on disk.

class _Crash(RuntimeError):
    """The simulated failure (disk full, preempted job) raised by a patched step."""


_UNPICKLED: list[int] = []


def _payload_ran() -> str:
    """Runs only when a file is unpickled with the unsafe loader: the witness of weights_only=False."""
    _UNPICKLED.append(1)
    return "code from the file ran"


class _Payload:
    """An object a malicious checkpoint could hold: unpickling it calls a function of its author's choice."""

    def __reduce__(self):
        return (_payload_ran, ())


class _IOSpy:
    """Patches torch.save / torch.load / os.replace / os.rename to record (and optionally crash) them.

    ``crash`` is ``"save"`` (torch.save writes half a file, then raises) or ``"replace"`` (the
    rename raises before anything moves) or ``None``.
    """

    def __init__(self, crash: str | None = None) -> None:
        self.crash = crash
        self.saved_to: list[Path | None] = []
        self.renamed: list[tuple[str, str]] = []
        self.loads: list[dict[str, Any]] = []

    def __enter__(self) -> _IOSpy:
        self._real = (torch.save, torch.load, os.replace, os.rename)
        real_save, real_load, real_replace, real_rename = self._real
        spy = self

        def save(obj: Any, f: Any, *a: Any, **k: Any) -> None:
            target = f if isinstance(f, (str, os.PathLike)) else getattr(f, "name", None)
            spy.saved_to.append(Path(target) if isinstance(target, (str, os.PathLike)) else None)
            if spy.crash == "save":
                if isinstance(f, (str, os.PathLike)):
                    with open(f, "wb") as fh:
                        fh.write(b"PK\x03\x04 half a checkpoint")
                else:
                    f.write(b"PK\x03\x04 half a checkpoint")
                raise _Crash("disk full in the middle of the write (simulated)")
            real_save(obj, f, *a, **k)

        def load(*a: Any, **k: Any) -> Any:
            spy.loads.append(dict(k))
            return real_load(*a, **k)

        def mover(real: Callable[..., Any]) -> Callable[..., Any]:
            def move(src: Any, dst: Any, *a: Any, **k: Any) -> None:
                spy.renamed.append((os.fspath(src), os.fspath(dst)))
                if spy.crash == "replace":
                    raise _Crash("the job was killed just before the rename (simulated)")
                real(src, dst, *a, **k)
            return move

        torch.save, torch.load = save, load
        os.replace, os.rename = mover(real_replace), mover(real_rename)
        return self

    def __exit__(self, *exc: Any) -> None:
        torch.save, torch.load, os.replace, os.rename = self._real

    def unsafe_loads(self) -> int:
        """Calls of torch.load without weights_only=True."""
        return sum(1 for k in self.loads if k.get("weights_only") is not True)


def _cpu_map_location(kwargs: dict[str, Any]) -> bool:
    """True when a torch.load call maps the storages onto the CPU (a string, a device, or a callable)."""
    m = kwargs.get("map_location")
    if callable(m) and not isinstance(m, torch.device):
        return True
    try:
        return m is not None and torch.device(m).type == "cpu"
    except (TypeError, RuntimeError):
        return False


def _crashed_save(fn: Callable[..., Any], path: Path, model: nn.Module, opt: Any, crash: str) -> _IOSpy:
    """Run ``fn`` with ``crash`` at one step; swallow the simulated crash, re-raise anything else."""
    with _IOSpy(crash) as spy:
        try:
            fn(path, model, opt, None, 4)
        except _Crash:
            pass
        except Exception as exc:  # a wrapped crash is fine; another error is the submission's own
            if not isinstance(exc.__cause__ or exc.__context__, _Crash):
                raise
    return spy


def _io_save_observations(fn: Callable[..., Any], folder: Path, model: nn.Module, opt: Any,
                          write_previous: Callable[[Path], None]) -> dict[str, bool]:
    """Where the temporary file goes, whether a rename puts it in place, and what each crash leaves."""
    obs: dict[str, bool] = {}
    folder = folder / "io"
    folder.mkdir()
    path = folder / "io.pt"
    write_previous(path)
    with _IOSpy() as spy:
        fn(path, model, opt, None, 4)
    targets = [t for t in spy.saved_to if t is not None]
    # a file object opened elsewhere (e.g. from a descriptor) has no path to judge: only named targets count
    obs["temp_in_same_folder"] = all(
        t.resolve().parent == folder.resolve() and t.resolve() != path.resolve() for t in targets)
    obs["renamed_into_place"] = any(Path(dst).resolve() == path.resolve() for _, dst in spy.renamed)
    for crash in ("save", "replace"):
        for p in folder.iterdir():  # each step starts from the previous checkpoint alone
            p.unlink()
        write_previous(path)
        _crashed_save(fn, path, model, opt, crash)
        try:
            intact = torch.load(path, map_location="cpu", weights_only=True).get("epoch") == 1
        except Exception:  # noqa: BLE001 - unreadable is exactly what the property forbids
            intact = False
        obs[f"intact_after_{crash}_crash"] = intact
        obs[f"clean_after_{crash}_crash"] = sorted(p.name for p in folder.iterdir()) == ["io.pt"]
    return obs


def _io_load_observations(fn: Callable[..., Any], folder: Path, model: nn.Module, opt: Any,
                          save: Callable[..., Any]) -> dict[str, bool]:
    """What torch.load is asked for on a good file, and whether a file the safe loader refuses runs code."""
    obs: dict[str, bool] = {}
    good = folder / "good.pt"
    save(good, model, opt, None, 3)
    with _IOSpy() as spy:
        fn(good, model, opt, None)
    obs["weights_only_true"] = bool(spy.loads) and spy.unsafe_loads() == 0
    obs["map_location_cpu"] = bool(spy.loads) and all(_cpu_map_location(k) for k in spy.loads)
    evil = folder / "evil.pt"
    state = torch.load(good, map_location="cpu", weights_only=True)
    state["extra"] = _Payload()
    torch.save(state, evil)
    del _UNPICKLED[:]
    with _IOSpy() as spy:
        try:
            fn(evil, model, opt, None)
        except Exception:  # noqa: BLE001 - refusing the file is the right answer
            pass
    obs["unsafe_file_refused"] = not _UNPICKLED and spy.unsafe_loads() == 0
    return obs


# --------------------------------------------------------------------------- stretch: gradient accumulation

def train_epoch_accumulate(model, batches, optimizer, accum_steps, device):
    device = torch.device(device)
    model.to(device)
    model.train()
    batches = list(batches)
    total, count = 0.0, 0
    for start in range(0, len(batches), accum_steps):
        group = batches[start:start + accum_steps]
        n = sum(len(y) for _, y in group)
        optimizer.zero_grad(set_to_none=True)
        for x, y in group:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            (loss * (len(y) / n)).backward()  # each image weighs the same in the group's mean
            total += loss.item() * len(y)
            count += len(y)
        optimizer.step()
    return total / count


def _anet(seed: int) -> nn.Module:
    """A classifier without dropout: micro-batches and one big batch must then agree exactly."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.Tanh(), nn.Linear(12, 3))


def accumulate_scenario(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """``fn(model, micro_batches, opt, k, "cpu")`` vs one step per group on the group's images joined."""
    seed, k = int(args[0]), int(args[1])
    sizes = [int(v) for v in args[2]]
    out: Outputs = {}
    with torch.random.fork_rng():
        x, y = _sdata(seed, sum(sizes))
        cuts = torch.tensor([0, *sizes]).cumsum(0).tolist()
        micro = [(x[a:b], y[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
        model = _anet(seed)
        model.eval()
        opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        steps = [0]
        real_step = opt.step

        def counted_step(*a: Any, **kw: Any) -> Any:
            steps[0] += 1
            return real_step(*a, **kw)

        opt.step = counted_step
        loss = fn(model, [(a.clone(), b.clone()) for a, b in micro], opt, k, "cpu")
        out["mean_loss"] = as_float(loss, "the returned loss").float()
        out["steps"] = torch.tensor(float(steps[0]))
        out["training_mode"] = as_flag(model.training)
        # the trusted big-batch run: one step per group of k micro-batches, on their images joined
        big = _anet(seed)
        bopt = torch.optim.SGD(big.parameters(), lr=0.5, momentum=0.9)
        for g in range(0, len(micro), k):
            xs = torch.cat([m[0] for m in micro[g:g + k]])
            ys = torch.cat([m[1] for m in micro[g:g + k]])
            bopt.zero_grad()
            F.cross_entropy(big(xs), ys).backward()
            bopt.step()
        out["big_batch_max_abs_diff"] = (flat_params(model) - flat_params(big)).abs().max().reshape(())
    return out


def _diagnose_train_epoch_accumulate(fn: Callable[..., Any]) -> str | None:
    """Runs at all, returns a number, and matches the big-batch step (the public cases judge the rest)."""
    name = "train_epoch_accumulate"
    got = accumulate_scenario(lambda *a: call(name, fn, *a), [5, 2, [4, 4, 4, 2, 3]])
    if float(got["steps"]) != 3:
        fail(name, "3 optimiser steps for 5 micro-batches in groups of 2", f"{int(got['steps'])} steps",
             "with too many steps the run is just small-batch training (noisier, another learning rate); "
             "with too few the last images of the epoch are never learnt from.")
    if float(got["big_batch_max_abs_diff"]) > 1e-5:
        fail(name, "the same weights as one step per group on the group's images joined",
             f"max weight difference {float(got['big_batch_max_abs_diff']):.3g}",
             "the accumulated gradient is too large, too small, or weighs the images of a smaller "
             "micro-batch differently from the others: the accumulation run does not train like the big batch.")
    return None


#: The references as the scenarios call them: bound here, so that the grader's recorder (which
#: wraps the module attributes a submission must not call) does not count the scenarios' own calls.
_REFS = {"autocast_settings": autocast_settings, "save_checkpoint": save_checkpoint,
         "train_epoch_accumulate": train_epoch_accumulate,
         "load_checkpoint": load_checkpoint}

SCENARIOS = {"autocast": autocast, "train_epoch": train_epoch_scenario, "save_checkpoint": save_scenario,
             "load_checkpoint": load_scenario, "train_epoch_accumulate": accumulate_scenario}

autocast_settings = autocast_settings
train_epoch = train_epoch
save_checkpoint = save_checkpoint
train_epoch_accumulate = train_epoch_accumulate
load_checkpoint = load_checkpoint  # tolerant: restores whatever the file holds (the save check judges the rest)


# ----------------------------------------------------------------------------------------------
# Fixtures of the checks
# ----------------------------------------------------------------------------------------------

class _Net(nn.Module):
    """A tiny classifier with dropout (so the RNG state matters) that records its forward passes."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.random.fork_rng()
        with g:
            torch.manual_seed(seed)
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Dropout(0.3),
                                      nn.Linear(12, 3))
        self.autocast_seen: list[tuple[bool, torch.dtype]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.autocast_seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return self.body(x)


def _data(n: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return torch.rand(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def _batches(x: torch.Tensor, y: torch.Tensor, batch_size: int = 12):
    """Shuffled with torch's global RNG, as a DataLoader without a generator does."""
    from ..data import batches

    return batches(x, y, batch_size, shuffle=True, generator=None)


class _RecordMoves(TorchFunctionMode):
    """Records every tensor that had ``.to(...)`` called on it (by id)."""

    def __init__(self) -> None:
        super().__init__()
        self.moved: set[int] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in (torch.Tensor.to, torch.Tensor.cuda) and args:
            self.moved.add(id(args[0]))
        return func(*args, **(kwargs or {}))


class _RecordBatches:
    """Batches whose tensors we can recognise afterwards."""

    def __init__(self, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.pairs = pairs

    def __iter__(self):
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)


def _same_weights(a: nn.Module, b: nn.Module) -> float:
    """Max abs difference of two modules' parameters."""
    return max(float((p.detach() - q.detach()).abs().max())
               for p, q in zip(a.parameters(), b.parameters(), strict=True))


# ----------------------------------------------------------------------------------------------
# autocast_settings
# ----------------------------------------------------------------------------------------------

def _diagnose_autocast_settings(fn: Callable[..., Any]) -> str | None:
    """(enabled, dtype, use_scaler) for CPU, CUDA with and without bf16, and MPS."""
    name = "autocast_settings"
    cases = [
        ("cpu", None, "the CPU autocasts to bfloat16"),
        ("cuda", True, "a GPU with bf16 (Ampere or newer: A100, H100, RTX 30xx/40xx)"),
        ("cuda", False, "a GPU without bf16 (T4, V100: Colab's free GPU)"),
        ("mps", None, "Apple's MPS autocasts to float16, and GradScaler does not run there"),
    ]
    for dev, bf16, what in cases:
        want = autocast_settings(torch.device(dev), bf16)
        got = call(name, fn, torch.device(dev), bf16) if bf16 is not None else call(name, fn, torch.device(dev))
        if not isinstance(got, tuple) or len(got) != 3:
            fail(name, "a tuple (enabled, dtype, use_scaler)", repr(got))
        enabled, dtype, use_scaler = got
        if dtype != want[1]:
            hint = ("float16 needs a GradScaler and has a small exponent range; prefer bfloat16 where "
                    "the hardware has it" if dtype == torch.float16 else
                    "without bf16 support the GPU autocasts to float16")
            fail(name, f"dtype {want[1]} for {dev} ({what})", f"dtype {dtype}", hint)
        if bool(use_scaler) != want[2]:
            if want[2]:
                fail(name, f"use_scaler=True for {dev} in float16 ({what})", "use_scaler=False",
                     "fp16's smallest normal number is ~6e-5: small gradients underflow to 0 unless the "
                     "loss is scaled up first (GradScaler).")
            fail(name, f"use_scaler=False for {dev} with {dtype} ({what})", "use_scaler=True",
                 "bfloat16 has float32's 8 exponent bits, so gradients do not underflow: no scaler needed"
                 if dtype == torch.bfloat16 else "GradScaler runs on CUDA only; MPS trains fp16 unscaled.")
        if enabled is not True:
            fail(name, f"enabled=True for {dev}", f"enabled={enabled!r}", "every device here can autocast.")
    got = call(name, fn, "cpu")
    if tuple(got) != autocast_settings("cpu"):
        fail(name, "the same answer for the string 'cpu' as for torch.device('cpu')", repr(got),
             "start with device = torch.device(device).")
    return None


# ----------------------------------------------------------------------------------------------
# train_epoch
# ----------------------------------------------------------------------------------------------

def _run_epoch(fn: Callable[..., Any], *, amp: bool, scaler: Any = None, eval_first: bool = False,
               sgd: bool = False) -> tuple[Any, _Net, Any, _RecordMoves, list]:
    x, y = _data(45)  # 12, 12, 12 and a last batch of 9: the mean per image needs the sizes
    pairs = [(x[i:i + 12].clone(), y[i:i + 12].clone()) for i in range(0, len(x), 12)]
    model = _Net()
    if eval_first:
        model.eval()
    opt = (torch.optim.SGD(model.parameters(), lr=0.5) if sgd else
           torch.optim.Adam(model.parameters(), lr=1e-2))
    mode = _RecordMoves()
    with torch.random.fork_rng():
        torch.manual_seed(3)
        with mode:
            out = fn(model, _RecordBatches(pairs), opt, scaler, torch.device("cpu"), amp)
    return out, model, scaler, mode, pairs


def _diagnose_train_epoch(fn: Callable[..., Any]) -> str | None:
    """Same weights and mean loss as the reference; device moves, autocast and scaler used right."""
    name = "train_epoch"
    want, ref_model, _, _, _ = _run_epoch(train_epoch, amp=False)
    got, model, _, mode, pairs = _run_epoch(lambda *a: call(name, fn, *a), amp=False, eval_first=True)
    x, y = _data(45)
    if not all(torch.equal(xb, x[i * 12:(i + 1) * 12]) and torch.equal(yb, y[i * 12:(i + 1) * 12])
               for i, (xb, yb) in enumerate(pairs)):
        fail(name, "the batches left as they were given", "a batch was changed in place",
             "the next epoch (and any evaluation on the same tensors) would see altered data.")
    if not any(id(p) in mode.moved for p in model.parameters()):
        fail(name, "model.to(device) at the start of the epoch", "the model was never moved",
             "on a GPU the weights would stay on the CPU and the first forward pass would fail "
             "with 'Expected all tensors to be on the same device'.")
    unmoved = [i for i, (xb, yb) in enumerate(pairs) if id(xb) not in mode.moved or id(yb) not in mode.moved]
    if unmoved:
        fail(name, "every batch's x and y moved with .to(device, non_blocking=True)",
             f"batch {unmoved[0]} (and {len(unmoved) - 1} more) not moved",
             "move both the images and the labels, inside the loop.")
    if not model.training:
        fail(name, "the model in training mode after the epoch", "model.training is False",
             "call model.train() first: dropout and BatchNorm behave differently in eval mode.")
    if not isinstance(got, (float, int)) and not (isinstance(got, torch.Tensor) and got.numel() == 1):
        fail(name, "the epoch's mean loss as a Python float", type(got).__name__, "return total / count")
    if isinstance(got, torch.Tensor) and got.requires_grad:
        fail(name, "a plain number", "a tensor that still holds the graph",
             "use loss.item(): keeping graphs alive across steps leaks memory (and syncs anyway)")
    if any(seen[0] for seen in model.autocast_seen):
        fail(name, "no autocast when amp=False", "autocast was on", "use enabled=amp in torch.autocast.")
    diff = _same_weights(model, ref_model)
    if diff > 1e-5:
        fail(name, "the same weights as the reference after one epoch", f"max weight difference {diff:.3g}",
             "one zero_grad, backward and optimizer.step per batch, with F.cross_entropy(model(x), y).")
    if abs(float(got) - want) > 1e-4 * max(1.0, abs(want)):
        fail(name, f"mean loss {want:.5f}", f"{float(got):.5f}",
             "the last batch here is smaller (9 images, the others 12): the mean per image is not the mean "
             "of the batch means.")

    # AMP on: the forward pass must run under bf16 autocast on the CPU, and off when amp=False.
    got_amp, model_amp, _, _, _ = _run_epoch(lambda *a: call(name, fn, *a), amp=True)
    if not model_amp.autocast_seen or not all(on and dt == torch.bfloat16 for on, dt in model_amp.autocast_seen):
        fail(name, "forward passes under torch.autocast('cpu', dtype=torch.bfloat16) when amp=True",
             f"autocast (enabled, dtype) seen in forward: {model_amp.autocast_seen[:1]}",
             "wrap only the forward pass: with torch.autocast(device.type, dtype=dtype, enabled=amp): ...")
    want_amp, ref_amp, _, _, _ = _run_epoch(train_epoch, amp=True)
    if _same_weights(model_amp, ref_amp) > 1e-3:
        fail(name, "bf16 training close to the reference", f"max weight difference "
             f"{_same_weights(model_amp, ref_amp):.3g}", "keep the backward pass outside autocast.")

    # A scaler given: it must scale the loss, step through the scaler and update its scale.
    def make_scaler():
        return torch.amp.GradScaler("cpu", init_scale=2.0**4, growth_interval=1)

    _, ref_s_model, ref_scaler, _, _ = _run_epoch(train_epoch, amp=False, scaler=make_scaler(), sgd=True)
    _, s_model, scaler, _, _ = _run_epoch(lambda *a: call(name, fn, *a), amp=False, scaler=make_scaler(),
                                          sgd=True)
    if scaler.get_scale() != ref_scaler.get_scale():
        fail(name, f"the scaler's scale to grow to {ref_scaler.get_scale():g} (update() after every step)",
             f"scale {scaler.get_scale():g}",
             "with a scaler: scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update().")
    diff = _same_weights(s_model, ref_s_model)
    if diff > 1e-5:
        fail(name, "the same weights with a scaler as without (the scale is divided out before the step)",
             f"max weight difference {diff:.3g}",
             "call scaler.step(optimizer), not optimizer.step(): it unscales the gradients first.")
    return None


# ----------------------------------------------------------------------------------------------
# save_checkpoint / load_checkpoint: exact resume
# ----------------------------------------------------------------------------------------------

def _resume_run(save: Callable[..., Any], load: Callable[..., Any], folder: Path) -> dict[str, Any]:
    """4 straight epochs vs 2 + save + fresh everything + load + 2; returns both end states."""
    x, y = _data()

    def make_scaler():
        return torch.amp.GradScaler("cpu", init_scale=2.0**6, growth_interval=3)

    with torch.random.fork_rng():
        torch.manual_seed(11)
        straight, scaler_a = _Net(), make_scaler()
        opt = torch.optim.Adam(straight.parameters(), lr=1e-2)
        for _ in range(4):
            train_epoch(straight, _batches(x, y), opt, scaler_a, "cpu", False)

        torch.manual_seed(11)
        first, scaler_b = _Net(), make_scaler()
        opt = torch.optim.Adam(first.parameters(), lr=1e-2)
        for _ in range(2):
            train_epoch(first, _batches(x, y), opt, scaler_b, "cpu", False)
        path = folder / "ckpt.pt"
        save(path, first, opt, scaler_b, 2)

        torch.manual_seed(999)  # a new session: other weights, other RNG state, fresh optimiser and scaler
        resumed, scaler_c = _Net(seed=5), make_scaler()
        opt = torch.optim.Adam(resumed.parameters(), lr=1e-2)
        epoch = load(path, resumed, opt, scaler_c)
        for _ in range(int(epoch) if isinstance(epoch, int) else 2, 4):
            train_epoch(resumed, _batches(x, y), opt, scaler_c, "cpu", False)
    return {"epoch": epoch, "diff": _same_weights(straight, resumed),
            "scale": (scaler_a.get_scale(), scaler_c.get_scale()), "path": path}


def _resume_failure(name: str, run: dict[str, Any], state: dict | None) -> None:
    if run["diff"] == 0.0 and run["scale"][0] == run["scale"][1]:
        return
    missing = [k for k in ("optimizer", "rng") if state is not None and not state.get(k)]
    hint = {
        "optimizer": "save optimizer.state_dict(): Adam's moment estimates are part of the training state.",
        "rng": "save torch.get_rng_state() (and restore it): the shuffle order and dropout masks after "
               "the resume must be the ones an uninterrupted run would draw.",
    }
    if run["diff"] != 0.0:
        fail(name, "2 epochs + save + load + 2 epochs == 4 uninterrupted epochs, exactly",
             f"max weight difference {run['diff']:.3g}",
             hint[missing[0]] if missing else "restore the model, the optimiser and the torch RNG state.")
    fail(name, f"the GradScaler's scale restored ({run['scale'][0]:g} after 4 epochs)",
         f"{run['scale'][1]:g}", "save scaler.state_dict() (None without a scaler) and load it back.")


def _diagnose_save_checkpoint(fn: Callable[..., Any]) -> str | None:
    """Readable with weights_only=True, the agreed keys, atomic, and enough for an exact resume."""
    name = "save_checkpoint"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = _Net()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        path = folder / "first.pt"
        call(name, fn, path, model, opt, None, 3)
        if not path.is_file():
            fail(name, f"a file at {path.name}", f"files: {sorted(p.name for p in folder.iterdir())}",
                 "save to exactly the path you are given (rename the temporary file onto it).")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            fail(name, "a file torch.load(path, weights_only=True) can read",
                 f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}",
                 "save state_dicts, tensors and plain numbers, not the model or optimizer objects.")
        if not isinstance(state, dict) or not all(k in state for k in CHECKPOINT_KEYS):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            fail(name, f"a dict with keys {list(CHECKPOINT_KEYS)}", f"{got}",
                 "the lab's load_checkpoint and the checks read these names.")
        if state["epoch"] != 3:
            fail(name, "epoch 3 stored as given", repr(state["epoch"]))
        leftovers = [p.name for p in folder.iterdir() if p.name != "first.pt"]
        if leftovers:
            fail(name, "only the checkpoint in the folder", f"also {leftovers}",
                 "rename the temporary file onto the target with os.replace.")

        # A crash in the middle of writing must leave the previous checkpoint intact.
        real_save = torch.save

        def crashing_save(obj, f, *args, **kwargs):
            if isinstance(f, (str, os.PathLike)):
                with open(f, "wb") as handle:
                    handle.write(b"PK\x03\x04 half a checkpoint")
            else:
                f.write(b"PK\x03\x04 half a checkpoint")
            raise _Crash("disk full (simulated by the check)")

        torch.save = crashing_save
        try:
            try:
                fn(path, model, opt, None, 4)
            except _Crash:
                pass
            except Exception as exc:
                if not isinstance(exc.__cause__ or exc.__context__, _Crash):
                    raise
        finally:
            torch.save = real_save
        try:
            again = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            fail(name, "the previous checkpoint intact after a crash during the save",
                 "a half-written, unreadable file at the checkpoint path",
                 "write to a temporary file in the same folder, then os.replace(tmp, path): "
                 "a rename is atomic, a write is not.")
        if again.get("epoch") != 3:
            fail(name, "the previous checkpoint (epoch 3) intact after a crash during the save",
                 f"epoch {again.get('epoch')!r}", "only rename once the write has finished.")
        leftovers = [p.name for p in folder.iterdir() if p.name != "first.pt"]
        if leftovers:
            fail(name, "no partial file left behind by a failed save", f"{leftovers}",
                 "wrap the write in try/finally and delete the temporary file if it still exists.")

        _diagnose_save_io(name, fn, folder, model, opt)
        run = _resume_run(lambda *a: call(name, fn, *a), load_checkpoint, folder)
        state = torch.load(run["path"], map_location="cpu", weights_only=True)
        _resume_failure(name, run, state)
    return "exact resume: 2 + 2 epochs == 4 epochs"


#: What the student sees when an I/O property of the save fails (symptom first, no code).
_SAVE_IO_MESSAGES = {
    "temp_in_same_folder": (
        "the temporary file written in the same folder as the checkpoint",
        "torch.save wrote somewhere else (or straight onto the checkpoint path)",
        "a rename is atomic only inside one file system; the system's temporary folder is often another "
        "disk, and then the 'rename' becomes a copy that a crash can cut in half."),
    "renamed_into_place": (
        "the finished temporary file renamed onto the checkpoint path",
        "the checkpoint appeared without a rename onto it (a copy?)",
        "a copy writes the target byte by byte: a crash half-way leaves a truncated checkpoint."),
    "intact_after_replace_crash": (
        "the previous checkpoint intact when the job dies just before the rename",
        "the checkpoint path was empty or unreadable afterwards",
        "the job was killed between the write and the rename: whatever was deleted before the rename is "
        "lost, and the run cannot resume at all."),
    "clean_after_replace_crash": (
        "no temporary file left when the rename fails",
        "a leftover file next to the checkpoint",
        "every failed save leaves another copy of the model on disk until the quota is full; the clean-up "
        "must cover every step after the temporary file exists, not only the write."),
    "intact_after_save_crash": (
        "the previous checkpoint intact after a crash during the write",
        "a half-written or missing checkpoint",
        "a rename is atomic, a write is not."),
    "clean_after_save_crash": (
        "no partial file left behind by a failed write", "a leftover partial file",
        "clean up the temporary file whatever step fails."),
}


def _diagnose_save_io(name: str, fn: Callable[..., Any], folder: Path, model: nn.Module, opt: Any) -> None:
    obs = _io_save_observations(lambda *a: call(name, fn, *a), folder, model, opt,
                                lambda p: _REFS["save_checkpoint"](p, model, opt, None, 1))
    for key, (expected, got, hint) in _SAVE_IO_MESSAGES.items():
        if not obs[key]:
            fail(name, expected, got, hint)


def _diagnose_load_checkpoint(fn: Callable[..., Any]) -> str | None:
    """weights_only=True, returns the epoch, restores model/optimiser/scaler/RNG: exact resume."""
    name = "load_checkpoint"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = _Net()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        path = folder / "c.pt"
        save_checkpoint(path, model, opt, None, 5)

        with _IOSpy() as spy:
            other = _Net(seed=4)
            epoch = call(name, fn, path, other, torch.optim.Adam(other.parameters(), lr=1e-2), None)
        if not spy.loads:
            fail(name, "the file read with torch's safe loader", "torch.load was never called")
        if spy.unsafe_loads():
            fail(name, "every torch.load call with weights_only=True",
                 f"{spy.unsafe_loads()} call(s) without it",
                 "weights_only=False unpickles arbitrary objects: a checkpoint someone sent you can run any "
                 "code its author chose, with your permissions.")
        if not all(_cpu_map_location(k) for k in spy.loads):
            fail(name, "the file's tensors mapped onto the CPU while loading",
                 f"map_location={spy.loads[0].get('map_location')!r}",
                 "a checkpoint saved on a GPU then fails to load on a machine without one (or fills GPU 0 "
                 "before the weights are copied where they belong).")
        obs = _io_load_observations(lambda *a: call(name, fn, *a), folder, _Net(seed=6),
                                    torch.optim.Adam(_Net(seed=6).parameters(), lr=1e-2), save_checkpoint)
        if not obs["unsafe_file_refused"]:
            fail(name, "a file the safe loader refuses to stay refused (an error, nothing run)",
                 "code stored in the file ran: the loader fell back to unpickling it",
                 "a fallback to weights_only=False (or to pickle) when the safe load fails is exactly the "
                 "door an attacker's file needs: let the error reach the caller.")
        if epoch != 5 or not isinstance(epoch, int):
            fail(name, "the stored epoch 5 as an int", repr(epoch), "return int(state['epoch']).")
        if _same_weights(model, other) != 0.0:
            fail(name, "the model's weights restored", f"max difference {_same_weights(model, other):.3g}",
                 "model.load_state_dict(state['model']).")

        run = _resume_run(save_checkpoint, lambda *a: call(name, fn, *a), folder)
        state = torch.load(run["path"], map_location="cpu", weights_only=True)
        if run["diff"] != 0.0:
            fail(name, "2 epochs + save + load + 2 epochs == 4 uninterrupted epochs, exactly",
                 f"max weight difference {run['diff']:.3g}",
                 "load the optimiser state (optimizer.load_state_dict) and restore the RNG with "
                 "torch.set_rng_state(state['rng']['torch']).")
        _resume_failure(name, run, state)
    return "exact resume: 2 + 2 epochs == 4 epochs"


# --------------------------------------------------------------------------- named mistakes
# Wrong implementations students write. Each maps to the pattern (a regular expression
# searched in the message) its student check must fail with; the grader must give it less
# than full marks (tests/unit/test_mistakes.py). Helpers are prefixed _m*_ by origin.

def _mc_fp16_everywhere_on_cuda(device, bf16_supported=None):
    device = torch.device(device)
    return (True, torch.float16, True) if device.type == 'cuda' else autocast_settings(device)


def _mc_scaler_with_bf16(device, bf16_supported=None):
    enabled, dtype, _ = autocast_settings(device, bf16_supported)
    return (enabled, dtype, torch.device(device).type == 'cuda')


def _mc_fp16_on_cpu(device, bf16_supported=None):
    return (True, torch.float16, False) if torch.device(device).type == 'cpu' else autocast_settings(device, bf16_supported)


def _mc_no_scaler_ever(device, bf16_supported=None):
    enabled, dtype, _ = autocast_settings(device, bf16_supported)
    return (enabled, dtype, False)


def _mc_state(model, optimizer, scaler, epoch, *, rng=True, opt=True):
    return {'model': model.state_dict(), 'optimizer': optimizer.state_dict() if opt else None, 'scaler': scaler.state_dict() if scaler is not None else None, 'epoch': epoch, 'rng': {'torch': torch.get_rng_state()} if rng else None}


def _mc_save_direct(path, model, optimizer, scaler, epoch):
    torch.save(_mc_state(model, optimizer, scaler, epoch), path)


def _mc_save_tmp_left(path, model, optimizer, scaler, epoch):
    tmp = str(path) + '.tmp'
    torch.save(_mc_state(model, optimizer, scaler, epoch), tmp)
    os.replace(tmp, path)


def _mc_save_no_rng(path, model, optimizer, scaler, epoch):
    tmp = str(path) + '.tmp'
    try:
        torch.save(_mc_state(model, optimizer, scaler, epoch, rng=False), tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _mc_save_no_opt(path, model, optimizer, scaler, epoch):
    tmp = str(path) + '.tmp'
    try:
        torch.save(_mc_state(model, optimizer, scaler, epoch, opt=False), tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _mc_save_objects(path, model, optimizer, scaler, epoch):
    tmp = str(path) + '.tmp'
    torch.save({'model': model, 'optimizer': optimizer, 'scaler': scaler, 'epoch': epoch, 'rng': None}, tmp)
    os.replace(tmp, path)


def _mc_save_other_keys(path, model, optimizer, scaler, epoch):
    torch.save({'weights': model.state_dict(), 'epoch': epoch}, path)


def _ms_autocast_scaler_with_bf16(device, bf16_supported=None):
    enabled, dtype, _ = autocast_settings(device, bf16_supported)
    return (enabled, dtype, torch.device(device).type == 'cuda')


def _ms_autocast_fp16_everywhere(device, bf16_supported=None):
    return (True, torch.float16, torch.device(device).type == 'cuda')


def _ms_autocast_strings_only(device, bf16_supported=None):
    if device == 'cuda':
        return autocast_settings('cuda', bf16_supported)
    return autocast_settings('cpu' if device == 'cpu' else 'mps')


def _ms_epoch(model, batches, optimizer, scaler, device, amp, *, mean_of_means=False, no_train=False, ignore_scaler=False, scaler_no_step=False, ignore_amp=False):
    model.to(device)
    if not no_train:
        model.train()
    losses, sizes = ([], [])
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bool(amp) and (not ignore_amp)):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad()
        if scaler is None or ignore_scaler:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            if scaler_no_step:
                optimizer.step()
            else:
                scaler.step(optimizer)
            scaler.update()
        losses.append(loss.item())
        sizes.append(len(y))
    if mean_of_means:
        return sum(losses) / len(losses)
    return sum((a * n for a, n in zip(losses, sizes, strict=True))) / sum(sizes)


def _ms_save_direct(path, model, optimizer, scaler, epoch):
    torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'scaler': None if scaler is None else scaler.state_dict(), 'epoch': epoch, 'rng': {'torch': torch.get_rng_state()}}, path)


def _ms_save_tmp_left_behind(path, model, optimizer, scaler, epoch):
    import os
    tmp = str(path) + '.tmp'
    _ms_save_direct(tmp, model, optimizer, scaler, epoch)
    os.replace(tmp, path)


def _ms_save_no_rng(path, model, optimizer, scaler, epoch):
    import os
    tmp = str(path) + '.tmp'
    try:
        torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'scaler': None if scaler is None else scaler.state_dict(), 'epoch': epoch, 'rng': {}}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _ms_save_no_optimizer(path, model, optimizer, scaler, epoch):
    import os
    tmp = str(path) + '.tmp'
    try:
        torch.save({'model': model.state_dict(), 'optimizer': {}, 'epoch': epoch, 'scaler': None if scaler is None else scaler.state_dict(), 'rng': {'torch': torch.get_rng_state()}}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _ms_save_checkpoint(path, model, optimizer, scaler, epoch):
    import os
    import tempfile
    from pathlib import Path
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix='ckpt-tmp-')
    os.close(fd)
    try:
        torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'scaler': None if scaler is None else scaler.state_dict(), 'epoch': epoch, 'rng': {'torch': torch.get_rng_state()}}, tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _ms_save_scaler_always_none(path, model, optimizer, scaler, epoch):
    _ms_save_checkpoint(path, model, optimizer, None, epoch)


def _ms_load(path, model, optimizer, scaler, *, rng=True, opt=True, sc=True, epoch_off=0):
    state = torch.load(path, map_location='cpu', weights_only=True)
    model.load_state_dict(state['model'])
    if opt:
        optimizer.load_state_dict(state['optimizer'])
    if sc and scaler is not None:
        scaler.load_state_dict(state['scaler'])
    if rng:
        torch.set_rng_state(state['rng']['torch'])
    return int(state['epoch']) + epoch_off


def _mio_state(model, optimizer, scaler, epoch):
    return {'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
            'scaler': None if scaler is None else scaler.state_dict(), 'epoch': epoch,
            'rng': {'torch': torch.get_rng_state()}}


def _mio_save_system_tmp(path, model, optimizer, scaler, epoch):
    fd, tmp = tempfile.mkstemp(suffix='.pt')  # the system's temporary folder, maybe another disk
    os.close(fd)
    try:
        torch.save(_mio_state(model, optimizer, scaler, epoch), tmp)
        shutil.move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _mio_save_remove_then_rename(path, model, optimizer, scaler, epoch):
    tmp = str(path) + '.tmp'
    try:
        torch.save(_mio_state(model, optimizer, scaler, epoch), tmp)
        if os.path.exists(path):
            os.remove(path)
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _mio_save_cleanup_write_only(path, model, optimizer, scaler, epoch):
    tmp = str(path) + '.tmp'
    try:
        torch.save(_mio_state(model, optimizer, scaler, epoch), tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    os.replace(tmp, path)


def _mio_save_copy(path, model, optimizer, scaler, epoch):
    tmp = str(path) + '.tmp'
    try:
        torch.save(_mio_state(model, optimizer, scaler, epoch), tmp)
        shutil.copyfile(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _mio_restore(state, model, optimizer, scaler):
    model.load_state_dict(state['model'])
    optimizer.load_state_dict(state['optimizer'])
    if scaler is not None and state['scaler'] is not None:
        scaler.load_state_dict(state['scaler'])
    torch.set_rng_state(state['rng']['torch'])
    return int(state['epoch'])


def _mio_load_unsafe_fallback(path, model, optimizer, scaler):
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception:  # "it failed on an old file, so..."
        state = torch.load(path, map_location='cpu', weights_only=False)
    return _mio_restore(state, model, optimizer, scaler)


def _mio_load_unsafe(path, model, optimizer, scaler):
    return _mio_restore(torch.load(path, map_location='cpu', weights_only=False), model, optimizer, scaler)


def _mio_load_no_map_location(path, model, optimizer, scaler):
    return _mio_restore(torch.load(path, weights_only=True), model, optimizer, scaler)


def _mac_epoch(model, batches, optimizer, k, device, *, scale="size", zero_each=False, drop_last=False):
    model.to(device)
    model.train()
    batches = list(batches)
    total, count = 0.0, 0
    for start in range(0, len(batches), k):
        group = batches[start:start + k]
        if drop_last and len(group) < k:
            break
        n = sum(len(y) for _, y in group)
        optimizer.zero_grad()
        for x, y in group:
            if zero_each:
                optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            w = {"size": len(y) / n, "k": 1.0 / k, "none": 1.0}[scale]
            (loss * w).backward()
            total += loss.item() * len(y)
            count += len(y)
        optimizer.step()
    return total / count


_MISTAKES: dict[str, Mistakes] = {
    'train_epoch_accumulate': {
        "losses summed, not averaged": (lambda *a: _mac_epoch(*a, scale="none"), "per group|per image|steps|weight"),
        "divided by k whatever the sizes": (lambda *a: _mac_epoch(*a, scale="k"), "per group|per image|steps|weight"),
        "gradients cleared every micro-batch": (lambda *a: _mac_epoch(*a, zero_each=True), "per group|per image|steps|weight"),
        "last incomplete group dropped": (lambda *a: _mac_epoch(*a, drop_last=True), "per group|per image|steps|weight"),
        "a step per micro-batch": (lambda m, b, o, k, d: _mac_epoch(m, b, o, 1, d), "per group|per image|steps|weight"),
    },
    'autocast_settings': {
        "check: prefer bfloat16": (_mc_fp16_everywhere_on_cuda, "prefer bfloat16"),
        "check: no scaler needed": (_mc_scaler_with_bf16, "no scaler needed"),
        "check: dtype torch.bfloat16 for cpu": (_mc_fp16_on_cpu, "dtype torch.bfloat16 for cpu"),
        "check: underflow": (_mc_no_scaler_ever, "underflow"),
        "scaler with bf16": (_ms_autocast_scaler_with_bf16, None),
        "fp16 everywhere": (_ms_autocast_fp16_everywhere, None),
        "strings only": (_ms_autocast_strings_only, None),
    },
    'save_checkpoint': {
        "check: os.replace": (_mc_save_direct, "os.replace"),
        "check: partial file": (_mc_save_tmp_left, "partial file"),
        "check: get_rng_state": (_mc_save_no_rng, "get_rng_state"),
        "check: optimizer.state_dict": (_mc_save_no_opt, "optimizer.state_dict"),
        "check: weights_only": (_mc_save_objects, "weights_only"),
        "check: keys": (_mc_save_other_keys, "keys"),
        "not atomic": (_ms_save_direct, None),
        "temporary file left behind": (_ms_save_tmp_left_behind, None),
        "no RNG state": (_ms_save_no_rng, None),
        "no optimizer state": (_ms_save_no_optimizer, None),
        "scaler never saved": (_ms_save_scaler_always_none, None),
        "temporary file in the system's temp folder": (_mio_save_system_tmp, "same folder"),
        "old checkpoint removed before the rename": (_mio_save_remove_then_rename, "just before the rename"),
        "clean-up only around the write": (_mio_save_cleanup_write_only, "no temporary file left when the rename"),
        "copied into place": (_mio_save_copy, "renamed onto the checkpoint path"),
    },
    'train_epoch': {
        "mean of batch means": (lambda *a: _ms_epoch(*a, mean_of_means=True), "mean cross-entropy per image|smaller"),
        "no model.train()": (lambda *a: _ms_epoch(*a, no_train=True), "training mode"),
        "scaler ignored": (lambda *a: _ms_epoch(*a, ignore_scaler=True), None),
        "optimizer.step with a scaler": (lambda *a: _ms_epoch(*a, scaler_no_step=True), None),
        "amp ignored": (lambda *a: _ms_epoch(*a, ignore_amp=True), None),
    },
    'load_checkpoint': {
        "RNG not restored": (lambda *a: _ms_load(*a, rng=False), None),
        "optimizer not restored": (lambda *a: _ms_load(*a, opt=False), None),
        "scaler not restored": (lambda *a: _ms_load(*a, sc=False), None),
        "epoch off by one": (lambda *a: _ms_load(*a, epoch_off=1), None),
        "weights_only=False as a fallback": (_mio_load_unsafe_fallback, "safe loader refuses"),
        "weights_only=False": (_mio_load_unsafe, "weights_only=True"),
        "no map_location": (_mio_load_no_map_location, "onto the CPU"),
    },
}


# --------------------------------------------------------------------------- the entry (grading contract)

def _loose_under_amp(args: list) -> dict[str, float]:
    """bf16 autocast: a loss computed in bf16 or fp32 may round differently; fp32 runs compare tightly."""
    return {"weights": 2e-2, "mean_loss": 2e-2} if args[1] else {}


def _tag(case: Case, *tags: str) -> Case:
    """The case with the contract properties it tests (see genlab.exercises.PROPERTIES)."""
    return dataclasses.replace(case, tags=tags)


_SETTINGS_PUBLIC = [["cuda", True, False], ["cuda", False, False], ["cpu", None, False], ["mps", None, False]]
_SETTINGS_HELD = [["cuda", False, True], ["cpu", None, True], ["cuda", True, True], ["mps", None, True]]

LAB = Lab(
    lab="07_gpu_training",
    title="GPU training",
    items=[
        Item(
            name="autocast_settings", hints=HINTS["autocast_settings"], diagnose=_diagnose_autocast_settings, mistakes=_MISTAKES['autocast_settings'], points=2,
            reference="genlab.exercises.lab07.autocast_settings",
            compare="custom",
            check=scenario_check("autocast", autocast_settings, {
                "settings": "(enabled, dtype, use_scaler) differs: CUDA with bf16 -> (True, bfloat16, False); "
                            "CUDA without -> (True, float16, True); CPU -> (True, bfloat16, False); "
                            "MPS -> (True, float16, False). A scaler only with float16 on CUDA"}),
            cases=[_tag(scenario_case("public-1", "autocast", _SETTINGS_PUBLIC), "value", "device-dtype"),
                   _tag(scenario_case("held-1", "autocast", _SETTINGS_HELD, public=False, seeded=False), "value", "device-dtype")],
            expected="(enabled, dtype, use_scaler): bfloat16 without a scaler where supported (CUDA with bf16, "
                     "CPU), float16 with a GradScaler on CUDA without bf16, float16 without a scaler elsewhere; "
                     "accepts a string or a torch.device.",
            hint='accept a string or a device object alike; genlab.hint("autocast_settings", 2).',
        ),
        Item(
            name="train_epoch", hints=HINTS["train_epoch"], diagnose=_diagnose_train_epoch, mistakes=_MISTAKES['train_epoch'], points=3,
            reference="genlab.exercises.lab07.train_epoch",
            compare="custom",
            check=scenario_check("train_epoch", train_epoch, {
                "mean_loss": "the returned loss is not the mean cross-entropy per image over the epoch "
                             "(weight each batch by its size)",
                "weights": "the weights after the epoch differ from one cross-entropy SGD step per batch "
                           "(model.train()? scaler.step? zero_grad?)",
                "training_mode": "the model is not in training mode: call model.train()",
                "forward_autocast": "with amp=True the forward pass must run under torch.autocast "
                                    "(dtype from autocast_settings)",
                "forward_fp32": "with amp=False the forward pass must run in float32",
                "scaler_calls": "with a scaler: scaler.scale(loss).backward(), scaler.step(optimizer), "
                                "scaler.update() once per batch",
            }, rtol=1e-4, atol=1e-5, loose=_loose_under_amp),
            cases=[_tag(scenario_case("public-fp32", "train_epoch", [0, False, False]), "value", "shape", "side-effects", "device-dtype"),
                   _tag(scenario_case("public-scaler", "train_epoch", [1, False, True]), "value", "shape", "behaviour"),
                   _tag(scenario_case("held-amp", "train_epoch", [2, True, False], public=False), "device-dtype", "shape", "side-effects"),
                   _tag(scenario_case("held-fp32", "train_epoch", [3, False, False], public=False), "value", "shape", "side-effects", "device-dtype")],
            expected="moves model and batches to device, model.train(), autocast forward when amp, fp32 loss, "
                     "scaled backward/step/update when a scaler is given; returns the mean loss per image.",
            hint='weight each batch by its size; with a scaler the scaler takes the step. '
                 'genlab.hint("train_epoch", 2).',
        ),
        Item(
            name="train_epoch_accumulate", hints=HINTS["train_epoch_accumulate"],
            diagnose=_diagnose_train_epoch_accumulate,
            mistakes=_MISTAKES['train_epoch_accumulate'], points=2,
            reference="genlab.exercises.lab07.train_epoch_accumulate", compare="custom",
            check=scenario_check("train_epoch_accumulate", train_epoch_accumulate, {
                "big_batch_max_abs_diff": "the weights differ from one step per group of k micro-batches on "
                                          "their images joined: a run with accumulation would not train like "
                                          "the big batch it stands for",
                "steps": "the number of optimiser steps is not one per group of k micro-batches (the last "
                         "group may be smaller): the run takes too many or too few updates",
                "mean_loss": "the returned loss is not the mean cross-entropy per image over the epoch",
                "training_mode": "the model is not in training mode after the epoch",
            }, rtol=1e-4, atol=1e-5),
            cases=[_tag(scenario_case("public-1", "train_epoch_accumulate", [0, 2, [5, 5, 5, 5, 5, 5, 3]]),
                        "value", "shape", "behaviour"),
                   _tag(scenario_case("public-k1", "train_epoch_accumulate", [1, 1, [6, 6, 4]]), "value", "behaviour"),
                   _tag(scenario_case("held-1", "train_epoch_accumulate", [2, 3, [4, 4, 4, 4, 2]], public=False),
                        "value", "shape", "behaviour"),
                   _tag(scenario_case("held-2", "train_epoch_accumulate", [3, 4, [1, 7, 3, 5, 2, 6]], public=False),
                        "value", "shape", "behaviour")],
            expected="one optimiser step per group of k micro-batches (a smaller last group included), whose "
                     "gradient is that of the mean loss over the group's images; returns the mean loss per image.",
            hint='weigh each micro-batch by its share of its group\'s images. genlab.hint("train_epoch_accumulate", 2).',
        ),
        Item(
            name="save_checkpoint", hints=HINTS["save_checkpoint"], diagnose=_diagnose_save_checkpoint, mistakes=_MISTAKES['save_checkpoint'], points=3,
            reference="genlab.exercises.lab07.save_checkpoint", also_forbidden=("genlab.train.save_checkpoint",),
            compare="custom",
            check=scenario_check("save_checkpoint", save_checkpoint, {
                "previous_checkpoint_intact": "a crash during the write destroyed the previous checkpoint: "
                                              "write to a temporary file, then os.replace(tmp, path)",
                "no_partial_file_left": "a crash during the write left a partial file behind: delete the "
                                        "temporary file in a finally block",
                "keys": 'the file must hold a dict with keys "model", "optimizer", "scaler", "epoch", "rng"',
                "model_saved": "the file's \"model\" is not model.state_dict()",
                "optimizer_saved": "the file's \"optimizer\" is not optimizer.state_dict() (with its state)",
                "epoch": "the file's \"epoch\" is not the epoch given",
                "rng_saved": "the file's rng[\"torch\"] is not torch.get_rng_state() at the time of saving",
                "scaler_saved": "the file's \"scaler\" is not scaler.state_dict()",
                "no_scaler_is_None": "without a scaler the file's \"scaler\" must be None",
                **{k: f"{v[0]}: {v[2]}" for k, v in _SAVE_IO_MESSAGES.items()},
                "resumed_epoch": "loading the file did not give back the epoch",
                "resume_max_abs_diff": "2 epochs + save + load + 2 epochs did not equal 4 epochs exactly "
                                       "(is the RNG state or the optimiser state missing?)",
            }, rtol=0.0, atol=0.0),
            cases=[_tag(scenario_case("public-1", "save_checkpoint", [0]), "io", "behaviour", "randomness"),
                   _tag(scenario_case("held-1", "save_checkpoint", [7], public=False), "io", "behaviour", "randomness")],
            expected="an atomic write (temporary file + os.replace, temporary file removed on failure) of "
                     "{model, optimizer, scaler or None, epoch, rng: {torch}} that resumes exactly.",
            hint='a temporary file beside the target, renamed onto it, removed whatever step fails. '
                 'genlab.hint("save_checkpoint", 3).',
        ),
        Item(
            name="load_checkpoint", hints=HINTS["load_checkpoint"], diagnose=_diagnose_load_checkpoint, mistakes=_MISTAKES['load_checkpoint'], points=2,
            reference="genlab.exercises.lab07.load_checkpoint", also_forbidden=("genlab.train.load_checkpoint",),
            compare="custom",
            check=scenario_check("load_checkpoint", load_checkpoint, {
                "resumed_epoch": "the returned epoch is not the one in the file",
                "resume_max_abs_diff": "2 epochs + save + load + 2 epochs did not equal 4 epochs exactly: restore "
                                       "the model, the optimiser and the RNG state (torch.set_rng_state)",
                "scaler_restored": "the scaler's state was not restored (scaler.load_state_dict)",
                "file_without_scaler": "a file saved without a scaler must load (and return its epoch) even "
                                       "when a scaler is passed",
                "weights_only_true": "torch.load was called without weights_only=True: a checkpoint from "
                                     "elsewhere could run code on your machine",
                "map_location_cpu": "torch.load did not map the tensors onto the CPU: a GPU checkpoint fails "
                                    "on a machine without one",
                "unsafe_file_refused": "a file the safe loader refuses was unpickled anyway (a fallback to "
                                       "weights_only=False or pickle): code stored in it ran",
            }, rtol=0.0, atol=0.0),
            cases=[_tag(scenario_case("public-1", "load_checkpoint", [0]), "io", "behaviour", "randomness"),
                   _tag(scenario_case("held-1", "load_checkpoint", [9], public=False), "io", "behaviour", "randomness")],
            expected="torch.load(path, map_location='cpu', weights_only=True); restore model, optimiser, scaler "
                     "(when both exist) and torch RNG; return the epoch as an int.",
            hint='the safe loader only, onto the CPU; restore every piece the file holds. '
                 'genlab.hint("load_checkpoint", 3).',
        ),
    ],
)


# --------------------------------------------------------------------------- challenge
# The lab's challenge (gradebook column c_...): genlab.exercises.challenges measures the saved model.
from .challenges import Challenge  # noqa: E402

CHALLENGE = Challenge(
    lab="07", cid="c_acc", title="a digit classifier, trained with your loop, accurate on held-back test digits",
    models=("classifier",), metric="accuracy", unit="accuracy", thresholds=(0.90, 0.94, 0.96),
    higher_is_better=True, max_params=1_000_000)
