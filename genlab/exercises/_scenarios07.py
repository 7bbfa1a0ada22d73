"""Lab 07's behaviour scenarios and I/O spies, kept apart from the lab's references.

The grader's worker runs these (trusted) scenarios on a submission; the parent runs
them on the reference. They hold no reference implementation: where a scenario
needs a checkpoint written or read by someone other than the submission, it uses
the *fixtures* below, which do only what the scenario needs and deliberately lack
the properties the items grade (``fixture_save`` writes the file in place, not
atomically; ``fixture_load`` gives no ``map_location`` and ignores a scaler;
``fixture_autocast_cpu`` knows only the CPU). Inside the grading sandbox the lab's
exercise module (:mod:`genlab.exercises.lab07`, with the references) is absent, so
this module is what the worker imports.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .scenarios import DTYPES, Inject, Outputs, Tensor, as_flag, as_float, flat_params

# --------------------------------------------------------------------------- fixtures (not references)

def fixture_autocast_cpu(device: Any, bf16_supported: bool | None = None) -> tuple[bool, torch.dtype, bool]:  # noqa: ARG001
    """The CPU's autocast settings, for the train_epoch scenario (which trains on the CPU only)."""
    if torch.device(device).type != "cpu":
        raise RuntimeError("the scenario fixture knows the CPU only")
    return True, torch.bfloat16, False


def fixture_save(path: Any, model: nn.Module, optimizer: Any, scaler: Any, epoch: int) -> None:
    """Write a checkpoint the scenarios can resume from, straight to ``path`` (not atomic)."""
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                "epoch": int(epoch), "rng": {"torch": torch.get_rng_state()}}, path)


def fixture_load(path: Any, model: nn.Module, optimizer: Any, scaler: Any) -> int:  # noqa: ARG001
    """Resume model, optimiser and RNG from a file the submission saved on this CPU (scaler ignored)."""
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"]["torch"])
    return int(state["epoch"])


# --------------------------------------------------------------------------- scenarios and spies

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
    with torch.random.fork_rng(), Inject(ns, autocast_settings=fixture_autocast_cpu):
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
        fixture_save(path, model, opt, None, 1)
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
        io = _io_save_observations(fn, folder, model, opt, lambda p: fixture_save(p, model, opt, None, 1))
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
        _sresume(fn, fixture_load, seed, folder, out)
    return out


def load_scenario(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """Exact resume from a reference-format file; epoch returned; scaler restored when both exist."""
    seed = int(args[0])
    out: Outputs = {}
    with torch.random.fork_rng(), tempfile.TemporaryDirectory(prefix="genlab-ckpt-") as d:
        folder = Path(d)
        with _IOSpy() as spy:
            _sresume(fixture_save, fn, seed, folder, out)
        out["weights_only_true"] = as_flag(bool(spy.loads) and spy.unsafe_loads() == 0)
        out["map_location_cpu"] = as_flag(bool(spy.loads) and all(_cpu_map_location(k) for k in spy.loads))
        torch.manual_seed(seed)
        net = _SNet()
        io = _io_load_observations(fn, folder, net, torch.optim.Adam(net.parameters(), lr=1e-2),
                                   fixture_save)
        out["unsafe_file_refused"] = as_flag(io["unsafe_file_refused"])
        torch.manual_seed(seed)
        model = _SNet()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        saved = _sscaler(256.0)
        if saved is not None:
            fixture_save(folder / "s.pt", model, opt, saved, 5)
            fresh = _sscaler(2.0)
            fn(folder / "s.pt", _SNet(), torch.optim.Adam(_SNet().parameters(), lr=1e-2), fresh)
            out["scaler_restored"] = torch.tensor(float(fresh.get_scale()))
            fixture_save(folder / "n.pt", model, opt, None, 6)
            epoch = fn(folder / "n.pt", _SNet(), torch.optim.Adam(_SNet().parameters(), lr=1e-2), _sscaler(2.0))
            out["file_without_scaler"] = as_float(epoch, "the returned epoch")
    return out


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


def write_half_checkpoint(f: Any) -> None:
    """What a crash in the middle of ``torch.save`` leaves at ``f`` (a path or a file object): half a file."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a checkpoint")
    else:
        f.write(b"PK\x03\x04 half a checkpoint")


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
                write_half_checkpoint(f)
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


SCENARIOS = {"autocast": autocast, "train_epoch": train_epoch_scenario, "save_checkpoint": save_scenario,
             "load_checkpoint": load_scenario, "train_epoch_accumulate": accumulate_scenario}

