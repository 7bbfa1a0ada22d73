"""Checks for lab 02, built from the exercise entries of :mod:`genlab.exercises.lab02`."""

from __future__ import annotations

from ._core import export_checks

__all__ = export_checks("02", globals())
