"""The training loop: tasks, AMP, clipping, NaN guard, history, callbacks, exact resume."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.train import (
    AutoencoderTask,
    ClassifierTask,
    History,
    LRDrop,
    Task,
    TrainingDiverged,
    fit,
    resume_latest,
)


class TinyAE(nn.Module):
    """8x8 MLP autoencoder with dropout (so the global torch RNG matters for resume)."""

    def __init__(self, hidden: int = 12) -> None:
        super().__init__()
        self.config = {"hidden": hidden}
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(0.1),
                                 nn.Linear(hidden, 64))

    def forward(self, x):
        return self.net(x).view(-1, 1, 8, 8)


class TinyClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


def toy_data(n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    # Four blurry prototypes plus noise: learnable in a few steps.
    protos = torch.rand(4, 1, 8, 8, generator=g)
    x = (protos[y] + 0.1 * torch.randn(n, 1, 8, 8, generator=g)).clamp(0, 1)
    return x, y


def ae_task(seed: int = 0, noise: float = 0.2, lr: float = 1e-2) -> AutoencoderTask:
    torch.manual_seed(seed)
    return AutoencoderTask(TinyAE(), lr=lr, noise_sigma=noise, model_name="tiny_ae")


def test_autoencoder_loss_is_bce_per_image_and_falls():
    torch.set_num_threads(1)
    x, _ = toy_data()
    task = ae_task(noise=0.0)
    task.eval()
    # The logged loss is BCE-with-logits summed over pixels, averaged over images.
    with torch.no_grad():
        logits = task.model(x)
        ref = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3)).mean()
        got = task.losses((x, None))["loss"]
    torch.testing.assert_close(got, ref)
    hist = fit(task, x, epochs=5, batch_size=16, device="cpu", progress=False)
    assert len(hist) == 5 and hist["epoch"] == [1, 2, 3, 4, 5]
    assert hist["loss"][-1] < hist["loss"][0] * 0.9
    assert len(hist.steps["loss"]) == 5 * 6
    # The epoch mean is the mean of that epoch's step losses.
    assert hist["loss"][0] == pytest.approx(sum(hist.steps["loss"][:6]) / 6)
    assert all(v > 0 for v in hist["images_per_s"])
    json.dumps(hist.to_dict())  # plain data
    assert History.from_dict(hist.to_dict()).to_dict() == hist.to_dict()


def test_classifier_task_and_validation():
    x, y = toy_data()
    torch.manual_seed(0)
    task = ClassifierTask(TinyClassifier(), lr=5e-2)
    hist = fit(task, (x, y), epochs=6, batch_size=32, device="cpu", progress=False, val_data=(x, y))
    assert hist["val_accuracy"][-1] > 0.9
    assert hist["val_loss"][-1] < hist["val_loss"][0]
    ev = task.evaluate((x, y))
    ref = nn.functional.cross_entropy(task.model(x), y).item()
    assert ev["loss"] == pytest.approx(ref, rel=1e-5)


def test_resume_is_exact_on_cpu(tmp_path):
    torch.set_num_threads(1)
    x, _ = toy_data()
    straight = ae_task()
    fit(straight, x, epochs=4, batch_size=16, device="cpu", progress=False, seed=3)

    first = ae_task()
    fit(first, x, epochs=2, batch_size=16, device="cpu", progress=False, seed=3, checkpoint_dir=tmp_path)
    # Disturb every global RNG: resume must restore them from the checkpoint.
    torch.manual_seed(999)
    import random

    import numpy as np
    random.seed(5)
    np.random.seed(5)
    second = ae_task(seed=42)  # different initial weights: all must come from the checkpoint
    hist = fit(second, x, epochs=4, batch_size=16, device="cpu", progress=False, seed=3,
               checkpoint_dir=tmp_path, resume=True)
    for a, b in zip(straight.model.state_dict().values(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert hist["epoch"] == [1, 2, 3, 4]
    # Adam's moments are restored too.
    sa = straight.optimizers["model"].state_dict()["state"]
    sb = second.optimizers["model"].state_dict()["state"]
    assert all(torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"]) for k in sa)


def test_lr_drop_once_late_and_exact_across_resume(tmp_path):
    torch.set_num_threads(1)
    x, _ = toy_data()
    lrs: list[float] = []

    def record(ctx):
        lrs.append(ctx.task.optimizers["model"].param_groups[0]["lr"])

    straight = ae_task()
    fit(straight, x, epochs=4, batch_size=16, device="cpu", progress=False, seed=3,
        callbacks=[LRDrop(4, at=0.5, factor=0.1), record])
    assert lrs == pytest.approx([1e-2, 1e-3, 1e-3, 1e-3])       # dropped once, after epoch 2 of 4
    # stopped after the drop and resumed: the dropped rate comes back with the optimiser state
    first = ae_task()
    fit(first, x, epochs=3, batch_size=16, device="cpu", progress=False, seed=3, checkpoint_dir=tmp_path,
        callbacks=[LRDrop(4, at=0.5, factor=0.1)])
    second = ae_task(seed=42)
    fit(second, x, epochs=4, batch_size=16, device="cpu", progress=False, seed=3, checkpoint_dir=tmp_path,
        resume=True, callbacks=[LRDrop(4, at=0.5, factor=0.1)])
    for a, b in zip(straight.model.state_dict().values(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # one epoch: nothing to drop; bad settings are refused
    lrs.clear()
    fit(ae_task(), x, epochs=1, batch_size=16, device="cpu", progress=False, callbacks=[LRDrop(1), record])
    assert lrs == [1e-2]
    with pytest.raises(ValueError, match="0 < at < 1"):
        LRDrop(10, at=1.5)


def test_resume_latest_restores_into_a_task(tmp_path):
    x, _ = toy_data()
    assert resume_latest(tmp_path, ae_task()) is None
    task = ae_task()
    fit(task, x, epochs=1, batch_size=32, device="cpu", progress=False, checkpoint_dir=tmp_path)
    other = resume_latest(tmp_path, ae_task(seed=9))
    assert other.resumed_epoch == 1
    for a, b in zip(task.model.state_dict().values(), other.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_nan_guard_names_epoch_step_and_loss():
    x, _ = toy_data(32)
    x_bad = x.clone()
    task = ae_task(noise=0.0)
    with torch.no_grad():
        task.model.net[1].weight[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step 1 .*loss 'loss' is nan.*learning rate"):
        fit(task, x_bad, epochs=2, batch_size=8, device="cpu", progress=False)
    assert issubclass(TrainingDiverged, GenlabError)


def test_nan_guard_catches_a_late_step():
    class Exploding(Task):
        def __init__(self):
            m = nn.Linear(1, 1)
            super().__init__(m, {"model": m}, {"model": torch.optim.SGD(m.parameters(), lr=0.1)})
            self.calls = 0

        def step(self, batch, ctx):
            self.calls += 1
            loss = self.model(batch[0].view(-1, 1)).mean() * 0
            ctx.optimize(loss)
            return {"loss": loss.detach() + (float("inf") if self.calls == 7 else 0.0)}

    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 3 .*global step 7.*inf"):
        fit(Exploding(), torch.rand(8, 1, 1, 1), epochs=3, batch_size=2, device="cpu", progress=False,
            log_every=100)


def test_clip_grad_bounds_the_update():
    # With SGD lr=1 one step moves the weights by exactly the (clipped) gradient.
    class Big(Task):
        def __init__(self):
            m = nn.Linear(4, 1, bias=False)
            nn.init.zeros_(m.weight)
            super().__init__(m, {"model": m}, {"model": torch.optim.SGD(m.parameters(), lr=1.0)})

        def step(self, batch, ctx):
            loss = (self.model(batch[0].view(-1, 4)) * 1000).mean()
            ctx.optimize(loss)
            return {"loss": loss.detach()}

    task = Big()
    fit(task, torch.ones(2, 1, 2, 2), epochs=1, batch_size=2, device="cpu", progress=False, clip_grad=0.5)
    assert task.model.weight.norm().item() == pytest.approx(0.5, rel=1e-5)


def test_bf16_amp_on_cpu_trains():
    x, _ = toy_data(64)
    task = ae_task(noise=0.0)
    seen = []

    class Spy:
        def on_step(self, ctx):
            seen.append(ctx.amp_dtype)

    hist = fit(task, x, epochs=3, batch_size=16, device="cpu", amp=True, progress=False, callbacks=[Spy()])
    assert set(seen) == {torch.bfloat16}
    assert hist["loss"][-1] < hist["loss"][0]
    assert task.model.net[1].weight.dtype == torch.float32  # master weights stay fp32


def test_callbacks_see_the_context_and_can_stop():
    x, _ = toy_data(64)
    events = []

    class Dash:
        def on_step(self, ctx):
            events.append(("step", ctx.epoch, ctx.step, round(ctx.losses["loss"], 6)))

        def on_epoch_end(self, ctx):
            events.append(("epoch", ctx.epoch, len(ctx.history)))
            if ctx.epoch == 1:
                ctx.stop = True

    def plain(ctx):
        events.append(("plain", ctx.epoch, ctx.task.name))

    hist = fit(ae_task(), x, epochs=5, batch_size=32, device="cpu", progress=False, callbacks=[Dash(), plain])
    assert len(hist) == 2
    steps = [e for e in events if e[0] == "step"]
    assert [s[2] for s in steps] == [1, 2, 3, 4]
    assert steps[0][3] == pytest.approx(hist.steps["loss"][0], rel=1e-5)
    assert ("epoch", 0, 1) in events and ("plain", 1, "AutoencoderTask") in events


def test_channels_last_and_compile_flags_run():
    x, _ = toy_data(32)

    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x):
            return self.c(x)

    task = AutoencoderTask(Conv(), lr=1e-2)
    hist = fit(task, x, epochs=1, batch_size=16, device="cpu", progress=False, channels_last=True)
    assert task.model.c.weight.is_contiguous(memory_format=torch.channels_last)
    assert len(hist) == 1


def test_bad_arguments_are_explained():
    x, _ = toy_data(8)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        fit(ae_task(), x, epochs=0, device="cpu", progress=False)
    with pytest.raises(TypeError, match="Task"):
        fit(TinyAE(), x, epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        fit(ae_task(), x, epochs=1, device="cpu", progress=False, resume=True)


def test_loader_data_is_accepted():
    x, y = toy_data(32)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    torch.manual_seed(0)
    hist = fit(ClassifierTask(TinyClassifier(), lr=1e-2), loader, epochs=2, device="cpu", progress=False)
    assert len(hist.steps["loss"]) == 8


def test_compile_failure_falls_back_to_eager(monkeypatch):
    x, _ = toy_data(32)

    def broken_compile(module, *a, **k):
        def call(*args, **kwargs):
            raise RuntimeError("no C compiler here")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    task = ae_task(noise=0.0)
    with pytest.warns(UserWarning, match="torch.compile failed at the first step"):
        hist = fit(task, x, epochs=2, batch_size=16, device="cpu", progress=False, compile=True)
    assert len(hist.steps["loss"]) == 4 and hist["loss"][-1] < hist["loss"][0]


def test_distributed_without_torchrun_is_explained(monkeypatch):
    for key in ("MASTER_ADDR", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ValueError, match="torchrun"):
        fit(ae_task(), toy_data(8)[0], epochs=1, device="cpu", progress=False, distributed=True)


def test_gan_augment_shifts_what_d_sees_and_resumes_exactly(tmp_path):
    from genlab.models import build
    from genlab.train import GANTask

    torch.set_num_threads(1)
    x = torch.rand(32, 1, 16, 16, generator=torch.Generator().manual_seed(0))

    def task(augment: int) -> GANTask:
        torch.manual_seed(0)
        return GANTask(build("dcgan", width=8, z_dim=4), augment=augment)

    t = task(2)
    seen = []
    t.modules["discriminator"].register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    fit(t, x[:8], epochs=1, batch_size=8, device="cpu", progress=False)
    assert not torch.equal(seen[0], x[:8]) and seen[0].shape == x[:8].shape   # reals arrive shifted
    assert t.hparams["augment"] == 2 and "augment" not in task(0).hparams
    with pytest.raises(ValueError, match="augment"):
        GANTask(build("dcgan", width=8), augment=-1)
    # the shifts come from the task's checkpointed generator: 2 + resume == 3 straight
    straight = task(1)
    fit(straight, x, epochs=3, batch_size=16, device="cpu", progress=False, seed=1)
    first = task(1)
    fit(first, x, epochs=2, batch_size=16, device="cpu", progress=False, seed=1, checkpoint_dir=tmp_path)
    second = task(1)
    fit(second, x, epochs=3, batch_size=16, device="cpu", progress=False, seed=1, checkpoint_dir=tmp_path,
        resume=True)
    for a, b in zip(straight.model.state_dict().values(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
