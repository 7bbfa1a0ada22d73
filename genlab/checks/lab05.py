"""Checks for lab 05, built from the exercise entries of :mod:`genlab.exercises.lab05`."""

from __future__ import annotations

from ._core import check_for as _check_for

__all__ = ["check_apply_mask", "check_block_mask", "check_composite", "check_masked_l1_plus_edges",
           "check_masked_mse"]

check_block_mask = _check_for("05", "block_mask")
check_apply_mask = _check_for("05", "apply_mask")
check_masked_mse = _check_for("05", "masked_mse")
check_composite = _check_for("05", "composite")
check_masked_l1_plus_edges = _check_for("05", "masked_l1_plus_edges")
