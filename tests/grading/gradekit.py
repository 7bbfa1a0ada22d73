"""Helpers of the grading tests: a tiny fixture lab (two graded items) and helpers to write crafted submissions.

The fixture lab has the cell layout of a real genlab lab: a ``setup`` cell, a
``support`` cell (imports, a constant the exercises use), two ``exercise``
cells each followed by a check cell, and an untagged training cell. Check and
training cells raise if run, which proves the grader never runs them.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import torch

from genlab.exercises import Call, Case, Item, LabSpec
from genlab.exercises._core import randn

SETUP = "import sys\nif 'google.colab' in sys.modules:  # installs genlab on Colab only\n    pass\n"
SUPPORT = "import torch\nSCALE = 2.0\n"
DOUBLE_OK = "def double(x):\n    return SCALE * x\n"
DOUBLE_STUB = "def double(x):\n    raise NotImplementedError('multiply by SCALE')\n"
KL_OK = ("def kl_divergence(mu, logvar):\n"
         "    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(dim=1)\n")
KL_STUB = "def kl_divergence(mu, logvar):\n    raise NotImplementedError('closed form')\n"
NEVER = "raise RuntimeError('{what} cells must never run in the grader')\n"


def _kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(dim=1)


def fixture_spec() -> LabSpec:
    """Two items: ``double`` (no genlab reference) and ``kl_divergence`` (genlab's is the reference)."""
    return LabSpec(lab="99_fixture", title="fixture", items=[
        Item("double", 2, reference=None, fallback=lambda x: 2.0 * x,
             cases=[Case("public-1", lambda g: Call([randn(g, 3, 4)])),
                    Case("held-1", lambda g: Call([randn(g, 5)]), public=False)],
             expected="2 * x", hint="use SCALE"),
        Item("kl_divergence", 3, reference="genlab.losses.kl_divergence", fallback=_kl,
             cases=[Case("public-1", lambda g: Call([randn(g, 4, 3), randn(g, 4, 3)])),
                    Case("held-1", lambda g: Call([randn(g, 6, 2, scale=2.0), randn(g, 6, 2)]),
                         public=False)],
             expected="KL per example", hint="sum over dim 1"),
    ])


def write_nb(path: Path, cells: list[tuple[str, list[str]]]) -> Path:
    """Write a notebook of code cells ``(source, tags)`` (plus one Markdown cell)."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Fixture lab"))
    for src, tags in cells:
        nb.cells.append(nbformat.v4.new_code_cell(src, metadata={"tags": list(tags)}))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def lab_cells(double: str = DOUBLE_STUB, kl: str = KL_STUB) -> list[tuple[str, list[str]]]:
    return [
        (SETUP, ["setup"]),
        (SUPPORT, ["support"]),
        (double, ["exercise"]),
        ("genlab.checks.check_double(double)\n" + NEVER.format(what="check"), []),
        (kl, ["exercise"]),
        (NEVER.format(what="check"), []),
        ("%matplotlib inline\n" + NEVER.format(what="training"), []),
    ]


def submission(folder: Path, student: str, double: str = DOUBLE_OK, kl: str = KL_OK,
               cells: list[tuple[str, list[str]]] | None = None) -> Path:
    """A student's notebook: the lab layout with their exercise sources (or custom cells)."""
    return write_nb(folder / f"{student}.ipynb", cells if cells is not None else lab_cells(double, kl))





def read_book(out: Path) -> dict:
    """The gradebook JSON keyed by student, after checking the CSV is whole."""
    book = json.loads((out / "gradebook.json").read_text())
    rows = (out / "gradebook.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + len(book["students"])
    return {s["student"]: s for s in book["students"]}
