"""Checks for lab 04, built from the exercise entries of :mod:`genlab.exercises.lab04`."""

from __future__ import annotations

from ._core import export_checks

__all__ = export_checks("04", globals())
