"""Grading spec of lab 05 (restoration): block_mask, apply_mask, masked_mse, composite."""

from __future__ import annotations

import torch

from ..spec import Call, Case, Gen, Item, LabSpec, rand, randint


def _apply_mask(x, mask, fill=0.0):
    return x * (1 - mask) + fill * mask


def _masked_mse(x_hat, x, mask):
    """Mean squared error over hole pixels only (mask broadcast to x's channels)."""
    m = mask.expand_as(x)
    return ((x_hat - x).pow(2) * m).sum() / m.sum().clamp_min(1.0)


def _composite(x_hat, x, mask):
    return mask * x_hat + (1 - mask) * x


def _mask(g: torch.Generator, b: int, size: int, c: int = 1) -> torch.Tensor:
    m = (torch.rand(b, c, size, size, generator=g) < 0.3).float()
    m[:, :, 0, 0] = 1.0  # at least one hole pixel per image
    return m


def _block_call(b: int, size: int, hole: int, with_generator: bool):
    def make(g: torch.Generator) -> Call:
        kwargs = {"generator": Gen(randint(g, 0, 2**31 - 1))} if with_generator else {}
        return Call([b, size, hole], kwargs)
    return make


def _check_block_mask(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
    b, size, hole = call.args
    m = out.get("out")
    if m is None:
        return "no tensor output"
    if tuple(m.shape) != (b, 1, size, size):
        return f"shape {tuple(m.shape)}, expected (batch, 1, size, size) = {(b, 1, size, size)}"
    if not m.is_floating_point():
        return f"dtype {m.dtype}: the mask must be a float tensor of 0s and 1s"
    if not torch.all((m == 0) | (m == 1)):
        return "values other than 0 and 1"
    counts = m.flatten(1).sum(1)
    if not torch.all(counts == hole * hole):
        return f"each mask must have exactly hole*hole = {hole * hole} ones (1 = missing), got {counts[:4].tolist()}"
    rows = m[:, 0].amax(2)  # (B, size): which rows hold hole pixels
    cols = m[:, 0].amax(1)
    if not (torch.all(rows.sum(1) == hole) and torch.all(cols.sum(1) == hole)):
        return "the ones do not form one hole x hole square in every mask"
    if size > hole and b >= 16 and torch.all(m == m[:1]):
        return "every mask in the batch has its hole at the same place: draw a position per image"
    again = out.get("out#1")
    if "generator" in call.kwargs and again is not None and not torch.equal(again, m):
        return ("two calls with generators seeded the same gave different masks: draw the positions "
                "with torch.randint(..., generator=generator)")
    return None


SPEC = LabSpec(
    lab="05_restoration",
    title="Image restoration",
    items=[
        Item(
            name="block_mask", points=3,
            reference="genlab.masks.block_mask",
            also_forbidden=("genlab.masks.make_mask", "genlab.masks.center_block"),
            compare="custom", check=_check_block_mask,
            cases=[
                Case("public-1", _block_call(32, 16, 6, True), options={"repeat": 2}),
                Case("held-1", _block_call(24, 12, 4, True), public=False, options={"repeat": 2}),
                Case("held-no-generator", _block_call(16, 10, 3, False), public=False),
            ],
            expected="a float (B, 1, size, size) mask with one hole x hole square of ones per image, at a "
                     "random position fully inside the image, drawn with the given generator.",
            hint="draw the top-left corner with torch.randint(0, size - hole + 1, (batch,), "
                 "generator=generator) and set mask[i, 0, top:top+hole, left:left+hole] = 1.",
        ),
        Item(
            name="apply_mask", points=2,
            reference="genlab.masks.apply_mask", fallback=_apply_mask,
            cases=[
                Case("public-1", lambda g: Call([rand(g, 2, 1, 6, 6), _mask(g, 2, 6)])),
                Case("public-fill", lambda g: Call([rand(g, 2, 1, 6, 6), _mask(g, 2, 6)], {"fill": 0.5})),
                Case("held-rgb", lambda g: Call([rand(g, 3, 3, 8, 8), _mask(g, 3, 8)], {"fill": 1.0}),
                     public=False),
            ],
            expected="x * (1 - mask) + fill * mask: known pixels kept, the hole set to fill.",
            hint="mask is 1 where a pixel is missing; (1 - mask) keeps the known ones.",
        ),
        Item(
            name="masked_mse", points=3,
            reference="genlab.losses.masked_mse", fallback=_masked_mse,
            cases=[
                Case("public-1", lambda g: Call([rand(g, 2, 1, 6, 6), rand(g, 2, 1, 6, 6), _mask(g, 2, 6)])),
                Case("held-1", lambda g: Call([rand(g, 4, 1, 8, 8), rand(g, 4, 1, 8, 8), _mask(g, 4, 8)]),
                     public=False),
            ],
            expected="the mean of (x_hat - x)^2 over the hole pixels only (a scalar).",
            hint="sum the masked squared error and divide by mask.sum(), not by the number of pixels.",
        ),
        Item(
            name="composite", points=2,
            reference="genlab.masks.composite", fallback=_composite,
            cases=[
                Case("public-1", lambda g: Call([rand(g, 2, 1, 6, 6), rand(g, 2, 1, 6, 6), _mask(g, 2, 6)])),
                Case("held-rgb", lambda g: Call([rand(g, 3, 3, 8, 8), rand(g, 3, 3, 8, 8), _mask(g, 3, 8)]),
                     public=False),
            ],
            expected="mask * x_hat + (1 - mask) * x: the prediction in the hole, the known pixels untouched.",
            hint="only the hole (mask == 1) comes from x_hat.",
        ),
    ],
)
