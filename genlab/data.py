"""Datasets as plain tensors, offline first. Used from course/00_setup onward.

One call gives images and labels::

    x, y = genlab.data.load("digits", "train", size=16)
    # x: float32 (N, 1, 16, 16) in [0, 1];  y: int64 (N,)

Two datasets ship with installed packages and always work offline:

- ``digits``: scikit-learn's 1,797 handwritten 8x8 digits, upsampled to 8, 16,
  28 or 32 pixels, with a fixed stratified 80/20 train/test split.
- ``photos``: square patches cropped from scikit-image's sample photographs;
  test patches come from photos never seen in training.

Three more come through torchvision's own dataset classes when their files are
on disk (``download=True`` fetches them on a machine with network): ``mnist``,
``fashion_mnist`` and ``cifar10``. They live in ``genlab.config.data_home()``
(``~/.genlab-data``, or ``GENLAB_DATA``) unless ``root`` says otherwise.

For training loops, :func:`batches` is a fast in-memory iterator for small
tensors and :func:`make_loader` a ``DataLoader`` with CPU/GPU defaults.
"""

from __future__ import annotations

import functools
import math
import operator
import os
import pickle
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data._utils.collate import default_collate

from .config import data_home
from .errors import DataMissingError, GenlabError, ShapeError, describe

__all__ = [
    "DATASETS",
    "EXTRA_TRAIN_PHOTOS",
    "MORE_TRAIN_PHOTOS",
    "PHOTO_SOURCES",
    "SEED",
    "TEST_PHOTOS",
    "Batches",
    "DatasetError",
    "DatasetInfo",
    "available_offline",
    "batches",
    "load",
    "photo_training_patches",
    "make_loader",
    "random_translate",
]

#: Seed of every fixed choice in this module (splits, crops, the ``limit`` shuffle).
#: Never change it: it would silently change every split the course relies on.
SEED = 1797

SPLITS = ("train", "test")
DIGITS_SIZES = (8, 16, 28, 32)

#: scikit-image sample photos that load offline (bundled with the package), in label order.
PHOTO_SOURCES: tuple[str, ...] = (
    "astronaut", "coffee", "rocket", "immunohistochemistry", "brick", "grass",
    "gravel", "moon", "clock",            # training photos: labels 0..8
    "camera", "chelsea", "coins",         # test photos: labels 9..11
)
#: Photos whose patches form the test split; no training patch comes from them.
TEST_PHOTOS: tuple[str, ...] = ("camera", "chelsea", "coins")
#: Patches cropped per photo.
PHOTO_PATCHES = {"train": 400, "test": 100}
#: Photos are first shrunk so their long side is about this many pixels, so that a
#: 32-pixel patch shows a recognisable piece of the scene, not a flat bit of texture.
PHOTO_LONG_SIDE = 192

# ITU-R BT.601 luma weights: the usual RGB -> gray conversion.
_LUMA = (0.299, 0.587, 0.114)


class DatasetError(GenlabError, ValueError):
    """An unknown dataset name or split, a bad size, or an empty result."""


@dataclass(frozen=True)
class DatasetInfo:
    """What :func:`load` knows about one dataset.

    Attributes:
        name: registry key.
        description: one line for ``genlab doctor`` and notebooks.
        channels: native channels (1 or 3).
        size: default image side in pixels.
        n_classes: number of distinct labels.
        builtin: ships with an installed package, so it always works offline.
    """

    name: str
    description: str
    channels: int
    size: int
    n_classes: int
    builtin: bool
    loader: Callable[..., tuple[torch.Tensor, torch.Tensor]] = field(repr=False, compare=False)


# --------------------------------------------------------------------------- small helpers

def _fixed_perm(n: int) -> list[int]:
    """A permutation of ``range(n)`` that never changes.

    Python's ``random.Random(seed)`` is reproducible across Python versions,
    unlike some library RNGs, so the ``limit`` subsets stay the same everywhere.
    """
    idx = list(range(n))
    random.Random(SEED).shuffle(idx)
    return idx


