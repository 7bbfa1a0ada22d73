"""genlab grade: the summary's statistics, and what --self-check grades."""

from __future__ import annotations

import pytest

from genlab.grading.cli import _median


@pytest.mark.parametrize("values, median", [
    ([0, 10], 5), ([10, 0], 5), ([3], 3), ([1, 2, 9], 2), ([9, 1, 2, 4], 3), ([0, 0, 10, 10, 10], 10),
])
def test_median_of_even_and_odd_counts(values, median):
    assert _median(values) == median


def test_self_check_grades_the_built_release_not_the_working_lab(monkeypatch, capsys):
    """The lab in labs/ may hold a student's answers: self-check must grade what the build writes."""
    import json
    from pathlib import Path

    import genlab.grading.grader as grader
    from genlab.cli import main

    seen = {}

    def fake_self_check(spec, lab_nb, sol_nb, **kwargs):
        seen["lab"], seen["sol"] = Path(lab_nb), Path(sol_nb)
        seen["lab_text"] = Path(lab_nb).read_text()
        return True, ["fake self-check"], []

    monkeypatch.setattr(grader, "self_check", fake_self_check)
    root = Path(__file__).resolve().parents[2]
    assert main(["grade", "--self-check", "02_vae", "--root", str(root)]) == 0
    assert seen["lab"].parent != root / "labs" and seen["sol"].parent != root / "solutions"
    assert seen["lab"].name == "02_vae.ipynb"
    nb = json.loads(seen["lab_text"])
    assert "genlab" in nb["metadata"]                       # stamped as the build stamps labs
    assert seen["lab_text"] == (root / "labs" / "02_vae.ipynb").read_text()  # = the committed release
    assert "fake self-check" in capsys.readouterr().out
