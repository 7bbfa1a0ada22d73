"""Concept questions: the in-process check, the secrecy of the keys, the build, the static reader."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import genlab
from genlab.course import make_lab
from genlab.exercises import questions as Q
from genlab.grading import questions as GQ

ROOT = Path(__file__).resolve().parents[2]
GRADED_LABS = ("01", "02", "03", "04", "05", "06", "07", "09")


def solution_answers(nn: str) -> dict:
    return GQ.answers_in_source(next((ROOT / "solutions").glob(f"{nn}_*.py")).read_text(encoding="utf-8"))


def test_every_graded_lab_has_four_questions_or_more() -> None:
    assert set(Q.QUESTIONS) == set(GRADED_LABS)
    for nn, qs in Q.QUESTIONS.items():
        assert len(qs) >= 4, nn
        assert [q.qid for q in qs] == [f"q{i}" for i in range(1, len(qs) + 1)], nn
        assert all(q.kind in ("number", "choice") for q in qs), nn


@pytest.mark.parametrize("nn", GRADED_LABS)
def test_the_solution_answers_match_the_hashes(nn: str) -> None:
    answers = solution_answers(nn)
    for q in Q.QUESTIONS[nn]:
        assert q.qid in answers, f"solutions/{nn}: no answer to {q.qid}"
        assert Q.is_right(nn, q, answers[q.qid]), f"solutions/{nn}: {q.qid} does not match its hash"


@pytest.mark.parametrize("nn", GRADED_LABS)
def test_notebooks_show_every_prompt_and_the_lab_has_no_answers(nn: str) -> None:
    sol = next((ROOT / "solutions").glob(f"{nn}_*.py")).read_text(encoding="utf-8")
    lab_path = next((ROOT / "labs").glob(f"{nn}_*.py"))
    lab = lab_path.read_text(encoding="utf-8")
    for q in Q.QUESTIONS[nn]:
        assert f"**{q.qid}.**" in sol and f"**{q.qid}.**" in lab, f"{nn}: the prompt of {q.qid} is missing"
        assert f'answer("{q.qid}", ...)' in lab
    assert all(v is Ellipsis for v in GQ.answers_in_source(lab).values())
    lab_nb = lab_path.with_suffix(".ipynb")
    assert all(v is Ellipsis for v in GQ.read_answers(__import__("json").loads(lab_nb.read_text())).values())


def test_the_package_holds_no_answer() -> None:
    fields = set(Q.Question.__dataclass_fields__)
    assert fields == {"qid", "kind", "topic", "digest", "decimals", "choices", "points"}
    for nn, qs in Q.QUESTIONS.items():
        answers = solution_answers(nn)
        for q in qs:
            canon = Q.canonical(q, answers[q.qid])
            assert q.digest != hashlib.sha256(canon.encode()).hexdigest()[:16]  # salted
    # the only answer call in the module's text is the docstring's example, with a value no question has
    text = (ROOT / "genlab" / "exercises" / "questions.py").read_text(encoding="utf-8")
    calls = [line.split("#")[0].strip() for line in text.splitlines() if 'answer("q' in line]
    assert [GQ.answers_in_source(c) for c in calls if c.startswith("answer(")] == [{"q1": 2.5}]
    assert all(2.5 not in solution_answers(nn).values() for nn in GRADED_LABS)


def test_check_says_right_or_not_yet_without_the_answer(capsys) -> None:
    q = Q.find("02", "q1")  # KL of a 2-D Gaussian, two decimals
    assert Q.is_right("02", q, 1.31) and Q.is_right("02", q, 1.3069) and Q.is_right("02", q, 1.32)
    assert not Q.is_right("02", q, 1.4) and not Q.is_right("02", q, -1.31)
    ans = genlab.questions("02", quiet=True)
    assert ans("q1", 1.3069) is True
    assert capsys.readouterr().out.strip() == "q1: right."
    assert ans("q1", 2.0) is False
    out = capsys.readouterr().out
    assert out.startswith("q1: not yet") and "1.31" not in out and "1.3" not in out
    assert genlab.answer("q5", " (C). ") is True  # choices normalised; lab from genlab.questions
    capsys.readouterr()
    assert genlab.answer("q5", "a") is False
    assert genlab.answer("q1", ...) is False
    assert "not answered yet" in capsys.readouterr().out
    assert genlab.answer("q1", "1.31") is False  # a string is not a number
    assert "wants a number" in capsys.readouterr().out
    with pytest.raises(KeyError, match="q1, q2"):
        genlab.answer("q9", 1.0, lab="02")
    with pytest.raises(KeyError, match="no concept questions"):
        genlab.questions("08")


def test_the_build_keeps_answer_calls_with_ellipsis() -> None:
    text = ('# %% tags=["question"]\nanswer = genlab.questions("02")\n### BEGIN SOLUTION\n'
            'answer("q1", 1.31)\nanswer("q2", "b")  # a comment\n### END SOLUTION\n\n'
            '# %% tags=["exercise"]\ndef f():\n    ### BEGIN SOLUTION\n    # HINT: Implement f.\n'
            '    return 1\n    ### END SOLUTION\n')
    lab = make_lab(text, Path("x.py"))
    assert 'answer("q1", ...)\nanswer("q2", ...)\n' in lab
    assert "1.31" not in lab and '"b"' not in lab
    assert "raise NotImplementedError('Implement f.')" in lab


def test_the_static_reader_never_runs_anything(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    src = (f'answer("q1", __import__("pathlib").Path({str(marker)!r}).touch())\n'
           'answer("q2", 0.5)\nanswer("q2", -0.75)\ngenlab.answer("q3", "b")\nanswer(q4, 1)\n'
           'answer("q5", 1/3)\n')
    got = GQ.answers_in_source(src)
    assert not marker.exists()
    assert got["q1"] is GQ.NOT_A_LITERAL and got["q5"] is GQ.NOT_A_LITERAL
    assert got["q2"] == -0.75 and got["q3"] == "b" and "q4" not in got
    assert GQ.answers_in_source("def broken(:\n") == {}
    key = {"q1": 1.31, "q2": 0.5, "q3": -0.75, "q4": 177.4, "q5": "c"}
    ok, msg = GQ.judge("02", Q.find("02", "q5"), GQ.NOT_A_LITERAL, key)
    assert not ok and "plain value" in msg
    assert GQ.judge("02", Q.find("02", "q1"), 1.3069, key)[0]
    assert not GQ.judge("02", Q.find("02", "q1"), 1.33, key)[0]
    assert GQ.judge("02", Q.find("02", "q1"), 1.3069, None)[0]  # no solution at hand: the hash decides


@pytest.mark.parametrize("folder", ["solutions", "labs"])
def test_every_lab_is_a_course_unit(folder: str) -> None:
    """Objectives, Prerequisites and Time in the opening cell; References in the last cell."""
    for path in sorted((ROOT / folder).glob("[0-9][0-9]_*.py")):
        cells = path.read_text(encoding="utf-8").split("# %%")
        opening = next(c for c in cells if c.startswith(" [markdown]"))
        for heading in ("**Objectives**", "**Prerequisites**", "**Time**"):
            assert heading in opening, f"{folder}/{path.name}: no {heading} in the opening cell"
        assert cells[-1].startswith(" [markdown]\n# ## References"), f"{folder}/{path.name}: no References at the end"
        assert cells[-1].count("\n# * ") >= 1
