"""Shipped weights: every manifest entry loads, matches its sha256; a damaged copy is refused."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from torch import nn

from genlab.errors import CheckpointError
from genlab.train.cli import PRESETS
from genlab.weights import WEIGHTS_DIR, available, load_pretrained, manifest, verify


def test_manifest_lists_every_preset_with_its_provenance():
    entries = manifest()
    assert set(entries) == set(PRESETS)
    for name, entry in entries.items():
        assert entry["preset"] == name and entry["model"] == PRESETS[name]["model"]
        assert (entry["data"]["name"], entry["data"]["size"]) == (PRESETS[name]["data"], PRESETS[name]["size"])
        assert len(entry["sha256"]) == 64 and entry["date"]
        assert entry["regenerate"] == f"genlab train --preset {name}"
        file = WEIGHTS_DIR / entry["file"]
        assert file.stat().st_size < 2_000_000


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_entry_loads_in_eval_mode(name):
    verify(name)
    model = load_pretrained(name)
    assert isinstance(model, nn.Module) and not model.training
    payload = torch.load(WEIGHTS_DIR / manifest()[name]["file"], weights_only=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, payload["state_dict"][key])


def test_pretrained_models_work():
    from genlab import data

    x, y = data.load("digits", "test", 16)
    clf = load_pretrained("classifier")
    with torch.no_grad():
        acc = (clf(x).argmax(1) == y).float().mean().item()
    assert acc > 0.95
    pair = load_pretrained("dcgan")
    images = pair.generator(torch.randn(8, pair.config.z_dim))
    assert images.shape == (8, 1, 16, 16) and 0 <= images.min() and images.max() <= 1
    vae = load_pretrained("conv_vae")
    assert vae.sample(4).shape == (4, 1, 16, 16)


def test_shipped_photo_repairer_beats_biharmonic_on_held_out_photos():
    """The natural-image repairer: on 48 held-out photo patches (photos it never saw), centre 16x16."""
    from genlab import data
    from genlab.restoration import evaluate_repairers

    x, _ = data.load("photos", "test", size=32)
    x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:48]]
    model = load_pretrained("photo_repair")
    assert model.config.fill == "biharmonic" and model.config.fill_gradients
    table = evaluate_repairers({"shipped": model}, x, [("center", {"hole": 16})], ssim=False)
    assert table.gain("shipped")["center {'hole': 16}"] > 0.3


def _copy(tmp_path, name):
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(WEIGHTS_DIR / "manifest.json", folder / "manifest.json")
    file = manifest()[name]["file"]
    shutil.copy(WEIGHTS_DIR / file, folder / file)
    return folder, folder / file


def test_a_corrupted_copy_raises_checkpoint_error(tmp_path):
    folder, file = _copy(tmp_path, "classifier")
    assert load_pretrained("classifier", folder=folder) is not None  # the clean copy loads
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    file.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"corrupted.*genlab train --preset classifier"):
        load_pretrained("classifier", folder=folder)
    file.write_bytes(bytes(data[:100]))  # truncated
    with pytest.raises(CheckpointError, match="corrupted"):
        load_pretrained("classifier", folder=folder)
    file.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_pretrained("classifier", folder=folder)


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(KeyError, match="available: classifier"):
        load_pretrained("nope")
    assert available() == sorted(PRESETS)


def test_manifest_is_plain_json():
    json.loads((WEIGHTS_DIR / "manifest.json").read_text())
