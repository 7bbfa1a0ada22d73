"""genlab.colab off Colab: local folders, a clear error for Drive, and one-call resume that is exact."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

from genlab import colab
from genlab.errors import CheckpointError, GenlabError
from genlab.train import AutoencoderTask, fit


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Dropout(0.2), nn.Tanh(), nn.Linear(8, 16))

    def forward(self, x):
        return self.net(x).view(-1, 1, 4, 4)


def _task(seed: int = 0) -> AutoencoderTask:
    torch.manual_seed(seed)
    return AutoencoderTask(Tiny(), lr=1e-2, model_name="tiny", model_config={"w": 8})


def test_local_folder_is_created_and_nothing_is_mounted(tmp_path):
    assert not colab.on_colab()
    folder = colab.checkpoint_dir("run-1", root=tmp_path)
    assert folder == tmp_path / "run-1" and folder.is_dir()


def test_drive_off_colab_raises_a_teaching_error(tmp_path):
    calls = []
    with pytest.raises(colab.ColabError, match="only in a Colab") as info:
        colab.checkpoint_dir("run-1", drive=True, mount=calls.append, mount_point=str(tmp_path))
    assert isinstance(info.value, GenlabError)
    assert "checkpoint_dir('run-1')" in str(info.value)
    assert calls == []  # nothing mounted


@pytest.mark.parametrize("bad", ["", "a/b", "../x", ".", ".hidden", 3])
def test_bad_names_are_refused(bad, tmp_path):
    with pytest.raises(ValueError, match="one folder name"):
        colab.checkpoint_dir(bad, root=tmp_path)


def test_drive_on_fake_colab_mounts_once(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    calls = []

    def fake_mount(point):
        calls.append(point)
        (tmp_path / "MyDrive").mkdir(exist_ok=True)

    a = colab.checkpoint_dir("vae", drive=True, mount=fake_mount, mount_point=str(tmp_path))
    b = colab.checkpoint_dir("vae", drive=True, mount=fake_mount, mount_point=str(tmp_path))
    assert a == b == tmp_path / "MyDrive" / colab.DRIVE_FOLDER / "vae" and a.is_dir()
    assert calls == [str(tmp_path)]  # the second call finds Drive mounted


def test_failed_mount_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))

    def refuse(point):
        raise OSError("permission denied")

    with pytest.raises(colab.ColabError, match="accept the permission prompt"):
        colab.checkpoint_dir("vae", drive=True, mount=refuse, mount_point=str(tmp_path))


def test_resume_or_start_equals_an_uninterrupted_run(tmp_path, capsys):
    torch.set_num_threads(1)
    x = torch.rand(40, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    kw = dict(batch_size=8, device="cpu", progress=False, seed=5)

    straight = _task()
    fit(straight, x, 4, **kw)

    folder = colab.checkpoint_dir("ae", root=tmp_path)
    first = _task()
    colab.resume_or_start(first, x, 2, folder, **kw)          # session 1: 2 epochs, then "disconnect"
    assert "starting a fresh run" in capsys.readouterr().out
    again = _task(seed=99)                                     # a new runtime: fresh weights, fresh RNG
    torch.manual_seed(1234)
    hist = colab.resume_or_start(again, x, 4, folder, **kw)
    assert "2 of 4 epochs done, 2 to go" in capsys.readouterr().out
    assert hist["epoch"] == [1, 2, 3, 4]
    for a, b in zip(straight.model.state_dict().values(), again.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)

    done = colab.resume_or_start(_task(), x, 4, folder, **kw)   # rerunning the cell trains nothing
    assert "0 to go" in capsys.readouterr().out and len(done) == 4


def test_resume_into_another_model_is_refused(tmp_path):
    x = torch.rand(16, 1, 4, 4)
    colab.resume_or_start(_task(), x, 1, tmp_path, batch_size=8, device="cpu", progress=False, quiet=True)
    other = AutoencoderTask(Tiny(), lr=1e-2, model_name="tiny", model_config={"w": 9})
    with pytest.raises(CheckpointError, match="expected model"):
        colab.resume_or_start(other, x, 2, tmp_path, batch_size=8, device="cpu", progress=False)
    with pytest.raises(TypeError, match="resume"):
        colab.resume_or_start(_task(), x, 2, tmp_path, resume=False)
