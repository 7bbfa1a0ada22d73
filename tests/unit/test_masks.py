"""Tests for genlab.masks: mask generators, dispatch, apply/composite, corruptions."""

from __future__ import annotations

import pytest
import torch

from genlab import masks
from genlab.errors import RangeError, ShapeError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_binary_mask(m: torch.Tensor, batch: int, size: int) -> None:
    assert m.shape == (batch, 1, size, size)
    assert m.dtype == torch.float32
    assert torch.all((m == 0) | (m == 1))


# --------------------------------------------------------------------------- blocks

def test_center_block_is_the_centred_square():
    m = masks.center_block(3, 8, 4)
    assert_binary_mask(m, 3, 8)
    expected = torch.zeros(8, 8)
    expected[2:6, 2:6] = 1
    for i in range(3):
        assert torch.equal(m[i, 0], expected)


def test_center_block_odd_leftover_goes_after_the_hole():
    m = masks.center_block(1, 7, 2)[0, 0]
    rows = m.sum(1).nonzero().flatten().tolist()
    assert rows == [2, 3]  # (7 - 2) // 2 = 2


@pytest.mark.parametrize("size,hole", [(8, 1), (8, 3), (16, 16), (28, 12)])
def test_block_mask_is_one_full_square_inside(size, hole):
    m = masks.block_mask(32, size, hole, generator=gen(1))
    assert_binary_mask(m, 32, size)
    assert torch.all(m.sum(dim=(1, 2, 3)) == hole * hole)
    for img in m[:, 0]:
        rows = img.sum(1).nonzero().flatten()
        cols = img.sum(0).nonzero().flatten()
        # A contiguous hole x hole square: hole adjacent rows, hole adjacent cols, filled.
        assert len(rows) == hole and len(cols) == hole
        assert rows[-1] - rows[0] == hole - 1 and cols[-1] - cols[0] == hole - 1
        assert img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()


def test_block_mask_positions_vary_and_cover_the_range():
    m = masks.block_mask(400, 6, 3, generator=gen(2))
    tops = m[:, 0].sum(2).argmax(1)    # first row with ones
    lefts = m[:, 0].sum(1).argmax(1)
    assert set(tops.tolist()) == {0, 1, 2, 3}
    assert set(lefts.tolist()) == {0, 1, 2, 3}


# --------------------------------------------------------------------------- rows and columns

def test_row_band_is_adjacent_whole_rows():
    m = masks.row_band(20, 16, 5, generator=gen(3))
    assert_binary_mask(m, 20, 16)
    assert torch.all(m.sum(dim=(1, 2, 3)) == 5 * 16)
    row_full = m[:, 0].all(dim=2)                    # (B, H): whole row missing
    assert torch.equal(row_full.float(), m[:, 0].amax(dim=2))  # no partial rows
    for r in row_full:
        idx = r.nonzero().flatten()
        assert len(idx) == 5 and idx[-1] - idx[0] == 4


def test_column_mask_is_the_transpose_of_a_row_band():
    m = masks.column_mask(10, 12, 3, generator=gen(4))
    assert_binary_mask(m, 10, 12)
    assert torch.all(m.sum(dim=(1, 2, 3)) == 3 * 12)
    # Each column is either fully missing or fully known, and the missing ones are adjacent.
    col_full = m[:, 0].all(dim=1)
    assert torch.equal(col_full.float(), m[:, 0].amax(dim=1))
    for c in col_full:
        idx = c.nonzero().flatten()
        assert len(idx) == 3 and idx[-1] - idx[0] == 2
    # Same generator state -> row_band's transpose.
    r = masks.row_band(10, 12, 3, generator=gen(4))
    assert torch.equal(m, r.transpose(2, 3))


