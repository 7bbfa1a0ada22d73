"""Checks for lab 01, built from the exercise entries of :mod:`genlab.exercises.lab01`."""

from __future__ import annotations

from ._core import check_for as _check_for

__all__ = ["check_ConvDecoder", "check_ConvEncoder", "check_add_noise"]

check_ConvEncoder = _check_for("01", "ConvEncoder")
check_ConvDecoder = _check_for("01", "ConvDecoder")
check_add_noise = _check_for("01", "add_noise")
check_interpolate_codes = _check_for("01", "interpolate_codes")
