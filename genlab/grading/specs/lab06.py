"""Grading spec of lab 06 (CRNN): rows_to_sequences, sequences_to_rows."""

from __future__ import annotations

import torch

from ..spec import Call, Case, Item, LabSpec, randn, scenario_case


def _rows_to_sequences(feat):
    b, c, h, w = feat.shape
    return feat.permute(0, 2, 3, 1).reshape(b * h, w, c)  # (B, H, W, C) -> (B*H, W, C)


def _sequences_to_rows(seq, batch, height):
    _, w, c = seq.shape
    return seq.reshape(batch, height, w, c).permute(0, 3, 1, 2)  # -> (B, C, H, W)


def _feat(b, c, h, w):
    return lambda g: Call([randn(g, b, c, h, w)])


def _seq(b, c, h, w):
    return lambda g: Call([randn(g, b * h, w, c), b, h])


def _check_crnn(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
    _, batch, h, w = call.args
    if int(out.get("is_reference", torch.tensor(0))):
        return "the model is (or contains) genlab's CRNN: write the forward pass yourself"
    shape = tuple(out["shape"].tolist()) if "shape" in out else None
    if shape != (batch, 1, h, w):
        return (f"masked images ({batch}, 1, {h}, {w}) gave {shape}, expected the image shape "
                "(non-square images: transpose the column features back)")
    if not int(out["known_pixels_kept"]):
        return "known pixels (mask 0) of the output differ from x_masked: end with the composite"
    if not int(out["hole_in_0_1"]):
        return "hole pixels outside [0, 1]: apply torch.sigmoid to the decoder output"
    if not int(out["global_context"]):
        return ("a hole pixel does not depend on a pixel in another row and column: run the row GRU, then "
                "the column GRU on the transposed features")
    if not int(out["other_images_ignored"]):
        return "an output depends on other images of the batch: sequences mix images (check the reshapes)"
    return None


SPEC = LabSpec(
    lab="06_crnn",
    title="CRNN",
    items=[
        Item(
            name="rows_to_sequences", points=3,
            reference="genlab.models.crnn.rows_to_sequences", fallback=_rows_to_sequences,
            compare="exact",
            cases=[
                Case("public-1", _feat(2, 3, 4, 5)),
                Case("held-1", _feat(3, 5, 2, 7), public=False),
                Case("held-2", _feat(1, 4, 6, 3), public=False),
            ],
            expected="(B, C, H, W) -> (B*H, W, C): sequence b*H + r is row r of image b, read left to "
                     "right, with the channels as features.",
            hint="move the channels last with permute(0, 2, 3, 1) before reshape; a plain view/reshape "
                 "mixes channels and positions.",
        ),
        Item(
            name="sequences_to_rows", points=3,
            reference="genlab.models.crnn.sequences_to_rows", fallback=_sequences_to_rows,
            compare="exact",
            cases=[
                Case("public-1", _seq(2, 3, 4, 5)),
                Case("held-1", _seq(3, 6, 2, 7), public=False),
            ],
            expected="(B*H, W, C) -> (B, C, H, W), the inverse of rows_to_sequences.",
            hint="reshape to (B, H, W, C) first, then permute(0, 3, 1, 2).",
        ),
        Item(
            name="CRNN", points=4,
            also_forbidden=("genlab.models.crnn.CRNNRepairer",),
            compare="custom", check=_check_crnn,
            cases=[scenario_case("public-1", "crnn", [0, 2, 12, 16]),
                   scenario_case("held-1", "crnn", [3, 2, 14, 10], public=False)],
            expected="forward(x_masked, mask): encoder on [x_masked, mask], row GRU then column GRU (residual), "
                     "decoder, sigmoid, composite; output (B, C, H, W), known pixels equal x_masked.",
            hint="for the columns use feat.transpose(2, 3) with the same two functions and transpose back.",
        ),
    ],
)
