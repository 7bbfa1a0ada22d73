"""The residual-on-a-classical-fill repairer (fill_repair) and its task."""

from __future__ import annotations

import pytest
import torch

from genlab import baselines
from genlab.masks import apply_mask, make_mask
from genlab.models import FillRepairConfig, FillResidualRepairer, build
from genlab.train import FAMILY_TASKS, FillRepairTask, build_task


def _batch(channels: int, size: int = 16, n: int = 3):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, channels, size, size, generator=g)
    mask = make_mask("center", n, size, hole=size // 2)
    return x, mask


@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_known_pixels(channels: int) -> None:
    torch.manual_seed(0)
    model = build("fill_repair", image_size=16, channels=channels, fill="mean")
    x, mask = _batch(channels)
    out = model(apply_mask(x, mask), mask)
    assert out.shape == x.shape
    known = mask.expand_as(x) == 0
    assert torch.equal(out[known], x[known])
    # fully convolutional: another size divisible by 4 works
    x2, m2 = _batch(channels, size=24)
    assert model(apply_mask(x2, m2), m2).shape == x2.shape


@pytest.mark.parametrize("channels", [1, 3])
def test_untrained_repairer_is_exactly_the_biharmonic_fill(channels: int) -> None:
    torch.manual_seed(0)
    model = FillResidualRepairer(FillRepairConfig(image_size=16, channels=channels))
    x, mask = _batch(channels)
    xm = apply_mask(x, mask)
    assert torch.allclose(model(xm, mask), baselines.biharmonic(xm, mask), atol=1e-6)


def test_gradients_reach_the_network_not_the_fill() -> None:
    torch.manual_seed(0)
    model = build("fill_repair", image_size=16, channels=1, fill="mean")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, mask = _batch(1)
    for _ in range(2):  # the zero head gets a gradient first, then every layer does
        opt.zero_grad()
        loss = ((model(apply_mask(x, mask), mask) - x) ** 2 * mask).mean()
        loss.backward()
        opt.step()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["head.weight"].abs().sum() > 0 and grads["encoders.0.0.weight"].abs().sum() > 0


def test_bad_fill_and_bad_size_are_named() -> None:
    with pytest.raises(ValueError, match="fill must be one of"):
        build("fill_repair", fill="telea")
    with pytest.raises(ValueError):
        build("fill_repair", image_size=18)


def test_task_is_registered_augments_and_rebuilds() -> None:
    assert FAMILY_TASKS["fill_repair"] is FillRepairTask
    torch.manual_seed(0)
    task = FillRepairTask(build("fill_repair", image_size=8, fill="mean"), lr=1e-3, masks=("center", "rows"),
                          seed=0)
    x = torch.rand(4, 1, 8, 8)
    y = task.augment_batch(x)
    assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1
    loss = task.losses((x, None))["loss"]
    assert torch.isfinite(loss) and loss.requires_grad
    again = build_task(task.spec())
    assert isinstance(again, FillRepairTask) and again.augment and again.loss_name == "psnr"
