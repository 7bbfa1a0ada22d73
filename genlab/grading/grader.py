"""Grade a folder of submissions: inputs, workers in parallel, scores, gradebook and feedback.

The parent process owns everything that decides a grade: it draws the inputs
from the run's seed, computes the reference outputs, runs each submission in
a sandboxed worker (:mod:`genlab.grading.sandbox`), compares the returned
tensors, and writes the gradebook only after every worker has finished
(temporary file, then rename), so it is always whole.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import secrets
import stat
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import NotALabError
from ..exercises import Call, Item, LabSpec, judge
from ..exercises._core import job_case, preview
from . import challenges as C  # the lab's challenge (c_ column), measured in its own sandbox
from .challenges import max_points
from .notebook import (
    Cell,
    assemble,
    code_cells,
    file_problem,
    lab_number,
    read_notebook,
    uses_reference,
)
from .questions import add_to_result as add_questions  # concept questions (q columns)
from .questions import question_ids, question_rows
from .sandbox import Limits, Sandbox, WorkerResult

# --------------------------------------------------------------------------- results


@dataclass
class ItemResult:
    """One item of one submission."""

    name: str
    points: float
    max_points: float
    passed: bool
    messages: list[str] = field(default_factory=list)


@dataclass
class SubmissionResult:
    """One student's grade."""

    student: str
    path: str
    status: str  # ok | invalid | missing | timeout | crashed
    items: dict[str, ItemResult] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stdout: str = ""

    @property
    def total(self) -> float:
        return float(sum(i.points for i in self.items.values()))


# --------------------------------------------------------------------------- prepared cases


@dataclass
class Prepared:
    """A case's inputs (kept in the parent) and its JSON form for the worker."""

    item: Item
    case_name: str
    public: bool
    call: Call
    job_case: dict


def prepare(spec: LabSpec, seed: int) -> tuple[list[Prepared], dict[str, torch.Tensor], list[dict]]:
    """Draw every case's inputs from ``seed``; return them, the tensors file content and the job items."""
    g = torch.Generator().manual_seed(seed)
    prepared, tensors, job_items = [], {}, []
    for item in spec.items:
        cases = []
        for case in item.cases:
            call = case.make(g)
            jc = job_case(item, case, call, tensors)
            cases.append(jc)
            prepared.append(Prepared(item, case.name, case.public, call, jc))
        job_items.append({"name": item.name, "cases": cases,
                          "forbidden": [".".join(f) for f in item.forbidden()]})
    return prepared, tensors, job_items


def judge_case(p: Prepared, outputs: dict[str, torch.Tensor]) -> str | None:
    """None when the case passes; otherwise why it failed (the exercise entry's judge)."""
    return judge(p.item, p.call, outputs)


# --------------------------------------------------------------------------- submissions


@dataclass
class Submission:
    """One entry of the submissions folder: a student, their notebook (or None) and why it is not graded."""

    student: str
    path: Path | None
    problem: str | None = None


