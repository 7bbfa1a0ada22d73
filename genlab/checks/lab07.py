"""Checks for lab 07, built from the exercise entries of :mod:`genlab.exercises.lab07`."""

from __future__ import annotations

from ._core import check_for as _check_for

__all__ = ["check_autocast_settings", "check_load_checkpoint", "check_save_checkpoint", "check_train_epoch", "check_train_epoch_accumulate"]

check_autocast_settings = _check_for("07", "autocast_settings")
check_train_epoch = _check_for("07", "train_epoch")
check_train_epoch_accumulate = _check_for("07", "train_epoch_accumulate")
check_save_checkpoint = _check_for("07", "save_checkpoint")
check_load_checkpoint = _check_for("07", "load_checkpoint")
