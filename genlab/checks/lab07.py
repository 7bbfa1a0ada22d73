"""Checks for lab 07, built from the exercise entries of :mod:`genlab.exercises.lab07`."""

from __future__ import annotations

from ._core import export_checks

__all__ = export_checks("07", globals())
