"""The one checkpoint format of genlab: plain data, written atomically, read with ``weights_only=True``.

A checkpoint is a dict of tensors and plain Python values (so ``torch.load(weights_only=True)``
reads it back, never a pickle of arbitrary objects) with the marker ``"format":
"genlab-checkpoint/1"``. :func:`checkpoint_state` assembles one from a task; :func:`write_checkpoint`
writes it atomically (a crash mid-write leaves the previous file intact);
:func:`read_checkpoint` reads and checks it; :func:`restore` loads it into a task.
:func:`atomic_write` and :func:`check_plain` are public: the CLI's weight files and
metrics use them too.

Developed in course/07_gpu_training (lab 07).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError

__all__ = [
    "CHECKPOINT_FORMAT", "CHECKPOINT_NAME", "atomic_write", "atomic_write_bytes", "check_plain",
    "checkpoint_state", "plain_data", "read_checkpoint", "restore", "rng_state", "set_rng_state",
    "write_checkpoint",
]

#: File name :func:`genlab.train.fit` writes inside ``checkpoint_dir`` (the latest epoch; replaced atomically).
CHECKPOINT_NAME = "checkpoint.pt"
#: Marker stored in every checkpoint; a file without it is not a genlab checkpoint.
CHECKPOINT_FORMAT = "genlab-checkpoint/1"


def plain_data(value: Any) -> Any:
    """Turn configs (dataclasses, tuples, paths, torch dtypes) into JSON-like plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_data(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    return repr(value)


_PLAIN_TYPES = (type(None), bool, int, float, str, bytes, torch.Tensor, torch.dtype, torch.device, torch.Size)


def check_plain(value: Any, where: str = "state") -> None:
    """Refuse anything ``torch.load(weights_only=True)`` could not read back.

    Raises:
        TypeError: naming the first offending entry (e.g. ``state['modules']``) and its type.
    """
    if type(value) in _PLAIN_TYPES or isinstance(value, torch.Tensor):
        return  # exact types: a str subclass (e.g. torch.__version__) would need pickling
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint key {where}[{k!r}] must be a str or int.")
            check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"{where} is a {type(value).__name__}: checkpoints hold only tensors and plain "
                    "Python data (so torch.load(weights_only=True) can read them). Convert it first.")


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None]) -> Path:
    """Write to a temp file in the same folder, fsync, then ``os.replace``: never half a file.

    Args:
        path: the destination (its folder is created).
        write: called with the open binary temp file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the usual permissions instead.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`atomic_write` of a bytes object."""
    return atomic_write(path, lambda f: f.write(data))


def write_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Save ``state`` (tensors and plain data only, checked) atomically; return the path."""
    check_plain(state)
    return atomic_write(path, lambda f: torch.save(dict(state), f))


def _describe_model(name: Any, config: Any) -> str:
    return f"{name!r} with config {json.dumps(config, sort_keys=True)}"


def _expected_spec(expected: Any) -> tuple[dict | None, dict[str, set] | None]:
    if expected is None:
        return None, None
    if hasattr(expected, "spec") and hasattr(expected, "modules"):  # a genlab.train.Task
        keys = {name: set(m.state_dict().keys()) for name, m in expected.modules.items()}
        return expected.spec(), keys
    if isinstance(expected, Mapping):
        return dict(expected), None
    raise TypeError(f"expected must be a Task, a dict with 'model'/'config', or None; got {type(expected).__name__}.")


def _torch_load(path: Path) -> Any:
    """``torch.load(weights_only=True)``; any failure becomes one CheckpointError without torch's advice."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, foreign objects: all mean the same to a user
        # torch's message suggests weights_only=False, which would run the file's code: never pass that on.
        detail = str(exc).splitlines()[0] if str(exc) else "no detail"
        if "weights_only" in str(exc):
            detail = "it holds objects other than tensors and plain Python data"
        raise CheckpointError(
            f"{path} cannot be read as a genlab checkpoint (a dict of tensors and plain data with "
            f"format '{CHECKPOINT_FORMAT}'): the file is damaged (truncated or corrupted) or is not a "
            f"genlab checkpoint ({type(exc).__name__}: {detail}). Delete it and train again, or resume "
            "from an earlier copy.") from None


