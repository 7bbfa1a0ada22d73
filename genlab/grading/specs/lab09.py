"""Grading spec of lab 09 (debugging): the eight fixed functions, graded on behaviour.

Pure tensor functions are compared with closed forms on fresh inputs; the ones
that take modules or optimisers run a seeded scenario
(:mod:`genlab.grading.scenarios`) and must behave like the reference fix: the
same weights after the step, the generator untouched, the model's mode
restored, no shared parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..scenarios import ref_discriminator_update, ref_ema_copy, ref_predict, ref_row_rnn
from ..spec import Call, Case, Item, LabSpec, randn, scenario_case, scenario_check


def _gen_output(flat, channels, size):
    return flat.reshape(flat.shape[0], channels, size, size)


def _d_loss(d_real, d_fake):
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def _kl(mu, logvar):
    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(dim=1)


def _bce(logits, targets):
    return F.binary_cross_entropy_with_logits(logits, targets)


def _flat(b: int, c: int, s: int):
    return lambda g: Call([randn(g, b, c * s * s), c, s])


def _bce_call(n: int, scale: float, confident: bool = False):
    def make(g: torch.Generator) -> Call:
        t = (torch.rand(n, generator=g) < 0.5).float()
        logits = (2 * t - 1) * 20.0 if confident else randn(g, n, scale=scale)
        return Call([logits, t])
    return make


SPEC = LabSpec(
    lab="09_debugging",
    title="Debugging",
    items=[
        Item(
            name="fixed_generator_output", points=1, fallback=_gen_output, compare="exact",
            cases=[Case("public-1", _flat(4, 3, 4)),
                   Case("held-1", _flat(2, 1, 5), public=False),
                   Case("held-2", _flat(3, 2, 3), public=False)],
            expected="(B, C*size*size) -> (B, C, size, size), image b = row b of flat.",
            hint="keep the batch dimension: flat.view(flat.shape[0], channels, size, size).",
        ),
        Item(
            name="fixed_discriminator_loss", points=1, fallback=_d_loss,
            also_forbidden=("genlab.losses.discriminator_loss", "genlab.checks.lab09._ref_d_loss"),
            cases=[Case("public-1", lambda g: Call([randn(g, 8), randn(g, 8)])),
                   Case("held-1", lambda g: Call([randn(g, 6, scale=3.0) + 1, randn(g, 10, scale=3.0) - 1]),
                        public=False)],
            expected="BCE-with-logits of real logits against 1 plus fake logits against 0, each a batch mean.",
            hint="the fake term's target is zeros_like(d_fake).",
        ),
        Item(
            name="fixed_kl_divergence", points=1, fallback=_kl,
            also_forbidden=("genlab.losses.kl_divergence",),
            cases=[Case("public-1", lambda g: Call([randn(g, 4, 3), randn(g, 4, 3)])),
                   Case("held-1", lambda g: Call([randn(g, 9, 6, scale=2.0), randn(g, 9, 6)]), public=False)],
            expected="0.5 * sum_j (exp(logvar) + mu^2 - 1 - logvar) per example, shape (B,), >= 0.",
            hint="the broken version has every sign flipped.",
        ),
        Item(
            name="fixed_row_rnn", points=2, compare="custom",
            check=scenario_check("row_rnn", ref_row_rnn,
                                 {"out": "not the GRU run along every row of the map "
                                         "(view instead of permute? rows and columns swapped?)"},
                                 rtol=1e-4, atol=1e-5),
            cases=[scenario_case("public-1", "row_rnn", [0, 2, 3, 4, 5, 4, 1]),
                   scenario_case("held-1", "row_rnn", [1, 3, 2, 3, 6, 3, 0], public=False),
                   scenario_case("held-2", "row_rnn", [2, 1, 4, 5, 3, 2, 1], public=False)],
            expected="(B, C, H, W) -> sequences (B*H, W, C) -> GRU -> (B, D*hidden, H, W).",
            hint="feat.permute(0, 2, 3, 1).reshape(b * h, w, c), then reshape(b, h, w, -1).permute(0, 3, 1, 2).",
        ),
        Item(
            name="fixed_bce_loss", points=1, fallback=_bce,
            cases=[Case("public-confident", _bce_call(6, 1.0, confident=True)),
                   Case("public-1", _bce_call(7, 3.0)),
                   Case("held-1", _bce_call(12, 2.0), public=False)],
            expected="F.binary_cross_entropy_with_logits(logits, targets): the logits, not their sigmoid.",
            hint="BCE-with-logits applies the sigmoid itself.",
        ),
        Item(
            name="fixed_discriminator_update", points=2, compare="custom",
            check=scenario_check("d_update", ref_discriminator_update, {
                "G_has_no_gradient": "D's loss put gradients into the generator: detach the fakes",
                "G_unchanged": "the generator's weights changed during a D update",
                "loss": "the returned loss is not D's loss (real = 1, fake = 0) before the step",
                "D_weights": "D's weights after the step differ from one SGD step on its loss",
            }, rtol=1e-4, atol=1e-6),
            cases=[scenario_case("public-1", "d_update", [0, 16]),
                   scenario_case("held-1", "d_update", [3, 10], public=False)],
            expected="one D step on real (1) and detached fakes (0); the generator keeps its weights and gets "
                     "no gradient; returns the loss.",
            hint="fake = generator(z).detach().",
        ),
        Item(
            name="fixed_predict", points=2, compare="custom",
            check=scenario_check("predict", ref_predict, {
                "repeatable": "two calls gave different outputs: dropout still active (model.eval())",
                "bn_stats_untouched": "predicting changed batch-norm running statistics: model.eval()",
                "out": "the outputs differ from the model's evaluation behaviour",
                "no_graph": "the outputs require grad: predict under torch.no_grad()",
                "train_mode_restored": "a model in training mode was left in eval mode: restore its mode",
                "eval_mode_kept": "a model in eval mode was put in training mode: restore the mode it was in",
            }, rtol=1e-5, atol=1e-6),
            cases=[scenario_case("public-1", "predict", [0, 8]),
                   scenario_case("held-1", "predict", [4, 5], public=False)],
            expected="outputs in eval behaviour without a graph; the model left in the mode it was in.",
            hint="was = model.training; model.eval(); with torch.no_grad(): ...; finally model.train(was).",
        ),
        Item(
            name="fixed_ema_copy", points=2, compare="custom",
            check=scenario_check("ema_copy", ref_ema_copy, {
                "same_weights": "the copy does not start with the model's weights",
                "no_shared_storage": "the copy shares parameters with the model: use copy.deepcopy",
                "independent": "the copy moves when the model is updated",
                "frozen": "the copy's parameters must not require grad",
                "original_trainable": "the original model was frozen too: freeze only the copy",
            }),
            cases=[scenario_case("public-1", "ema_copy", [0]),
                   scenario_case("held-1", "ema_copy", [5], public=False)],
            expected="copy.deepcopy(model) with requires_grad False on the copy only.",
            hint="`ema = model` is the same network under a second name.",
        ),
    ],
)


