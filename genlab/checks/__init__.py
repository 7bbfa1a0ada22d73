"""Student-facing checks, called from the cell after each lab exercise.

Each ``check_<name>(fn)`` is built from the exercise entry of ``<name>``
(:mod:`genlab.exercises`): the entry's probes name a classic mistake when they
see one, then the grader's public cases run in-process through the same drivers
and judge as the grader. A pass prints one line and returns ``True``; a failure
raises ``CheckFailed`` whose message says what was expected, what came and a
hint (in Jupyter, just the message: no traceback through genlab). One module per
lab (``lab01.py``, ``lab02.py`` ...); every ``check_*`` is reachable as
``genlab.checks.check_<name>``.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._core import CheckFailed, report

__all__ = ["CheckFailed", "report"]


def _lab_modules():
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("lab"):
            yield importlib.import_module(f"{__name__}.{info.name}")


def __getattr__(name: str):
    if name.startswith("check_"):
        for module in _lab_modules():
            if hasattr(module, name):
                return getattr(module, name)
    raise AttributeError(f"genlab.checks has no {name!r}; the checks are: {', '.join(all_checks())}")


def all_checks() -> list[str]:
    """Names of every check in every lab module."""
    return sorted({n for m in _lab_modules() for n in dir(m) if n.startswith("check_") and n != "check_for"})