def _to_gray(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W) -> (N, 1, H, W)``: ``Y = 0.299 R + 0.587 G + 0.114 B``."""
    w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def _set_channels(x: torch.Tensor, gray: bool | None) -> torch.Tensor:
    """``gray=True`` -> 1 channel (luma), ``False`` -> 3 (gray replicated), ``None`` -> as is."""
    if gray is None:
        return x
    if gray and x.shape[1] == 3:
        return _to_gray(x)
    if not gray and x.shape[1] == 1:
        return x.expand(-1, 3, -1, -1).contiguous()
    return x


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of ``(N, C, H, W)`` to ``size x size``.

    ``antialias=True`` low-pass filters when shrinking (no aliasing); bilinear
    weights are a convex combination, so the result stays in ``[0, 1]``.
    """
    if tuple(x.shape[-2:]) == (size, size):
        return x
    out = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(0.0, 1.0)


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a positive int, got {value!r}.")
    try:
        value = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be a positive int, got {describe(value)} ({value!r}).") from None
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}.")
    return int(value)


# --------------------------------------------------------------------------- digits

@functools.lru_cache(maxsize=1)
def _digits_raw() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits as ``(1797, 1, 8, 8)`` floats in ``[0, 1]`` and labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - scikit-learn is a dependency
        raise DataMissingError("The 'digits' dataset needs scikit-learn: pip install scikit-learn.") from err
    bunch = load_digits()
    # Pixel values are counts 0..16 (of a 4x4 block of a 32x32 bitmap); divide by 16.
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    return x, y


@functools.lru_cache(maxsize=1)
def _digits_split() -> dict[str, list[int]]:
    """Stratified 80/20 split: 20% of each class (rounded) goes to test; fixed by SEED."""
    _, y = _digits_raw()
    rng = random.Random(SEED)
    test: list[int] = []
    for c in range(10):
        members = (y == c).nonzero().flatten().tolist()
        rng.shuffle(members)
        test.extend(members[: round(0.2 * len(members))])
    test_set = set(test)
    return {"train": [i for i in range(len(y)) if i not in test_set], "test": sorted(test)}


