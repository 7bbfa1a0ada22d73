"""The grader on the fixture lab: self-check, wrong answers, reference calls, notebook problems."""

from __future__ import annotations

import json
from pathlib import Path

from gradekit import DOUBLE_OK, KL_OK, SETUP, SUPPORT, lab_cells, read_book, submission, write_nb

from genlab.grading.grader import grade, self_check
from genlab.grading.notebook import strip_magics, uses_reference
from genlab.grading.sandbox import Limits

LIMITS = Limits(timeout=30, step_timeout=10)


def test_self_check_fixture(fixture_lab):
    ok, lines, (sol, lab) = self_check(fixture_lab["spec"], fixture_lab["lab"], fixture_lab["solution"],
                                       limits=LIMITS, workers=2)
    assert ok, "\n".join(lines)
    assert sol.total == 5 and lab.total == 0
    assert all("NotImplementedError" in " ".join(i.messages) for i in lab.items.values())


def test_batch_of_plausible_and_broken_submissions(fixture_lab, tmp_path):
    subs = tmp_path / "subs"
    submission(subs, "a_correct")
    submission(subs, "b_double_off_by_one", double="def double(x):\n    return SCALE * x + 1\n")
    submission(subs, "c_kl_wrong_sign",
               kl="def kl_divergence(mu, logvar):\n    return -0.5 * (logvar.exp() + mu**2 - 1 - logvar).sum(1)\n")
    submission(subs, "d_kl_summed_over_batch",
               kl="def kl_divergence(mu, logvar):\n    return 0.5 * (logvar.exp() + mu**2 - 1 - logvar).sum()\n")
    submission(subs, "e_kl_from_import",
               kl="from genlab.losses import kl_divergence as k\n\ndef kl_divergence(mu, logvar):\n"
                  "    return k(mu, logvar)\n")
    submission(subs, "f_kl_attribute",
               kl="import genlab.losses\n\ndef kl_divergence(mu, logvar):\n"
                  "    return genlab.losses.kl_divergence(mu, logvar)\n")
    submission(subs, "g_kl_hidden_call",  # no name to see statically: caught while being graded
               kl="import importlib\n\ndef kl_divergence(mu, logvar):\n"
                  "    m = importlib.import_module('genlab.' + 'losses')\n"
                  "    return getattr(m, 'kl_' + 'divergence')(mu, logvar)\n")
    submission(subs, "h_magics", double="%time x = 1\n!echo hi\n" + DOUBLE_OK)
    submission(subs, "i_duplicated", cells=[(SETUP, ["setup"]), (SUPPORT, ["support"]),
                                            ("def double(x):\n    return x\n", ["exercise"]),
                                            (DOUBLE_OK, ["exercise"]), (KL_OK, ["exercise"])])
    submission(subs, "j_kl_cell_deleted", cells=lab_cells(DOUBLE_OK, KL_OK)[:4])
    submission(subs, "k_scaffolding_edited",  # support edited and tags stripped from non-exercise cells
               cells=[("SCALE = 100.0\n", []), (DOUBLE_OK, ["exercise"]), (KL_OK, ["exercise"])])
    (subs / "l_not_json.ipynb").write_text("{ this is not json")
    (subs / "m_nbformat3.ipynb").write_text(json.dumps({"nbformat": 3, "worksheets": []}))
    (subs / "n_empty_folder").mkdir()
    write_nb(subs / "o_nbgrader" / "99_fixture" / "99_fixture.ipynb", lab_cells(DOUBLE_OK, KL_OK))
    submission(subs, "p_syntax_error", double="def double(x)\n    return x\n")
    out = tmp_path / "out"
    grade(fixture_lab["spec"], fixture_lab["lab"], subs, out, seed=3, limits=LIMITS, workers=2, progress=False)
    book = read_book(out)

    def pts(student):
        return {k: v["points"] for k, v in book[student]["items"].items()}

    assert pts("a_correct") == {"double": 2, "kl_divergence": 3}
    assert pts("b_double_off_by_one") == {"double": 0, "kl_divergence": 3}
    assert pts("c_kl_wrong_sign") == {"double": 2, "kl_divergence": 0}
    assert pts("d_kl_summed_over_batch") == {"double": 2, "kl_divergence": 0}
    assert "shape ()" in " ".join(book["d_kl_summed_over_batch"]["items"]["kl_divergence"]["messages"])
    for s in ("e_kl_from_import", "f_kl_attribute", "g_kl_hidden_call"):
        assert pts(s) == {"double": 2, "kl_divergence": 0}, s
        assert "must be your own implementation" in book[s]["items"]["kl_divergence"]["messages"][0]
    assert "while being graded" in book["g_kl_hidden_call"]["items"]["kl_divergence"]["messages"][0]
    assert pts("h_magics") == {"double": 2, "kl_divergence": 3}
    assert pts("i_duplicated") == {"double": 2, "kl_divergence": 3}
    assert any("last one was graded" in m for m in book["i_duplicated"]["messages"])
    assert pts("j_kl_cell_deleted") == {"double": 2, "kl_divergence": 0}
    assert "no exercise cell" in book["j_kl_cell_deleted"]["items"]["kl_divergence"]["messages"][0]
    assert pts("k_scaffolding_edited") == {"double": 2, "kl_divergence": 3}  # the lab's SCALE was used
    for s in ("l_not_json", "m_nbformat3"):
        assert book[s]["status"] == "invalid" and book[s]["total"] == 0
    assert "not valid JSON" in book["l_not_json"]["messages"][0]
    assert "nbformat 4" in book["m_nbformat3"]["messages"][0]
    assert book["n_empty_folder"]["status"] == "missing" and book["n_empty_folder"]["total"] == 0
    assert book["o_nbgrader"]["total"] == 5
    assert pts("p_syntax_error") == {"double": 0, "kl_divergence": 3}
    assert "SyntaxError" in " ".join(book["p_syntax_error"]["items"]["double"]["messages"])
    fb = (out / "feedback" / "c_kl_wrong_sign.md").read_text()
    assert "2 / 2" in fb and "0 / 3" in fb and "hint: sum over dim 1" in fb and "expected: KL per example" in fb
    assert "held-back case failed" in fb and "public case public-1" in fb
    meta = json.loads((out / "gradebook.json").read_text())
    assert meta["seed"] == 3 and meta["references"]["kl_divergence"] == "genlab"