def test_scattered_rows_are_distinct_whole_rows():
    m = masks.scattered_rows(50, 16, 6, generator=gen(5))
    assert_binary_mask(m, 50, 16)
    assert torch.all(m.sum(dim=(1, 2, 3)) == 6 * 16)
    row_full = m[:, 0].all(dim=2)
    assert torch.all(row_full.sum(1) == 6)
    # Not always one band: some image has a gap between its missing rows.
    spans = [int(r.nonzero()[-1] - r.nonzero()[0]) for r in row_full]
    assert max(spans) > 5


def test_scattered_rows_all_rows():
    m = masks.scattered_rows(2, 5, 5, generator=gen(0))
    assert torch.all(m == 1)


# --------------------------------------------------------------------------- strokes and pixels

def test_stroke_mask_shape_and_coverage():
    m = masks.stroke_mask(8, 32, strokes=3, width=3, generator=gen(6))
    assert_binary_mask(m, 8, 32)
    frac = m.mean(dim=(1, 2, 3))
    assert torch.all(frac > 0) and torch.all(frac < 0.6)


def test_stroke_mask_wider_pen_covers_more():
    thin = masks.stroke_mask(16, 32, strokes=2, width=1, generator=gen(7))
    thick = masks.stroke_mask(16, 32, strokes=2, width=5, generator=gen(7))
    # Same walks (same seed), wider pen: a superset of the thin strokes.
    assert torch.all(thick >= thin)
    assert thick.sum() > thin.sum()


def test_stroke_mask_is_connected_per_stroke():
    # One stroke of width 2 with step length <= width stays one 8-connected blob.
    m = masks.stroke_mask(4, 16, strokes=1, width=2, generator=gen(8))[:, 0]
    for img in m:
        pixels = {tuple(p) for p in img.nonzero().tolist()}
        start = next(iter(pixels))
        seen, todo = {start}, [start]
        while todo:
            i, j = todo.pop()
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    q = (i + di, j + dj)
                    if q in pixels and q not in seen:
                        seen.add(q)
                        todo.append(q)
        assert seen == pixels


def test_segment_distance_matches_closed_form():
    pts = torch.tensor([[0.0, 0.0], [2.0, 5.0], [-3.0, 1.0]])
    a = torch.tensor([[0.0, 1.0]])
    b = torch.tensor([[0.0, 4.0]])
    d = masks._segment_distance(pts, a, b)
    # (0,0): nearest is a -> 1; (2,5): nearest is b -> sqrt(4+1); (-3,1): perpendicular foot at a -> 3.
    assert torch.allclose(d, torch.tensor([1.0, 5 ** 0.5, 3.0]))


def test_stroke_mask_matches_brute_force_distance():
    # The windowed rasteriser must equal "every pixel within width/2 of some segment".
    size, width = 20, 3
    m = masks.stroke_mask(3, size, strokes=2, width=width, steps=5, generator=gen(21))
    # Rebuild the same walks with the same draws.
    g = gen(21)
    n, steps, step_len = 6, 5, max(1.0, size / 8)
    start = torch.randint(0, size, (n, 2), generator=g).float()
    heading = torch.rand(n, 1, generator=g) * 2 * torch.pi
    angles = heading + (torch.randn(n, steps, generator=g) * 0.6).cumsum(1)
    pts = [start]
    for k in range(steps):
        step = torch.stack([angles[:, k].sin(), angles[:, k].cos()], -1) * step_len
        pts.append((pts[-1] + step).clamp(0, size - 1))
    walk = torch.stack(pts, 1).view(3, 2 * (steps + 1), 2)
    ii, jj = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centres = torch.stack([ii, jj], -1).view(-1, 1, 2).float()
    for i in range(3):
        segs = walk[i].view(2, steps + 1, 2)
        a, b = segs[:, :-1].reshape(-1, 2), segs[:, 1:].reshape(-1, 2)
        ref = (masks._segment_distance(centres, a, b).amin(1) <= width / 2).float().view(size, size)
        assert torch.equal(m[i, 0], ref)


