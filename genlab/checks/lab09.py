"""Checks for lab 09, built from the exercise entries of :mod:`genlab.exercises.lab09`."""

from __future__ import annotations

from ._core import CheckFailed
from ._core import check_for as _check_for

__all__ = ["show_symptom", "check_fixed_bce_loss", "check_fixed_discriminator_loss", "check_fixed_discriminator_update", "check_fixed_ema_copy", "check_fixed_generator_output", "check_fixed_kl_divergence", "check_fixed_predict", "check_fixed_row_rnn", "check_fixed_discriminator_batch", "check_fixed_training_batch", "check_fixed_gan_losses", "check_fixed_image_decoder", "check_fixed_log_prob_real"]

check_fixed_generator_output = _check_for("09", "fixed_generator_output")
check_fixed_discriminator_loss = _check_for("09", "fixed_discriminator_loss")
check_fixed_kl_divergence = _check_for("09", "fixed_kl_divergence")
check_fixed_row_rnn = _check_for("09", "fixed_row_rnn")
check_fixed_bce_loss = _check_for("09", "fixed_bce_loss")
check_fixed_discriminator_update = _check_for("09", "fixed_discriminator_update")
check_fixed_predict = _check_for("09", "fixed_predict")
check_fixed_ema_copy = _check_for("09", "fixed_ema_copy")
check_fixed_discriminator_batch = _check_for("09", "fixed_discriminator_batch")
check_fixed_training_batch = _check_for("09", "fixed_training_batch")
check_fixed_gan_losses = _check_for("09", "fixed_gan_losses")
check_fixed_image_decoder = _check_for("09", "fixed_image_decoder")
check_fixed_log_prob_real = _check_for("09", "fixed_log_prob_real")


def show_symptom(check, fn) -> bool:
    """Run ``check(fn)``; print its failure message instead of raising. Returns True if the check passed."""
    try:
        check(fn)
    except CheckFailed as exc:
        print(str(exc))
        return False
    return True
