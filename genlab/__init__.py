"""genlab: a hands-on course on deep generative models and image restoration.

The library holds the reference implementations that the notebooks in
``course/`` and ``labs/`` build step by step. See docs/architecture.md.

Importing ``genlab`` loads neither torch nor NumPy (the ``genlab`` command starts
fast); the functions below import them when called, and submodules such as
``genlab.colab`` load on first use (``genlab.colab`` works without an import).
"""

from __future__ import annotations

import importlib
import os
import random
from typing import TYPE_CHECKING

from .config import FAST, fast_or

if TYPE_CHECKING:
    import torch

__version__ = "0.1.0"
__all__ = ["FAST", "__version__", "answer", "check_challenge", "device", "fast_or", "hint", "questions",
           "save_challenge", "seed_everything", "start"]


def device(prefer: str | None = None) -> torch.device:
    """The device the course trains on: CUDA, then Apple's MPS, then the CPU.

    Args:
        prefer: force a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``);
            ``GENLAB_DEVICE`` in the environment does the same.

    Returns:
        A ``torch.device``.
    """
    import torch

    choice = prefer or os.environ.get("GENLAB_DEVICE")
    if choice:
        dev = torch.device(choice)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {choice!r} was asked for but CUDA is not available here; "
                               "use 'cpu' or leave it out to pick automatically.")
        if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise RuntimeError(f"device {choice!r} was asked for but MPS is not available here.")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator seeded the same.

    Call it once at the top of a notebook: results are then reproducible on CPU.
    """
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def start(seed: int = 0, quiet: bool = False):
    """Seed, pick the device and report the mode; see ``genlab.session.start``."""
    from .session import start as _start

    return _start(seed, quiet=quiet)


_LAZY = {
    "hint": (".exercises.hints", "hint"),
    "answer": (".exercises.questions", "answer"),
    "questions": (".exercises.questions", "questions"),
    "save_challenge": (".exercises.challenges", "save_challenge"),
    "check_challenge": (".exercises.challenges", "check_challenge"),
}


def __getattr__(name: str):
    """Load a submodule on first attribute access, e.g. ``genlab.colab`` after ``import genlab``."""
    if name.startswith("_"):
        raise AttributeError(name)
    if name in _LAZY:  # hint / answer / questions: the lab helpers, loaded on first use
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module, __name__), attr)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module 'genlab' has no attribute {name!r}") from None
