"""Checks for lab 06, built from the exercise entries of :mod:`genlab.exercises.lab06`."""

from __future__ import annotations

from ._core import export_checks

__all__ = export_checks("06", globals())
check_crnn = globals()["check_CRNN"]  # the item is the class CRNN; both spellings reach the same check
__all__ = sorted([*__all__, "check_crnn"])
