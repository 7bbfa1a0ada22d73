"""Checks for lab 01, built from the exercise entries of :mod:`genlab.exercises.lab01`."""

from __future__ import annotations

from ._core import export_checks

__all__ = export_checks("01", globals())
