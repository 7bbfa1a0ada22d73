"""Checks for lab 05, built from the exercise entries of :mod:`genlab.exercises.lab05`."""

from __future__ import annotations

from ._core import export_checks

__all__ = export_checks("05", globals())
