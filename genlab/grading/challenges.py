"""Grade a lab's challenge: find the student's model file, measure it in a clean sandboxed worker.

Where the file comes from, in this order:

1. handed in next to the notebook: ``challenge_NN.pt`` in the student's own folder
   (the only notebook there), or ``<notebook stem>.challenge_NN.pt`` beside a
   top-level ``<student>.ipynb``;
2. otherwise the file the submission's ``challenge`` cells write while the
   grading worker runs them, after the graded items, in fast mode and within
   ``Limits.challenge_timeout`` CPU seconds (so the untouched lab has none).

The parent never unpickles it: it reads at most ``MAX_ARTEFACT_BYTES`` of a regular
file (no links) and sends the bytes, with held-back data drawn from the student's
seed, to a *separate* worker that runs no submitted code, loads the file with
``torch.load(weights_only=True)`` into the registry model and measures the metric
within ``Limits.challenge_eval`` CPU seconds (the files of a batch share such workers,
:data:`MEASURE_BATCH` at a time, each in its own slice). Only the number comes back; the points
(one per threshold reached) are decided here. Every failure scores zero for the
challenge column alone, with a message.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..errors import NotALabError
from ..exercises.challenges import MAX_ARTEFACT_BYTES, Challenge, draw_data, find, score
from .notebook import read_regular_file
from .questions import max_points as _questions_max
from .sandbox import Limits, Sandbox


def lab_challenge(lab: str) -> Challenge | None:
    """The challenge of ``lab`` or None (a test fixture's lab has none)."""
    try:
        return find(lab)
    except Exception:  # noqa: BLE001 - a lab name without a number
        return None


def challenge_ids(lab: str) -> list[str]:
    """The gradebook column of the lab's challenge (empty when it has none)."""
    ch = lab_challenge(lab)
    return [ch.cid] if ch else []


def max_points(spec) -> float:
    """A lab's maximum: code items, questions and the challenge."""
    ch = lab_challenge(spec.lab)
    return _questions_max(spec) + (ch.points if ch else 0.0)


def submitted_file(ch: Challenge, notebook: Path | None) -> Path | None:
    """Where a handed-in challenge file of this notebook would be (it may not exist)."""
    if notebook is None:
        return None
    folder = notebook.parent
    beside = folder / f"{notebook.stem}.{ch.file}"
    if beside.exists() or beside.is_symlink():
        return beside
    try:
        alone = sum(1 for p in folder.iterdir() if p.suffix == ".ipynb") == 1
    except OSError:
        alone = False
    own = folder / ch.file
    return own if alone and (own.exists() or own.is_symlink()) else None


def read_submitted(ch: Challenge, notebook: Path | None) -> tuple[bytes | None, str | None]:
    """``(bytes or None, problem or None)`` of a handed-in challenge file."""
    path = submitted_file(ch, notebook)
    if path is None:
        return None, None
    try:
        return read_regular_file(path, MAX_ARTEFACT_BYTES), None
    except NotALabError as exc:
        return None, f"the handed-in {path.name} was not read: {exc}"


def challenge_job(ch: Challenge, cells: list[str], limits: Limits) -> dict:
    """The part of a grading job that runs the submission's challenge cells and keeps the file."""
    return {"cells": cells, "file": ch.file, "timeout": limits.challenge_timeout,
            "max_bytes": MAX_ARTEFACT_BYTES}


#: Files one measuring worker takes at most: starting a worker (Python, torch) costs more than
#: measuring one small model, so a batch shares a worker; a file that breaks it is measured alone.
MEASURE_BATCH = 16


class ChallengeRunner:
    """Measures challenge files in their own sandbox (no overlays: no submitted code runs there)."""

    def __init__(self, ch: Challenge, limits: Limits, workers: int, mode: str) -> None:
        self.ch = ch
        self.limits = Limits(timeout=limits.challenge_eval + 20.0, memory_mb=limits.memory_mb,
                             nproc=limits.nproc, file_bytes=limits.file_bytes,
                             step_timeout=limits.challenge_eval, wall_factor=limits.wall_factor,
                             challenge_timeout=0.0, challenge_eval=limits.challenge_eval)
        self.sandbox = Sandbox(self.limits, workers, mode, [])

    def close(self) -> None:
        self.sandbox.close()

    def measure_many(self, files: list[tuple[bytes, int]]) -> list[tuple[float | None, str | None, float]]:
        """``(value or None, why not, CPU seconds)`` of each ``(bytes, seed)``, in one worker.

        Each file has its own CPU slice in the worker. Files the worker did not reach (it
        crashed or ran out of time on one of them) are measured again, each in a worker of its
        own, so one file never costs another its score.
        """
        if not files:
            return []
        inputs: dict[str, torch.Tensor] = {}
        for i, (data, seed) in enumerate(files):
            g = torch.Generator().manual_seed(seed)
            inputs.update({f"{i}/data/{k}": v for k, v in draw_data(self.ch, g).items()})
            inputs[f"{i}/artefact"] = (torch.frombuffer(bytearray(data), dtype=torch.uint8).clone() if data
                                       else torch.empty(0, dtype=torch.uint8))
        n = len(files)
        wr = self.sandbox.run({"kind": "challenge", "lab": self.ch.lab, "count": n}, inputs,
                              extra_cpu=(n - 1) * (self.limits.challenge_eval + 1.0))
        per_file = wr.status.get("challenge") if isinstance(wr.status, dict) else None
        per_file = per_file if isinstance(per_file, dict) else {}
        too_slow = (f"measuring the model took longer than {self.limits.challenge_eval:g} s of CPU time "
                    "(a smaller model fits the budget)")
        out: list[tuple[float | None, str | None, float] | None] = []
        for i in range(n):
            st = per_file.get(str(i))
            value = wr.results.get(f"challenge/{i}/value")
            finished = isinstance(st, dict) and (st.get("error") or value is not None)
            if not finished:
                out.append(None)
                continue
            cpu = float(st["cpu_s"]) if isinstance(st.get("cpu_s"), (int, float)) else 0.0
            if st.get("timeout"):
                out.append((None, too_slow, cpu))
            elif st.get("error"):
                out.append((None, str(st["error"])[:600], cpu))
            elif value.numel() != 1:
                out.append((None, "the measuring worker sent no value", cpu))
            else:
                v = float(value.reshape(-1)[0])
                out.append((v, None, cpu) if not math.isnan(v) else (None, "the metric is NaN", cpu))
        for i, r in enumerate(out):
            if r is not None:
                continue
            if n > 1:  # the worker stopped on this file or an earlier one: this file alone decides now
                out[i] = self.measure_many([files[i]])[0]
            elif wr.timed_out:
                out[i] = (None, too_slow, 0.0)
            else:
                out[i] = (None, f"the measuring worker stopped without a result (exit code {wr.returncode})", 0.0)
        return out  # type: ignore[return-value]


def challenge_file(ch: Challenge, handed_in: bytes | None, problem: str | None, produced: torch.Tensor | None,
                   produced_note: str | None) -> tuple[bytes | None, str, list[str]]:
    """``(bytes to measure or None, where they came from, messages so far)`` of one submission."""
    msgs: list[str] = []
    if problem:
        msgs.append(problem)
    data, source = handed_in, "handed in"
    if data is None and produced is not None and produced.dtype == torch.uint8:
        data, source = produced.numpy().tobytes(), "written by your challenge cell while graded (fast mode)"
    if data is None:
        msgs.append(produced_note or f"no {ch.file}: hand it in next to the notebook, or let your challenge "
                                     f"cell save it (genlab.save_challenge(model, {ch.lab!r}))")
        return None, "none", msgs
    return data, source, msgs


def challenge_points(ch: Challenge, measured: tuple[float | None, str | None, float], source: str,
                     msgs: list[str]) -> tuple[float, bool, list[str], str]:
    """``(points, all thresholds reached, messages, source)`` from a measurement."""
    value, why, cpu = measured
    if value is None:
        return 0.0, False, msgs + [f"{ch.file} ({source}) scored zero: {why}"], source
    pts, msg = score(ch, value)
    return pts, pts == ch.points, msgs + [f"{ch.file} ({source}): {msg} (measured in {cpu:.1f} s of CPU time)"], source


def feedback_rows(lab: str, items: dict) -> list[str]:
    """The feedback table's row for the challenge."""
    ch = lab_challenge(lab)
    if ch is None:
        return []
    ir = items.get(ch.cid)
    pts = ir.points if ir else 0.0
    return [f"| `{ch.cid}` (challenge) | {pts:g} / {ch.points:g} | {'all thresholds' if ir and ir.passed else 'see below'} |"]
