"""``genlab train``: exact resume through the CLI, every family trains, bad input exits 2 cleanly."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from genlab.cli import main as genlab_main
from genlab.train import read_checkpoint
from genlab.train.cli import FAMILIES, PRESETS, main


def train(*argv: str) -> int:
    return main(["--no-progress", *argv])


def weights(out) -> dict[str, torch.Tensor]:
    state = read_checkpoint(out / "checkpoint.pt")
    return {f"{m}.{k}": v for m, sd in state["modules"].items() for k, v in sd.items()}


def test_resume_through_the_cli_is_exact(tmp_path):
    torch.set_num_threads(1)
    common = ["vae", "--data", "digits", "--size", "8", "--limit", "96", "--batch-size", "32", "--seed", "1"]
    assert genlab_main(["train", *common, "--epochs", "2", "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    assert train(*common, "--epochs", "4", "--out", str(tmp_path / "a"), "--resume") == 0
    assert train(*common, "--epochs", "4", "--out", str(tmp_path / "b")) == 0
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ma = json.loads((tmp_path / "a" / "metrics.json").read_text())
    mb = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert ma["epochs"]["epoch"] == [1, 2, 3, 4]
    assert ma["epochs"]["loss"] == mb["epochs"]["loss"]
    assert ma["steps"]["loss"] == mb["steps"]["loss"]


GANS = {"gan", "dcgan", "cgan"}


@pytest.mark.parametrize("model", sorted(FAMILIES))
def test_every_family_trains_on_digits(tmp_path, model):
    torch.set_num_threads(1)
    out = tmp_path / model
    # 8x8 digits keep this fast; every model of the registry accepts that size.
    code = train(model, "--data", "digits", "--size", "8", "--epochs", "3", "--out", str(out),
                 "--limit", "96", "--batch-size", "32", "--lr", "2e-3")
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == model and metrics["epochs"]["epoch"] == [1, 2, 3]
    if model in GANS:
        # D and G compete, so their losses need not fall together; D must have learned
        # to separate real from fake compared with its first step.
        first, last = metrics["steps"]["loss_d"][0], metrics["epochs"]["loss_d"][-1]
        assert math.isfinite(metrics["epochs"]["loss_g"][-1])
        assert last < first, f"{model}: D did not learn: {metrics['epochs']['loss_d']}"
        assert metrics["epochs"]["d_real"][-1] > metrics["epochs"]["d_fake"][-1]
    else:
        losses = metrics["epochs"]["loss"]
        assert losses[-1] < losses[0], f"{model}: loss did not fall: {losses}"
    state = read_checkpoint(out / "checkpoint.pt")
    assert state["model"] == model and state["epoch"] == 3


@pytest.mark.parametrize("argv, message", [
    (["nosuchmodel", "--data", "digits", "--epochs", "1"], "unknown model 'nosuchmodel'"),
    (["vae", "--data", "nosuchdata", "--epochs", "1"], "nosuchdata"),
    (["vae", "--data", "digits", "--epochs", "0"], "--epochs must be >= 1"),
    (["vae", "--epochs", "1"], "--data is required"),
    (["--preset", "nosuch"], "unknown preset"),
    (["vae", "--data", "digits", "--epochs", "1", "--threads", "0"], "--threads must be >= 1"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert train(*argv, "--out", str(out)) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root can write anywhere")
def test_unwritable_out_exits_2(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert train("vae", "--data", "digits", "--epochs", "1", "--out", str(locked / "run")) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_out_that_is_a_file_or_under_a_file_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert train("vae", "--data", "digits", "--epochs", "1", "--out", str(blocker)) == 2
    assert train("vae", "--data", "digits", "--epochs", "1", "--out", str(blocker / "sub")) == 2
    err = capsys.readouterr().err
    assert "is a file" in err


def test_existing_checkpoint_needs_resume_and_the_right_model(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--data", "digits", "--limit", "64", "--batch-size", "32", "--out", str(out)]
    assert train("ae", "--epochs", "1", *base) == 0
    before = (out / "checkpoint.pt").read_bytes()
    assert train("ae", "--epochs", "2", *base) == 2
    assert "--resume" in capsys.readouterr().err
    assert train("vae", "--epochs", "2", *base, "--resume") == 2
    assert "holds model 'ae'" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == before


def test_export_writes_a_weights_only_file(tmp_path):
    out, export = tmp_path / "run", tmp_path / "w" / "clf.pt"
    assert train("classifier", "--data", "digits", "--limit", "64", "--epochs", "1", "--out", str(out),
                 "--export", str(export)) == 0
    payload = torch.load(export, weights_only=True)
    assert payload["model"] == "classifier" and payload["config"]["image_size"] == 16
    from genlab.models import build

    model = build("classifier", **payload["config"])
    model.load_state_dict(payload["state_dict"])
    assert "test_accuracy" in payload["metrics"]


def test_presets_name_registry_models():
    from genlab.models import MODELS

    assert set(PRESETS) == {"classifier", "conv_vae", "dcgan", "conv_repair", "crnn", "photo_repair"}
    for name, preset in PRESETS.items():
        assert preset["model"] in MODELS
        assert (preset["data"], preset["size"]) == (("photos", 32) if name == "photo_repair" else ("digits", 16))


def test_preset_regenerates_a_weight_file_and_its_manifest_entry(tmp_path):
    from genlab.weights import load_pretrained, manifest

    folder = tmp_path / "w"
    code = train("--preset", "classifier", "--epochs", "1", "--limit", "64", "--out", str(tmp_path / "run"),
                 "--export", str(folder / "classifier.pt"))
    assert code == 0
    entry = manifest(folder)["classifier"]
    assert entry["model"] == "classifier" and entry["training"]["lr"] == PRESETS["classifier"]["lr"]
    assert entry["data"] == {"name": "digits", "split": "train", "size": 16, "limit": 64}
    model = load_pretrained("classifier", folder=folder)
    assert not model.training


def test_presets_export_into_the_shipped_weights_folder():
    """`genlab train --preset NAME` writes where genlab.weights reads: genlab/weights/NAME.pt."""
    import argparse

    import genlab
    from genlab.train import cli

    folder = cli._package_weights_dir()
    assert folder == Path(genlab.__file__).resolve().parent / "weights"
    for name, preset in cli.PRESETS.items():
        assert (folder / preset["file"]).is_file(), name
    args = argparse.Namespace(preset="dcgan", model=None, data=None, epochs=None, out=None, seed=None,
                              batch_size=None, lr=None, size=None, export=None, limit=None)
    assert Path(cli._settings(args)["export"]) == folder / cli.PRESETS["dcgan"]["file"]


def test_presets_train_on_one_thread_and_restore_the_callers_count(tmp_path):
    """The shipped weights were trained on one intra-op thread: on two, the sums round differently."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out = tmp_path / "run"
        assert train("--preset", "classifier", "--epochs", "1", "--limit", "64", "--out", str(out),
                     "--export", str(tmp_path / "w" / "classifier.pt")) == 0
        assert json.loads((out / "metrics.json").read_text())["threads"] == 1
        assert torch.get_num_threads() == 2
        # the photo repairer's pool fills take two processes, and it trains on two threads
        assert {n: p["threads"] for n, p in PRESETS.items() if p["threads"] != 1} == {"photo_repair": 2}
    finally:
        torch.set_num_threads(before)