def test_empty_submissions_folder_writes_an_empty_gradebook(fixture_lab, tmp_path):
    (tmp_path / "none").mkdir()
    out = tmp_path / "out"
    assert grade(fixture_lab["spec"], fixture_lab["lab"], tmp_path / "none", out, seed=0,
                 limits=LIMITS, progress=False) == []
    assert (out / "gradebook.csv").read_text().startswith("student,double,kl_divergence,total,max,status")
    assert json.loads((out / "gradebook.json").read_text())["students"] == []


def test_strip_magics():
    assert strip_magics("%%bash\nrm -rf /\n") == ""
    assert strip_magics("%%time\nx = 1\n") == "x = 1\n"
    assert strip_magics("  !pip install x\ny = 2").splitlines() == ["  pass  # magic stripped by the grader", "y = 2"]


def test_static_reference_detection():
    fb = [("genlab.losses", "kl_divergence")]
    assert uses_reference(["from genlab import losses\ndef kl_divergence(m, l):\n    return losses.kl_divergence(m, l)\n"],
                          "kl_divergence", fb)
    assert uses_reference(["import genlab.losses as L\nkl_divergence = L.kl_divergence\n"], "kl_divergence", fb)
    assert uses_reference(["from genlab.losses import kl_divergence\n"], "kl_divergence", fb)
    assert uses_reference(["import genlab.losses as L\ndef kl_divergence(m, l):\n"
                           "    return getattr(L, 'kl_divergence')(m, l)\n"], "kl_divergence", fb)
    # Using the reference of *another* item is allowed (elbo_loss may call genlab's KL).
    assert uses_reference(["from genlab.losses import kl_divergence as k\n"
                           "def elbo_loss(x, l, m, v):\n    return k(m, v).mean()\n"], "elbo_loss",
                          [("genlab.losses", "elbo_loss")]) is None
    assert uses_reference(["def kl_divergence(m, l):\n    return (m * l).sum(1)\n"], "kl_divergence", fb) is None


def test_cli_self_check_reports_missing_lab(capsys, tmp_path):
    from genlab.cli import main

    assert main(["grade", "--self-check", "02", "--root", str(tmp_path)]) == 1
    assert "does not exist yet" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["grade", "--self-check", "08"]) == 2  # lab 08 has no lab notebook and no spec
    assert "has no grading spec" in capsys.readouterr().err


