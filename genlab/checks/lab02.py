"""Checks for lab 02, built from the exercise entries of :mod:`genlab.exercises.lab02`."""

from __future__ import annotations

from ._core import check_for as _check_for

__all__ = ["check_elbo_loss", "check_iwae_bound", "check_kl_divergence", "check_reparameterize"]

check_reparameterize = _check_for("02", "reparameterize")
check_kl_divergence = _check_for("02", "kl_divergence")
check_elbo_loss = _check_for("02", "elbo_loss")
check_iwae_bound = _check_for("02", "iwae_bound")
