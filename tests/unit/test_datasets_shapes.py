"""Every model family, mask and baseline on the switch's shapes: 1x28x28 (MNIST) and 3x32x32 (CIFAR-10).

Shapes and one backward pass per family, built through ``CourseData.config`` as the
notebooks build them, plus one training step of each task at 3 channels.
"""

from __future__ import annotations

import pytest
import torch

from genlab import baselines, datasets, masks, models, train
from genlab.models.crnn import CRNNConfig, CRNNRepairer
from genlab.models.repair import ConvRepairer, MLPRepairer, RepairConfig

SHAPES = [(1, 28), (3, 32)]
IDS = ["C1-28px", "C3-32px"]


def _course(channels: int, size: int) -> datasets.CourseData:
    name = "cifar10" if channels == 3 else "mnist"
    return datasets.select(name, "cpu", size=size, channels=channels, quiet=True)


def _images(channels: int, size: int, n: int = 4) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(0))


def _backward(out: torch.Tensor, module: torch.nn.Module) -> None:
    out.float().mean().backward()
    grads = [p.grad for p in module.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize(("channels", "size"), SHAPES, ids=IDS)
@pytest.mark.parametrize("cls", [models.MLPAutoencoder, models.ConvAutoencoder])
def test_autoencoders(cls, channels, size):
    ae = cls(_course(channels, size).config(models.AEConfig, latent_dim=8))
    x = _images(channels, size)
    assert ae.encode(x).shape == (4, 8)
    out = ae(x)
    assert out.shape == x.shape
    _backward(out, ae)


@pytest.mark.parametrize(("channels", "size"), SHAPES, ids=IDS)
@pytest.mark.parametrize("cls", [models.MLPVAE, models.ConvVAE])
def test_vaes(cls, channels, size):
    vae = cls(_course(channels, size).config(models.VAEConfig, latent_dim=8))
    x = _images(channels, size)
    logits, mu, logvar = vae(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (4, 8)
    assert vae.sample(3).shape == (3, channels, size, size)
    _backward(logits + mu.sum() + logvar.sum(), vae)


@pytest.mark.parametrize(("channels", "size"), SHAPES, ids=IDS)
@pytest.mark.parametrize("name", ["gan", "dcgan", "cgan"])
def test_gans(name, channels, size):
    pair = _course(channels, size).build(name, width=16)
    y = torch.arange(4) if name == "cgan" else None
    fake = pair.generator(torch.randn(4, pair.generator.config.z_dim), y)
    assert fake.shape == (4, channels, size, size)
    logits = pair.discriminator(fake, y)
    assert logits.shape == (4,)
    _backward(logits, pair.generator)


@pytest.mark.parametrize(("channels", "size"), SHAPES, ids=IDS)
@pytest.mark.parametrize("kind", ["mlp", "conv", "crnn", "unet"])
def test_repairers(kind, channels, size):
    course = _course(channels, size)
    model = {"mlp": lambda: MLPRepairer(course.config(RepairConfig, hidden=64)),
             "conv": lambda: ConvRepairer(course.config(RepairConfig, width=8, depth=2)),
             "crnn": lambda: CRNNRepairer(course.config(CRNNConfig, width=8, hidden=8, zero_init=False)),
             "unet": lambda: models.UNet(course.config(models.UNetConfig, width=8))}[kind]()
    x = _images(channels, size)
    m = masks.make_mask("block", 4, size, generator=torch.Generator().manual_seed(1))
    out = model(masks.apply_mask(x, m), m)
    assert out.shape == x.shape
    known = m.expand_as(x) == 0
    assert torch.equal(out[known], masks.apply_mask(x, m)[known])
    _backward(model.raw(masks.apply_mask(x, m), m), model)


@pytest.mark.parametrize(("channels", "size"), SHAPES, ids=IDS)
def test_classifier(channels, size):
    clf = models.DigitsClassifier(_course(channels, size).config(models.ClassifierConfig, width=8))
    x = _images(channels, size)
    assert clf.features(x).shape == (4, clf.config.feature_dim)
    out = clf(x)
    assert out.shape == (4, 10)
    _backward(out, clf)


@pytest.mark.parametrize(("channels", "size"), SHAPES, ids=IDS)
@pytest.mark.parametrize("kind", masks.MASK_KINDS)
def test_masks_broadcast_over_colour(kind, channels, size):
    m = masks.make_mask(kind, 3, size, generator=torch.Generator().manual_seed(2))
    assert m.shape == (3, 1, size, size)
    x = _images(channels, size, 3)
    blank = masks.apply_mask(x, m, fill=0.5)
    hole = m.expand_as(x) > 0
    assert torch.all(blank[hole] == 0.5) and torch.equal(blank[~hole], x[~hole])
    assert torch.equal(masks.composite(torch.zeros_like(x), x, m)[~hole], x[~hole])


@pytest.mark.parametrize(("channels", "size"), SHAPES, ids=IDS)
def test_noise_on_colour(channels, size):
    x = _images(channels, size)
    assert masks.gaussian_noise(x, 0.2, generator=torch.Generator().manual_seed(0)).shape == x.shape
    sp = masks.salt_and_pepper(x, 0.5, generator=torch.Generator().manual_seed(0))
    changed = (sp != x).any(dim=1)              # a hit pixel changes in all channels at once
    assert torch.equal((sp != x).all(dim=1) | ~changed, torch.ones_like(changed))


@pytest.mark.parametrize(("channels", "size"), SHAPES, ids=IDS)
@pytest.mark.parametrize("fn", [baselines.mean_fill, baselines.biharmonic], ids=["mean", "biharmonic"])
def test_baselines_fill_every_channel(fn, channels, size):
    # a smooth colour ramp: biharmonic continues it almost exactly, per channel
    ramp = torch.linspace(0.1, 0.9, size)
    x = torch.stack([ramp[None, :].expand(size, size) * (c + 1) / channels for c in range(channels)])
    x = x.unsqueeze(0).repeat(2, 1, 1, 1).clamp(0, 1)
    m = masks.center_block(2, size, size // 2)
    out = fn(masks.apply_mask(x, m), m)
    assert out.shape == x.shape
    known = m.expand_as(x) == 0
    assert torch.equal(out[known], masks.apply_mask(x, m)[known])
    err = (out - x).abs()[~known].max()
    assert err < (0.05 if fn is baselines.biharmonic else 0.6)
    # a per-channel mask (N, C, H, W): each channel has its own hole
    mc = torch.zeros_like(x)
    mc[:, 0, :4, :4] = 1
    assert fn(masks.apply_mask(x, mc), mc).shape == x.shape


def test_one_training_step_of_each_task_on_colour():
    course = _course(3, 32)
    x = _images(3, 32, 8)
    y = torch.arange(8) % 10
    tasks = [
        (train.AutoencoderTask(models.ConvAutoencoder(course.config(models.AEConfig, width=8))), x),
        (train.VAETask(models.ConvVAE(course.config(models.VAEConfig, width=8))), x),
        (train.GANTask(course.build("dcgan", width=8)), x),
        (train.GANTask(course.build("cgan", width=8)), (x, y)),
        (train.RepairTask(ConvRepairer(course.config(RepairConfig, width=8, depth=1))), x),
        (train.ClassifierTask(models.DigitsClassifier(course.config(models.ClassifierConfig, width=8))), (x, y)),
    ]
    for task, batch in tasks:
        history = train.fit(task, batch, 1, batch_size=8, progress=False, seed=0)
        assert torch.isfinite(torch.tensor(history.last())), type(task).__name__