def test_cli_grades_a_folder(fixture_lab, tmp_path, monkeypatch, capsys):
    """`genlab grade` end to end, with the fixture spec standing in for a lab's spec."""
    import genlab.exercises as specs
    from genlab.cli import main

    monkeypatch.setattr(specs, "load_spec", lambda lab: fixture_lab["spec"])
    subs = tmp_path / "subs"
    submission(subs, "alice")
    out = tmp_path / "out"
    rc = main(["grade", "99_fixture", str(subs), "--out", str(out), "--root", str(fixture_lab["root"]),
               "--workers", "1", "--timeout", "30", "--seed", "5", "--no-progress"])
    assert rc == 0
    assert "alice,2,3,5,5,ok" in (out / "gradebook.csv").read_text()
    assert "graded 1 submission(s)" in capsys.readouterr().out
    assert Path(out / "feedback" / "alice.md").exists()


def test_colliding_student_ids_get_distinct_feedback_files(fixture_lab, tmp_path):
    """'a b', 'a_b', 'a?b' and 'A_B' all make the safe name a_b: none may overwrite another's feedback."""
    from genlab.grading.grader import ItemResult, SubmissionResult, feedback_names, write_outputs

    students = ["A_B", "a b", "a?b", "a_b", "a_b-2", ".hidden"]
    names = feedback_names(students)
    assert len({n.lower() for n in names}) == len(students), names
    assert names[:4] == ["A_B.md", "a_b-2.md", "a_b-3.md", "a_b-4.md"] and names[4] == "a_b-2-2.md"
    spec = fixture_lab["spec"]
    results = []
    for i, s in enumerate(students):
        r = SubmissionResult(s, f"{s}.ipynb", "ok")
        r.items = {it.name: ItemResult(it.name, float(i % 2) * it.points, it.points, bool(i % 2)) for it in spec.items}
        results.append(r)
    out = tmp_path / "out"
    write_outputs(out, spec, results, {"seed": 0})
    files = sorted(p.name for p in (out / "feedback").iterdir())
    assert len(files) == len(students)
    book = read_book(out)
    for s in students:  # each student's recorded feedback file holds that student's own feedback
        text = (out / book[s]["feedback"]).read_text()
        assert f"Student: `{s}`" in text


def test_cli_refuses_without_bubblewrap_unless_sandbox_none(fixture_lab, tmp_path, monkeypatch, capsys):
    """No bwrap: `genlab grade` says how to install it; `--sandbox none` grades and records the opt-out."""
    import genlab.exercises as specs
    import genlab.grading.sandbox as sandbox
    from genlab.cli import main

    monkeypatch.setattr(specs, "load_spec", lambda lab: fixture_lab["spec"])
    real_which = sandbox.shutil.which
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None if name == "bwrap" else real_which(name))
    sandbox.probe_bwrap.cache_clear()
    try:
        subs = tmp_path / "subs"
        submission(subs, "alice")
        args = ["grade", "99_fixture", str(subs), "--root", str(fixture_lab["root"]), "--workers", "1",
                "--timeout", "30", "--no-progress"]
        assert main([*args, "--out", str(tmp_path / "refused")]) == 2
        err = capsys.readouterr().err
        assert "apt-get install bubblewrap" in err and "--sandbox none" in err
        assert not (tmp_path / "refused" / "gradebook.csv").exists()
        assert "none available" in sandbox.sandbox_summary()
        out = tmp_path / "out"
        assert main([*args, "--out", str(out), "--sandbox", "none"]) == 0
        assert "WITHOUT isolation" in capsys.readouterr().err
        book = json.loads((out / "gradebook.json").read_text())
        assert book["sandbox_kind"] == "none" and "NO SANDBOX" in book["sandbox"]
        assert any("WITHOUT isolation" in w for w in book["warnings"])
        assert book["students"][0]["total"] == 5
    finally:
        sandbox.probe_bwrap.cache_clear()


def test_csv_cells_are_neutralised():
    from genlab.grading.grader import csv_cell

    assert [csv_cell(s) for s in ("=1+1", "+x", "-2", "@a", "alice")] == ["'=1+1", "'+x", "'-2", "'@a", "alice"]
