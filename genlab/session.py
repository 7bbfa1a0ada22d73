"""Start a notebook session the same way everywhere: seed, device, mode, Colab widgets.

Every notebook calls ``genlab.start(seed)`` right after the setup cell.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch

from . import config


def on_colab() -> bool:
    """True inside a Google Colab kernel."""
    return "google.colab" in sys.modules


@dataclass
class Session:
    """What ``start`` decided: the device, the mode and the seeded generator."""

    device: torch.device
    fast: bool
    seed: int
    generator: torch.Generator

    def __repr__(self) -> str:
        return f"Session(device={self.device}, fast={self.fast}, seed={self.seed})"


def start(seed: int = 0, quiet: bool = False) -> Session:
    """Seed everything, pick the device, and say what was chosen.

    On Colab it also enables the custom widget manager (anywidget needs it)
    and, without a GPU, says how to get one.

    Args:
        seed: the notebook's one seed.
        quiet: print nothing.
    Returns:
        A ``Session`` with ``device``, ``fast``, ``seed`` and ``generator``.
    """
    from . import device as pick_device
    from . import seed_everything

    gen = seed_everything(seed)
    dev = pick_device()
    fast = config.is_fast()
    if on_colab():  # pragma: no cover - only on Colab
        try:
            from google.colab import output  # type: ignore[import-not-found]

            output.enable_custom_widget_manager()
        except Exception:
            pass
    if not quiet:
        where = dev.type
        if dev.type == "cuda":
            where += f" ({torch.cuda.get_device_name(dev)})"
        mode = "FAST mode (GENLAB_FAST=1): tiny data, few epochs" if fast else "full mode"
        print(f"genlab {_version()} | torch {torch.__version__} | device: {where} | {mode} | seed {seed}")
        if on_colab() and dev.type != "cuda":  # pragma: no cover
            print("No GPU: in Colab choose Runtime > Change runtime type > GPU for faster training.")
    return Session(dev, fast, seed, gen)


def _version() -> str:
    from . import __version__

    return __version__
