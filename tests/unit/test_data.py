"""Tests for genlab.data: built-in datasets, torchvision loaders on tiny files, batching.

The torchvision tests write tiny datasets in the exact on-disk formats that
torchvision 0.29 reads, then go through the real ``torchvision.datasets`` classes:

- MNIST / FashionMNIST: uncompressed IDX files ``ROOT/<Class>/raw/{train,t10k}-
  {images-idx3,labels-idx1}-ubyte``. torchvision checks only that they exist
  (``check_integrity`` without an md5), so no patching is needed.
- CIFAR-10: pickled dicts in ``ROOT/cifar-10-batches-py/`` (``data_batch_1..5``,
  ``test_batch``, ``batches.meta``). torchvision compares each file's md5 with the
  official archive's, which a tiny file can never match, so these tests (and only
  they) replace ``torchvision.datasets.cifar.check_integrity`` by an existence
  check. Everything else - unpickling, reshaping, HWC layout - is torchvision's own.

Nothing here touches the network: the download test patches torchvision's
downloader to fail the way it does offline.
"""

from __future__ import annotations

import os
from urllib.error import URLError

import pytest
import torch
import torch.nn.functional as F

from genlab import data
from genlab.errors import DataMissingError, GenlabError, ShapeError
from tests.fakedata import write_cifar, write_mnist

# --------------------------------------------------------------------------- file writers
# (shared with the notebook tests: tests/fakedata.py)


@pytest.fixture
def skip_cifar_md5(monkeypatch):
    """Our tiny files cannot match the official md5s: check existence only (test-only patch)."""
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


# --------------------------------------------------------------------------- digits

def test_digits_split_sizes_and_format():
    x_tr, y_tr = data.load("digits", "train")
    x_te, y_te = data.load("digits", "test")
    assert x_tr.shape[1:] == (1, 16, 16) and x_te.shape[1:] == (1, 16, 16)
    assert x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert len(x_tr) + len(x_te) == 1797
    assert 0.0 <= x_tr.min() and x_tr.max() <= 1.0
    assert set(y_tr.tolist()) == set(range(10)) == set(y_te.tolist())


def test_digits_split_is_stratified_and_disjoint():
    from sklearn.datasets import load_digits

    target = torch.as_tensor(load_digits().target)
    split = data._digits_split()
    assert not set(split["train"]) & set(split["test"])
    assert sorted(split["train"] + split["test"]) == list(range(1797))
    _, y_te = data.load("digits", "test")
    for c in range(10):
        n_c = int((target == c).sum())
        assert int((y_te == c).sum()) == round(0.2 * n_c)


def test_digits_size8_equals_sklearn_over_16():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = data.load("digits", "test", size=8)
    idx = torch.tensor(data._digits_split()["test"])
    ref = torch.as_tensor(bunch.images, dtype=torch.float32)[idx].unsqueeze(1) / 16
    assert torch.equal(x, ref)
    assert torch.equal(y, torch.as_tensor(bunch.target)[idx])


@pytest.mark.parametrize("size", [16, 28, 32])
def test_digits_resize_is_bilinear_interpolation(size):
    x8, _ = data.load("digits", "train", size=8, limit=20)
    xs, _ = data.load("digits", "train", size=size, limit=20)
    ref = F.interpolate(x8, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    assert xs.shape == (20, 1, size, size)
    assert torch.allclose(xs, ref.clamp(0, 1), atol=1e-6)


def test_digits_deterministic_and_cache_is_protected():
    x1, y1 = data.load("digits", "train")
    x1.zero_()
    y1.fill_(-1)
    x2, y2 = data.load("digits", "train")
    assert x2.max() > 0 and y2.min() >= 0  # the cache was not corrupted
    x3, y3 = data.load("digits", "train")
    assert torch.equal(x2, x3) and torch.equal(y2, y3)


def test_digits_gray_false_replicates_channels():
    x, _ = data.load("digits", "train", gray=False, limit=5)
    assert x.shape == (5, 3, 16, 16)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])


def test_digits_bad_size_says_which_sizes_exist():
    with pytest.raises(data.DatasetError, match=r"sizes \(8, 16, 28, 32\).*got size=20"):
        data.load("digits", size=20)


# --------------------------------------------------------------------------- limit

def test_limit_is_the_first_items_of_a_fixed_shuffle():
    x, y = data.load("digits", "train")
    xl, yl = data.load("digits", "train", limit=30)
    perm = torch.tensor(data._fixed_perm(len(x))[:30])
    assert torch.equal(xl, x[perm]) and torch.equal(yl, y[perm])
    # Shuffled, so even a small subset holds several classes.
    assert len(set(yl.tolist())) >= 5
    # A limit above the size returns everything.
    assert len(data.load("digits", "test", limit=10_000)[0]) == len(data.load("digits", "test")[0])


