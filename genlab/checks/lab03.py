"""Checks for lab 03, built from the exercise entries of :mod:`genlab.exercises.lab03`."""

from __future__ import annotations

from ._core import export_checks

__all__ = export_checks("03", globals())
