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



@pytest.fixture(autouse=True)
def _one_torch_thread():
    """In-process grading is tiny work: one thread avoids thread-pool spin on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
