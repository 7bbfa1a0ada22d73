"""Tests of the classical inpainting baselines."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from skimage.restoration import inpaint_biharmonic

from genlab.baselines import BASELINES, EMPTY_FILL, biharmonic, mean_fill
from genlab.errors import RangeError, ShapeError


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_masks(n: int, c: int, size: int, seed: int, p: float = 0.3) -> torch.Tensor:
    return (torch.rand(n, c, size, size, generator=_gen(seed)) < p).float()


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize("mask_channels", [1, 3])
def test_known_pixels_untouched(name, mask_channels):
    x = torch.rand(3, 3, 10, 10, generator=_gen(1))
    mask = _random_masks(3, mask_channels, 10, seed=2)
    out = BASELINES[name](x, mask)
    assert out.shape == x.shape and out.dtype == x.dtype
    known = mask.expand_as(x) == 0
    assert torch.equal(out[known], x[known])
    assert out.min() >= 0 and out.max() <= 1


def test_mean_fill_exact():
    x = torch.rand(2, 3, 6, 6, generator=_gen(3), dtype=torch.float64)
    mask = _random_masks(2, 1, 6, seed=4, p=0.5)
    out = mean_fill(x, mask)
    for n in range(2):
        known = mask[n, 0] == 0
        for c in range(3):
            expected = x[n, c][known].mean()
            assert torch.allclose(out[n, c][~known], expected.expand(int((~known).sum())))


def test_mean_fill_per_channel_mask_and_all_missing():
    x = torch.rand(2, 2, 4, 4, generator=_gen(5))
    mask = torch.zeros(2, 2, 4, 4)
    mask[0, 0, :2] = 1  # channel 0 of image 0: top half missing
    mask[1] = 1  # image 1: everything missing
    out = mean_fill(x, mask)
    torch.testing.assert_close(out[0, 0, :2], x[0, 0, 2:].mean().expand(2, 4))
    assert torch.equal(out[0, 1], x[0, 1])
    assert torch.equal(out[1], torch.full_like(out[1], EMPTY_FILL))


def _ramp(size: int, quadratic: bool) -> torch.Tensor:
    t = torch.linspace(0, 1, size, dtype=torch.float64)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    u = 0.2 + 0.3 * xx + 0.25 * yy
    if quadratic:
        u = u + 0.1 * xx**2 - 0.08 * xx * yy + 0.05 * yy**2
    return u


@pytest.mark.parametrize("quadratic", [False, True])
def test_biharmonic_reproduces_smooth_ramp(quadratic):
    u = _ramp(16, quadratic)
    assert 0 < u.min() and u.max() < 1
    x = u.expand(1, 1, 16, 16).clone()
    mask = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    mask[..., 5:11, 4:12] = 1
    out = biharmonic(x, mask)
    hole = mask.bool()
    assert (out - x)[hole].abs().max() < 1e-8
    # mean fill is far off on the same hole: the test can tell them apart.
    assert (mean_fill(x, mask) - x)[hole].abs().max() > 0.05


def test_biharmonic_batch_rgb_matches_skimage_per_image():
    x = torch.rand(4, 3, 12, 12, generator=_gen(6))
    mask = torch.zeros(4, 1, 12, 12)
    for i in range(4):
        mask[i, :, 2 + i:6 + i, 3:9] = 1
    out = biharmonic(x, mask)
    for i in range(4):
        ref = inpaint_biharmonic(x[i].permute(1, 2, 0).double().numpy(), mask[i, 0].numpy().astype(bool),
                                 channel_axis=-1)
        np.testing.assert_allclose(out[i].permute(1, 2, 0).numpy(), ref.astype(np.float32), atol=1e-6)


def test_biharmonic_per_channel_holes_and_edge_cases():
    u = _ramp(12, quadratic=False)
    x = torch.stack([u, 1 - u]).unsqueeze(0).float()  # (1, 2, 12, 12)
    mask = torch.zeros(1, 2, 12, 12)
    mask[0, 0, 3:7, 3:7] = 1
    mask[0, 1, 5:9, 4:9] = 1  # a different hole, away from the border (stencil reach 2)
    out = biharmonic(x, mask)
    assert (out - x).abs().max() < 1e-5
    # No hole: identity. Everything missing: the documented fallback.
    assert torch.equal(biharmonic(x, torch.zeros(1, 1, 12, 12)), x)
    assert torch.equal(biharmonic(x, torch.ones(1, 1, 12, 12)), torch.full_like(x, EMPTY_FILL))


def test_biharmonic_16px_batch_is_fast():
    x = torch.rand(16, 1, 16, 16, generator=_gen(7))
    mask = torch.zeros(16, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    t0 = time.perf_counter()
    biharmonic(x, mask)
    assert time.perf_counter() - t0 < 5.0  # generous: ~ms per image on one core


def test_baselines_validate_inputs():
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ShapeError):
        mean_fill(x[0], torch.zeros(2, 1, 8, 8))
    with pytest.raises(ShapeError):
        biharmonic(x, torch.zeros(2, 1, 7, 8))
    with pytest.raises(RangeError):
        mean_fill(x * 3, torch.zeros(2, 1, 8, 8))
    with pytest.raises(RangeError):
        biharmonic(x, torch.full((2, 1, 8, 8), 0.3))
