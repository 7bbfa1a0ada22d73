"""Grading spec of lab 06 (CRNN): rows_to_sequences, sequences_to_rows."""

from __future__ import annotations

from ..spec import Call, Case, Item, LabSpec, randn


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
    ],
)