def test_fixed_perm_is_a_permutation_and_stable():
    p = data._fixed_perm(100)
    assert sorted(p) == list(range(100)) and p != list(range(100))
    assert p == data._fixed_perm(100)


# --------------------------------------------------------------------------- photos

def test_photos_train_and_test_come_from_different_photos():
    x_tr, y_tr = data.load("photos", "train")
    x_te, y_te = data.load("photos", "test")
    assert x_tr.shape[1:] == (1, 32, 32) and x_te.shape[1:] == (1, 32, 32)
    assert x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert 1000 <= len(x_tr) <= 10_000 and 100 <= len(x_te) <= 2000
    test_labels = {data.PHOTO_SOURCES.index(n) for n in data.TEST_PHOTOS}
    assert set(y_te.tolist()) == test_labels
    assert set(y_tr.tolist()) == set(range(len(data.PHOTO_SOURCES))) - test_labels
    assert 0 <= x_tr.min() and x_tr.max() <= 1


def test_photo_patches_hold_structure():
    x, _ = data.load("photos", "train")
    # Most patches are not flat: their pixel standard deviation is clearly above zero.
    std = x.flatten(1).std(dim=1)
    assert (std > 0.03).float().mean() > 0.7


def test_photos_color_and_gray_agree_by_luma():
    xg, yg = data.load("photos", "test", size=16, gray=True)
    xc, yc = data.load("photos", "test", size=16, gray=False)
    assert xc.shape[1] == 3 and torch.equal(yg, yc)
    luma = 0.299 * xc[:, 0:1] + 0.587 * xc[:, 1:2] + 0.114 * xc[:, 2:3]
    # Resizing is linear, so gray(resize(rgb)) == resize(gray(rgb)) up to rounding.
    assert torch.allclose(xg, luma, atol=1e-4)
    # A gray source photo is replicated in colour mode.
    coins = data.PHOTO_SOURCES.index("coins")
    sel = yc == coins
    assert torch.equal(xc[sel][:, 0], xc[sel][:, 2])


def test_photos_deterministic_and_sizes():
    a, _ = data.load("photos", "test", size=8)
    b, _ = data.load("photos", "test", size=8)
    assert torch.equal(a, b) and a.shape[1:] == (1, 8, 8)
    with pytest.raises(data.DatasetError, match=r"at most \d+ pixels.*got size=5000"):
        data.load("photos", size=5000)
    with pytest.raises(data.DatasetError, match=r"at least 4"):
        data.load("photos", size=2)


def test_photo_training_patches_at_random_scales_never_use_a_test_photo():
    assert not set(data.MORE_TRAIN_PHOTOS) & set(data.TEST_PHOTOS)
    with pytest.raises(data.DatasetError, match="test photo"):
        data.photo_training_patches(16, extra=("camera",), per_photo=1)
    kw = {"extra": data.MORE_TRAIN_PHOTOS, "per_photo": 6, "random_scales": (96, 512)}
    a = data.photo_training_patches(16, **kw)
    n_photos = len(data.PHOTO_SOURCES) - len(data.TEST_PHOTOS) + len(data.MORE_TRAIN_PHOTOS)
    assert a.shape == (6 * n_photos, 1, 16, 16) and a.dtype == torch.float32
    assert 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a, data.photo_training_patches(16, **kw))          # deterministic
    assert not torch.equal(a, data.photo_training_patches(16, **kw, seed=1))
    # scales differ from patch to patch: a photo's patches are not crops of one shrunk copy
    assert not torch.equal(a, data.photo_training_patches(16, **{**kw, "random_scales": (192, 192)}))
    colour = data.photo_training_patches(16, **kw, gray=False)
    assert colour.shape[1] == 3
    with pytest.raises(data.DatasetError, match="random_scales"):
        data.photo_training_patches(16, random_scales=(300, 100))


# --------------------------------------------------------------------------- errors

def test_unknown_name_lists_valid_names():
    with pytest.raises(data.DatasetError, match=r"unknown dataset 'imagenet'.*digits.*photos.*mnist.*cifar10"):
        data.load("imagenet")
    with pytest.raises(ValueError):  # DatasetError is a ValueError too
        data.load("imagenet")


def test_name_is_forgiving_about_case_and_dashes(tmp_path):
    assert data.load("Digits", limit=3)[0].shape == (3, 1, 16, 16)
    with pytest.raises(DataMissingError, match="fashion_mnist"):
        data.load("Fashion-MNIST", root=tmp_path)


def test_bad_split_and_limit():
    with pytest.raises(data.DatasetError, match=r"unknown split 'val'.*train, test"):
        data.load("digits", "val")
    with pytest.raises(ValueError, match=r"limit must be >= 1, got 0"):
        data.load("digits", limit=0)
    with pytest.raises(TypeError, match=r"gray must be True, False or None"):
        data.load("digits", gray="yes")


