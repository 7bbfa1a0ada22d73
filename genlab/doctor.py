"""``genlab doctor``: is this machine ready for the course? Says how to fix what is not.

Run it first (course/00_setup does). It exits 0 when the course is usable.

It answers in a few seconds: package versions come from the installed metadata
(no import), and only torch is imported, because the device row needs it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import platform
import sys
from dataclasses import dataclass, field

PACKAGES = [
    # (import name, shown name, required?, fix); the distribution's name is the shown one
    ("torch", "torch", True, "pip install torch  (see https://pytorch.org for the CUDA build)"),
    ("torchvision", "torchvision", True, "pip install torchvision (matching your torch)"),
    ("numpy", "numpy", True, "pip install numpy"),
    ("matplotlib", "matplotlib", True, "pip install matplotlib"),
    ("sklearn", "scikit-learn", True, "pip install scikit-learn"),
    ("skimage", "scikit-image", True, "pip install scikit-image"),
    ("ipywidgets", "ipywidgets", False, "pip install 'ipywidgets>=7.7,<9'"),
    ("anywidget", "anywidget", False, "pip install anywidget"),
    ("jupyterlab", "JupyterLab", False, "pip install jupyterlab  (not needed on Colab)"),
    ("jupytext", "jupytext", False, "pip install jupytext"),
]


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def row(self, name: str, value: str) -> None:
        self.lines.append(f"  {name:<22} {value}")


def _version(module_name: str, dist_name: str | None = None) -> str | None:
    """The installed version, read from the package metadata without importing it (None if absent)."""
    if importlib.util.find_spec(module_name) is None:
        return None
    try:
        return importlib.metadata.version(dist_name or module_name)
    except importlib.metadata.PackageNotFoundError:
        return "installed"


def diagnose() -> Report:
    """Collect the environment facts and problems (no printing)."""
    r = Report()
    r.row("python", f"{platform.python_version()} ({sys.executable})")
    for mod, shown, required, fix in PACKAGES:
        v = _version(mod, shown)
        r.row(shown, v or "MISSING")
        if v is None:
            (r.problems if required else r.warnings).append(f"{shown} is missing: {fix}")
    try:
        import torch

        import genlab

        dev = genlab.device()
        desc = dev.type
        if dev.type == "cuda":
            props = torch.cuda.get_device_properties(dev)
            desc += f" ({props.name}, {props.total_memory / 2**30:.1f} GiB)"
            bf16 = torch.cuda.is_bf16_supported()
            desc += f", AMP {'bf16' if bf16 else 'fp16 + GradScaler'}"
        elif dev.type == "cpu":
            desc += f" ({torch.get_num_threads()} threads; no GPU found: training runs, only slower)"
        r.row("device", desc)
        from . import config

        r.row("mode", "fast (GENLAB_FAST=1)" if config.is_fast() else "full")
    except Exception as exc:  # torch broken
        r.problems.append(f"torch does not work here: {type(exc).__name__}: {exc}")
    widgets = importlib.util.find_spec("ipywidgets") is not None
    anyw = importlib.util.find_spec("anywidget") is not None
    if widgets and anyw:
        r.row("widgets", "can render (anywidget + ipywidgets)")
    elif widgets:
        r.row("widgets", "ipywidgets only: the mask painter uses its fallback (toggle-button grid)")
    else:
        r.row("widgets", "cannot render: install ipywidgets and anywidget")
    try:
        from .data import available_offline

        avail = available_offline()
        shown = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in avail.items())
        r.row("datasets offline", shown)
        if not avail.get("digits", False):
            r.problems.append("the built-in digits dataset does not load: reinstall scikit-learn.")
        missing = [k for k, v in avail.items() if not v]
        if missing:
            r.warnings.append(f"not on disk: {', '.join(missing)} (optional). With a network, "
                              f"genlab.data.load(NAME, download=True) fetches them once.")
    except Exception as exc:
        r.problems.append(f"genlab.data does not load: {type(exc).__name__}: {exc}")
    from .grading.sandbox import sandbox_summary  # instructors only: never a problem for students

    r.row("grading sandbox", sandbox_summary())
    return r


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print only problems")


def run(args: argparse.Namespace) -> int:
    r = diagnose()
    if not getattr(args, "quiet", False):
        print("genlab doctor")
        print("\n".join(r.lines))
    for w in r.warnings:
        print(f"  note: {w}")
    for p in r.problems:
        print(f"  PROBLEM: {p}")
    if r.problems:
        print("The course is not usable yet: fix the problems above (or run `make lab`).")
        return 1
    print("OK: the course is ready to use.")
    return 0