@functools.lru_cache(maxsize=8)
def _digits(split: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _digits_raw()
    idx = torch.tensor(_digits_split()[split])
    return _resize(x[idx], size), y[idx]


def _load_digits(split: str, size: int | None, gray: bool | None, limit: int | None,
                 root: object, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    size = 16 if size is None else size
    if size not in DIGITS_SIZES:
        raise DatasetError(f"digits come in sizes {DIGITS_SIZES} (from the 8x8 originals), got size={size}. "
                           "Use 16 for MLPs and 28 or 32 for conv nets.")
    x, y = _digits(split, size)
    x, y = _take(x, y, limit)
    return _set_channels(x, gray), y


# --------------------------------------------------------------------------- photos

@functools.lru_cache(maxsize=2)
def _photo_images(gray: bool) -> tuple[torch.Tensor, ...]:
    """Every source photo as ``(C, H, W)`` float in ``[0, 1]``, at full resolution.

    Gray photos are replicated to 3 channels when ``gray=False`` so that labels and
    patch counts are the same in both modes.
    """
    try:
        import skimage.data
    except ImportError as err:  # pragma: no cover - scikit-image is a dependency
        raise DataMissingError("The 'photos' dataset needs scikit-image: pip install scikit-image.") from err
    images = []
    for name in PHOTO_SOURCES:
        try:
            arr = getattr(skimage.data, name)()
        except Exception as err:  # a missing optional file in an unusual install
            raise DataMissingError(f"scikit-image's sample photo {name!r} did not load ({err}); "
                                   "reinstall scikit-image (pip install --force-reinstall scikit-image).") from err
        images.append(_image_tensor(arr, gray))
    return tuple(images)


def _image_tensor(arr: np.ndarray, gray: bool) -> torch.Tensor:
    """An image array ``(H, W)`` or ``(H, W, C)`` (uint8, or float in ``[0, 1]``) as ``(C, H, W)``
    float in ``[0, 1]``, in luma (``gray``) or 3 channels (a gray image replicated)."""
    arr = np.asarray(arr)
    img = torch.from_numpy(arr.astype(np.float32))  # a copy: sample arrays can be read-only
    img = img / 255.0 if arr.dtype == np.uint8 else img.clamp(0.0, 1.0)
    img = img.unsqueeze(0) if img.dim() == 2 else img[..., :3].permute(2, 0, 1)  # HWC -> CHW
    return _set_channels(img.unsqueeze(0), gray)[0]


def _shrink_photo(img: torch.Tensor, size: int) -> torch.Tensor:
    """Shrink so the long side is about PHOTO_LONG_SIDE but the short side keeps >= 1.5 patches."""
    _, h, w = img.shape
    scale = min(1.0, max(PHOTO_LONG_SIDE / max(h, w), 1.5 * size / min(h, w)))
    if scale >= 1.0:
        return img
    new = (max(size, round(h * scale)), max(size, round(w * scale)))
    out = F.interpolate(img.unsqueeze(0), size=new, mode="bilinear", align_corners=False, antialias=True)
    return out[0].clamp_(0.0, 1.0)


@functools.lru_cache(maxsize=8)
def _photos(split: str, size: int, gray: bool) -> tuple[torch.Tensor, torch.Tensor]:
    images = _photo_images(gray)
    smallest = min(min(img.shape[-2:]) for img in images)
    if size > smallest:
        raise DatasetError(f"photo patches can be at most {smallest} pixels (the smallest photo), got size={size}.")
    patches, labels = [], []
    for label, (name, img) in enumerate(zip(PHOTO_SOURCES, images, strict=True)):
        if (name in TEST_PHOTOS) != (split == "test"):
            continue
        small = _shrink_photo(img, size)
        _, h, w = small.shape
        # One RNG per photo, so adding a photo never moves the crops of the others.
        rng = random.Random(SEED * 1000 + label)
        for _ in range(PHOTO_PATCHES[split]):
            top, left = rng.randint(0, h - size), rng.randint(0, w - size)
            patches.append(small[:, top:top + size, left:left + size])
            labels.append(label)
    return torch.stack(patches).contiguous(), torch.tensor(labels, dtype=torch.int64)


#: Extra scikit-image sample photos that ship with the package (no download) and are
#: used only to *train* :func:`photo_training_patches`; none is a test photo (``cat`` is
#: ``chelsea``, so it is not here).
EXTRA_TRAIN_PHOTOS: tuple[str, ...] = ("stereo_motorcycle",)

#: Every other offline natural image the installed packages bring, for the ``photo_repair``
#: preset: scikit-image's (plain names), scikit-learn's ``load_sample_image`` files
#: (``sklearn:``) and matplotlib's sample data (``matplotlib:``). Training only.
MORE_TRAIN_PHOTOS: tuple[str, ...] = (
    "stereo_motorcycle", "sklearn:china.jpg", "sklearn:flower.jpg", "hubble_deep_field", "retina", "cell",
    "matplotlib:grace_hopper.jpg",
)


def _extra_photo(name: str) -> np.ndarray:
    """One training-only image of :data:`MORE_TRAIN_PHOTOS` as an array (H, W) or (H, W, C)."""
    if name.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(name.split(":", 1)[1]))
    if name.startswith("matplotlib:"):
        import matplotlib.cbook
        import matplotlib.image

        with matplotlib.cbook.get_sample_data(name.split(":", 1)[1]) as f:
            return np.asarray(matplotlib.image.imread(f))
    import skimage.data

    arr = getattr(skimage.data, name)()
    return np.asarray(arr[0] if isinstance(arr, tuple) else arr)  # stereo pairs: the left view


def photo_training_patches(size: int = 32, long_sides: tuple[int, ...] = (192, 288),
                           extra: tuple[str, ...] = EXTRA_TRAIN_PHOTOS, per_photo: int = 400,
                           gray: bool = True, random_scales: tuple[int, int] | None = None,
                           seed: int = 0) -> torch.Tensor:
    """More training patches than ``load("photos", "train")``: several scales and extra photos.

    Crops ``per_photo`` random ``size x size`` patches from every *training* photo of
    :data:`PHOTO_SOURCES` (never a test photo) shrunk so its long side is each of
    ``long_sides`` pixels (192 is the scale of the test patches; larger sides give smoother,
    less shrunk views), and from each photo of ``extra`` the same way. With
    ``random_scales=(lo, hi)`` every patch instead gets its own scale: the photo is shrunk so its
    long side would be a log-uniform draw from ``[lo, hi]`` (never enlarged), which shows each
    photo's edges and textures at every size in between. Deterministic (a fixed RNG per photo,
    scale and ``seed``); the ``photos`` dataset itself is unchanged.

    Args:
        size: patch side in pixels.
        long_sides: long sides the photos are shrunk to before cropping.
        extra: extra training-only images (names of :data:`MORE_TRAIN_PHOTOS` or scikit-image
            sample photos).
        per_photo: patches per photo and scale (per photo with ``random_scales``).
        gray: 1 channel (luma) or 3.
        random_scales: ``(lo, hi)`` long sides in pixels, or ``None`` for ``long_sides``.
        seed: changes every crop (0: the crops this function always gave).

    Returns:
        ``(N, C, size, size)`` float patches in ``[0, 1]``.
    """
    images = [img for name, img in zip(PHOTO_SOURCES, _photo_images(bool(gray)), strict=True)
              if name not in TEST_PHOTOS]
    for name in extra:
        if name in TEST_PHOTOS or name in ("cat",):
            raise DatasetError(f"{name!r} is (or shows) a test photo; it cannot be a training photo.")
        images.append(_image_tensor(_extra_photo(name), bool(gray)))
    if random_scales is not None:
        lo, hi = random_scales
        if not 0 < lo <= hi:
            raise DatasetError(f"random_scales must be (lo, hi) with 0 < lo <= hi, got {random_scales}.")
    patches = []
    for i, img in enumerate(images):
        _, h, w = img.shape
        if random_scales is not None:
            rng = random.Random(SEED * 7919 + 100 * i + 99 + 1_000_003 * seed)
            for _ in range(per_photo):
                patches.append(_random_scale_crop(img, size, rng, random_scales))
            continue
        for j, side in enumerate(long_sides):
            scale = min(1.0, max(side / max(h, w), 1.5 * size / min(h, w)))
            small = img if scale >= 1.0 else F.interpolate(
                img.unsqueeze(0), size=(max(size, round(h * scale)), max(size, round(w * scale))),
                mode="bilinear", align_corners=False, antialias=True)[0].clamp(0.0, 1.0)
            _, hh, ww = small.shape
            rng = random.Random(SEED * 7919 + 100 * i + j + 1_000_003 * seed)
            for _ in range(per_photo):
                top, left = rng.randint(0, hh - size), rng.randint(0, ww - size)
                patches.append(small[:, top:top + size, left:left + size])
    return torch.stack(patches).contiguous()


def _random_scale_crop(img: torch.Tensor, size: int, rng: random.Random, scales: tuple[int, int]) -> torch.Tensor:
    """One ``size x size`` patch of ``img`` shrunk so its long side is a log-uniform draw from ``scales``.

    Only the region that becomes the patch is shrunk (the same pixels as shrinking the whole
    photo and cropping, up to the antialiasing filter at the region's border).
    """
    _, h, w = img.shape
    side = math.exp(rng.uniform(math.log(scales[0]), math.log(scales[1])))
    scale = min(1.0, max(side / max(h, w), 1.2 * size / min(h, w)))
    region = min(h, w, math.ceil(size / scale) + 2)
    top, left = rng.randint(0, h - region), rng.randint(0, w - region)
    crop = img[:, top:top + region, left:left + region].unsqueeze(0)
    if scale < 1.0:
        crop = F.interpolate(crop, size=(max(size, round(region * scale)),) * 2, mode="bilinear",
                             align_corners=False, antialias=True)
    return crop[0, :, :size, :size].clamp(0.0, 1.0)


def _load_photos(split: str, size: int | None, gray: bool | None, limit: int | None,
                 root: object, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    size = 32 if size is None else size
    if size < 4:
        raise DatasetError(f"photo patches must be at least 4 pixels wide, got size={size}.")
    x, y = _photos(split, size, True if gray is None else bool(gray))
    return _take(x, y, limit)


# --------------------------------------------------------------------------- torchvision

# name -> (torchvision class, folder under root, files that must be there)
_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
_TORCHVISION = {
    "mnist": ("MNIST", Path("MNIST") / "raw", _MNIST_FILES),
    "fashion_mnist": ("FashionMNIST", Path("FashionMNIST") / "raw", _MNIST_FILES),
    "cifar10": ("CIFAR10", Path("cifar-10-batches-py"), _CIFAR_FILES),
}


def _root(root: str | os.PathLike | None) -> Path:
    return Path(root).expanduser() if root is not None else data_home()


def _missing_message(name: str, root: Path, download: bool, err: BaseException | None) -> str:
    """What is missing, where, why, and the two ways to fix it: one short line each."""
    _, folder, files = _TORCHVISION[name]
    where = root / folder
    reason = f"{type(err).__name__}: {str(err).strip()}" if err is not None else "no details"
    reason = reason if reason.endswith(".") else reason + "."
    lines = [
        f"The {name!r} dataset is not available: torchvision found no usable files in {where}",
        f"It needs {', '.join(files)}",
        "(missing, truncated or corrupted files all end here).",
        f"Downloading it failed ({reason.rstrip('.')})." if download else f"torchvision said: {reason}",
        "To get it, either",
        f"  - run genlab.data.load({name!r}, download=True) on a machine with network (it saves into {root}), or",
        f"  - copy the files into {where}.",
        "Set GENLAB_DATA (or pass root=...) to use another folder.",
        "Offline, the built-in 'digits' and 'photos' datasets always work.",
    ]
    return "\n".join(lines)


def _load_torchvision(name: str, split: str, size: int | None, gray: bool | None, limit: int | None,
                      root: str | os.PathLike | None, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    base = _root(root)
    try:
        import torchvision.datasets as tvd
    except ImportError as err:
        raise DataMissingError(f"The {name!r} dataset is read with torchvision, which is not installed: "
                               "pip install torchvision.") from err
    cls = getattr(tvd, _TORCHVISION[name][0])
    try:
        ds = cls(root=str(base), train=(split == "train"), download=download)
    # Not found or bad md5 (RuntimeError), network down (URLError is an OSError), a truncated
    # IDX file (ValueError/AssertionError in torchvision's parser), a broken pickle.
    except (RuntimeError, OSError, ValueError, AssertionError, EOFError, pickle.UnpicklingError) as err:
        raise DataMissingError(_missing_message(name, base, download, err)) from err
    data = torch.as_tensor(ds.data)                       # uint8: (N, H, W) or (N, H, W, 3) for CIFAR
    targets = torch.as_tensor(ds.targets, dtype=torch.int64)
    data, targets = _take(data, targets, limit)           # subset first: convert only what is kept
    x = data.unsqueeze(1) if data.dim() == 3 else data.permute(0, 3, 1, 2)  # -> (N, C, H, W)
    x = x.float().div_(255.0)
    x = _set_channels(x, gray)
    if size is not None:
        x = _resize(x, size)
    return x.contiguous(), targets


def _tv_loader(name: str) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    return functools.partial(_load_torchvision, name)


# --------------------------------------------------------------------------- registry and load

def _take(x: torch.Tensor, y: torch.Tensor, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the first ``limit`` items after a fixed shuffle (all of them when ``limit`` is None)."""
    if limit is None:
        return x, y
    idx = torch.tensor(_fixed_perm(len(x))[:limit], dtype=torch.long)
    return x[idx], y[idx]


#: Every dataset :func:`load` knows, by name.
DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("digits", "scikit-learn handwritten digits (1,797, 8x8 upsampled), 10 classes",
                          1, 16, 10, True, _load_digits),
    "photos": DatasetInfo("photos", "patches of scikit-image sample photos; label = source photo",
                          1, 32, len(PHOTO_SOURCES), True, _load_photos),
    "mnist": DatasetInfo("mnist", "MNIST handwritten digits (70,000, 28x28) via torchvision",
                         1, 28, 10, False, _tv_loader("mnist")),
    "fashion_mnist": DatasetInfo("fashion_mnist", "Fashion-MNIST clothing (70,000, 28x28) via torchvision",
                                 1, 28, 10, False, _tv_loader("fashion_mnist")),
    "cifar10": DatasetInfo("cifar10", "CIFAR-10 colour photos (60,000, 32x32) via torchvision",
                           3, 32, 10, False, _tv_loader("cifar10")),
}


def load(name: str, split: str = "train", size: int | None = None, *, gray: bool | None = None,
         limit: int | None = None, root: str | os.PathLike | None = None,
         download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a dataset as tensors.

    Args:
        name: a key of :data:`DATASETS`: ``"digits"``, ``"photos"``, ``"mnist"``,
            ``"fashion_mnist"``, ``"cifar10"`` (case and ``-``/``_`` do not matter).
        split: ``"train"`` or ``"test"``.
        size: image side in pixels. ``None`` keeps the default (digits 16, photos 32,
            MNIST 28, CIFAR-10 32). Digits allow 8, 16, 28, 32; photos any side from 4
            up to the smallest photo; torchvision datasets are resized (antialiased
            bilinear) to any size.
        gray: ``True`` gives 1 channel (RGB -> luma ``0.299 R + 0.587 G + 0.114 B``),
            ``False`` gives 3 channels (gray images replicated), ``None`` the native
            channels (photos default to gray).
        limit: keep only the first ``limit`` items after a fixed shuffle (fast mode);
            the same items every time, on every machine.
        root: folder for torchvision datasets; default ``genlab.config.data_home()``.
        download: let torchvision download missing files (needs network).

    Returns:
        ``(x, y)``: ``x`` float32 ``(N, C, H, W)`` in ``[0, 1]``, ``y`` int64 ``(N,)``.
        Fresh tensors: changing them does not change later calls.

    Raises:
        DatasetError: unknown name or split, bad size, empty result.
        DataMissingError: a torchvision dataset is not on disk and was not downloaded.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {', '.join(DATASETS)}; got {describe(name)}.")
    key = name.strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}.")
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r} for dataset {key!r}; expected one of {', '.join(SPLITS)}.")
    if size is not None:
        size = _check_positive_int(size, "size")
    if limit is not None:
        limit = _check_positive_int(limit, "limit")
    if gray is not None and not isinstance(gray, bool):
        raise TypeError(f"gray must be True, False or None, got {gray!r}.")
    x, y = DATASETS[key].loader(split, size, gray, limit, root, bool(download))
    if x.shape[0] == 0:
        raise DatasetError(f"dataset {key!r} split {split!r} gave no images; check the files in "
                           f"{_root(root) if key in _TORCHVISION else 'the installed package'}.")
    # Clone: the built-in loaders cache their tensors, and callers may edit what they get.
    return x.to(torch.float32).clone(), y.to(torch.int64).clone()


def available_offline(root: str | os.PathLike | None = None) -> dict[str, bool]:
    """Which datasets :func:`load` can serve right now without a network.

    Checks that the files torchvision reads exist (no checksum, so it is cheap);
    the built-in datasets are available when their packages import.

    Args:
        root: the torchvision data folder; default ``genlab.config.data_home()``.

    Returns:
        ``{name: available}`` for every name in :data:`DATASETS`.
    """
    base = _root(root)
    out: dict[str, bool] = {}
    for name in DATASETS:
        if name == "digits":
            out[name] = _importable("sklearn.datasets")
        elif name == "photos":
            out[name] = _importable("skimage.data")
        else:
            _, folder, files = _TORCHVISION[name]
            raw = all((base / folder / f).is_file() for f in files)
            # torchvision also accepts MNIST's older processed/{training,test}.pt format.
            legacy = folder.name == "raw" and all(
                (base / folder.parent / "processed" / f).is_file() for f in ("training.pt", "test.pt"))
            out[name] = _importable("torchvision.datasets") and (raw or legacy)
    return out


def _importable(module: str) -> bool:
    """True when the module's package is installed; found, not imported (importing
    torchvision or scikit-learn takes seconds, and `genlab doctor` asks for every dataset)."""
    import importlib.util

    return importlib.util.find_spec(module.split(".")[0]) is not None


# --------------------------------------------------------------------------- batching

def _check_xy(x: object, y: object) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() < 1:
        raise ShapeError(f"x must be a tensor with a batch dimension first, got {describe(x)}.")
    if y is not None:
        if not isinstance(y, torch.Tensor):
            raise ShapeError(f"y must be a tensor or None, got {describe(y)}.")
        if y.shape[0] != x.shape[0]:
            raise ShapeError(f"x and y must hold the same number of items, got {x.shape[0]} images "
                             f"and {y.shape[0]} labels.")


class Batches:
    """A re-iterable in-memory batch iterator (no workers, no collation: just indexing).

    Each ``for`` loop over it is one epoch; with ``shuffle=True`` every epoch draws a
    new order from ``generator``. For a few thousand small images this is several
    times faster than a ``DataLoader``.

    Yields ``x_batch`` (when ``y`` is None) or ``(x_batch, y_batch)``.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 64,
                 shuffle: bool = True, generator: torch.Generator | None = None,
                 drop_last: bool = False) -> None:
        _check_xy(x, y)
        self.x, self.y = x, y
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        self.shuffle, self.generator, self.drop_last = shuffle, generator, drop_last

    def __len__(self) -> int:
        n = self.x.shape[0]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        n, bs = self.x.shape[0], self.batch_size
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for k in range(len(self)):
            if order is None:
                sel: slice | torch.Tensor = slice(k * bs, (k + 1) * bs)   # views, no copy
            else:
                sel = order[k * bs:(k + 1) * bs].to(self.x.device)
            yield self.x[sel] if self.y is None else (self.x[sel], self.y[sel])


def random_translate(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift every image by its own random offset of up to ``max_shift`` pixels, filling with zeros.

    Differentiable in ``x`` (it only moves pixels), so it can sit *inside* a training
    step: ``genlab.train.GANTask(augment=2)`` passes every image the discriminator sees,
    real or generated, through it. The discriminator can then no longer memorise the
    few hundred training digits pixel by pixel, and the generator is still asked for
    digits, not shifted ones, because the fakes are shifted the same way (the
    "differentiable augmentation" of Zhao et al., 2020).

    Developed in course/04_gans_on_images.

    Args:
        x: images ``(B, C, H, W)``.
        max_shift: largest shift in pixels along each axis (0 returns ``x`` itself).
        generator: CPU generator for the offsets (the training task's, so resume is exact).

    Returns:
        Shifted images, same shape, dtype and device as ``x``.
    """
    if not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be an integer >= 0, got {max_shift!r}.")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ShapeError(f"random_translate needs images (B, C, H, W), got {describe(x)}.")
    if max_shift == 0:
        return x
    b, _, h, w = x.shape
    p = max_shift
    padded = F.pad(x, (p, p, p, p))                                               # (B, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)
    rows = dy[:, None, None] + torch.arange(h, device=x.device)[None, :, None]   # (B, H, 1)
    cols = dx[:, None, None] + torch.arange(w, device=x.device)[None, None, :]   # (B, 1, W)
    picked = padded.permute(0, 2, 3, 1)[torch.arange(b, device=x.device)[:, None, None], rows, cols]
    return picked.permute(0, 3, 1, 2)                                             # (B, H, W, C) -> (B, C, H, W)


def batches(x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 64, shuffle: bool = True,
            generator: torch.Generator | None = None, drop_last: bool = False) -> Batches:
    """Mini-batches of in-memory tensors, re-iterable once per epoch.

    Args:
        x: items ``(N, ...)``.
        y: optional labels ``(N, ...)``.
        batch_size: items per batch (the last batch may be smaller unless ``drop_last``).
        shuffle: new random order every epoch.
        generator: CPU ``torch.Generator`` for the order (reproducible epochs).
        drop_last: drop the final short batch.

    Returns:
        A :class:`Batches` with ``len()`` = number of batches per epoch.

    Example:
        ``for xb, yb in batches(x, y, 128, generator=torch.Generator().manual_seed(0)): ...``
    """
    return Batches(x, y, batch_size, shuffle, generator, drop_last)


def _first(batch: list) -> torch.Tensor:
    """Collate 1-tuples from a TensorDataset into a bare tensor (module level so workers can pickle it)."""
    return default_collate(batch)[0]


def make_loader(x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 64, shuffle: bool = True,
                device: str | torch.device | None = None, num_workers: int | None = None,
                generator: torch.Generator | None = None) -> DataLoader:
    """A ``DataLoader`` over in-memory tensors with defaults that suit the device.

    - CPU (or ``device=None``): ``num_workers=0`` - the data is already in memory,
      extra processes only add start-up and copying cost.
    - CUDA: ``pin_memory=True`` (page-locked host memory makes ``.to(device,
      non_blocking=True)`` asynchronous) and, unless given, ``min(2, cpus)`` workers.
    - Workers, when there are any, persist across epochs (no restart each epoch).

    Its settings are discussed in course/07_gpu_training.

    Args:
        x: items ``(N, ...)``.
        y: optional labels; batches are ``(x, y)`` pairs, or bare ``x`` without labels.
        batch_size: items per batch.
        shuffle: reshuffle every epoch.
        device: where training runs; only decides the defaults, tensors stay on the CPU.
        num_workers: worker processes; ``None`` picks the default above.
        generator: ``torch.Generator`` for the shuffle order.

    Returns:
        A ``torch.utils.data.DataLoader``.
    """
    _check_xy(x, y)
    batch_size = _check_positive_int(batch_size, "batch_size")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    cuda = dev.type == "cuda"
    if num_workers is None:
        num_workers = min(2, os.cpu_count() or 1) if cuda else 0
    elif isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}.")
    dataset = TensorDataset(x) if y is None else TensorDataset(x, y)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        pin_memory=cuda,
        persistent_workers=num_workers > 0,
        collate_fn=_first if y is None else None,
    )
