"""genlab.restoration: fixed evaluation masks, the table of hole PSNR/SSIM, the training wrapper."""

import math

import pytest
import torch
from torch import nn

from genlab import baselines, masks, metrics
from genlab.restoration import (
    EVAL_MASKS,
    RepairTable,
    eval_masks,
    evaluate_repairers,
    train_repairer,
    training_masks,
)


def _digits_like(n=6, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g)


def test_eval_masks_are_fixed_and_sized():
    a, b = eval_masks(5, 16), eval_masks(5, 16)
    assert list(a) == list(EVAL_MASKS)
    for name in a:
        assert torch.equal(a[name], b[name])
    assert torch.equal(a["centre 8x8"], masks.center_block(5, 16, 8))
    assert (a["5-row band"].flatten(1).sum(1) == 5 * 16).all()
    assert (a["3 scattered rows"].flatten(1).sum(1) == 3 * 16).all()
    assert not torch.equal(eval_masks(5, 16, seed=1)["5-row band"], a["5-row band"])
    # sizes scale with the image: half the side for the centre block at 32 px
    assert (eval_masks(2, 32, ["centre 8x8"])["centre 8x8"].flatten(1).sum(1) == 16 * 16).all()


def test_evaluate_matches_direct_metrics():
    torch.manual_seed(0)
    x = _digits_like()
    perfect = lambda x_masked, mask: torch.zeros_like(x_masked)  # noqa: E731
    table, out = evaluate_repairers({"zeros": perfect}, x, ["centre 8x8", "5-row band"], return_outputs=True)
    assert table.methods == ["mean fill", "biharmonic", "zeros"]
    m = eval_masks(len(x), 16, ["centre 8x8"])["centre 8x8"]
    want_bih = metrics.masked_psnr(baselines.biharmonic(masks.apply_mask(x, m), m), x, m).mean()
    assert math.isclose(table.psnr["biharmonic"]["centre 8x8"], float(want_bih), rel_tol=1e-5)
    want_zero = metrics.masked_psnr(masks.composite(torch.zeros_like(x), x, m), x, m).mean()
    assert math.isclose(table.psnr["zeros"]["centre 8x8"], float(want_zero), rel_tol=1e-5)
    assert math.isclose(table.gain("zeros")["centre 8x8"], float(want_zero - want_bih), rel_tol=1e-4)
    # known pixels are always restored, whatever the method returns
    assert torch.equal(out["zeros"]["centre 8x8"] * (1 - m), x * (1 - m))
    assert 0 < table.ssim["biharmonic"]["5-row band"] <= 1
    text = table.to_markdown()
    assert "| biharmonic |" in text and "dB" in text and "6 held-out" in text


def test_evaluate_restores_train_mode_and_uses_eval():
    model = nn.Sequential(nn.Dropout(0.5))
    seen = []

    class Rep(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = model
            self.w = nn.Parameter(torch.zeros(()))

        def forward(self, x_masked, mask):
            seen.append(self.training)
            return self.drop(x_masked) + self.w

    rep = Rep().train()
    evaluate_repairers({"rep": rep}, _digits_like(3), ["centre 8x8"], include_baselines=False, ssim=False)
    assert seen == [False] and rep.training


def test_training_masks_mix_and_reproducible():
    sampler = training_masks(("block", "rows"), {"block": {"hole": 4}, "rows": {"rows": 2}})
    a = sampler(10, (8, 8), torch.Generator().manual_seed(0))
    b = sampler(10, 8, torch.Generator().manual_seed(0))
    assert a.shape == (10, 1, 8, 8) and torch.equal(a, b)
    counts = sorted(a.flatten(1).sum(1).tolist())
    assert counts == [16.0] * 10  # 4x4 blocks and 2 rows of 8: both 16 pixels
    with pytest.raises(ValueError, match="unknown mask kind"):
        training_masks(("nope",))


def test_train_repairer_reduces_loss_and_table_type():
    torch.manual_seed(0)
    from genlab.models.repair import ConvRepairer, RepairConfig

    x = _digits_like(32, 8)
    model = ConvRepairer(RepairConfig(image_size=8, width=4, depth=1))
    seen = []
    hist = train_repairer(model, x, 4, batch_size=16, progress=False, device="cpu", lr=1e-3,
                          lr_drop=(0.5, 0.1),
                          callbacks=[lambda ctx: seen.append(ctx.task.optimizers["model"].param_groups[0]["lr"])])
    assert len(hist) == 4 and all(math.isfinite(v) for v in hist["loss"])
    assert seen[0] == pytest.approx(1e-3) and seen[-1] == pytest.approx(1e-4)
    assert isinstance(evaluate_repairers({"m": model}, x[:4], ["rows"], ssim=False), RepairTable)
