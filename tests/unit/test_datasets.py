"""genlab.datasets: the dataset switch, its preset table, and real-format MNIST / CIFAR-10 files."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from genlab import data, datasets, models
from genlab.errors import DataMissingError
from tests.fakedata import write_cifar, write_mnist


@pytest.fixture
def skip_cifar_md5(monkeypatch):
    """Tiny CIFAR files cannot match the official md5s: check existence only (test-only patch)."""
    import os

    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


@pytest.fixture
def full_mode(monkeypatch):
    monkeypatch.delenv("GENLAB_FAST", raising=False)


@pytest.fixture
def fast_mode(monkeypatch):
    monkeypatch.setenv("GENLAB_FAST", "1")


# --------------------------------------------------------------------------- the table

def test_every_dataset_has_a_preset_per_device_and_every_lesson():
    names = {"digits", "mnist", "fashion_mnist", "cifar10", "photos"}
    assert {d for d, _ in datasets.PRESETS} == names
    for name in names:
        for kind in datasets.DEVICE_KINDS:
            p = datasets.PRESETS[(name, kind)]
            assert (p.dataset, p.device) == (name, kind)
            assert set(p.epochs) == set(datasets.LESSONS)
            assert p.channels == data.DATASETS[name].channels or name == "photos" and p.channels == 1
            assert p.image_size % 4 == 0  # every conv family halves twice


def test_digits_presets_are_the_settings_the_figures_were_measured_with():
    before = {"autoencoders": 40, "vae": 60, "gans": 25, "classifier": 8, "restoration": 40,
              "restoration_lab": 30, "crnn": 30, "crnn_lab": 30}
    for kind in datasets.DEVICE_KINDS:
        p = datasets.PRESETS[("digits", kind)]
        assert (p.image_size, p.channels, p.width_scale, p.batch_size) == (16, 1, 1.0, 64)
        assert (p.train_limit, p.test_limit) == (None, None)
        expected = {**before, "crnn": 60} if kind == "cuda" else before
        assert dict(p.epochs) == expected
        assert "digits" in p.measured
    for name in ("mnist", "cifar10", "fashion_mnist"):
        assert datasets.PRESETS[(name, "cuda")].measured == "not measured"


def test_fast_mode_shrinks_as_before():
    p = datasets.PRESETS[("digits", "cpu")].fast()
    assert p.train_limit == 256 and p.test_limit is None
    assert dict(p.epochs) == dict(datasets.FAST_EPOCHS)
    q = datasets.PRESETS[("mnist", "cpu")].fast()
    assert q.train_limit == 256 and q.test_limit == 256 and q.image_size == 28


# --------------------------------------------------------------------------- select

def test_default_is_digits_and_env_var_switches(monkeypatch):
    monkeypatch.delenv("GENLAB_DATASET", raising=False)
    assert datasets.current() == "digits"
    monkeypatch.setenv("GENLAB_DATASET", "Fashion-MNIST")
    assert datasets.current() == "fashion_mnist"
    monkeypatch.setenv("GENLAB_DATASET", "imagenet")
    with pytest.raises(data.DatasetError, match="cifar10.*digits.*mnist"):
        datasets.current()


def test_digits_data_equal_the_old_notebook_lines(fast_mode, capsys):
    course = datasets.select(device="cpu", lesson="restoration")
    assert "dataset: digits (16x16 gray)" in capsys.readouterr().out
    x, y = course.train()
    x0, y0 = data.load("digits", "train", 16, limit=256)
    assert torch.equal(x, x0) and torch.equal(y, y0)
    xt, _ = course.test(limit=64)
    assert torch.equal(xt, data.load("digits", "test", 16, limit=64)[0])
    assert len(course.test()[0]) == 359
    assert course.epochs() == 1 and course.epochs("vae") == 2


def test_full_mode_digits(full_mode):
    course = datasets.select("digits", "cpu", lesson="vae", quiet=True)
    assert course.epochs() == 60 and len(course.train()[0]) == 1438 and course.batch_size == 64
    assert course.uses_shipped_weights


def test_config_on_digits_is_the_plain_config():
    course = datasets.select("digits", "cpu", quiet=True)
    assert course.config(models.RepairConfig, width=32, depth=4) == models.RepairConfig(width=32, depth=4)
    assert course.config(models.AEConfig, latent_dim=8) == models.AEConfig(latent_dim=8)
    pair = course.build("dcgan", width=32)
    assert pair.generator.config == models.GANConfig(width=32)


def test_config_scales_width_and_sets_size_and_channels(fast_mode):
    course = datasets.select("cifar10", "cuda", quiet=True)  # width x2 on a GPU
    cfg = course.config(models.GANConfig, width=32)
    assert (cfg.image_size, cfg.channels, cfg.width, cfg.hidden) == (32, 3, 64, 512)
    cfg = course.config(models.CRNNConfig, width=32, hidden=96, depth=2)
    assert (cfg.width, cfg.hidden, cfg.depth) == (64, 192, 2)


def test_size_and_channel_overrides(tmp_path, full_mode):
    write_mnist(tmp_path, n_train=20, n_test=6)
    course = datasets.select("mnist", "cpu", size=16, channels=1, root=tmp_path, quiet=True)
    x, _ = course.train()
    assert x.shape == (20, 1, 16, 16)
    assert course.summary().startswith("dataset: mnist (16x16 gray)")
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        datasets.select("mnist", "cpu", channels=2, quiet=True)


def test_lesson_must_fit_the_dataset():
    with pytest.raises(data.DatasetError, match="does not fit lesson 'gans'"):
        datasets.select("photos", "cpu", lesson="gans", quiet=True)
    with pytest.raises(KeyError, match="unknown lesson"):
        datasets.select("digits", "cpu", lesson="nope", quiet=True)


def test_unknown_device_kind():
    with pytest.raises(ValueError, match="no preset for device kind 'meta'"):
        datasets.preset("digits", "meta")


# --------------------------------------------------------------------------- real formats

def test_mnist_from_idx_files(tmp_path, monkeypatch, fast_mode, capsys):
    written = write_mnist(tmp_path, n_train=300, n_test=7)
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    monkeypatch.setenv("GENLAB_DATASET", "mnist")
    course = datasets.select(device="cpu", lesson="vae")
    out = capsys.readouterr().out
    assert out.startswith("dataset: mnist (28x28 gray) | preset mnist/cpu (fast)") and "not measured" in out
    x, y = course.train()
    assert x.shape == (256, 1, 28, 28) and y.dtype == torch.int64
    xt, yt = course.test()
    assert xt.shape == (7, 1, 28, 28)
    order = torch.tensor(data._fixed_perm(7))  # fast mode keeps a (fixed-shuffle) slice
    assert torch.equal(xt[:, 0], torch.as_tensor(written["test"][0])[order].float() / 255)
    assert torch.equal(yt, torch.as_tensor(written["test"][1])[order].long())


def test_fashion_mnist_folder(tmp_path, monkeypatch):
    write_mnist(tmp_path, folder="FashionMNIST", n_train=9, n_test=4)
    course = datasets.select("fashion_mnist", "cpu", root=tmp_path, quiet=True)
    assert course.test()[0].shape == (4, 1, 28, 28)


def test_cifar10_from_pickle_batches(tmp_path, monkeypatch, skip_cifar_md5, full_mode):
    written = write_cifar(tmp_path, per_batch=4, n_test=5)
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    course = datasets.select("cifar10", "cpu", lesson="gans", quiet=True)
    x, y = course.train()
    assert x.shape == (20, 3, 32, 32) and course.channels == 3
    xt, _ = course.test()
    order = torch.tensor(data._fixed_perm(5))  # the CPU preset keeps a (fixed-shuffle) subset
    assert torch.equal(xt, torch.as_tensor(written["test"][0])[order].float() / 255)
    assert not course.uses_shipped_weights


def test_missing_dataset_offline_says_how_to_get_it(tmp_path):
    course = datasets.select("mnist", "cpu", root=tmp_path, quiet=True)  # nothing is read yet
    with pytest.raises(DataMissingError, match="download=True"):
        course.train()


def test_colab_downloads_the_chosen_dataset(tmp_path, monkeypatch):
    calls = []

    def fake_load(name, split="train", size=None, **kw):
        calls.append((name, split, kw.get("download")))
        return torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.int64)

    monkeypatch.setattr(datasets, "_on_colab", lambda: True)
    monkeypatch.setattr(datasets._data, "load", fake_load)
    datasets.select("mnist", "cpu", root=tmp_path, quiet=True)
    assert calls == [("mnist", "train", True), ("mnist", "test", True)]
    calls.clear()
    datasets.select("digits", "cpu", quiet=True)  # built in: nothing to download
    monkeypatch.setattr(datasets, "_on_colab", lambda: False)
    datasets.select("mnist", "cpu", root=tmp_path, quiet=True)  # off Colab: never
    assert calls == []


def test_classifier_for_another_dataset_is_trained_here(tmp_path, fast_mode):
    write_mnist(tmp_path, n_train=64, n_test=8, structured=True)
    course = datasets.select("mnist", "cpu", lesson="gans", root=tmp_path, quiet=True)
    clf = course.classifier()
    assert isinstance(clf, models.DigitsClassifier) and not clf.training
    assert dataclasses.asdict(clf.config)["image_size"] == 28
    x, _ = course.test()
    from genlab import metrics

    assert metrics.classifier_features(x, clf).shape == (8, clf.config.feature_dim)
    cov = metrics.class_coverage(x, clf)
    assert 1 <= cov["covered"] <= 10


def test_classifier_on_digits_is_the_shipped_one():
    course = datasets.select("digits", "cpu", quiet=True)
    from genlab.weights import load_pretrained

    shipped = load_pretrained("classifier")
    mine = course.classifier()
    for a, b in zip(shipped.state_dict().values(), mine.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_default_metric_classifier_refuses_other_datasets_clearly():
    from genlab import metrics
    from genlab.errors import ShapeError

    x = torch.rand(4, 3, 32, 32)
    for call in (lambda: metrics.classifier_features(x), lambda: metrics.class_coverage(x),
                 lambda: metrics.classifier_frechet(x, x)):
        with pytest.raises(ShapeError, match=r"reads 1x16x16 digits.*\.classifier\(\)"):
            call()
    assert metrics.classifier_features(torch.rand(3, 1, 16, 16)).shape[0] == 3
