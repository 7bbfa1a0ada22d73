"""Repairers (MLP, conv, CRNN, U-Net): known pixels kept, shapes, reshapes, receptive fields."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import ShapeError
from genlab.masks import apply_mask
from genlab.models import (
    ConvRepairer,
    CRNNConfig,
    CRNNRepairer,
    MLPRepairer,
    PatchDiscriminator,
    RepairConfig,
    UNet,
    UNetConfig,
    cols_to_sequences,
    rows_to_sequences,
    sequences_to_cols,
    sequences_to_rows,
)

SIZES = [16, 28, 32]


def _batch(n: int, c: int, s: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, s, s, generator=g)
    mask = (torch.rand(n, 1, s, s, generator=g) < 0.3).float()
    mask[:, :, s // 4: s // 2, :] = 1.0                    # plus whole rows missing
    return x, apply_mask(x, mask), mask


def _small(name: str, size: int, channels: int = 1):
    if name == "mlp":
        return MLPRepairer(RepairConfig(image_size=size, channels=channels, hidden=32))
    if name == "conv":
        return ConvRepairer(RepairConfig(image_size=size, channels=channels, width=8, depth=2))
    if name == "crnn":
        return CRNNRepairer(CRNNConfig(image_size=size, channels=channels, width=8, hidden=8))
    if name == "crnn_lstm":
        return CRNNRepairer(CRNNConfig(image_size=size, channels=channels, width=8, hidden=8,
                                       rnn="lstm", layers=2))
    return UNet(UNetConfig(image_size=size, channels=channels, width=8))


NAMES = ["mlp", "conv", "crnn", "crnn_lstm", "unet"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", SIZES)
def test_repairers_keep_known_pixels_exactly(name: str, size: int) -> None:
    torch.manual_seed(0)
    model = _small(name, size)
    x, x_masked, mask = _batch(3, 1, size)
    x_hat = model(x_masked, mask)
    assert x_hat.shape == x.shape
    known = mask.expand_as(x) == 0
    assert torch.equal(x_hat[known], x_masked[known])
    assert x_hat.min() >= 0 and x_hat.max() <= 1
    raw = model.raw(x_masked, mask)
    assert raw.shape == x.shape and raw.min() >= 0 and raw.max() <= 1
    # forward = mask * raw + (1 - mask) * x_masked
    torch.testing.assert_close(x_hat, mask * raw + (1 - mask) * x_masked)


@pytest.mark.parametrize("name", NAMES)
def test_repairers_handle_colour_and_image_shaped_masks(name: str) -> None:
    torch.manual_seed(0)
    model = _small(name, 16, channels=3)
    x, _, mask = _batch(2, 3, 16)
    mask3 = mask.expand(2, 3, 16, 16)
    x_masked = apply_mask(x, mask3)
    x_hat = model(x_masked, mask3)
    assert x_hat.shape == (2, 3, 16, 16)
    torch.testing.assert_close(x_hat, model(x_masked, mask))


def test_repairer_input_errors() -> None:
    model = _small("conv", 16)
    x, x_masked, mask = _batch(2, 1, 16)
    with pytest.raises(ShapeError, match="does not match"):
        model(x_masked, mask[:, :, :8])
    with pytest.raises(ShapeError, match="channel"):
        model(torch.rand(2, 3, 16, 16), mask)
    with pytest.raises(ShapeError, match="divisible by 2"):
        model(torch.rand(2, 1, 15, 15), torch.zeros(2, 1, 15, 15))
    with pytest.raises(ShapeError, match="16x16"):
        _small("mlp", 16)(torch.rand(2, 1, 28, 28), torch.zeros(2, 1, 28, 28))


def _explicit_rows(feat: torch.Tensor) -> torch.Tensor:
    b, c, h, w = feat.shape
    return torch.stack([feat[i, :, r, :].T for i in range(b) for r in range(h)])   # (B*H, W, C)


def _explicit_cols(feat: torch.Tensor) -> torch.Tensor:
    b, c, h, w = feat.shape
    return torch.stack([feat[i, :, :, j].T for i in range(b) for j in range(w)])   # (B*W, H, C)


def test_rows_and_cols_to_sequences_match_loops_and_round_trip() -> None:
    feat = torch.randn(2, 3, 4, 5)
    rows = rows_to_sequences(feat)
    assert rows.shape == (8, 5, 3)
    torch.testing.assert_close(rows, _explicit_rows(feat))
    torch.testing.assert_close(sequences_to_rows(rows, 2, 4), feat)
    cols = cols_to_sequences(feat)
    assert cols.shape == (10, 4, 3)
    torch.testing.assert_close(cols, _explicit_cols(feat))
    torch.testing.assert_close(sequences_to_cols(cols, 2, 5), feat)
    # a plain view has the right shape and the wrong content
    assert not torch.equal(feat.reshape(8, 5, 3), rows)
    # the inverse accepts a different feature size (e.g. after a BiRNN)
    wide = torch.randn(8, 5, 7)
    assert sequences_to_rows(wide, 2, 4).shape == (2, 7, 4, 5)
    with pytest.raises(ShapeError):
        rows_to_sequences(torch.randn(3, 4, 5))
    with pytest.raises(ShapeError):
        sequences_to_rows(rows, 3, 4)


def _grad_from(model, out_rc: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """d raw[0, 0, r, c] / d x_masked: the input pixels one output pixel depends on."""
    h, w = size
    x = torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(0), requires_grad=True)
    mask = torch.zeros(1, 1, h, w)
    model.raw(x, mask)[0, 0, out_rc[0], out_rc[1]].backward()
    return x.grad[0, 0]


def test_crnn_output_sees_the_whole_row_and_column() -> None:
    torch.manual_seed(0)
    # zero_init=False: with zero-initialised sweeps the recurrence adds nothing yet (next test)
    model = CRNNRepairer(CRNNConfig(image_size=16, width=8, hidden=8, zero_init=False))
    g = _grad_from(model, (5, 0), (16, 16))
    assert g[5, 15].abs() > 0             # far end of the same row
    assert g[15, 15].abs() > 0            # opposite corner
    assert (g != 0).all()                 # every input pixel
    # the same holds on a very wide image: recurrence has no receptive-field limit
    g_wide = _grad_from(model, (5, 0), (16, 128))
    assert g_wide[5, 127].abs() > 0


def test_crnn_zero_init_sweeps_start_as_identity_and_learn() -> None:
    # zero-initialised projections: each residual sweep returns its input exactly at init,
    # so the receptive field is the conv layers' (stem, down, two dilated blocks at half
    # resolution, up, head: a radius of about 20 px)
    torch.manual_seed(0)
    model = CRNNRepairer(CRNNConfig(image_size=16, width=8, hidden=8))
    feat = torch.randn(2, 16, 5, 7)                       # the sweeps work on 2 * width channels
    torch.testing.assert_close(model.rows(feat), feat, rtol=0, atol=0)
    torch.testing.assert_close(model.cols(feat), feat, rtol=0, atol=0)
    g = _grad_from(model, (5, 0), (16, 128))
    assert torch.equal(g[:, 40:], torch.zeros_like(g[:, 40:]))
    # ... but the projection still gets a gradient, so one Adam step switches the sweeps on
    x = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(4, 1, 16, 16)
    mask[:, :, 6:11] = 1
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    ((model.raw(apply_mask(x, mask), mask) - x) ** 2).mean().backward()
    assert model.rows.proj.weight.grad.abs().sum() > 0 and model.cols.proj.weight.grad.abs().sum() > 0
    opt.step()
    g = _grad_from(model, (5, 0), (16, 128))
    assert g[5, 127].abs() > 0 and (g[:, 40:] != 0).any()


def test_crnn_default_size_is_like_the_conv_repairer() -> None:
    # the course compares the two at similar size: within 25 % of ConvRepairer, weight file < 2 MB
    n_crnn = sum(p.numel() for p in CRNNRepairer(CRNNConfig(image_size=16)).parameters())
    n_conv = sum(p.numel() for p in ConvRepairer(RepairConfig(image_size=16)).parameters())
    assert 0.75 * n_conv <= n_crnn <= 1.25 * n_conv
    assert n_crnn * 4 < 2e6


def test_crnn_fills_a_whole_row_hole_from_far_pixels() -> None:
    # rows 6..9 missing: the hole pixel at (7, 0) has no known neighbour in its row;
    # through forward (composite included) it still depends on known pixels far away
    torch.manual_seed(0)
    model = CRNNRepairer(CRNNConfig(image_size=16, width=8, hidden=8, zero_init=False))
    x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, 16, 16)
    mask[:, :, 6:10] = 1
    x_masked = apply_mask(x, mask).requires_grad_(True)
    model(x_masked, mask)[0, 0, 7, 0].backward()
    g = x_masked.grad[0, 0]
    assert g[0, 15].abs() > 0 and g[15, 15].abs() > 0
    # a known pixel's output is the input itself: gradient 1 there and 0 elsewhere
    x_masked.grad = None
    model(x_masked, mask)[0, 0, 0, 0].backward()
    expected = torch.zeros(16, 16)
    expected[0, 0] = 1
    torch.testing.assert_close(x_masked.grad[0, 0], expected)


def test_conv_repairer_receptive_field_is_bounded() -> None:
    torch.manual_seed(0)
    model = ConvRepairer(RepairConfig(image_size=16))
    g = _grad_from(model, (5, 0), (16, 128))
    assert g[5, :8].abs().sum() > 0
    assert torch.equal(g[:, 100:], torch.zeros_like(g[:, 100:]))
    # ... yet wide enough to see all of a 16x16 digit from any pixel (an 8x8 hole is fillable)
    assert (_grad_from(model, (8, 8), (16, 16)) != 0).all()


def test_patch_discriminator_shapes() -> None:
    torch.manual_seed(0)
    for size in SIZES:
        d = PatchDiscriminator(UNetConfig(image_size=size, width=8))
        x, x_masked, mask = _batch(2, 1, size)
        cond = torch.cat([x_masked, mask], dim=1)
        out = d(cond, x)
        assert out.shape == (2, 1, size // 4, size // 4)
        assert not torch.equal(out, d(cond, 1 - x))
    with pytest.raises(ShapeError, match="2 channel"):
        d(x, x)
