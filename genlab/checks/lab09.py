"""Checks for lab 09, built from the exercise entries of :mod:`genlab.exercises.lab09`."""

from __future__ import annotations

from ._core import CheckFailed, export_checks

__all__ = ["show_symptom", *export_checks("09", globals())]


def show_symptom(check, fn) -> bool:
    """Run ``check(fn)``; print its failure message instead of raising. Returns True if the check passed."""
    try:
        check(fn)
    except CheckFailed as exc:
        print(str(exc))
        return False
    return True
