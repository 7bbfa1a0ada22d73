"""Grade the concept questions of a submission, in the trusted parent, without running anything.

The answers are read STATICALLY: every code cell of the notebook is parsed with ``ast``
and each call ``answer("qN", <literal>)`` (or ``genlab.answer(...)``) is read with
``ast.literal_eval``; nothing of the submission executes. When a question is answered
several times, the last answer in notebook order counts. The key is read the same way
from the solution notebook (``solutions/NN_*.ipynb``, which only the grader has); the
hashes in ``genlab.exercises.questions`` are the fallback when no solution is at hand.
Each question is its own gradebook column ``q1``, ``q2``...
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from ..errors import NotALabError
from ..exercises import questions as Q
from .notebook import code_cells, find_lab, read_notebook

#: what ``read_answers`` gives for a call whose value is not a plain literal
NOT_A_LITERAL = object()


def lab_questions(lab: str) -> tuple[Q.Question, ...]:
    """The questions of a lab (empty for a lab without any, e.g. a test fixture)."""
    try:
        return Q.QUESTIONS[Q.lab_key(lab)]
    except KeyError:
        return ()


def question_ids(lab: str) -> list[str]:
    """The gradebook columns of the lab's questions, in order."""
    return [q.qid for q in lab_questions(lab)]


def question_points(lab: str) -> float:
    """What all the lab's questions are worth together."""
    return float(sum(q.points for q in lab_questions(lab)))


def _is_answer_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    return (isinstance(f, ast.Name) and f.id == "answer") or (isinstance(f, ast.Attribute) and f.attr == "answer")


def answers_in_source(source: str) -> dict[str, Any]:
    """``{qid: value}`` of the ``answer("qN", literal)`` calls in one cell's source, in order."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    found: list[tuple[int, int, str, Any]] = []
    for node in ast.walk(tree):
        if not _is_answer_call(node) or len(node.args) < 2:
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        try:
            value = ast.literal_eval(node.args[1])
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value = NOT_A_LITERAL
        found.append((node.lineno, node.col_offset, first.value, value))
    return {qid: value for _, _, qid, value in sorted(found, key=lambda t: (t[0], t[1]))}


def read_answers(nb: dict) -> dict[str, Any]:
    """Every question's last answer in a parsed notebook (code cells only, never executed)."""
    out: dict[str, Any] = {}
    for cell in code_cells(nb):
        out.update(answers_in_source(cell.source))
    return out


def answer_key(lab: str, root: Path | None = None) -> dict[str, Any] | None:
    """The answers of the solution notebook of ``lab``, or None when there is no solution here."""
    path = find_lab(lab, root, folder="solutions")
    if path is None:
        return None
    return read_answers(read_notebook(path))


def judge(lab: str, q: Q.Question, value: Any, key: dict[str, Any] | None) -> tuple[bool, str]:
    """Right or not, and a message that never reveals the answer."""
    if value is NOT_A_LITERAL:
        return False, (f"{q.qid}: the answer is not a plain value; write {q.describe()} itself, "
                       "not a formula or a variable")
    if value is None or value is Ellipsis:
        return False, f"{q.qid}: not answered"
    mine = Q.canonical(q, value)
    if mine is None:
        return False, f"{q.qid}: wants {q.describe()}, got {type(value).__name__}"
    if key is not None and q.qid in key and key[q.qid] is not NOT_A_LITERAL:
        ref = key[q.qid]
        if q.kind == "number":
            ok = abs(float(value) - float(ref)) <= q.tolerance * (1 + 1e-9)
        else:
            ok = mine == Q.canonical(q, ref)
    else:
        ok = Q.is_right(Q.lab_key(lab), q, value)
    return ok, f"{q.qid}: {'right' if ok else 'not right'}"


def grade_questions(lab: str, nb: dict | None, key: dict[str, Any] | None = None) -> dict[str, tuple[float, bool, str]]:
    """``{qid: (points, right, message)}`` for one submission (``nb`` None: nothing to read)."""
    qs = lab_questions(lab)
    if not qs:
        return {}
    if key is None:
        key = answer_key(lab)
    given = read_answers(nb) if nb is not None else {}
    out = {}
    for q in qs:
        ok, msg = judge(lab, q, given.get(q.qid), key)
        out[q.qid] = (q.points if ok else 0.0, ok, msg)
    return out


def grade_notebook_questions(lab: str, path: Path | None, key: dict[str, Any] | None = None):
    """Like ``grade_questions`` for a notebook file; an unreadable file answers nothing."""
    nb = None
    if path is not None:
        try:
            nb = read_notebook(Path(path))
        except NotALabError:
            nb = None
    return grade_questions(lab, nb, key)


def add_to_result(res, lab: str, path: Path | None, key: dict[str, Any] | None = None, *,
                  item_result) -> None:
    """Add one ``ItemResult`` per question to a ``SubmissionResult`` (the grader's hook).

    ``item_result`` is the grader's ``ItemResult`` class (passed in, so this module does not
    import the grader back).
    """
    ItemResult = item_result  # noqa: N806

    for qid, (pts, ok, msg) in grade_notebook_questions(lab, path, key).items():
        q = Q.find(lab, qid)
        res.items[qid] = ItemResult(qid, float(pts), float(q.points), ok, [msg])


def max_points(spec) -> float:
    """A lab's maximum: its code items plus its questions."""
    return float(spec.max_points) + question_points(spec.lab)


def question_rows(lab: str, items: dict) -> list[str]:
    """The feedback table's rows for the questions (right or not, never the answer)."""
    rows = []
    for q in lab_questions(lab):
        ir = items.get(q.qid)
        pts = ir.points if ir else 0.0
        rows.append(f"| `{q.qid}` ({q.topic}) | {pts:g} / {q.points:g} | {'right' if ir and ir.passed else 'not right'} |")
    return rows
