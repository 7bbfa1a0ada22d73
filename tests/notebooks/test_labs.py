"""Every student lab executes; only errors caused by unimplemented exercises are tolerated.

An exercise cell in a lab defines functions whose bodies ``raise NotImplementedError``.
Calling them (in a check cell, or a training cell) raises that error, possibly wrapped
by a check as "not implemented yet"; later cells may then miss a name the failed cell
would have defined. Those are tolerated. Any other error fails the test, and so does a
lab in which nothing raises (its exercises would be solved already).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nboutputs import display_problems

ROOT = Path(__file__).resolve().parents[2]
LABS = sorted((ROOT / "labs").glob("[0-9][0-9]_*.ipynb"))


def _is_unimplemented(output) -> bool:
    if output.get("ename") == "NotImplementedError":
        return True
    return output.get("ename") == "CheckFailed" and "not implemented yet" in output.get("evalue", "")


@pytest.mark.notebook
@pytest.mark.parametrize("path", LABS, ids=[p.stem for p in LABS])
def test_lab_runs_with_only_exercises_raising(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    env_before = {k: os.environ.get(k) for k in ("GENLAB_FAST", "MPLBACKEND")}
    # the inline backend, as in Jupyter, so that a figure shown twice shows up in the outputs
    os.environ.update(GENLAB_FAST="1", MPLBACKEND="module://matplotlib_inline.backend_inline")
    try:
        client.execute()
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    unimplemented = 0
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            tags = cell.metadata.get("tags", [])
            if _is_unimplemented(out):
                unimplemented += 1
            elif out.get("ename") == "NameError" and unimplemented and "exercise" not in tags:
                continue  # a name that an earlier, unimplemented step would have defined
            else:
                problems.append(f"cell {index} ({tags or 'untagged'}): {out['ename']}: {out['evalue']}")
    assert not problems, f"{path.name} has errors not caused by unimplemented exercises:\n" + "\n".join(problems)
    assert unimplemented, f"{path.name}: no exercise raised NotImplementedError; is the lab built from its solution?"
    shown = display_problems(nb)
    assert not shown, f"{path.name} shows a figure twice or a stray repr:\n" + "\n".join(shown)
