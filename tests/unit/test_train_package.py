"""genlab.train as a package: lab 07's four functions, TrainConfig, the one registry, the one GAN
update and mask sampler, checkpoint errors, and the ``genlab train`` messages of issue 17."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genlab import metrics, models
from genlab.errors import CheckpointError
from genlab.masks import make_mask
from genlab.train import (
    FAMILIES,
    FAMILY_TASKS,
    TASKS,
    AutoencoderTask,
    DiffusionTask,
    Pix2PixTask,
    TrainConfig,
    autocast_settings,
    fit,
    gan_training_step,
    load_checkpoint,
    mask_mix,
    read_checkpoint,
    resume_latest,
    save_checkpoint,
)
from genlab.train.cli import main as train_main
from genlab.widgets import _render


class TinyAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 16), nn.Unflatten(1, (1, 4, 4)))

    def forward(self, x):
        return self.net(x)


def _weights(task):
    return [p.detach().clone() for p in task.model.parameters()]


def test_autocast_settings_has_lab07s_contract():
    assert autocast_settings("cpu") == (True, torch.bfloat16, False)
    assert autocast_settings("cuda", bf16_supported=True) == (True, torch.bfloat16, False)
    assert autocast_settings(torch.device("cuda"), bf16_supported=False) == (True, torch.float16, True)
    assert autocast_settings("mps") == (True, torch.float16, False)


def test_train_config_overrides_and_refuses_unknown_knobs(tmp_path):
    cfg = TrainConfig.merge(TrainConfig(batch_size=8), {"seed": 3})
    assert (cfg.batch_size, cfg.seed) == (8, 3)
    with pytest.raises(TypeError, match="'batchsize'.*batch_size"):
        fit(AutoencoderTask(TinyAE()), torch.rand(8, 1, 4, 4), 1, batchsize=4)
    task = AutoencoderTask(TinyAE())
    fit(task, torch.rand(8, 1, 4, 4), 1, TrainConfig(batch_size=4), device="cpu", progress=False,
        checkpoint_dir=tmp_path)
    stored = read_checkpoint(tmp_path / "checkpoint.pt")["train_config"]
    assert stored["batch_size"] == 4 and stored["checkpoint_dir"] == str(tmp_path)
    assert set(stored) == {f.name for f in dataclasses.fields(TrainConfig)}


def test_save_and_load_checkpoint_restore_weights_optimisers_and_rng(tmp_path):
    torch.manual_seed(0)
    x = torch.rand(16, 1, 4, 4)
    task = AutoencoderTask(TinyAE())
    history = fit(task, x, 2, batch_size=4, device="cpu", progress=False)
    path = save_checkpoint(tmp_path / "c.pt", task, None, 2, step=8, history=history)
    want, rng = _weights(task), torch.get_rng_state()
    torch.manual_seed(99)
    fresh = AutoencoderTask(TinyAE())
    assert load_checkpoint(path, fresh) == 2 and fresh.resumed_step == 8
    assert all(torch.equal(a, b) for a, b in zip(want, _weights(fresh), strict=True))
    assert torch.equal(torch.get_rng_state(), rng)
    assert fresh.optimizers["model"].state_dict()["state"]


def test_a_foreign_or_damaged_checkpoint_says_so_without_torchs_unsafe_advice(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(nn.Linear(2, 2), path)  # a whole pickled module: weights_only=True refuses it
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    text = str(info.value)
    assert "not a genlab checkpoint" in text and "damaged" in text and "genlab-checkpoint/1" in text
    assert "weights_only" not in text and "Re-running" not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_one_registry_for_models_tasks_and_the_cli():
    assert set(FAMILY_TASKS) == set(models.MODELS)
    assert {cls for cls in FAMILY_TASKS.values() if cls} <= set(TASKS.values())
    assert FAMILIES["dcgan"][1] == 2e-4 and FAMILIES["vae"][1] == 1e-3
    assert FAMILIES["ddpm"][0] is DiffusionTask and FAMILIES["pix2pix"][0] is Pix2PixTask


@pytest.mark.parametrize("name, cls, config", [
    ("ddpm", DiffusionTask, {"image_size": 8, "timesteps": 4, "width": 8, "time_dim": 8}),
    ("pix2pix", Pix2PixTask, {"image_size": 8, "width": 4, "depth": 1}),
])
def test_resume_latest_rebuilds_diffusion_and_pix2pix_tasks(tmp_path, name, cls, config):
    torch.manual_seed(0)
    task = cls(models.build(name, **config), model_config=config)
    fit(task, torch.rand(8, 1, 8, 8), 1, batch_size=4, device="cpu", progress=False, checkpoint_dir=tmp_path)
    back = resume_latest(tmp_path)
    assert isinstance(back, cls) and back.resumed_epoch == 1
    assert all(torch.equal(a, b) for a, b in zip(_weights(task), _weights(back), strict=True))


def test_gan_training_step_is_lab04s_step():
    def by_hand(G, D, opt_g, opt_d, real, z):
        fake = G(z)
        d_real, d_fake = D(real), D(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        d_fake_for_g = D(fake)
        loss_g = F.binary_cross_entropy_with_logits(d_fake_for_g, torch.ones_like(d_fake_for_g))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    results = []
    for step in (by_hand, gan_training_step):
        torch.manual_seed(0)
        G, D = nn.Sequential(nn.Linear(3, 5)), nn.Sequential(nn.Linear(5, 1), nn.Flatten(0))
        opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
        out = [step(G, D, opt_g, opt_d, torch.randn(4, 5), torch.randn(4, 3)) for _ in range(3)]
        results.append((out, [p.detach().clone() for p in [*G.parameters(), *D.parameters()]]))
    (want, w_want), (got, w_got) = results
    for a, b in zip(want, got, strict=True):
        assert a == pytest.approx(b, rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(w_want, w_got, strict=True))


def test_mask_mix_splits_each_batch_and_optionally_shuffles():
    params = {"block": {"hole": 4}}
    plain = mask_mix(("center", "block"), params, shuffle=False)(5, 8, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    want = torch.cat([make_mask("center", 3, 8, generator=g), make_mask("block", 2, 8, generator=g, hole=4)])
    assert torch.equal(plain, want)
    shuffled = mask_mix(("center", "block"), params)(5, (8, 8), torch.Generator().manual_seed(0))
    assert sorted(shuffled.flatten(1).sum(1).tolist()) == sorted(want.flatten(1).sum(1).tolist())
    with pytest.raises(ValueError, match="unknown mask kind"):
        mask_mix(("nope",))


def test_the_widget_uses_the_metrics_hole_psnr():
    g = torch.Generator().manual_seed(0)
    x, x_hat = torch.rand(1, 1, 8, 8, generator=g), torch.rand(1, 1, 8, 8, generator=g)
    mask = make_mask("center", 1, 8, generator=g)
    assert _render.masked_psnr(x_hat[0], x[0], mask[0]) == pytest.approx(float(metrics.masked_psnr(x_hat, x, mask)))
    empty = torch.zeros_like(mask)
    assert torch.isnan(torch.tensor(_render.masked_psnr(x_hat, x, empty)))
    assert torch.isnan(metrics.masked_psnr(x_hat, x, empty)).all()


# -- genlab train: help and messages (issue 17) ---------------------------------------------------

def test_help_marks_required_options_and_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        train_main(["--help"])
    out = capsys.readouterr().out
    assert "required (a --preset supplies them all)" in out
    assert "MODEL --data NAME --epochs N --out DIR" in out
    assert "default: 64" in out and "default: 0" in out and "presets: digits" in out


def test_a_missing_dataset_is_reported_with_the_missing_options(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path / "no-data"))
    assert train_main(["vae", "--data", "mnist"]) == 2
    err = capsys.readouterr().err
    assert err.index("'mnist' dataset is not available") < err.index("--epochs N is required")
    assert "--out DIR is required" in err and not (tmp_path / "no-data").exists()


def test_resume_on_an_empty_folder_says_it_starts_fresh_and_one_epoch_is_singular(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(["ae", "--data", "digits", "--size", "8", "--epochs", "1", "--limit", "32",
                       "--out", str(out), "--resume", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "holds no checkpoint yet, so training starts fresh" in captured.err
    assert "ae: 1 epoch, " in captured.out
