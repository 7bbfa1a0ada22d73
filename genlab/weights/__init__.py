"""Small pretrained weights shipped with genlab, each checked against its sha256 before loading.

================  =====================================================================
name              what it is (trained on the CPU by ``genlab train --preset NAME``; 16x16 digits
                  but ``photo_repair``)
================  =====================================================================
``classifier``    ``DigitsClassifier``: the feature extractor behind Frechet distance and
                  class coverage (test accuracy in the manifest)
``conv_vae``      ``ConvVAE``: sample, interpolate, explore the latent space
``dcgan``         the DCGAN *pair* (a ``GANPair``): ``.generator`` draws digits,
                  ``.discriminator`` scores them; ``load_pretrained("dcgan").sample(16)``
``conv_repair``   ``ConvRepairer`` trained on a mix of centre blocks, random 8x8 blocks, 5-row
                  bands and 3 scattered rows
``crnn``          ``CRNNRepairer`` trained on the same mask mix
``photo_repair``  ``FillResidualRepairer``: residual U-Net on the biharmonic fill, trained on
                  32x32 gray patches of the offline *training* photos (never camera, chelsea or
                  coins) with centre blocks, blocks, bands, scattered rows and strokes
================  =====================================================================

``manifest.json`` records, for each name: file, sha256, preset, model name and config,
training data and settings, test metrics, date. Files load with
``torch.load(weights_only=True)``: they hold tensors and plain data only.
``genlab train --preset NAME`` rebuilds a file byte for byte (same sha256) with the torch
of the manifest on the CPU: the preset trains on the intra-op thread count the file was
trained with (one; two for ``photo_repair``), because the thread count changes how sums
round (checked on one x86-64 machine; a CPU with other vector instructions may still round
differently).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError

__all__ = ["WEIGHTS_DIR", "available", "file_sha256", "load_pretrained", "manifest", "path", "verify"]

#: The folder holding the shipped ``*.pt`` files and ``manifest.json``.
WEIGHTS_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=4)
def _read_manifest(path: Path, mtime: float) -> dict[str, Any]:
    return json.loads(path.read_text())


def manifest(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """The manifest: ``{name: {"file", "sha256", "preset", "model", "config", "data", ...}}``."""
    path = Path(folder or WEIGHTS_DIR) / "manifest.json"
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the pretrained weights are not installed. "
                              "Reinstall genlab or regenerate them with `genlab train --preset NAME`.")
    return dict(_read_manifest(path, path.stat().st_mtime))


def available(folder: Path | None = None) -> list[str]:
    """Names ``load_pretrained`` accepts."""
    return sorted(manifest(folder))


def _entry(name: str, folder: Path | None) -> dict[str, Any]:
    entries = manifest(folder)
    if name not in entries:
        raise KeyError(f"no pretrained weights named {name!r}; available: {', '.join(sorted(entries))}.")
    return entries[name]


def path(name: str, folder: Path | None = None) -> Path:
    """Where the weight file of ``name`` lives."""
    return Path(folder or WEIGHTS_DIR) / _entry(name, folder)["file"]


def file_sha256(file: Path) -> str:
    """The sha256 hex digest of ``file`` (what the manifest records)."""
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(name: str, folder: Path | None = None) -> Path:
    """Check that ``name``'s file exists and matches its sha256; return its path.

    Raises:
        CheckpointError: missing or corrupted file, with the command that regenerates it.
    """
    entry = _entry(name, folder)
    file = Path(folder or WEIGHTS_DIR) / entry["file"]
    regen = f"`genlab train --preset {entry.get('preset', name)}`"
    if not file.is_file():
        raise CheckpointError(f"pretrained weights {file} are missing. Reinstall genlab or regenerate "
                              f"them with {regen}.")
    digest = file_sha256(file)
    if digest != entry["sha256"]:
        raise CheckpointError(
            f"pretrained weights {file} are corrupted: sha256 {digest[:16]}... does not match the "
            f"manifest's {entry['sha256'][:16]}... (a partial download or an edited file). "
            f"Reinstall genlab, or regenerate the file with {regen}.")
    return file


def load_pretrained(name: str, device: torch.device | str | None = None, *,
                    folder: Path | None = None) -> nn.Module:
    """Load shipped pretrained weights into a fresh model, in eval mode.

    Args:
        name: ``"classifier"``, ``"conv_vae"``, ``"dcgan"``, ``"conv_repair"`` or ``"crnn"``
            (see :func:`available`).
        device: where to put the model (default: the CPU).
        folder: another weights folder with its own ``manifest.json`` (tests, regenerated files).

    Returns:
        The model built by ``genlab.models.build(model, **config)`` with the weights loaded,
        in ``eval()`` mode. For ``"dcgan"`` it is the whole ``GANPair``: use ``.generator``
        (or ``.sample(n)``) for images and ``.discriminator`` for scores.

    Raises:
        CheckpointError: the file is missing or corrupted (sha256 mismatch), or does not fit
            the model the manifest names.
    """
    from .. import models

    file = verify(name, folder)
    entry = _entry(name, folder)
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"pretrained weights {file} cannot be read ({exc}); regenerate them with "
                              f"`genlab train --preset {entry.get('preset', name)}`.") from exc
    if payload.get("model") != entry["model"]:
        raise CheckpointError(f"{file} holds model {payload.get('model')!r} but the manifest says "
                              f"{entry['model']!r}; regenerate it with `genlab train --preset {name}`.")
    model = models.build(entry["model"], **entry.get("config", {}))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{file} does not fit model {entry['model']!r} with config {entry.get('config')}: "
                              f"{str(exc).splitlines()[0]}") from exc
    model.eval()
    if device is not None:
        model.to(device)
    return model
