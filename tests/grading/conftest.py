"""Fixtures of the grading tests (helpers live in gradekit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradekit import DOUBLE_OK, KL_OK, fixture_spec, lab_cells, write_nb


@pytest.fixture
def fixture_lab(tmp_path: Path) -> dict:
    """The fixture lab, its solution and its spec, in a private (0700) temp folder."""
    lab = write_nb(tmp_path / "labs" / "99_fixture.ipynb", lab_cells())
    sol = write_nb(tmp_path / "solutions" / "99_fixture.ipynb", lab_cells(DOUBLE_OK, KL_OK))
    return {"lab": lab, "solution": sol, "spec": fixture_spec(), "root": tmp_path}

