"""Checks for lab 06, built from the exercise entries of :mod:`genlab.exercises.lab06`."""

from __future__ import annotations

from ._core import check_for as _check_for

__all__ = ["check_CRNN", "check_cols_to_sequences", "check_crnn", "check_rows_to_sequences",
           "check_sequences_to_cols", "check_sequences_to_rows"]

check_rows_to_sequences = _check_for("06", "rows_to_sequences")
check_sequences_to_rows = _check_for("06", "sequences_to_rows")
check_crnn = _check_for("06", "CRNN")
check_CRNN = check_crnn  # the item is the class CRNN; both spellings reach the same check
check_cols_to_sequences = _check_for("06", "cols_to_sequences")
check_sequences_to_cols = _check_for("06", "sequences_to_cols")