def _check_matches(path: Path, state: dict, expected: Any) -> None:
    spec, keys = _expected_spec(expected)
    if spec is None:
        return
    held = (state.get("model"), plain_data(state.get("config")))
    want = (spec.get("model"), plain_data(spec.get("config")))
    if held[0] != want[0] or (spec.get("config") is not None and held[1] != want[1]):
        raise CheckpointError(
            f"checkpoint {path} holds model {_describe_model(*held)}, but the expected model is "
            f"{_describe_model(*want)}. Point to the right folder or build the model with the "
            "checkpoint's config.")
    if "task" in spec and state.get("task") not in (None, spec["task"]):
        raise CheckpointError(f"checkpoint {path} was written by {state.get('task')}, "
                              f"but it is being loaded into {spec['task']}.")
    for name, want_keys in (keys or {}).items():
        got = set(state.get("modules", {}).get(name, {}).keys())
        if got != want_keys:
            raise CheckpointError(
                f"checkpoint {path} holds model {_describe_model(state.get('model'), state.get('config'))} "
                f"whose '{name}' weights do not fit the expected model "
                f"{_describe_model(spec.get('model'), spec.get('config'))}: missing "
                f"{sorted(want_keys - got)[:3]}, unexpected {sorted(got - want_keys)[:3]}.")


def read_checkpoint(path: str | os.PathLike, expected: Any = None) -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)`` and check what it holds.

    Args:
        path: the file.
        expected: a task (or ``{"model": name, "config": {...}}``) the checkpoint must belong
            to: same model name, same config, same state_dict keys.

    Returns:
        The state dict (tensors on the CPU).

    Raises:
        CheckpointError: missing, truncated or corrupted file, not a genlab checkpoint, or a
            checkpoint of another model.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: the file does not exist. Train first "
                              "(genlab train ... --out DIR) or check the path.")
    state = _torch_load(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a genlab training checkpoint: expected a dict with "
                              f"format '{CHECKPOINT_FORMAT}', found "
                              f"{'no such marker' if isinstance(state, dict) else type(state).__name__}.")
    _check_matches(path, state, expected)
    return state


def _plain_py_random(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def rng_state(data_generator: torch.Generator | None, task: Any) -> dict:
    """Every RNG state a run depends on: torch (CPU, CUDA), NumPy, Python, the task's, the data order's."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": _plain_py_random(random.getstate()),
        "task": task.rng_state(),
    }
    if data_generator is not None:
        state["data"] = data_generator.get_state()
    return state


def set_rng_state(state: Mapping, data_generator: torch.Generator | None, task: Any) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    npst = state.get("numpy")
    if npst:
        np.random.set_state((npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"],
                             npst["has_gauss"], npst["cached_gaussian"]))
    py = state.get("python")
    if py:
        random.setstate((py[0], tuple(py[1]), py[2]))
    if data_generator is not None and "data" in state:
        data_generator.set_state(state["data"])
    if "task" in state:
        task.set_rng_state(state["task"])


def checkpoint_state(task: Any, *, epoch: int, step: int, history: Any, scaler: Any = None,
                     data_generator: torch.Generator | None = None, extra: Mapping | None = None,
                     train_config: Any = None) -> dict:
    """Everything needed to continue training exactly where it stopped (plain data only)."""
    spec = task.spec()
    return {
        "format": CHECKPOINT_FORMAT,
        "task": spec["task"], "model": spec["model"], "config": spec["config"], "hparams": spec["hparams"],
        "modules": {name: m.state_dict() for name, m in task.modules.items()},
        "optimizers": {name: o.state_dict() for name, o in task.optimizers.items()},
        "scaler": scaler.state_dict() if scaler is not None else None,
        "epoch": int(epoch), "step": int(step),
        "history": history.to_dict(),
        "rng": rng_state(data_generator, task),
        "train_config": plain_data(train_config) if train_config is not None else {},
        "torch_version": str(torch.__version__),
        "extra": dict(extra or {}),
    }


def restore(task: Any, state: Mapping[str, Any], *, optimizers: bool = True) -> None:
    """Load a checkpoint's module (and optimiser) states into ``task``."""
    for name, module in task.modules.items():
        if name not in state["modules"]:
            raise CheckpointError(f"the checkpoint has no weights for '{name}' (it holds {sorted(state['modules'])}).")
        module.load_state_dict(state["modules"][name])
    if optimizers:
        for name, opt in task.optimizers.items():
            if name in state.get("optimizers", {}):
                opt.load_state_dict(state["optimizers"][name])
