"""Grade a folder of submissions: inputs, workers in parallel, scores, gradebook and feedback.

The parent process owns everything that decides a grade: it draws the inputs
from the run's seed, computes the reference outputs, runs each submission in
a sandboxed worker (:mod:`genlab.grading.sandbox`), compares the returned
tensors, and writes the gradebook only after every worker has finished
(temporary file, then rename), so it is always whole.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import NotALabError
from ..exercises import Call, Item, LabSpec, judge
from ..exercises._core import job_case, preview
from .notebook import Cell, assemble, code_cells, lab_number, read_notebook, uses_reference
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


def discover(submissions: Path, lab: str) -> list[tuple[str, Path | None]]:
    """``(student, notebook or None)`` for every submission in the folder, sorted by student.

    A top-level ``<student>.ipynb`` is one submission; a sub-folder (nbgrader
    style, ``<student>/[<assignment>/]<lab>.ipynb``) is one student, whose
    notebook is the one named after the lab's number, else the only one.
    An empty sub-folder is a student without a notebook.
    """
    nn = lab_number(lab)
    out: list[tuple[str, Path | None]] = []
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            out.append((entry.stem, entry))
        elif entry.is_dir():
            nbs = sorted(p for p in entry.rglob("*.ipynb")
                         if ".ipynb_checkpoints" not in p.parts and not p.name.startswith("."))
            named = [p for p in nbs if p.name.startswith(f"{nn}_") or p.stem == lab]
            pick = named[0] if named else (nbs[0] if len(nbs) == 1 else None)
            out.append((entry.name, pick))
    return out


class Grader:
    """Grade submissions of one lab against its spec."""

    def __init__(self, spec: LabSpec, lab_notebook: Path, *, seed: int | None = None,
                 limits: Limits | None = None, workers: int = 2) -> None:
        self.spec = spec
        self.lab_notebook = Path(lab_notebook)
        self.seed = secrets.randbelow(2**31) if seed is None else int(seed)
        self.limits = limits or Limits()
        self.workers = max(1, int(workers))
        self.lab_cells: list[Cell] = code_cells(read_notebook(self.lab_notebook))
        self.prepared, self.tensors, self.job_items = prepare(spec, self.seed)
        self.references = {it.name: it.resolve_reference()[1] for it in spec.items}
        self.sandbox = Sandbox(self.limits, self.workers)
        self._tmp = tempfile.TemporaryDirectory(prefix="genlab-inputs-")
        self.inputs_file = Path(self._tmp.name) / "inputs.pt"
        torch.save(self.tensors, self.inputs_file)

    def close(self) -> None:
        self.sandbox.close()
        self._tmp.cleanup()

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

    def _grade_one(self, res: SubmissionResult, path: Path | None) -> SubmissionResult:
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
        job = {"cells": prog.cells, "items": self.job_items}
        wr = self.sandbox.run(job, self.inputs_file)
        res.seconds, res.stdout = wr.seconds, wr.stdout
        self._score(res, prog, wr)
        return res

    def _score(self, res: SubmissionResult, prog, wr: WorkerResult) -> None:
        st = wr.status or {}
        done = bool(st.get("done"))
        if wr.timed_out:
            res.status = "timeout"
            res.messages.append(f"the submission ran past the {self.limits.timeout:g} s time limit and was "
                                "stopped; items not graded by then score zero")
        elif not done:
            res.status = "crashed"
            why = f"exit code {wr.returncode}"
            if wr.returncode is not None and wr.returncode < 0:
                why = f"killed by signal {-wr.returncode}"
            res.messages.append(f"the worker stopped before finishing ({why}; os._exit, a crash or a "
                                "resource limit); items not graded by then score zero")
        res.messages.extend(wr.problems if not done else [])
        cell_errors = {c.get("label"): c.get("error") for c in st.get("cells", []) if isinstance(c, dict)}
        for label, err in cell_errors.items():
            if err:
                res.messages.append(f"{label} raised {err}")
        items_st = st.get("items", {}) if isinstance(st.get("items"), dict) else {}
        by_item: dict[str, list[Prepared]] = {}
        for p in self.prepared:
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
                ir.messages.append(f"scored zero: {item.name} must be your own implementation, but {why}.")
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
                        ir.messages.append(f"a held-back case failed: {msg.split(': got')[0]}")
            if all_ok:
                ir.passed, ir.points = True, float(item.points)

    # -- the batch
    def grade_all(self, subs: list[tuple[str, Path | None]], progress: bool = True) -> list[SubmissionResult]:
        """Grade every submission with ``workers`` workers in parallel; results in input order."""
        results: dict[int, SubmissionResult] = {}
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(subs), desc=f"grading {self.spec.lab}", unit="submission")
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = {pool.submit(self.grade_one, s, p): i for i, (s, p) in enumerate(subs)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                if bar is not None:
                    bar.update(1)
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
             f"Student: `{r.student}`  ", f"Score: **{r.total:g} / {spec.max_points:g}**  ",
             f"Status: {r.status}", ""]
    if r.messages:
        lines += ["## Notes", ""] + [f"- {m}" for m in r.messages] + [""]
    lines += ["## Items", "", "| item | points | result |", "| --- | --- | --- |"]
    for item in spec.items:
        ir = r.items.get(item.name)
        pts = ir.points if ir else 0.0
        lines.append(f"| `{item.name}` | {pts:g} / {item.points:g} | {'passed' if ir and ir.passed else 'failed'} |")
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
    return "\n".join(lines)


def write_outputs(out: Path, spec: LabSpec, results: list[SubmissionResult], meta: dict) -> None:
    """Write gradebook.csv, gradebook.json and feedback/<student>.md, each atomically."""
    out.mkdir(parents=True, exist_ok=True)
    names = [it.name for it in spec.items]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["student", *names, "total", "max", "status"])
    for r in results:
        w.writerow([r.student, *[f"{r.items[n].points:g}" if n in r.items else "0" for n in names],
                    f"{r.total:g}", f"{spec.max_points:g}", r.status])
    book = {
        **meta,
        "lab": spec.lab,
        "max_points": spec.max_points,
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
          limits: Limits | None = None, workers: int = 2, progress: bool = True) -> list[SubmissionResult]:
    """Grade every submission in ``submissions`` and write the gradebook and feedback into ``out``."""
    t0 = time.perf_counter()
    subs = discover(Path(submissions), spec.lab)
    grader = Grader(spec, lab_notebook, seed=seed, limits=limits, workers=workers)
    try:
        results = grader.grade_all(subs, progress=progress)
    finally:
        grader.close()
    meta = {"seed": grader.seed, "references": grader.references, "sandbox": grader.sandbox.note,
            "timeout_s": grader.limits.timeout, "memory_mb": grader.limits.memory_mb,
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
               limits: Limits | None = None, workers: int = 2) -> tuple[bool, list[str], list[SubmissionResult]]:
    """Grade the solution (must get full marks) and the untouched lab (must get zero).

    Returns:
        ``(ok, report lines, [solution result, lab result])``.
    """
    import shutil

    with tempfile.TemporaryDirectory(prefix="genlab-selfcheck-") as d:
        subs = Path(d) / "submissions"
        subs.mkdir()
        shutil.copyfile(solution_notebook, subs / "solution.ipynb")
        shutil.copyfile(lab_notebook, subs / "untouched_lab.ipynb")
        results = grade(spec, lab_notebook, subs, Path(d) / "out", seed=seed, limits=limits,
                        workers=workers, progress=False)
    sol, lab = results[1], results[0]  # sorted by name: solution, untouched_lab
    sol, lab = (sol, lab) if sol.student == "solution" else (lab, sol)
    lines = [f"self-check of lab {spec.lab} (seed {seed}):",
             f"  solution:      {sol.total:g} / {spec.max_points:g} ({sol.status})",
             f"  untouched lab: {lab.total:g} / {spec.max_points:g} ({lab.status})"]
    ok = sol.total == spec.max_points and lab.total == 0
    for name, ir in sol.items.items():
        if not ir.passed:
            lines.append(f"  solution fails {name}: {'; '.join(ir.messages)}")
    for name, ir in lab.items.items():
        if ir.passed:
            lines.append(f"  the untouched lab passes {name}: its exercise cell is not a stub")
    if sol.messages:
        lines += [f"  note (solution): {m}" for m in sol.messages]
    lines.append("  OK" if ok else "  FAILED")
    return ok, lines, [sol, lab]
