"""Concept questions in the gradebook: one column per question, read statically, keyed from solutions/."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

from gradekit import DOUBLE_OK, KL_OK, fixture_spec, lab_cells, write_nb

from genlab.grading.grader import grade, self_check

# The fixture's two code items, filed as lab 02 so that lab 02's questions (and the answer key
# in solutions/02_vae.ipynb) apply.
QCELL = 'answer = genlab.questions("02")\n'


def answers(**given: str) -> str:
    return QCELL + "".join(f'answer("{q}", {v})\n' for q, v in given.items())


RIGHT = answers(q1="1.31", q2="0.5", q3="-0.75", q4="177.4", q5='"c"')


def test_each_question_is_a_column_and_scored_statically(tmp_path: Path) -> None:
    spec = replace(fixture_spec(), lab="02_fixture")
    lab = write_nb(tmp_path / "labs" / "02_fixture.ipynb",
                   lab_cells() + [(answers(q1="...", q2="...", q3="...", q4="...", q5="..."), ["question"])])
    subs = tmp_path / "subs"
    marker = tmp_path / "executed"
    alice = answers(q1="1.3069", q2="0.6", q4=f"__import__('pathlib').Path({str(marker)!r}).touch()",
                    q5='" (C) "')
    write_nb(subs / "alice" / "02_fixture.ipynb", lab_cells(DOUBLE_OK, KL_OK) + [(alice, ["question"])])
    # bob answers in two cells; the later answer counts, whichever cell it is in
    write_nb(subs / "bob" / "02_fixture.ipynb",
             lab_cells() + [(answers(q1="0.0"), []), (RIGHT, ["question"])])
    out = tmp_path / "out"
    grade(spec, lab, subs, out, seed=0, workers=1, progress=False)
    assert not marker.exists(), "an answer was executed"
    rows = list(csv.reader(io.StringIO((out / "gradebook.csv").read_text())))
    # lab 02's challenge column c_elbo (3 points) follows the questions; nobody handed in a file
    assert rows[0] == ["student", "double", "kl_divergence", "q1", "q2", "q3", "q4", "q5", "c_elbo", "total", "max",
                       "status"]
    by = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert [by["alice"][q] for q in ("q1", "q2", "q3", "q4", "q5")] == ["1", "0", "0", "0", "1"]
    assert by["alice"]["total"] == "7" and by["alice"]["max"] == "13" and by["alice"]["c_elbo"] == "0"
    assert [by["bob"][q] for q in ("q1", "q2", "q3", "q4", "q5")] == ["1"] * 5
    assert by["bob"]["total"] == "5"
    book = json.loads((out / "gradebook.json").read_text())
    assert book["questions"] == ["q1", "q2", "q3", "q4", "q5"] and book["max_points"] == 13
    alice_items = next(s for s in book["students"] if s["student"] == "alice")["items"]
    assert alice_items["q3"]["messages"] == ["q3: not answered"]
    assert "plain value" in alice_items["q4"]["messages"][0]
    feedback = (out / "feedback" / "alice.md").read_text()
    assert "`q2`" in feedback and "1.31" not in feedback and "0.5 " not in feedback


def test_self_check_counts_the_questions(tmp_path: Path, monkeypatch) -> None:
    from genlab.grading import challenges

    monkeypatch.setattr(challenges, "lab_challenge", lambda lab: None)  # questions only (challenges: test_challenges)
    spec = replace(fixture_spec(), lab="02_fixture")
    lab = write_nb(tmp_path / "labs" / "02_fixture.ipynb",
                   lab_cells() + [(answers(q1="...", q2="...", q3="...", q4="...", q5="..."), ["question"])])
    sol = write_nb(tmp_path / "solutions" / "02_fixture.ipynb",
                   lab_cells(DOUBLE_OK, KL_OK) + [(RIGHT, ["question"])])
    ok, lines, (s, u) = self_check(spec, lab, sol, seed=0, workers=1)
    assert ok, lines
    assert s.total == 10 and u.total == 0
    assert "10 / 10" in lines[1]
