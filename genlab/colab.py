"""Colab: the student's workspace, and checkpoints that survive a disconnect (Drive, one-call resume).

A Colab runtime is lent, not owned: after an idle period or a few hours it is
recycled and everything under ``/content`` is gone. Training that writes its
checkpoints to Google Drive survives that; after reconnecting, one call picks up
at the last finished epoch::

    from genlab import colab
    ckpt = colab.checkpoint_dir("vae-digits", drive=True)   # mounts Drive (asks once)
    history = colab.resume_or_start(task, (x, y), epochs=30, checkpoint_dir=ckpt, amp=True)

Off Colab (a laptop, JupyterLab, CI) ``drive=False`` gives a local folder
(``runs/<name>``) and ``drive=True`` raises :class:`ColabError` saying why:
nothing is mounted unless a student asks for it, and only where Drive exists.

On a fresh Colab runtime the setup cell of every notebook also calls
:func:`workspace`: it copies the course's lecture and lab notebooks into the
student's own folder (``MyDrive/genlab-work`` when Drive is mounted, else ``work/`` in
the runtime's working folder), with the rules of ``genlab workspace``: an edited copy
is never written over. Without a network it says so and carries on.

Developed in course/07_gpu_training (lab 07).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import GenlabError

__all__ = ["DRIVE_FOLDER", "WORK_FOLDER", "ColabError", "checkpoint_dir", "on_colab", "resume_or_start",
           "workspace"]

#: Where Drive is mounted on Colab, and the folder inside "My Drive" that holds course runs.
DRIVE_MOUNT = "/content/drive"
DRIVE_FOLDER = "genlab-runs"
#: The folder inside "My Drive" that holds the student's copies of the notebooks.
WORK_FOLDER = "genlab-work"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ColabError(GenlabError, RuntimeError):
    """Drive was asked for where there is no Colab, or mounting failed."""


def on_colab() -> bool:
    """True inside a Google Colab kernel (its ``google.colab`` package is imported there)."""
    return "google.colab" in sys.modules


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name in {".", ".."}:
        raise ValueError(f"a checkpoint name is one folder name of letters, digits, '.', '_' or '-' "
                         f"(e.g. 'vae-digits'); got {name!r}. It must not contain '/' or start with '.'.")
    return name


def _mount_drive(mount_point: str, mount: Callable[[str], Any] | None) -> Path:
    """Mount Google Drive at ``mount_point`` unless it is mounted already; return "My Drive"."""
    my_drive = Path(mount_point) / "MyDrive"
    if my_drive.is_dir():
        return my_drive  # mounted earlier in this runtime: mounting again would prompt again
    if mount is None:
        try:
            from google.colab import drive  # type: ignore[import-not-found]
        except ImportError as exc:  # pragma: no cover - google.colab present but broken
            raise ColabError("google.colab.drive cannot be imported, so Drive cannot be mounted; "
                             "use checkpoint_dir(name) without drive=True.") from exc
        mount = drive.mount
    try:
        mount(mount_point)
    except Exception as exc:
        raise ColabError(f"mounting Google Drive at {mount_point} failed ({type(exc).__name__}: {exc}). "
                         "Run the cell again and accept the permission prompt, or use "
                         "checkpoint_dir(name) to keep checkpoints on the runtime's disk.") from exc
    if not my_drive.is_dir():
        raise ColabError(f"Google Drive was mounted but {my_drive} does not exist; "
                         "check the Drive account in the permission prompt.")
    return my_drive


def checkpoint_dir(name: str, drive: bool = False, *, root: str | os.PathLike | None = None,
                   mount_point: str = DRIVE_MOUNT, mount: Callable[[str], Any] | None = None) -> Path:
    """The folder where a run keeps ``checkpoint.pt``: local, or on Google Drive when asked.

    Args:
        name: one folder name for the run, e.g. ``"vae-digits"``.
        drive: ``True`` mounts Google Drive (on Colab only; Colab asks for permission once
            per runtime) and returns ``MyDrive/genlab-runs/<name>``. ``False`` (default)
            mounts nothing and returns ``<root>/<name>``.
        root: local parent folder (default ``runs`` in the working directory).
        mount_point: where Drive is mounted (Colab's convention, ``/content/drive``).
        mount: the mount function (default ``google.colab.drive.mount``); tests pass a fake.

    Returns:
        The folder (created if missing).

    Raises:
        ColabError: ``drive=True`` outside Colab, or the mount failed.
        ValueError: ``name`` is not a single folder name.
    """
    name = _check_name(name)
    if drive:
        if not on_colab():
            raise ColabError(
                "checkpoint_dir(..., drive=True) mounts Google Drive, which exists only in a Colab "
                "runtime, and this kernel is not on Colab. Here checkpoints already survive a restart: "
                f"use checkpoint_dir({name!r}) (a local folder) or pass root='some/folder'.")
        folder = _mount_drive(mount_point, mount) / DRIVE_FOLDER / name
    else:
        folder = Path(root if root is not None else "runs") / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def resume_or_start(task: Any, data: Any, epochs: int, checkpoint_dir: str | os.PathLike,
                    *, quiet: bool = False, **fit_kwargs: Any) -> Any:
    """Continue training from ``checkpoint_dir`` if it holds a checkpoint, else start fresh.

    This is ``genlab.train.fit(task, data, epochs, checkpoint_dir=..., resume=True, ...)``
    with a line that says which of the two happened, so the same cell can be rerun after
    every disconnect: it trains only the epochs that are missing (none when the run is
    complete), with the optimiser, scaler and every RNG state of the last checkpoint,
    so the result equals an uninterrupted run.

    Args:
        task: a ``genlab.train.Task`` built exactly as in the first run (same model config).
        data: what ``fit`` takes (``x``, ``(x, y)`` or a loader).
        epochs: the total number of epochs of the run (not the number still to do).
        checkpoint_dir: the run's folder, e.g. from :func:`checkpoint_dir`.
        quiet: print nothing.
        **fit_kwargs: passed to ``fit`` (``batch_size``, ``amp``, ``seed``, ``device`` ...).

    Returns:
        The run's full ``History`` (epochs from earlier sessions included).

    Raises:
        genlab.errors.CheckpointError: the folder holds a checkpoint of another model.
    """
    from .train import CHECKPOINT_NAME, fit, read_checkpoint

    if "resume" in fit_kwargs:
        raise TypeError("resume_or_start always resumes when it can; do not pass resume=.")
    path = Path(checkpoint_dir) / CHECKPOINT_NAME
    if not quiet:
        if path.is_file():
            done = int(read_checkpoint(path, expected=task)["epoch"])
            todo = max(epochs - done, 0)
            print(f"resuming from {path}: {done} of {epochs} epochs done, {todo} to go")
        else:
            print(f"no checkpoint in {checkpoint_dir}: starting a fresh run of {epochs} epochs")
    return fit(task, data, epochs, checkpoint_dir=checkpoint_dir, resume=True, **fit_kwargs)


def _clone_release(into: Path) -> None:
    """Fetch the course repository's notebooks (a shallow git clone of ``REPO_URL``)."""
    from .config import REPO_BRANCH, REPO_URL

    subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", REPO_BRANCH, REPO_URL, str(into)],
                   check=True, capture_output=True, timeout=120)


