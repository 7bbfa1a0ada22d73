"""Checkpoints: atomic writes, weights_only loading, clear errors for corrupted or foreign files."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from torch import nn

from genlab.errors import CheckpointError
from genlab.train import (
    CHECKPOINT_FORMAT,
    AutoencoderTask,
    History,
    checkpoint_state,
    fit,
    read_checkpoint,
    write_checkpoint,
)


class MLP(nn.Module):
    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.config = {"hidden": hidden}
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, hidden), nn.ReLU(), nn.Linear(hidden, 16))

    def forward(self, x):
        return self.net(x).view(-1, 1, 4, 4)


def make_task(hidden: int = 8, name: str = "mlp") -> AutoencoderTask:
    torch.manual_seed(0)
    return AutoencoderTask(MLP(hidden), lr=1e-3, model_name=name)


def test_state_roundtrip_with_weights_only(tmp_path):
    task = make_task()
    fit(task, torch.rand(8, 1, 4, 4), epochs=1, batch_size=4, device="cpu", progress=False)
    state = checkpoint_state(task, epoch=1, step=2, history=History(), data_generator=torch.Generator())
    path = write_checkpoint(tmp_path / "sub" / "c.pt", state)
    # weights_only=True directly: only plain types are inside.
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT and raw["model"] == "mlp" and raw["config"] == {"hidden": 8}
    loaded = read_checkpoint(path, expected=make_task())
    for k, v in task.model.state_dict().items():
        assert torch.equal(loaded["modules"]["model"][k], v)
    assert set(loaded["rng"]) >= {"torch", "numpy", "python", "data", "task"}
    assert not [p for p in os.listdir(path.parent) if p.endswith(".tmp")]  # no temp file left


def test_non_plain_values_are_refused(tmp_path):
    with pytest.raises(TypeError, match="plain"):
        write_checkpoint(tmp_path / "c.pt", {"format": CHECKPOINT_FORMAT, "model": MLP()})
    assert not (tmp_path / "c.pt").exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupted_file_raises_checkpoint_error(tmp_path, damage):
    task = make_task()
    path = write_checkpoint(tmp_path / "c.pt", checkpoint_state(task, epoch=1, step=1, history=History()))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint" * 50)
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        read_checkpoint(path)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.pt")
    torch.save({"weights": torch.ones(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a genlab training checkpoint"):
        read_checkpoint(tmp_path / "other.pt")


def test_checkpoint_of_another_model_names_both(tmp_path):
    path = write_checkpoint(tmp_path / "c.pt", checkpoint_state(make_task(8), epoch=1, step=1, history=History()))
    with pytest.raises(CheckpointError, match=r"holds model 'mlp' with config \{\"hidden\": 8\}.*expected model is 'mlp' "
                                              r"with config \{\"hidden\": 16\}"):
        read_checkpoint(path, expected=make_task(16))
    with pytest.raises(CheckpointError, match="holds model 'mlp'.*expected model is 'vae'"):
        read_checkpoint(path, expected={"model": "vae", "config": None})
    # Same name and config but different weights layout: the state_dict keys are compared.
    odd = make_task(8)
    odd.modules["model"].extra = nn.Linear(1, 1)
    with pytest.raises(CheckpointError, match="do not fit.*unexpected|missing"):
        read_checkpoint(path, expected=odd)
    # fit(resume=True) refuses too, leaving the file untouched.
    before = path.read_bytes()
    with pytest.raises(CheckpointError):
        os.replace(path, tmp_path / "checkpoint.pt")
        fit(make_task(16), torch.rand(4, 1, 4, 4), epochs=2, device="cpu", progress=False,
            checkpoint_dir=tmp_path, resume=True)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


SAVER = textwrap.dedent("""
    import sys, torch
    from genlab.train import write_checkpoint, CHECKPOINT_FORMAT
    path = sys.argv[1]
    i = 0
    while True:
        i += 1
        # ~24 MB per save: the kill lands in the middle of a write most of the time.
        write_checkpoint(path, {"format": CHECKPOINT_FORMAT, "i": i, "w": torch.full((6_000_000,), float(i))})
        print(i, flush=True)
""")


def test_sigkill_during_save_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "big.pt"
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    rng = random.Random(0)
    for _attempt in range(2):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip()  # at least one complete save
            time.sleep(rng.uniform(0.05, 0.4))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        state = read_checkpoint(path)  # never half-written
        assert state["w"].shape == (6_000_000,)
        assert torch.all(state["w"] == float(state["i"]))
    # Temp files from killed writes may remain; they are hidden and never mistaken for the checkpoint.
    assert all(p.name.startswith(".big.pt.") for p in tmp_path.iterdir() if p.suffix == ".tmp")
