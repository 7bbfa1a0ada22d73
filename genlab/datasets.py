"""The course's dataset switch: which data a training notebook uses, and at what scale.

Every training notebook (lectures and labs 01, 02, 04, 05, 06) starts with::

    session = genlab.start(seed=0)
    course = genlab.datasets.select(device=session.device, lesson="vae")
    x_train, y_train = course.train()
    x_test, y_test = course.test()
    model = models.ConvVAE(course.config(models.VAEConfig, latent_dim=16))
    epochs = course.epochs("vae")

``GENLAB_DATASET`` picks the dataset (``digits`` by default; ``mnist``,
``fashion_mnist``, ``cifar10``, and ``photos`` for the lessons where it fits), or
the notebook passes it: ``genlab.datasets.select("mnist", ...)``. ``GENLAB_DATA``
is the folder of the torchvision datasets (``genlab.config.data_home()``).

What changes with the dataset is written down once, in :data:`PRESETS`: one
:class:`Preset` per dataset and device kind (``cpu``, ``cuda``, ``mps``) with the
image size, channels, a width multiplier for the models, the batch size, how many
images to use and the epochs of each lesson. The digits presets are exactly what
the notebooks used before the switch existed, so every figure measured on digits
stays valid. The other presets were chosen from the data sizes so that a lesson's
headline result should appear in a few minutes on their device; they have not
been measured on a GPU here (``Preset.measured`` says so).

Fast mode (``GENLAB_FAST=1``) shrinks every preset the same way: a 256-image slice
and one or two epochs (:data:`FAST_EPOCHS`).

On Colab the torchvision datasets are downloaded into the runtime (torchvision's own
``download=True``) the first time a notebook selects them; elsewhere nothing is
downloaded and a missing dataset raises ``genlab.errors.DataMissingError`` saying
how to get it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from . import config
from . import data as _data

__all__ = [
    "DEFAULT_DATASET",
    "DEVICE_KINDS",
    "FAST_EPOCHS",
    "LESSONS",
    "PRESETS",
    "CourseData",
    "Preset",
    "current",
    "fetch",
    "preset",
    "select",
]

#: The dataset used when neither ``GENLAB_DATASET`` nor the notebook names one.
DEFAULT_DATASET = "digits"
#: Device kinds with their own presets (``torch.device.type``).
DEVICE_KINDS = ("cpu", "cuda", "mps")
#: The training runs of the notebooks, by the key their epochs are stored under.
#: ``*_lab`` keys are the labs' (solutions') runs where they differ from the lecture's.
LESSONS = ("autoencoders", "vae", "gans", "classifier", "restoration", "restoration_lab",
           "crnn", "crnn_lab")
#: Epochs of every lesson in fast mode (what the notebooks used before the switch).
FAST_EPOCHS: Mapping[str, int] = MappingProxyType({
    "autoencoders": 2, "vae": 2, "gans": 1, "classifier": 1, "restoration": 1,
    "restoration_lab": 1, "crnn": 1, "crnn_lab": 1})
#: Training images kept in fast mode (the same slice as ``genlab.fast_or(256, None)``).
FAST_TRAIN_LIMIT = 256

_DIGITS_EPOCHS = {"autoencoders": 40, "vae": 60, "gans": 25, "classifier": 8, "restoration": 40,
                  "restoration_lab": 30, "crnn": 30, "crnn_lab": 30}


@dataclass(frozen=True)
class Preset:
    """The scale of the course on one dataset and one kind of device.

    Attributes:
        dataset: a key of ``genlab.data.DATASETS``.
        device: ``"cpu"``, ``"cuda"`` or ``"mps"``.
        image_size: side of the images the models see.
        channels: 1 (gray) or 3 (colour); the data are converted to it.
        width_scale: multiplies the ``width`` and ``hidden`` of every model a notebook
            builds through :meth:`CourseData.config` (1 = the sizes the notebook asks for).
        batch_size: training batch size.
        train_limit: training images kept (``None`` = all).
        test_limit: test images kept (``None`` = all).
        fast_test_limit: test images kept in fast mode (``None`` = the full-mode choice).
        epochs: full-mode epochs per lesson (keys of :data:`LESSONS`).
        lessons: the lessons this dataset fits (photos have no classes shared by train
            and test, so no GAN metrics on them).
        measured: where the expected figures quoted in the notebooks come from.
    """

    dataset: str
    device: str
    image_size: int
    channels: int
    width_scale: float = 1.0
    batch_size: int = 64
    train_limit: int | None = None
    test_limit: int | None = None
    fast_test_limit: int | None = None
    epochs: Mapping[str, int] = field(default_factory=lambda: MappingProxyType(dict(_DIGITS_EPOCHS)))
    lessons: tuple[str, ...] = LESSONS
    measured: str = "not measured"

    def fast(self) -> Preset:
        """This preset shrunk for fast mode: a 256-image slice and :data:`FAST_EPOCHS`."""
        limit = FAST_TRAIN_LIMIT if self.train_limit is None else min(FAST_TRAIN_LIMIT, self.train_limit)
        test = self.test_limit if self.fast_test_limit is None else self.fast_test_limit
        return dataclasses.replace(self, train_limit=limit, test_limit=test,
                                   epochs=MappingProxyType(dict(FAST_EPOCHS)))


def _epochs(**kw: int) -> Mapping[str, int]:
    missing = set(LESSONS) - set(kw)
    if missing:  # pragma: no cover - a table error, caught by the tests
        raise ValueError(f"preset epochs miss lessons {sorted(missing)}")
    return MappingProxyType(kw)


# Rationale of the non-digits numbers (none of them measured on a GPU here):
# - one epoch of MNIST (60,000 images) is about 42 epochs of the 1,437 training digits in updates,
#   so a few epochs reach what 25-60 digits epochs reach; batch 128 keeps a Colab GPU busy;
# - on a 2-core CPU MNIST and CIFAR-10 are cut to 10,000 training images and 2,000 test images,
#   about ten times the digits' cost per epoch at 28-32 px;
# - CIFAR-10 is colour and far more varied than digits: twice the model width on a GPU.
_MNIST_GPU = _epochs(autoencoders=10, vae=15, gans=10, classifier=2, restoration=8, restoration_lab=6,
                     crnn=6, crnn_lab=6)
_MNIST_CPU = _epochs(autoencoders=4, vae=6, gans=4, classifier=2, restoration=4, restoration_lab=3,
                     crnn=2, crnn_lab=2)
_CIFAR_GPU = _epochs(autoencoders=15, vae=20, gans=15, classifier=6, restoration=10, restoration_lab=8,
                     crnn=8, crnn_lab=8)
_CIFAR_CPU = _epochs(autoencoders=4, vae=6, gans=4, classifier=3, restoration=4, restoration_lab=3,
                     crnn=2, crnn_lab=2)
_PHOTOS = _epochs(autoencoders=20, vae=30, gans=0, classifier=0, restoration=12, restoration_lab=12,
                  crnn=12, crnn_lab=12)
_NO_GANS = tuple(k for k in LESSONS if k not in ("gans", "classifier"))
_DIGITS_MEASURED = "measured on digits (docs/benchmarks.md)"


def _table() -> dict[tuple[str, str], Preset]:
    rows = [
        # digits: exactly the notebooks' settings before the switch (shipped weights, measured figures)
        Preset("digits", "cpu", 16, 1, measured=_DIGITS_MEASURED),
        Preset("digits", "mps", 16, 1, measured=_DIGITS_MEASURED),
        # lecture 06 trained its CRNN for 60 epochs on CUDA before the switch: kept
        Preset("digits", "cuda", 16, 1, epochs=MappingProxyType({**_DIGITS_EPOCHS, "crnn": 60}),
               measured=_DIGITS_MEASURED),
        Preset("mnist", "cpu", 28, 1, batch_size=128, train_limit=10_000, test_limit=2_000,
               fast_test_limit=256, epochs=_MNIST_CPU),
        Preset("mnist", "cuda", 28, 1, batch_size=128, fast_test_limit=256, epochs=_MNIST_GPU),
        Preset("mnist", "mps", 28, 1, batch_size=128, train_limit=30_000, fast_test_limit=256,
               epochs=_MNIST_GPU),
        Preset("cifar10", "cpu", 32, 3, batch_size=128, train_limit=10_000, test_limit=2_000,
               fast_test_limit=256, epochs=_CIFAR_CPU),
        Preset("cifar10", "cuda", 32, 3, width_scale=2.0, batch_size=128, fast_test_limit=256,
               epochs=_CIFAR_GPU),
        Preset("cifar10", "mps", 32, 3, batch_size=128, train_limit=25_000, fast_test_limit=256,
               epochs=_CIFAR_GPU),
        Preset("photos", "cpu", 32, 1, epochs=_PHOTOS, lessons=_NO_GANS),
        Preset("photos", "cuda", 32, 1, batch_size=128, epochs=_PHOTOS, lessons=_NO_GANS),
        Preset("photos", "mps", 32, 1, epochs=_PHOTOS, lessons=_NO_GANS),
    ]
    # Fashion-MNIST has MNIST's format and size: the same presets
    rows += [dataclasses.replace(p, dataset="fashion_mnist") for p in rows if p.dataset == "mnist"]
    return {(p.dataset, p.device): p for p in rows}


#: ``(dataset, device kind) -> Preset``: the one place where the course's scale is written down.
PRESETS: Mapping[tuple[str, str], Preset] = MappingProxyType(_table())


def _normalise(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a dataset name is a string, one of {', '.join(sorted({d for d, _ in PRESETS}))}; "
                        f"got {type(name).__name__}.")
    key = name.strip().lower().replace("-", "_")
    known = sorted({d for d, _ in PRESETS})
    if key not in known:
        raise _data.DatasetError(f"unknown dataset {name!r} (from the notebook or GENLAB_DATASET); "
                                 f"expected one of {', '.join(known)}.")
    return key


def current() -> str:
    """The dataset named by ``GENLAB_DATASET`` (default :data:`DEFAULT_DATASET`), normalised."""
    value = os.environ.get("GENLAB_DATASET", "").strip()
    return _normalise(value or DEFAULT_DATASET)


def _device_kind(device: str | torch.device | None) -> str:
    if device is None:
        from . import device as pick_device

        device = pick_device()
    kind = torch.device(device).type
    if kind not in DEVICE_KINDS:
        raise ValueError(f"no preset for device kind {kind!r}; expected one of {', '.join(DEVICE_KINDS)}.")
    return kind


def preset(dataset: str | None = None, device: str | torch.device | None = None,
           fast: bool | None = None) -> Preset:
    """The preset of ``dataset`` (default :func:`current`) on ``device`` (default: the course's device).

    Args:
        dataset: dataset name, or ``None`` for ``GENLAB_DATASET``.
        device: a device or its kind; ``None`` picks ``genlab.device()``.
        fast: shrink for fast mode; ``None`` reads ``GENLAB_FAST``.
    """
    p = PRESETS[(current() if dataset is None else _normalise(dataset), _device_kind(device))]
    return p.fast() if (config.is_fast() if fast is None else fast) else p


def _on_colab() -> bool:
    return "google.colab" in sys.modules


def _from_preset(attr: str, doc: str) -> property:
    """A read-only attribute of :class:`CourseData` that is its preset's (an int: size, channels, batch)."""
    def get(self: CourseData) -> int:
        return getattr(self.preset, attr)
    return property(get, doc=doc)


@dataclass
class CourseData:
    """The data of one notebook run: the dataset, its preset, and helpers that apply it.

    Made by :func:`select`. ``train()`` / ``test()`` load the images, ``config(...)``
    fills image size, channels and width into a model config, ``epochs(lesson)`` gives
    the lesson's epochs.
    """

    name: str
    preset: Preset
    device: torch.device
    fast: bool
    lesson: str | None = None
    root: str | os.PathLike | None = None

    # ------------------------------------------------------------------ facts
    @property
    def info(self) -> _data.DatasetInfo:
        """The dataset's entry in ``genlab.data.DATASETS``."""
        return _data.DATASETS[self.name]

    image_size = _from_preset("image_size", "Side of the images, in pixels.")
    channels = _from_preset("channels", "1 (gray) or 3 (colour).")
    batch_size = _from_preset("batch_size", "Training batch size of the preset.")

    @property
    def n_classes(self) -> int:
        """Number of labels."""
        return self.info.n_classes

    @property
    def uses_shipped_weights(self) -> bool:
        """True when the data are what ``genlab.weights`` was trained on (16x16 gray digits)."""
        return self.name == "digits" and self.image_size == 16 and self.channels == 1

    def epochs(self, lesson: str | None = None) -> int:
        """Epochs of ``lesson`` (default: the lesson given to :func:`select`) in this preset."""
        lesson = lesson or self.lesson
        if lesson not in self.preset.epochs:
            raise KeyError(f"no epochs for lesson {lesson!r}; lessons: {', '.join(self.preset.epochs)}.")
        return int(self.preset.epochs[lesson])

    def summary(self) -> str:
        """One line naming the dataset, its size and the preset (notebooks print it)."""
        p = self.preset
        colour = "colour" if p.channels == 3 else "gray"
        parts = [f"dataset: {self.name} ({p.image_size}x{p.image_size} {colour})",
                 f"preset {p.dataset}/{p.device}{' (fast)' if self.fast else ''}",
                 f"batch {p.batch_size}", f"width x{p.width_scale:g}",
                 f"train {'all' if p.train_limit is None else p.train_limit} / "
                 f"test {'all' if p.test_limit is None else p.test_limit} images"]
        if self.lesson is not None:
            parts.append(f"{self.epochs()} epochs")
        parts.append(f"expected figures: {p.measured}")
        return " | ".join(parts)

    # ------------------------------------------------------------------ data
    def _load(self, split: str, limit: int | None, preset_limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        if limit is None:
            limit = preset_limit
        elif preset_limit is not None:
            limit = min(limit, preset_limit)
        return _data.load(self.name, split, self.image_size, gray=self.channels == 1, limit=limit,
                          root=self.root)

    def train(self, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Training images ``(N, C, S, S)`` in ``[0, 1]`` and labels; ``limit`` caps the preset's count."""
        return self._load("train", limit, self.preset.train_limit)

    def test(self, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Test images and labels; ``limit`` caps the preset's count (e.g. ``genlab.fast_or(64, None)``)."""
        return self._load("test", limit, self.preset.test_limit)

    # ------------------------------------------------------------------ models
    def config(self, cls: type, **fields: Any) -> Any:
        """``cls(image_size=..., channels=..., **fields)`` with the preset's width multiplier.

        ``width`` and ``hidden`` (the given value, or the config's default) are scaled by
        ``Preset.width_scale``; with a scale of 1 the config is exactly ``cls(**fields)``
        plus size and channels.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        scale = self.preset.width_scale
        if scale != 1.0:
            defaults = {f.name: f.default for f in dataclasses.fields(cls)}
            for key in ("width", "hidden"):
                if key in names:
                    fields[key] = max(1, round(fields.get(key, defaults[key]) * scale))
        sized = {k: v for k, v in (("image_size", self.image_size), ("channels", self.channels)) if k in names}
        return cls(**{**sized, **fields})

    def build(self, name: str, **fields: Any) -> nn.Module:
        """``genlab.models.build(name, ...)`` with this dataset's size, channels and width."""
        from . import models

        cfg = self.config(models.MODELS[name][1], **fields)
        return models.build(name, **{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)})

    def classifier(self, *, progress: bool = False, seed: int = 0) -> nn.Module:
        """The classifier behind the Frechet distance and class coverage, for this dataset.

        On 16x16 digits it is the shipped one (``genlab.weights``). On any other
        dataset none is shipped, so one is trained here on this dataset's training
        images, ``epochs("classifier")`` epochs (one in fast mode: then its features,
        and the metrics built on them, are rough).

        Returns:
            A ``DigitsClassifier`` on :attr:`device`, in eval mode.
        """
        from . import models, train

        if self.uses_shipped_weights:
            try:
                from .weights import load_pretrained

                return load_pretrained("classifier").to(self.device).eval()
            except Exception as err:  # not installed: fall through and train one
                print(f"no pretrained classifier ({type(err).__name__}); training one")
        clf = models.DigitsClassifier(self.config(models.ClassifierConfig, n_classes=self.n_classes))
        x, y = self.train()
        train.fit(train.ClassifierTask(clf), (x, y), self.epochs("classifier"), batch_size=self.batch_size,
                  device=self.device, seed=seed, progress=progress)
        return clf.eval()


def select(dataset: str | None = None, device: str | torch.device | None = None, *,
           lesson: str | None = None, size: int | None = None, channels: int | None = None,
           root: str | os.PathLike | None = None, download: bool | None = None,
           quiet: bool = False) -> CourseData:
    """Choose the notebook's dataset and preset, and print a one-line summary.

    Args:
        dataset: ``"digits"``, ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"`` or
            ``"photos"``; ``None`` reads ``GENLAB_DATASET`` (default ``digits``).
        device: the training device (``session.device``); ``None`` picks one.
        lesson: the notebook's lesson (a key of :data:`LESSONS`): ``epochs()`` then
            needs no argument and the dataset is checked to fit it.
        size: override the preset's image size (a lab whose exercise models take 16x16
            images asks for ``size=16``; the data are resized).
        channels: override the preset's channels (1: colour is converted to luma; 3: gray
            is replicated).
        root: folder of the torchvision datasets; default ``GENLAB_DATA``.
        download: fetch a missing torchvision dataset with torchvision's ``download=True``;
            ``None`` = only on Colab.
        quiet: print nothing.

    Returns:
        A :class:`CourseData`.

    Raises:
        genlab.data.DatasetError: unknown dataset, or one that does not fit ``lesson``.
        genlab.errors.DataMissingError: a torchvision dataset is not on disk (and not downloaded).
    """
    name = current() if dataset is None else _normalise(dataset)
    dev = torch.device(device) if device is not None else None
    if dev is None:
        from . import device as pick_device

        dev = pick_device()
    fast = config.is_fast()
    p = preset(name, dev, fast=fast)
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}.")
    if size is not None or channels is not None:
        p = dataclasses.replace(p, image_size=p.image_size if size is None else int(size),
                                channels=p.channels if channels is None else channels)
    if lesson is not None:
        if lesson not in LESSONS:
            raise KeyError(f"unknown lesson {lesson!r}; expected one of {', '.join(LESSONS)}.")
        if lesson not in p.lessons:
            raise _data.DatasetError(f"the {name!r} dataset does not fit lesson {lesson!r} "
                                     f"(it fits: {', '.join(p.lessons)}); set GENLAB_DATASET to another one.")
    course = CourseData(name, p, dev, fast, lesson, root)
    if not _data.DATASETS[name].builtin and (_on_colab() if download is None else download):
        fetch(name, root)
    if not quiet:
        print(course.summary())
    return course


def fetch(name: str, root: str | os.PathLike | None = None) -> None:
    """Download a torchvision dataset (both splits) into ``root`` with torchvision's ``download=True``.

    Colab calls this through :func:`select`; on a laptop, run it once with network.
    The built-in datasets need nothing.
    """
    name = _normalise(name)
    if _data.DATASETS[name].builtin:
        return
    for split in _data.SPLITS:
        _data.load(name, split, limit=1, root=root, download=True)