def workspace(dest: str | os.PathLike | None = None, *, fetch: Callable[[Path], Any] | None = None,
              mount_point: str = DRIVE_MOUNT, quiet: bool = False) -> Path | None:
    """On Colab, copy the course notebooks into the student's own folder; elsewhere do nothing.

    The setup cell calls this on a fresh runtime. The copies follow ``genlab workspace``:
    missing notebooks are copied, untouched ones updated, an edited one never written
    (a newer release goes beside it). Nothing is mounted here: Drive is used when it is
    mounted already.

    Args:
        dest: the workspace; default ``MyDrive/genlab-work`` when Drive is mounted at
            ``mount_point``, else ``work`` in the working folder (``/content/work``).
        fetch: puts a course checkout (course/, labs/) into the folder it is given; default
            a shallow ``git clone`` of the course repository. Tests pass a fake.
        mount_point: where Colab mounts Drive.
        quiet: print nothing.

    Returns:
        The workspace folder, or None off Colab or when the notebooks could not be fetched
        (no network): the notebook still runs, there is just no workspace yet.
    """
    if not on_colab():
        return None
    from .workspace import sync

    if dest is None:
        my_drive = Path(mount_point) / "MyDrive"
        dest = my_drive / WORK_FOLDER if my_drive.is_dir() else Path.cwd() / "work"
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="genlab-release-") as tmp:
        release = Path(tmp) / "course"
        try:
            (fetch or _clone_release)(release)
            report = sync(release, dest)
        except Exception as exc:  # offline, or git missing: the course still runs without a workspace
            if not quiet:
                print(f"genlab: no workspace this time ({type(exc).__name__}: the course notebooks could "
                      "not be fetched; without a network this is expected). Save a copy of this notebook "
                      "(File > Save a copy in Drive) to keep your work.")
            return None
    if not quiet:
        for line in report.lines():
            print(f"  {line}")
        print(f"genlab: your own copies of the notebooks are in {dest} (open them with File > Open "
              "notebook); work there so that your answers are kept.")
    return dest