# --------------------------------------------------------------------------- torchvision: MNIST family

@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_family_reads_idx_files(tmp_path, name, folder):
    truth = write_mnist(tmp_path, folder)
    for split in ("train", "test"):
        x, y = data.load(name, split, root=tmp_path)
        images, labels = truth[split]
        assert x.shape == (len(images), 1, 28, 28) and x.dtype == torch.float32
        assert torch.equal(x, torch.as_tensor(images).float().unsqueeze(1) / 255)
        assert torch.equal(y, torch.as_tensor(labels, dtype=torch.int64))


def test_mnist_size_gray_limit(tmp_path):
    truth = write_mnist(tmp_path)
    x, y = data.load("mnist", "train", size=16, gray=False, limit=4, root=tmp_path)
    perm = torch.tensor(data._fixed_perm(12)[:4])
    full = torch.as_tensor(truth["train"][0]).float().unsqueeze(1)[perm] / 255
    ref = F.interpolate(full, size=(16, 16), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    assert x.shape == (4, 3, 16, 16)
    assert torch.allclose(x[:, :1], ref, atol=1e-6) and torch.equal(x[:, 0], x[:, 2])
    assert torch.equal(y, torch.as_tensor(truth["train"][1], dtype=torch.int64)[perm])


def test_mnist_uses_data_home_by_default(tmp_path, monkeypatch):
    write_mnist(tmp_path)
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    x, _ = data.load("mnist", "test")
    assert x.shape == (5, 1, 28, 28)


def test_missing_mnist_says_what_where_and_how(tmp_path):
    with pytest.raises(DataMissingError) as info:
        data.load("mnist", root=tmp_path)
    msg = str(info.value)
    assert "'mnist'" in msg
    assert str(tmp_path / "MNIST" / "raw") in msg
    assert "genlab.data.load('mnist', download=True)" in msg
    assert "copy the files" in msg
    assert isinstance(info.value, GenlabError) and isinstance(info.value, FileNotFoundError)


def test_failed_download_is_a_data_missing_error(tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    def offline(*args, **kwargs):
        raise URLError("no network here")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    with pytest.raises(DataMissingError, match=r"(?s)Downloading it failed.*no network here"):
        data.load("mnist", root=tmp_path, download=True)


def test_truncated_mnist_file_is_reported(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(DataMissingError, match=r"(?s)'mnist'.*corrupted.*torchvision said"):
        data.load("mnist", "test", root=tmp_path)


def test_empty_dataset_is_an_error(tmp_path, skip_cifar_md5):
    write_cifar(tmp_path, n_test=0)
    with pytest.raises(data.DatasetError, match=r"'cifar10' split 'test' gave no images"):
        data.load("cifar10", "test", root=tmp_path)


# --------------------------------------------------------------------------- torchvision: CIFAR-10

def test_cifar10_reads_pickled_batches(tmp_path, skip_cifar_md5):
    truth = write_cifar(tmp_path)
    for split in ("train", "test"):
        x, y = data.load("cifar10", split, root=tmp_path)
        images, labels = truth[split]
        assert x.shape == (len(images), 3, 32, 32)
        # The file stores R, G, B planes; we must get them back as channels in that order.
        assert torch.equal(x, torch.as_tensor(images).float() / 255)
        assert torch.equal(y, torch.as_tensor(labels, dtype=torch.int64))


def test_cifar10_gray_is_luma(tmp_path, skip_cifar_md5):
    truth = write_cifar(tmp_path)
    x, _ = data.load("cifar10", "test", gray=True, root=tmp_path)
    rgb = torch.as_tensor(truth["test"][0]).float() / 255
    luma = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).unsqueeze(1)
    assert x.shape == (4, 1, 32, 32) and torch.allclose(x, luma, atol=1e-6)


def test_cifar10_missing_or_corrupt(tmp_path):
    with pytest.raises(DataMissingError, match=r"(?s)'cifar10'.*cifar-10-batches-py.*download=True"):
        data.load("cifar10", root=tmp_path)
    # Without the test-only patch, tiny files fail torchvision's md5 check: also reported.
    write_cifar(tmp_path)
    with pytest.raises(DataMissingError, match=r"corrupted|not available"):
        data.load("cifar10", root=tmp_path)


# --------------------------------------------------------------------------- available_offline

def test_available_offline(tmp_path):
    avail = data.available_offline(tmp_path)
    assert set(avail) == set(data.DATASETS)
    assert avail["digits"] and avail["photos"]
    assert not avail["mnist"] and not avail["cifar10"]
    write_mnist(tmp_path)
    write_cifar(tmp_path)
    avail = data.available_offline(tmp_path)
    assert avail["mnist"] and avail["cifar10"] and not avail["fashion_mnist"]


def test_registry_describes_each_dataset():
    for name, info in data.DATASETS.items():
        assert info.name == name and info.channels in (1, 3) and info.n_classes >= 2
    assert data.DATASETS["digits"].builtin and not data.DATASETS["mnist"].builtin


# --------------------------------------------------------------------------- batches

def test_batches_cover_every_item_once_per_epoch():
    x = torch.arange(10).float().view(10, 1)
    y = torch.arange(10)
    b = data.batches(x, y, batch_size=4, generator=torch.Generator().manual_seed(0))
    assert len(b) == 3
    for _ in range(2):  # re-iterable
        seen = []
        for xb, yb in b:
            assert torch.equal(xb[:, 0].long(), yb)
            seen += yb.tolist()
        assert sorted(seen) == list(range(10))
    assert [len(xb) for xb, _ in b] == [4, 4, 2]


def test_batches_shuffle_is_seeded_and_changes_per_epoch():
    x = torch.arange(50)
    order = lambda it: torch.cat(list(it)).tolist()  # noqa: E731
    a = data.batches(x, batch_size=7, generator=torch.Generator().manual_seed(1))
    b = data.batches(x, batch_size=7, generator=torch.Generator().manual_seed(1))
    first_a, first_b = order(a), order(b)
    assert first_a == first_b and first_a != list(range(50))
    assert order(a) != first_a  # the next epoch has a new order


def test_batches_no_shuffle_drop_last_and_x_only():
    x = torch.arange(10)
    b = data.batches(x, batch_size=4, shuffle=False, drop_last=True)
    assert len(b) == 2
    got = list(b)
    assert all(isinstance(t, torch.Tensor) for t in got)
    assert torch.equal(torch.cat(got), torch.arange(8))


def test_batches_validate_inputs():
    with pytest.raises(ShapeError, match=r"same number of items.*10 images and 9 labels"):
        data.batches(torch.zeros(10, 2), torch.zeros(9))
    with pytest.raises(ValueError, match=r"batch_size must be >= 1"):
        data.batches(torch.zeros(10), batch_size=0)


# --------------------------------------------------------------------------- make_loader

def test_make_loader_cpu_defaults_and_batches():
    x = torch.rand(10, 1, 4, 4)
    y = torch.arange(10)
    dl = data.make_loader(x, y, batch_size=4, shuffle=False)
    assert dl.num_workers == 0 and not dl.pin_memory
    xb, yb = next(iter(dl))
    assert torch.equal(xb, x[:4]) and torch.equal(yb, y[:4])
    assert len(dl) == 3


def test_make_loader_without_labels_yields_tensors():
    x = torch.rand(6, 2)
    batches = list(data.make_loader(x, batch_size=4, shuffle=False))
    assert isinstance(batches[0], torch.Tensor) and torch.equal(torch.cat(batches), x)


def test_make_loader_cuda_defaults_without_iterating():
    dl = data.make_loader(torch.rand(4, 1), device="cuda")
    assert dl.pin_memory and dl.num_workers >= 1 and dl.persistent_workers
    dl = data.make_loader(torch.rand(4, 1), device="cuda", num_workers=0)
    assert dl.pin_memory and dl.num_workers == 0 and not dl.persistent_workers


def test_make_loader_seeded_shuffle():
    x = torch.arange(20)
    a = torch.cat(list(data.make_loader(x, batch_size=5, generator=torch.Generator().manual_seed(3))))
    b = torch.cat(list(data.make_loader(x, batch_size=5, generator=torch.Generator().manual_seed(3))))
    assert torch.equal(a, b) and sorted(a.tolist()) == list(range(20))


def test_random_translate_shifts_each_image_and_passes_gradients() -> None:
    from genlab.data import random_translate

    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 2, 6, 7, generator=g, requires_grad=True)
    out = random_translate(x, 2, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    # each output is its input moved by one (dy, dx) in [-2, 2]^2 with zeros shifted in
    xp = torch.nn.functional.pad(x.detach(), (2, 2, 2, 2))
    seen = set()
    for i in range(len(x)):
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if torch.equal(out[i].detach(), xp[i, :, dy:dy + 6, dx:dx + 7])]
        assert len(hits) == 1
        seen.add(hits[0])
    assert len(seen) > 10                                         # offsets differ between images
    # the same generator state gives the same shifts (resume-exact); gradients reach x
    again = random_translate(x, 2, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    out.sum().backward()
    assert x.grad is not None and x.grad.max() == 1 and x.grad.min() == 0
    assert random_translate(x, 0) is x
    with pytest.raises(ValueError, match="max_shift"):
        random_translate(x, -1)
    with pytest.raises(GenlabError):
        random_translate(torch.rand(3, 8, 8), 1)
