"""genlab.colab off Colab (and on a faked one): local folders, a clear error for Drive, one-call
resume that is exact, and the student workspace the setup cell makes (offline-safe)."""

from __future__ import annotations

import os
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


# ---------------------------------------------------------------- the workspace on Colab

def _fake_release(into):
    """What the clone brings: a course checkout with one lecture and one lab notebook."""
    from genlab.course import build

    (into / "course").mkdir(parents=True)
    (into / "solutions").mkdir()
    (into / "course" / "99_x.py").write_text('# %% [markdown]\n# # L\n\n# %% tags=["setup"]\n')
    (into / "solutions" / "99_x.py").write_text(
        '# %% [markdown]\n# # Lab\n\n# %% tags=["setup"]\n\n# %% tags=["exercise"]\ndef f():\n'
        '    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n')
    build(into, out=open(os.devnull, "w"))


def test_workspace_off_colab_does_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = []
    assert colab.workspace(fetch=calls.append) is None
    assert calls == [] and list(tmp_path.iterdir()) == []


def test_workspace_on_colab_copies_into_the_working_folder_then_keeps_edits(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.chdir(tmp_path)
    dest = colab.workspace(fetch=_fake_release, mount_point=str(tmp_path / "no-drive"))
    assert dest == tmp_path / "work"
    lab = dest / "labs" / "99_x.ipynb"
    assert lab.is_file() and (dest / "course" / "99_x.ipynb").is_file()
    assert "your own copies" in capsys.readouterr().out
    lab.write_text(lab.read_text().replace("NotImplementedError", "print('mine'); NotImplementedError"))
    mine = lab.read_text()
    colab.workspace(fetch=_fake_release, mount_point=str(tmp_path / "no-drive"))
    assert lab.read_text() == mine


def test_workspace_uses_drive_when_mounted(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "drive" / "MyDrive").mkdir(parents=True)
    dest = colab.workspace(fetch=_fake_release, mount_point=str(tmp_path / "drive"), quiet=True)
    assert dest == tmp_path / "drive" / "MyDrive" / colab.WORK_FOLDER
    assert (dest / "labs" / "99_x.ipynb").is_file()


def test_workspace_offline_says_so_and_does_not_raise(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.chdir(tmp_path)

    def offline(into):
        raise OSError("Could not resolve host: github.com")

    assert colab.workspace(fetch=offline) is None
    assert "without a network" in capsys.readouterr().out
    assert not (tmp_path / "work").exists()


def test_setup_cell_makes_the_workspace_only_where_genlab_was_missing():
    from genlab.course import setup_cell_body

    body = setup_cell_body()
    before, after = body.split("except ImportError:")
    code_before = [ln for ln in before.splitlines() if not ln.lstrip().startswith("#")]
    assert not any("workspace" in ln for ln in code_before) and "genlab.colab.workspace()" in after
