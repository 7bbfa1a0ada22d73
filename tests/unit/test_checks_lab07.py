"""Lab 07 checks: pass on the reference, fail with a teaching message on classic mistakes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from genlab.checks import CheckFailed
from genlab.checks import lab07 as L
from genlab.exercises import lab07 as X

# -- autocast_settings --------------------------------------------------------------------------

def test_autocast_settings_passes_on_reference(capsys):
    assert L.check_autocast_settings(X.autocast_settings)
    assert "all checks passed" in capsys.readouterr().out


# -- train_epoch --------------------------------------------------------------------------------

def _epoch(model, batches, optimizer, scaler, device, amp, *, move_model=True, move_batch=True,
           set_train=True, always_amp=False, ignore_scaler=False, no_update=False):
    device = torch.device(device)
    if move_model:
        model.to(device)
    if set_train:
        model.train()
    total, count = 0.0, 0
    for x, y in batches:
        if move_batch:
            x, y = x.to(device), y.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp or always_amp):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad()
        if scaler is not None and not ignore_scaler:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            if not no_update:
                scaler.update()
        else:
            loss.backward()
            optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def test_train_epoch_passes_on_reference_and_variant():
    assert L.check_train_epoch(X.train_epoch)
    assert L.check_train_epoch(_epoch)


@pytest.mark.parametrize("kw, words", [
    ({"move_model": False}, "model was never moved"),
    ({"move_batch": False}, "not moved"),
    ({"set_train": False}, "model.train"),
    ({"always_amp": True}, "no autocast when amp is off"),
    ({"ignore_scaler": True}, "scaled loss"),
    ({"no_update": True}, "update"),
])
def test_train_epoch_catches(kw, words):
    def wrong(*args):
        return _epoch(*args, **kw)
    if kw.get("set_train") is False:
        def wrong(model, *args):  # noqa: F811 - the eval-mode model stays in eval mode
            model.eval()
            return _epoch(model, *args, set_train=False)
    with pytest.raises(CheckFailed, match=words):
        L.check_train_epoch(wrong)


def test_train_epoch_catches_a_tensor_loss_and_a_batch_mean():
    def returns_graph(model, batches, opt, scaler, device, amp):
        X.train_epoch(model, batches, opt, scaler, device, amp)
        return sum(p.sum() for p in model.parameters())

    with pytest.raises(CheckFailed, match="graph"):
        L.check_train_epoch(returns_graph)

    def returns_last(model, batches, opt, scaler, device, amp):
        return X.train_epoch(model, batches, opt, scaler, device, amp) + 1.0

    with pytest.raises(CheckFailed, match="mean loss"):
        L.check_train_epoch(returns_last)


# -- save_checkpoint ---------------------------------------------------------------------------

def _state(model, optimizer, scaler, epoch, *, rng=True, opt=True):
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict() if opt else None,
            "scaler": scaler.state_dict() if scaler is not None else None, "epoch": epoch,
            "rng": {"torch": torch.get_rng_state()} if rng else None}


def test_save_passes_on_reference_and_mkstemp_variant(capsys):
    assert L.check_save_checkpoint(X.save_checkpoint)

    def via_mkstemp(path, model, optimizer, scaler, epoch):
        import tempfile

        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(_state(model, optimizer, scaler, epoch), f)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    assert L.check_save_checkpoint(via_mkstemp)
    assert "exact resume" in capsys.readouterr().out


# -- load_checkpoint ---------------------------------------------------------------------------

def _load(path, model, optimizer, scaler, *, weights_only=True, rng=True, opt=True, scal=True, as_int=True):
    state = torch.load(path, map_location="cpu", weights_only=weights_only)
    model.load_state_dict(state["model"])
    if opt:
        optimizer.load_state_dict(state["optimizer"])
    if scal and scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    if rng:
        torch.set_rng_state(state["rng"]["torch"])
    return int(state["epoch"]) if as_int else state


def test_load_passes_on_reference_and_variant():
    assert L.check_load_checkpoint(X.load_checkpoint)
    assert L.check_load_checkpoint(_load)


@pytest.mark.parametrize("kw, words", [
    ({"weights_only": False}, "weights-only"),
    ({"rng": False}, "random generator"),
    ({"opt": False}, "optimiser.s state"),
    ({"scal": False}, "scaler"),
    ({"as_int": False}, "epoch 5"),
])
def test_load_catches(kw, words):
    with pytest.raises(CheckFailed, match=words):
        L.check_load_checkpoint(lambda *a: _load(*a, **kw))


def test_unimplemented_is_reported():
    def todo(*a):
        raise NotImplementedError

    for check in (L.check_autocast_settings, L.check_train_epoch, L.check_save_checkpoint,
                  L.check_load_checkpoint):
        with pytest.raises(CheckFailed, match="not implemented yet"):
            check(todo)


# -- I/O properties: the check and the grader see the same observations ------------------------

def _wrong(label: str, name: str):
    return X.LAB.item(name).mistakes[label][0]


@pytest.mark.parametrize("label, words", [
    ("weights_only=False as a fallback", "safe loader refuses"),
    ("weights_only=False", "weights-only"),
    ("no map_location", "onto the CPU"),
])
def test_load_io_mistakes_fail_the_check(label, words):
    with pytest.raises(CheckFailed, match=words):
        L.check_load_checkpoint(_wrong(label, "load_checkpoint"))


def test_unsafe_fallback_runs_the_files_code_and_the_reference_refuses(tmp_path):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    obs = X._io_load_observations(X.load_checkpoint, tmp_path, model, opt, X.save_checkpoint)
    assert obs == {"weights_only_true": True, "map_location_cpu": True, "unsafe_file_refused": True}
    (tmp_path / "good.pt").unlink()
    (tmp_path / "evil.pt").unlink()
    obs = X._io_load_observations(_wrong("weights_only=False as a fallback", "load_checkpoint"), tmp_path,
                                  model, opt, X.save_checkpoint)
    assert obs["weights_only_true"] and not obs["unsafe_file_refused"]


@pytest.mark.parametrize("label, key", [
    ("temporary file in the system's temp folder", "temp_in_same_folder"),
    ("old checkpoint removed before the rename", "intact_after_replace_crash"),
    ("clean-up only around the write", "clean_after_replace_crash"),
    ("copied into place", "renamed_into_place"),
])
def test_save_crash_at_each_step(tmp_path, label, key):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def previous(p):
        X.save_checkpoint(p, model, opt, None, 1)

    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    ref = X._io_save_observations(X.save_checkpoint, tmp_path / "a", model, opt, previous)
    assert all(ref.values()), ref
    got = X._io_save_observations(_wrong(label, "save_checkpoint"), tmp_path / "b", model, opt, previous)
    assert not got[key], got
    with pytest.raises(CheckFailed):
        L.check_save_checkpoint(_wrong(label, "save_checkpoint"))