def test_pixel_mask_probability():
    m = masks.pixel_mask(64, 32, 0.3, generator=gen(9))
    assert_binary_mask(m, 64, 32)
    # 65,536 Bernoulli(0.3) draws: std of the mean is ~0.0018.
    assert abs(m.mean().item() - 0.3) < 0.01
    assert torch.all(masks.pixel_mask(2, 4, 0.0) == 0)
    assert torch.all(masks.pixel_mask(2, 4, 1.0) == 1)


# --------------------------------------------------------------------------- seeding

RANDOM_KINDS = ["block", "rows", "scattered_rows", "columns", "strokes", "pixels"]


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_same_seed_same_mask_different_seed_differs(kind):
    a = masks.make_mask(kind, 16, 16, generator=gen(10))
    b = masks.make_mask(kind, 16, 16, generator=gen(10))
    c = masks.make_mask(kind, 16, 16, generator=gen(11))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_images_in_a_batch_get_different_masks(kind):
    m = masks.make_mask(kind, 16, 16, generator=gen(12))
    assert len({tuple(x.flatten().tolist()) for x in m}) > 1


def test_global_seed_used_without_generator():
    torch.manual_seed(0)
    a = masks.block_mask(4, 16, 5)
    torch.manual_seed(0)
    b = masks.block_mask(4, 16, 5)
    assert torch.equal(a, b)


# --------------------------------------------------------------------------- make_mask

@pytest.mark.parametrize("kind", masks.MASK_KINDS)
def test_make_mask_every_kind_with_defaults(kind):
    m = masks.make_mask(kind, 3, 16, generator=gen(13))
    assert_binary_mask(m, 3, 16)
    assert m.sum() > 0


def test_make_mask_passes_parameters():
    assert torch.equal(masks.make_mask("center", 2, 10, hole=4), masks.center_block(2, 10, 4))
    assert torch.equal(masks.make_mask("block", 2, 10, generator=gen(1), hole=3),
                       masks.block_mask(2, 10, 3, generator=gen(1)))
    assert torch.equal(masks.make_mask("columns", 2, 10, generator=gen(1), cols=2),
                       masks.column_mask(2, 10, 2, generator=gen(1)))
    assert masks.make_mask("rows", 1, 10, rows=2).sum() == 20


def test_mask_kinds_names():
    assert set(masks.MASK_KINDS) == {"center", "block", "rows", "scattered_rows", "columns", "strokes", "pixels"}


def test_make_mask_unknown_kind_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown mask kind 'circle'.*block.*strokes"):
        masks.make_mask("circle", 1, 8)


def test_make_mask_wrong_parameter_says_which_are_accepted():
    with pytest.raises(TypeError, match=r"'block' does not take rows.*hole"):
        masks.make_mask("block", 1, 8, rows=2)


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("call,match", [
    (lambda: masks.block_mask(0, 8, 2), r"batch must be >= 1, got 0"),
    (lambda: masks.block_mask(2, 0, 1), r"size must be >= 1"),
    (lambda: masks.block_mask(2, 8, 9), r"hole must be >= 1 and <= 8, got 9"),
    (lambda: masks.center_block(2, 8, 0), r"hole must be >= 1 and <= 8, got 0"),
    (lambda: masks.row_band(2, 8, 10), r"rows must be >= 1 and <= 8, got 10"),
    (lambda: masks.scattered_rows(2, 8, 9), r"rows must be >= 1 and <= 8, got 9"),
    (lambda: masks.column_mask(2, 8, 0), r"cols must be >= 1"),
    (lambda: masks.pixel_mask(2, 8, 1.5), r"p must be a probability in \[0, 1\], got 1.5"),
    (lambda: masks.pixel_mask(2, 8, -0.1), r"got -0.1"),
    (lambda: masks.stroke_mask(2, 8, strokes=0), r"strokes must be >= 1"),
    (lambda: masks.stroke_mask(2, 8, width=0), r"width must be >= 1"),
])
def test_bad_values_raise_value_error_with_what_came(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match=r"hole must be an int, got float"):
        masks.block_mask(2, 8, 2.5)
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator"):
        masks.block_mask(2, 8, 2, generator=0)
    with pytest.raises(TypeError, match=r"batch must be an int"):
        masks.pixel_mask(True, 8, 0.5)


