"""pix2pix task: plugs into genlab.train.fit, D's update leaves G alone, known pixels kept, exact resume."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.models import Pix2Pix, UNetConfig
from genlab.train import History, Pix2PixTask, TrainContext, fit

CFG = UNetConfig(image_size=16, width=4)
X = torch.rand(24, 1, 16, 16, generator=torch.Generator().manual_seed(0))
KW = dict(batch_size=8, device="cpu", progress=False)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _task(**kw) -> Pix2PixTask:
    torch.manual_seed(0)
    return Pix2PixTask(Pix2Pix(CFG), lr=1e-3, mask_params={"block": {"hole": 6}}, **kw)


def test_fit_trains_and_logs_every_loss():
    hist = fit(_task(), X, 2, **KW)
    for key in ("loss", "loss_d", "loss_g", "l1", "images_per_s"):
        assert len(hist[key]) == 2 and all(math.isfinite(v) for v in hist[key])
    assert hist["loss"][-1] == pytest.approx(hist["loss_g"][-1] + 100 * hist["l1"][-1], rel=1e-5)


def test_generator_keeps_known_pixels():
    task = _task()
    mask = task.draw_masks(X[:4])
    out = task.model(X[:4] * (1 - mask), mask)
    torch.testing.assert_close(out * (1 - mask), X[:4] * (1 - mask))
    assert mask.sum(dim=(1, 2, 3)).eq(36).all()  # 6x6 blocks


@pytest.mark.parametrize("frozen, moved", [("generator", "discriminator"), ("discriminator", "generator")])
def test_each_update_moves_only_its_network(frozen, moved):
    """With G's learning rate 0, one step must still change D (and vice versa), and never the frozen one."""
    task = _task()
    for group in task.optimizers[frozen].param_groups:
        group["lr"] = 0.0
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in task.modules.items()}
    ctx = TrainContext(task, History(), torch.device("cpu"), amp_dtype=None, scaler=None, clip_grad=None)
    task.step((X[:8], None), ctx)
    same = [torch.equal(a, p) for a, p in zip(before[frozen], task.modules[frozen].parameters(), strict=True)]
    changed = [not torch.equal(a, p) for a, p in zip(before[moved], task.modules[moved].parameters(), strict=True)]
    assert all(same) and any(changed)


def test_resume_is_exact(tmp_path):
    straight = _task()
    fit(straight, X, 2, **KW)
    fit(_task(), X, 1, checkpoint_dir=tmp_path, **KW)
    resumed = _task()
    fit(resumed, X, 2, checkpoint_dir=tmp_path, resume=True, **KW)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_bad_arguments():
    with pytest.raises(TypeError, match="Pix2Pix pair"):
        Pix2PixTask(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="l1_weight"):
        Pix2PixTask(Pix2Pix(CFG), l1_weight=-1)