def _walk_notebooks(folder: Path) -> list[Path]:
    """``*.ipynb`` entries below ``folder`` without following links (checkpoints and hidden skipped)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in filenames if f.endswith(".ipynb") and not f.startswith(".")]
    return sorted(found)


def discover_submissions(submissions: Path, lab: str) -> tuple[list[Submission], list[str]]:
    """Every submission in the folder, sorted by student, and warnings about the folder.

    A top-level ``<student>.ipynb`` is one submission; a sub-folder (nbgrader
    style, ``<student>/[<assignment>/]<lab>.ipynb``) is one student, whose
    notebook is the one named after the lab's number, else the only one. An
    empty sub-folder is a student without a notebook. Entries are judged with
    ``lstat``: a link, FIFO, device or socket is a submission with a problem
    (reported, never opened); so is a notebook or folder whose name starts with
    ``.`` (reported, not dropped). Other files are listed in the warnings.
    """
    nn = lab_number(lab)
    out: list[Submission] = []
    warnings: list[str] = []
    try:
        mode = os.stat(submissions).st_mode
        if mode & (stat.S_IROTH | stat.S_IXOTH):
            warnings.append(f"the submissions folder {submissions} is readable by other users of this machine "
                            f"(mode {stat.filemode(mode)}): `chmod 700 {submissions}` keeps submissions private")
    except OSError:
        pass
    for entry in sorted(submissions.iterdir()):
        st = os.lstat(entry)
        name = entry.name
        hidden = name.startswith(".")
        if stat.S_ISDIR(st.st_mode):
            if name in (".ipynb_checkpoints", ".git"):
                continue
            if hidden:
                out.append(Submission(name, None, "the folder name starts with '.' (hidden); rename it"))
                continue
            nbs = _walk_notebooks(entry)
            named = [p for p in nbs if p.name.startswith(f"{nn}_") or p.stem == lab]
            pick = named[0] if named else (nbs[0] if len(nbs) == 1 else None)
            problem = None
            if pick is not None:
                problem = file_problem(os.lstat(pick).st_mode)
            out.append(Submission(name, pick, problem))
        elif name.endswith(".ipynb") or not stat.S_ISREG(st.st_mode):
            student = name[: -len(".ipynb")] if name.endswith(".ipynb") else name
            problem = file_problem(st.st_mode)
            if problem is None and hidden:
                problem = "the file name starts with '.' (hidden); rename it"
            if problem is None and not name.endswith(".ipynb"):
                continue
            out.append(Submission(student or name, entry, problem))
        else:
            warnings.append(f"ignored {name}: not a notebook")
    return out, warnings


def discover(submissions: Path, lab: str) -> list[tuple[str, Path | None]]:
    """``(student, notebook or None)`` for every gradable submission (see :func:`discover_submissions`)."""
    subs, _ = discover_submissions(submissions, lab)
    return [(s.student, s.path) for s in subs if s.problem is None]


def protected_references(spec: LabSpec) -> list[str]:
    """The dotted names made absent inside the worker while ``spec``'s lab is graded.

    The single place this list comes from: every item's reference, its
    ``also_forbidden`` and ``protected`` names and its named closed-form fallback
    (:meth:`~genlab.exercises.Item.protected_names`). The sandbox strips their code from
    the worker's copy of genlab and the worker replaces them by stubs; the lab's exercise
    modules (where the lab-only references live) are absent from the sandbox altogether.
    """
    names = [p for it in spec.items for p in it.protected_names()]
    return sorted(dict.fromkeys(names))


def student_seed(run_key: bytes, student: str) -> int:
    """The seed of one student's held-back cases: HMAC-SHA256(run key, student id), 31 bits."""
    digest = hmac.new(run_key, student.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class Grader:
    """Grade submissions of one lab against its spec."""

    def __init__(self, spec: LabSpec, lab_notebook: Path, *, seed: int | None = None,
                 limits: Limits | None = None, workers: int = 2, sandbox: str = "bwrap") -> None:
        self.spec = spec
        self.lab_notebook = Path(lab_notebook)
        self.seed = secrets.randbelow(2**31) if seed is None else int(seed)
        # Each student's cases come from HMAC(run key, student id): outputs cannot move between
        # students, and the key never leaves this process (workers get inputs, never seeds).
        self.run_key = hashlib.sha256(f"genlab-grade-run:{self.seed}".encode()).digest()
        self.limits = limits or Limits()
        self.workers = max(1, int(workers))
        self.lab_cells: list[Cell] = code_cells(read_notebook(self.lab_notebook))
        self.references = {it.name: it.resolve_reference()[1] for it in spec.items}
        self.protected = protected_references(spec)
        self.sandbox = Sandbox(self.limits, self.workers, sandbox, self.protected)
        self.challenge = C.lab_challenge(spec.lab)
        self.challenge_runner = (C.ChallengeRunner(self.challenge, self.limits, self.workers, sandbox)
                                 if self.challenge else None)
        self._pending: list[tuple] | None = None  # challenge files waiting to be measured (grade_all)
        self._pending_lock = threading.Lock()

    def close(self) -> None:
        self.sandbox.close()
        if self.challenge_runner is not None:
            self.challenge_runner.close()

    # -- one submission
    def grade_one(self, student: str, path: Path | None) -> SubmissionResult:
        """Grade one notebook; never raises (every failure becomes a status and a message)."""
        res = SubmissionResult(student, str(path or ""), "ok")
        try:
            return self._grade_one(res, path)
        except Exception as exc:  # noqa: BLE001 - the batch must go on
            res.status = "crashed"
            res.messages.append(f"grader error on this submission: {type(exc).__name__}: {exc}")
            self._zero_missing(res, "not graded (grader error)")
            return res

    def _zero_missing(self, res: SubmissionResult, why: str) -> None:
        for item in self.spec.items:
            if item.name not in res.items:
                res.items[item.name] = ItemResult(item.name, 0.0, item.points, False, [why])
        ch = self.challenge
        if ch is not None and ch.cid not in res.items:
            res.items[ch.cid] = ItemResult(ch.cid, 0.0, ch.points, False, [why])

    def _grade_challenge(self, res: SubmissionResult, seed: int, handed_in: bytes | None,
                         problem: str | None, wr: WorkerResult | None, note: str | None = None) -> None:
        """The challenge column: never raises, never touches the other columns.

        Inside :meth:`grade_all` the file waits in ``self._pending`` and is measured with
        others in one worker at the end of the batch; otherwise it is measured now.
        """
        ch = self.challenge
        try:
            cst = (wr.status or {}).get("challenge") if wr is not None else None
            if isinstance(cst, dict) and cst.get("error"):
                note = f"your challenge cell raised {str(cst['error'])[:400]}; no {ch.file} was graded"
            produced = wr.results.get("challenge/artefact") if wr is not None else None
            data, source, msgs = C.challenge_file(ch, handed_in, problem, produced, note)
        except Exception as exc:  # noqa: BLE001 - the batch must go on
            self._set_challenge(res, (0.0, False, [f"challenge not graded (grader error: {type(exc).__name__}: {exc})"], "none"))
            return
        if data is None:
            self._set_challenge(res, (0.0, False, msgs, source))
            return
        job = (res, data, seed ^ 0x5EED, source, msgs)
        if self._pending is None:
            self._measure([job])
            return
        self._set_challenge(res, (0.0, False, msgs + ["not measured (the batch stopped before measuring)"], source))
        with self._pending_lock:
            self._pending.append(job)

    def _set_challenge(self, res: SubmissionResult, graded: tuple[float, bool, list[str], str]) -> None:
        ch = self.challenge
        pts, ok, msgs, source = graded
        ir = ItemResult(ch.cid, pts, ch.points, ok, msgs)
        ir.source = source  # type: ignore[attr-defined] - self-check reads where the file came from
        res.items[ch.cid] = ir

    def _measure(self, jobs: list[tuple]) -> None:
        """Measure the challenge files of ``jobs`` in one worker and score each submission's column."""
        try:
            measured = self.challenge_runner.measure_many([(data, seed) for _, data, seed, _, _ in jobs])
        except Exception as exc:  # noqa: BLE001 - the batch must go on
            measured = [(None, f"not measured (grader error: {type(exc).__name__}: {exc})", 0.0)] * len(jobs)
        for (res, _, _, source, msgs), m in zip(jobs, measured, strict=True):
            self._set_challenge(res, C.challenge_points(self.challenge, m, source, msgs))

    def _grade_one(self, res: SubmissionResult, path: Path | None) -> SubmissionResult:
        add_questions(res, self.spec.lab, path, item_result=ItemResult)  # concept questions: read statically, never run
        if path is None:
            res.status = "missing"
            res.messages.append("no notebook found for this student (empty folder, or several "
                                "notebooks and none named after the lab)")
            self._zero_missing(res, "no submission")
            return res
        try:
            sub_cells = code_cells(read_notebook(path))
        except NotALabError as exc:
            res.status = "invalid"
            res.messages.append(str(exc))
            self._zero_missing(res, "the notebook could not be read")
            return res
        names = [it.name for it in self.spec.items]
        prog = assemble(self.lab_cells, sub_cells, names)
        res.messages.extend(prog.warnings)
        if not any(c["role"] == "exercise" for c in prog.cells):
            res.messages.append("no exercise cells found: were the 'exercise' cells deleted or their tags removed?")
        seed = student_seed(self.run_key, res.student)
        prepared, tensors, job_items = prepare(self.spec, seed)
        job = {"cells": prog.cells, "items": job_items, "protected": self.protected}
        handed_in, problem = (C.read_submitted(self.challenge, path) if self.challenge else (None, None))
        no_cells = None
        if self.challenge is not None and handed_in is None:
            cells = [c.source for c in sub_cells if "challenge" in c.tags]
            if cells and self.limits.challenge_timeout > 0:
                job["challenge"] = C.challenge_job(self.challenge, cells, self.limits)
            elif cells:
                no_cells = (f"no {self.challenge.file} handed in, and this grading run does not run challenge "
                            "cells (--challenge-timeout 0): hand the file in next to the notebook")
        wr = self.sandbox.run(job, tensors)
        res.seconds, res.stdout = wr.seconds, wr.stdout
        self._score(res, prog, wr, prepared)
        if self.challenge is not None:
            self._grade_challenge(res, seed, handed_in, problem, wr, no_cells)
        return res

    def _score(self, res: SubmissionResult, prog, wr: WorkerResult, prepared: list[Prepared]) -> None:
        st = wr.status or {}
        done = bool(st.get("done") or st.get("items_done"))
        if wr.timed_out:
            res.status = "timeout"
            res.messages.append(f"the submission ran past its time limit ({self.limits.timeout:g} s of CPU "
                                f"time, {self.limits.wall():g} s wall clock) and was stopped; items not "
                                "graded by then score zero")
        elif not done:
            res.status = "crashed"
            why = f"exit code {wr.returncode}"
            if wr.returncode is not None and wr.returncode < 0:
                why = f"killed by signal {-wr.returncode}"
            res.messages.append(f"the worker stopped before finishing ({why}; os._exit, a crash or a "
                                "resource limit); items not graded by then score zero")
        res.messages.extend(str(m)[:600] for m in (wr.problems if not done else []))
        cells = st.get("cells", []) if isinstance(st.get("cells"), list) else []
        cell_errors = {str(c.get("label"))[:200]: str(c.get("error"))[:800] if c.get("error") else None
                       for c in cells[:500] if isinstance(c, dict)}
        for label, err in cell_errors.items():
            if err:
                res.messages.append(f"{label} raised {err}")
        items_st = st.get("items", {}) if isinstance(st.get("items"), dict) else {}
        by_item: dict[str, list[Prepared]] = {}
        for p in prepared:
            by_item.setdefault(p.item.name, []).append(p)
        for item in self.spec.items:
            ir = ItemResult(item.name, 0.0, item.points, False)
            res.items[item.name] = ir
            if item.name in prog.missing:
                ir.messages.append(prog.missing[item.name])
                continue
            why = uses_reference([prog.exercise_sources.get(item.name, "")], item.name, item.forbidden())
            ist = items_st.get(item.name)
            if why is None and isinstance(ist, dict) and ist.get("reference_called"):
                why = f"it calls {', '.join(map(str, ist['reference_called']))} while being graded"
            if why:
                ir.messages.append(f"scored zero: {item.name} must be your own implementation, but {str(why)[:400]}.")
                continue
            if not isinstance(ist, dict):
                ir.messages.append("not graded: the worker stopped before reaching this item")
                continue
            if not ist.get("defined"):
                err = next((e for lbl, e in cell_errors.items() if e and item.name in str(lbl)), None)
                ir.messages.append(f"{item.name} is not defined" + (f" (its cell raised {err})" if err else ""))
                continue
            cases_st = ist.get("cases", {}) if isinstance(ist.get("cases"), dict) else {}
            all_ok = True
            for p in by_item[item.name]:
                cst = cases_st.get(p.case_name)
                if not isinstance(cst, dict):
                    msg = "not run (the worker stopped before this case)"
                elif cst.get("error"):
                    msg = f"raised {str(cst['error'])[:600]}"
                else:
                    prefix = f"{item.name}/{p.case_name}/"
                    outputs = {k[len(prefix):]: v for k, v in wr.results.items() if k.startswith(prefix)}
                    try:
                        msg = judge_case(p, outputs)
                    except Exception as exc:  # noqa: BLE001 - e.g. a shape the reference rejects
                        msg = f"output could not be compared: {type(exc).__name__}: {exc}"
                if msg:
                    all_ok = False
                    if p.public:
                        ir.messages.append(f"public case {p.case_name}: {msg}{_describe_inputs(p.call)}")
                    else:
                        # Only the exception's type for a held-back case: its message could quote the
                        # held-back inputs back into the student's feedback.
                        short = msg.split(":")[0] if isinstance(cst, dict) and cst.get("error") else msg.split(": got")[0]
                        ir.messages.append(f"a held-back case failed: {short[:300]}")
            if all_ok:
                ir.passed, ir.points = True, float(item.points)

    def _grade_entry(self, sub: Submission) -> SubmissionResult:
        if sub.problem is None:
            return self.grade_one(sub.student, sub.path)
        res = SubmissionResult(sub.student, str(sub.path or ""), "invalid")
        res.messages.append(f"not graded: {sub.problem}")
        self._zero_missing(res, "not graded (invalid submission)")
        return res

    # -- the batch
    def grade_all(self, subs: list, progress: bool = True) -> list[SubmissionResult]:
        """Grade every submission with ``workers`` workers in parallel; results in input order.

        ``subs`` holds :class:`Submission` entries or ``(student, path)`` pairs; an entry with a
        problem is recorded as invalid without being opened.
        """
        subs = [s if isinstance(s, Submission) else Submission(s[0], s[1]) for s in subs]
        results: dict[int, SubmissionResult] = {}
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(subs), desc=f"grading {self.spec.lab}", unit="submission")
        self._pending = []
        try:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                futures = {pool.submit(self._grade_entry, s): i for i, s in enumerate(subs)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    if bar is not None:
                        bar.update(1)
                # The challenge files, several to a measuring worker (a worker's start-up costs
                # more than measuring one small model), spread over the workers.
                pending, self._pending = self._pending, None
                k = max(min(self.workers, len(pending)), -(-len(pending) // C.MEASURE_BATCH))
                for fut in [pool.submit(self._measure, pending[j::k]) for j in range(k)]:
                    fut.result()
        finally:
            self._pending = None
            if bar is not None:
                bar.close()
        return [results[i] for i in range(len(subs))]


def _describe_inputs(call: Call) -> str:
    parts = []
    for a in call.args:
        parts.append(preview(a) if isinstance(a, torch.Tensor) else repr(a))
    for k, v in call.kwargs.items():
        parts.append(f"{k}={preview(v) if isinstance(v, torch.Tensor) else repr(v)}")
    text = ", ".join(parts)
    return f" (inputs: {text[:400]})" if text else ""


# --------------------------------------------------------------------------- outputs


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def feedback_markdown(spec: LabSpec, r: SubmissionResult) -> str:
    """One student's feedback: per item points, what was expected, a hint."""
    lines = [f"# Feedback: lab {spec.lab}{' - ' + spec.title if spec.title else ''}", "",
             f"Student: `{r.student}`  ", f"Score: **{r.total:g} / {max_points(spec):g}**  ",
             f"Status: {r.status}", ""]
    if r.messages:
        lines += ["## Notes", ""] + [f"- {m}" for m in r.messages] + [""]
    lines += ["## Items", "", "| item | points | result |", "| --- | --- | --- |"]
    for item in spec.items:
        ir = r.items.get(item.name)
        pts = ir.points if ir else 0.0
        lines.append(f"| `{item.name}` | {pts:g} / {item.points:g} | {'passed' if ir and ir.passed else 'failed'} |")
    lines += question_rows(spec.lab, r.items)  # concept questions
    lines += C.feedback_rows(spec.lab, r.items)  # the challenge
    lines.append("")
    for item in spec.items:
        ir = r.items.get(item.name)
        if ir is None or ir.passed:
            continue
        lines += [f"### `{item.name}`", ""]
        if item.expected:
            lines.append(f"- expected: {item.expected}")
        lines += [f"- {m}" for m in ir.messages]
        if item.hint:
            lines.append(f"- hint: {item.hint}")
        lines.append("")
    ch = C.lab_challenge(spec.lab)
    if ch is not None and ch.cid in r.items:
        lines += [f"### challenge `{ch.cid}`", "", f"- target: {ch.title}; thresholds {ch.target_text()}"]
        lines += [f"- {m}" for m in r.items[ch.cid].messages] + [""]
    return "\n".join(lines)


def write_outputs(out: Path, spec: LabSpec, results: list[SubmissionResult], meta: dict) -> None:
    """Write gradebook.csv, gradebook.json and feedback/<student>.md, each atomically."""
    out.mkdir(parents=True, exist_ok=True)
    names = [it.name for it in spec.items] + question_ids(spec.lab) + C.challenge_ids(spec.lab)  # q, c_ columns
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["student", *names, "total", "max", "status"])
    for r in results:
        w.writerow([csv_cell(r.student), *[f"{r.items[n].points:g}" if n in r.items else "0" for n in names],
                    f"{r.total:g}", f"{max_points(spec):g}", r.status])
    book = {
        **meta,
        "lab": spec.lab,
        "max_points": max_points(spec),
        "questions": question_ids(spec.lab),
        "challenges": {ch.cid: {"points": ch.points, "metric": ch.metric, "unit": ch.unit,
                                "thresholds": list(ch.thresholds), "higher_is_better": ch.higher_is_better,
                                "file": ch.file, "models": list(ch.models)}
                       for ch in [C.lab_challenge(spec.lab)] if ch is not None},
        "items": {it.name: {"points": it.points, "public_cases": sum(c.public for c in it.cases),
                            "held_back_cases": sum(not c.public for c in it.cases)} for it in spec.items},
        "students": [{"student": r.student, "path": r.path, "feedback": f"feedback/{fb}",
                      "status": r.status, "total": r.total,
                      "seconds": round(r.seconds, 3), "messages": r.messages,
                      "items": {n: {"points": i.points, "max": i.max_points, "passed": i.passed,
                                    "messages": i.messages} for n, i in r.items.items()}}
                     for r, fb in zip(results, feedback_names([r.student for r in results]), strict=True)],
    }
    files = feedback_names([r.student for r in results])
    for r, name in zip(results, files, strict=True):
        _atomic_write(out / "feedback" / name, feedback_markdown(spec, r))
    _atomic_write(out / "gradebook.json", json.dumps(book, indent=2))
    _atomic_write(out / "gradebook.csv", buf.getvalue())


def csv_cell(text: str) -> str:
    """``text`` made inert for spreadsheets: a leading ``= + - @`` (or tab/CR) gets a ``'`` prefix."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).lstrip(".") or "student"


def feedback_names(students: list[str]) -> list[str]:
    """One distinct feedback file name per student, in order.

    Student ids are made file-system safe (``"a b"`` and ``"a_b"`` both become
    ``a_b``); names that collide, also case-insensitively (macOS, Windows), get a
    suffix ``-2``, ``-3``... in the order of ``students`` (sorted by the caller),
    so no student's feedback overwrites another's. ``gradebook.json`` records
    each student's file.
    """
    taken: set[str] = set()
    out = []
    for s in students:
        base = _safe(s)[:120]
        name, k = base, 1
        while name.lower() in taken:
            k += 1
            name = f"{base}-{k}"
        taken.add(name.lower())
        out.append(f"{name}.md")
    return out


def grade(spec: LabSpec, lab_notebook: Path, submissions: Path, out: Path, *, seed: int | None = None,
          limits: Limits | None = None, workers: int = 2, progress: bool = True,
          sandbox: str = "bwrap") -> list[SubmissionResult]:
    """Grade every submission in ``submissions`` and write the gradebook and feedback into ``out``.

    ``sandbox`` is ``"bwrap"`` (the default; raises :class:`~genlab.grading.sandbox.SandboxUnavailable`
    where bubblewrap cannot run) or ``"none"`` (an explicit opt-out, recorded in the gradebook).
    """
    t0 = time.perf_counter()
    subs, warnings = discover_submissions(Path(submissions), spec.lab)
    grader = Grader(spec, lab_notebook, seed=seed, limits=limits, workers=workers, sandbox=sandbox)
    if sandbox == "none":
        warnings.insert(0, "WARNING: --sandbox none: submissions ran WITHOUT isolation, as the grading user")
    for w in warnings:
        print(f"genlab grade: {w}", file=sys.stderr)
    try:
        results = grader.grade_all(subs, progress=progress)
    finally:
        grader.close()
    meta = {"seed": grader.seed, "references": grader.references, "sandbox": grader.sandbox.note,
            "sandbox_kind": sandbox, "warnings": warnings, "protected_references": grader.protected,
            "timeout_s": grader.limits.timeout, "memory_mb": grader.limits.memory_mb,
            "challenge_timeout_s": grader.limits.challenge_timeout, "challenge_eval_s": grader.limits.challenge_eval,
            "workers": grader.workers, "seconds": round(time.perf_counter() - t0, 2),
            "lab_notebook": str(lab_notebook)}
    write_outputs(Path(out), spec, results, meta)
    return results


def grade_functions(spec: LabSpec, namespace: dict[str, Any], seed: int = 0) -> dict[str, ItemResult]:
    """Grade implementations given as a namespace, in this process, without a sandbox.

    For trusted code only: spec authors and tests use it to show that correct
    implementations pass and wrong ones lose exactly their item.
    """
    from ..exercises.drivers import DRIVERS  # the same drivers as the sandboxed worker

    prepared, tensors, _ = prepare(spec, seed)
    out: dict[str, ItemResult] = {}
    for item in spec.items:
        ir = ItemResult(item.name, 0.0, item.points, False)
        out[item.name] = ir
        fn = namespace.get(item.name)
        if fn is None:
            ir.messages.append("not defined")
            continue
        ok = True
        for p in (q for q in prepared if q.item is item):
            try:
                outputs = DRIVERS[p.job_case.get("driver", "call")](fn, p.job_case, tensors, namespace)
                msg = judge_case(p, outputs)
            except Exception as exc:  # noqa: BLE001
                msg = f"raised {type(exc).__name__}: {exc}"
            if msg:
                ok = False
                ir.messages.append(f"{p.case_name}: {msg}")
        if ok:
            ir.passed, ir.points = True, float(item.points)
    return out


def self_check(spec: LabSpec, lab_notebook: Path, solution_notebook: Path, *, seed: int | None = 0,
               limits: Limits | None = None, workers: int = 2, sandbox: str = "bwrap") -> tuple[bool, list[str], list[SubmissionResult]]:
    """Grade the solution (must get full marks) and the untouched lab (must get zero).

    Returns:
        ``(ok, report lines, [solution result, lab result])``.
    """
    import shutil

    with tempfile.TemporaryDirectory(prefix="genlab-selfcheck-") as d:
        subs = Path(d) / "submissions"
        subs.mkdir(mode=0o700)
        shutil.copyfile(solution_notebook, subs / "solution.ipynb")
        shutil.copyfile(lab_notebook, subs / "untouched_lab.ipynb")
        results = grade(spec, lab_notebook, subs, Path(d) / "out", seed=seed, limits=limits,
                        workers=workers, progress=False, sandbox=sandbox)
    sol, lab = results[1], results[0]  # sorted by name: solution, untouched_lab
    sol, lab = (sol, lab) if sol.student == "solution" else (lab, sol)
    lines = [f"self-check of lab {spec.lab} (seed {seed}):",
             f"  solution:      {sol.total:g} / {max_points(spec):g} ({sol.status})",
             f"  untouched lab: {lab.total:g} / {max_points(spec):g} ({lab.status})"]
    need = max_points(spec)
    ch = C.lab_challenge(spec.lab)
    if ch is not None and ch.cid in sol.items:
        cir = sol.items[ch.cid]
        fast = ch.points if ch.fast_points is None else float(ch.fast_points)
        if getattr(cir, "source", "") != "handed in" and fast < ch.points:
            # The grader runs the solution's challenge cell in fast mode: it must reach the
            # thresholds that mode reaches (measured, Challenge.fast_points), full mode the rest.
            need -= ch.points - fast
            lines.append(f"  challenge {ch.cid}: the solution's file was written in fast mode; self-check "
                         f"requires {fast:g} of {ch.points:g} thresholds there (full mode reaches all)")
        lines.append(f"  challenge {ch.cid} (solution): {'; '.join(cir.messages)}")
    ok = sol.total >= need and all(ir.passed or ir.name == getattr(ch, "cid", None) for ir in sol.items.values()) \
        and lab.total == 0
    for name, ir in sol.items.items():
        if not ir.passed and name != getattr(ch, "cid", None):
            lines.append(f"  solution fails {name}: {'; '.join(ir.messages)}")
    for name, ir in lab.items.items():
        if ir.passed:
            lines.append(f"  the untouched lab passes {name}: its exercise cell is not a stub")
    if sol.messages:
        lines += [f"  note (solution): {m}" for m in sol.messages]
    lines.append("  OK" if ok else "  FAILED")
    return ok, lines, [sol, lab]