def test_integer_like_arguments_are_accepted():
    m = masks.block_mask(torch.tensor(2), 8, torch.tensor(3), generator=gen(0))
    assert m.shape == (2, 1, 8, 8) and torch.all(m.sum((1, 2, 3)) == 9)


# --------------------------------------------------------------------------- apply_mask / composite

def test_apply_mask_blanks_only_the_hole():
    x = torch.rand(2, 3, 8, 8, generator=gen(14))
    m = masks.center_block(2, 8, 4)
    y = masks.apply_mask(x, m, fill=0.5)
    hole = m.expand_as(x).bool()
    assert torch.all(y[hole] == 0.5)
    assert torch.equal(y[~hole], x[~hole])
    assert torch.equal(masks.apply_mask(x, m)[hole], torch.zeros(int(hole.sum())))


def test_composite_takes_hole_from_x_hat_and_rest_from_x():
    x = torch.rand(2, 1, 8, 8, generator=gen(15))
    x_hat = torch.rand(2, 1, 8, 8, generator=gen(16))
    m = masks.block_mask(2, 8, 3, generator=gen(17))
    out = masks.composite(x_hat, x, m)
    assert torch.equal(out, torch.where(m.bool(), x_hat, x))
    # Filling the hole with the truth gives the truth back.
    assert torch.equal(masks.composite(x, masks.apply_mask(x, m), m), x)


def test_apply_mask_rejects_a_mismatched_mask():
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ShapeError, match=r"does not match the image"):
        masks.apply_mask(x, torch.zeros(2, 1, 4, 4))
    with pytest.raises(RangeError, match=r"only 0 \(known\) and 1 \(missing\)"):
        masks.apply_mask(x, torch.full((2, 1, 8, 8), 0.5))
    with pytest.raises(ValueError, match=r"x_hat of shape"):
        masks.composite(torch.rand(1, 1, 8, 8), x, torch.zeros(2, 1, 8, 8))


# --------------------------------------------------------------------------- corruptions

def test_gaussian_noise_matches_torch_reference_and_stays_in_range():
    x = torch.full((4, 1, 16, 16), 0.5)
    y = masks.gaussian_noise(x, 0.1, generator=gen(18))
    ref = (x + 0.1 * torch.randn(x.shape, generator=gen(18))).clamp(0, 1)
    assert torch.equal(y, ref)
    assert abs((y - x).std().item() - 0.1) < 0.01
    big = masks.gaussian_noise(torch.rand(2, 3, 8, 8), 5.0, generator=gen(19))
    assert big.min() >= 0 and big.max() <= 1
    assert torch.equal(masks.gaussian_noise(x, 0.0), x)


def test_gaussian_noise_rejects_negative_sigma_and_bad_images():
    with pytest.raises(RangeError, match=r"sigma must be >= 0.*got -1"):
        masks.gaussian_noise(torch.rand(1, 1, 4, 4), -1)
    with pytest.raises(ShapeError, match=r"\(N, C, H, W\)"):
        masks.gaussian_noise(torch.rand(4, 4), 0.1)


def test_salt_and_pepper_rate_and_values():
    x = torch.full((8, 3, 32, 32), 0.5)
    y = masks.salt_and_pepper(x, 0.2, generator=gen(20))
    hit = (y != 0.5)
    # All channels of a pixel are hit together, with 0 or 1.
    assert torch.equal(hit.all(1), hit.any(1))
    assert torch.all((y[hit] == 0) | (y[hit] == 1))
    rate = hit[:, 0].float().mean().item()
    assert abs(rate - 0.2) < 0.02
    salt = (y[:, 0][hit[:, 0]] == 1).float().mean().item()
    assert abs(salt - 0.5) < 0.05
    assert torch.equal(masks.salt_and_pepper(x, 0.0), x)
    with pytest.raises(ValueError, match=r"p must be a probability"):
        masks.salt_and_pepper(x, 2.0)
