"""Tiny datasets in the exact on-disk formats torchvision reads, for tests (no download, ever).

- MNIST / FashionMNIST: uncompressed IDX files ``ROOT/<Class>/raw/{train,t10k}-
  {images-idx3,labels-idx1}-ubyte``. torchvision only checks that they exist.
- CIFAR-10: pickled dicts in ``ROOT/cifar-10-batches-py/`` (``data_batch_1..5``,
  ``test_batch``, ``batches.meta``). torchvision compares each file's md5 with the
  official archive's, which a tiny file never matches: tests replace
  ``torchvision.datasets.cifar.check_integrity`` by an existence check
  (:data:`CIFAR_MD5_PATCH` is that patch as source, for a notebook kernel).

The images are not pure noise: each is a bright blob whose position depends on the
label, plus noise, so models have something to learn and classifiers beat chance.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

#: Source that makes torchvision accept the tiny CIFAR files (md5 -> existence check).
CIFAR_MD5_PATCH = ("import os, torchvision.datasets.cifar as _c\n"
                   "_c.check_integrity = lambda fpath, md5=None: os.path.isfile(fpath)\n")


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format: big-endian magic ``0x0000 08 nd`` (uint8, nd dims), nd big-endian int32 sizes, raw bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def _images(rng: np.random.Generator, labels: np.ndarray, size: int, channels: int,
            structured: bool) -> np.ndarray:
    """uint8 images ``(N, C, size, size)``: noise, or a label-placed blob plus a little noise."""
    n = len(labels)
    if not structured:
        return rng.integers(0, 256, size=(n, channels, size, size), dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    angle = 2 * np.pi * labels / 10.0
    cy, cx = 0.5 + 0.3 * np.sin(angle), 0.5 + 0.3 * np.cos(angle)
    blob = np.exp(-((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2) / 0.02)
    tint = 0.6 + 0.4 * rng.random((n, channels, 1, 1))
    img = blob[:, None] * tint + 0.1 * rng.random((n, channels, size, size))
    return (255 * np.clip(img, 0, 1)).astype(np.uint8)


def write_mnist(root: Path, folder: str = "MNIST", n_train: int = 12, n_test: int = 5,
                seed: int = 0, structured: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write a tiny MNIST-format dataset under ``root/folder/raw``; return ``{split: (images, labels)}``.

    ``folder`` is ``"MNIST"`` or ``"FashionMNIST"`` (torchvision's class names).
    """
    rng = np.random.default_rng(seed)
    raw = Path(root) / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = _images(rng, labels, 28, 1, structured)[:, 0]
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        out[split] = (images, labels)
    return out


def write_cifar(root: Path, per_batch: int = 3, n_test: int = 4, seed: int = 0,
                structured: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Tiny CIFAR-10: each batch a dict with ``data`` (N, 3072) uint8 rows (R plane, G, B) and ``labels``."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    train = []
    test = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else per_batch
        labels = (rng.integers(0, 10, size=n) if not structured else (np.arange(n) % 10)).astype(np.int64)
        images = _images(rng, labels, 32, 3, structured)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": images.reshape(n, 3 * 32 * 32), "labels": labels.tolist()}, f)
        if name == "test_batch":
            test = (images, labels)
        else:
            train.append((images, labels))
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR_CLASSES}, f)
    train_x = np.concatenate([t[0] for t in train])
    train_y = np.concatenate([t[1] for t in train])
    return {"train": (train_x, train_y), "test": test}


def write_all(root: Path, n_train: int = 160, n_test: int = 80, seed: int = 0) -> Path:
    """MNIST, Fashion-MNIST and CIFAR-10 with structured images under ``root``; returns ``root``."""
    root = Path(root)
    write_mnist(root, "MNIST", n_train, n_test, seed, structured=True)
    write_mnist(root, "FashionMNIST", n_train, n_test, seed + 1, structured=True)
    write_cifar(root, max(1, n_train // 5), n_test, seed + 2, structured=True)
    return root