def test_exported_bytes_do_not_depend_on_which_string_objects_were_passed(tmp_path):
    """pickle shares a string written twice as one object: `main([... "dcgan"])` from Python passes
    the interned literal as preset *and* model, the shell passes a separate copy; both give one file."""
    from genlab.train.cli import export_weights, make_task

    torch.manual_seed(0)
    task = make_task("classifier", {"image_size": 8, "channels": 1}, 1e-3)
    shared = export_weights(task, tmp_path / "a.pt", preset=task.model_name, data="digits")
    separate = export_weights(task, tmp_path / "b.pt", preset="".join(list(task.model_name)), data="digits")
    assert shared == separate


@pytest.mark.slow
def test_the_classifier_preset_reproduces_the_shipped_file(tmp_path):
    """The full recipe (15 epochs, about 40 s on one thread) gives the shipped bytes, sha256 included."""
    from genlab.weights import WEIGHTS_DIR, manifest

    export = tmp_path / "w" / "classifier.pt"
    assert train("--preset", "classifier", "--out", str(tmp_path / "run"), "--export", str(export)) == 0
    shipped = manifest()["classifier"]
    sha = manifest(export.parent)["classifier"]["sha256"]
    here = torch.backends.cpu.get_cpu_capability()
    if sha != shipped["sha256"] and here == "AVX2" and shipped.get("cpu_capability") in (None, "AVX512"):
        # the digit files were trained where torch picked other CPU kernels; on an AVX2-only CPU the
        # same recipe rounds otherwise (seen on an AMD EPYC, 2026-12-02). What must still hold there:
        # the recipe is deterministic, a second run gives the first run's bytes.
        again = tmp_path / "w2" / "classifier.pt"
        assert train("--preset", "classifier", "--out", str(tmp_path / "run2"), "--export", str(again)) == 0
        assert again.read_bytes() == export.read_bytes()
        pytest.xfail(f"shipped classifier.pt comes from other CPU kernels than this machine's {here}")
    assert sha == shipped["sha256"]
    assert export.read_bytes() == (WEIGHTS_DIR / "classifier.pt").read_bytes()


def test_photo_preset_trains_on_a_fill_pool_of_training_photos_only(tmp_path):
    """The photo preset's data: patches of non-test photos with their masks and fills, a cosine schedule."""
    from genlab.weights import manifest

    folder = tmp_path / "w"
    code = train("--preset", "photo_repair", "--epochs", "1", "--limit", "48", "--out", str(tmp_path / "run"),
                 "--export", str(folder / "photo_repair.pt"), "--no-progress")
    assert code == 0
    entry = manifest(folder)["photo_repair"]
    assert entry["data"]["pool"]["patches"] == PRESETS["photo_repair"]["pool"]["patches"]
    assert entry["training"]["schedule"] == "cosine" and entry["training"]["threads"] == 2
    assert entry["config"]["fill_gradients"] is True
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["n_train"] == 48 and metrics["hparams"]["loss"] == "psnr"
