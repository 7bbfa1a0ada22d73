"""The real lab specs: correct implementations get every point, classic mistakes lose only their item.

Graded in-process with the same drivers and judges as the sandbox
(:func:`genlab.grading.grader.grade_functions`), with independent
implementations written here (never genlab's, which the specs use as reference).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genlab.exercises import GRADED_LABS, UNGRADED_LABS, load_spec
from genlab.grading.grader import grade_functions, self_check
from genlab.grading.notebook import code_cells, find_lab, read_notebook, repo_root
from genlab.grading.sandbox import Limits

# --------------------------------------------------------------------------- correct implementations


# lab 04: DCGAN blocks and the training step


# lab 06: the CRNN forward pass (layers as in the lab)


# lab 07: device-agnostic AMP loop, checkpoints


# lab 09: the fixed functions


CORRECT = {name: obj for name, obj in globals().items() if callable(obj) and not name.startswith("_")}

# --------------------------------------------------------------------------- classic mistakes, per item


@pytest.mark.parametrize("lab", GRADED_LABS)
def test_correct_implementations_get_full_marks(lab):
    torch.manual_seed(0)
    spec = load_spec(lab)
    res = grade_functions(spec, CORRECT, seed=11)
    assert {k: v.points for k, v in res.items()} == {it.name: it.points for it in spec.items}, \
        {k: v.messages for k, v in res.items() if not v.passed}


@pytest.mark.parametrize("lab", ["02", "03", "05", "06"])
def test_closed_form_fallbacks_agree_with_genlab(lab):
    g = torch.Generator().manual_seed(0)
    for item in load_spec(lab).items:
        ref, origin = item.resolve_reference()
        if item.fallback is None or origin != "genlab":
            continue
        for case in item.cases:
            call = case.make(g)
            torch.testing.assert_close(item.fallback(*call.args, **call.kwargs), ref(*call.args, **call.kwargs))


def _solution_labs_with_exercises() -> dict[str, Path]:
    """``{NN: solutions/NN_name.ipynb}`` for every solution notebook that has an ``exercise`` cell."""
    out = {}
    for nb in sorted((repo_root() / "solutions").glob("[0-9][0-9]_*.ipynb")):
        if any("exercise" in c.tags for c in code_cells(read_notebook(nb))):
            out[nb.name[:2]] = nb
    return out


SOLUTION_LABS = _solution_labs_with_exercises()
#: Every lab that must pass its self-check: the specs, and every solution lab with exercises.
SELF_CHECK_LABS = sorted((set(GRADED_LABS) | set(SOLUTION_LABS)) - set(UNGRADED_LABS))


def test_every_solution_lab_with_exercises_has_a_spec():
    """A lab that lands in solutions/ with exercise cells must get a spec (or be declared ungraded)."""
    missing = [nn for nn in SOLUTION_LABS if nn not in GRADED_LABS and nn not in UNGRADED_LABS]
    assert not missing, (f"solutions/ has exercise cells for lab(s) {missing} but genlab/exercises/ has no "
                         "labNN.py for them: write the spec (or list the lab in UNGRADED_LABS with a reason)")


@pytest.mark.parametrize("lab", sorted(set(GRADED_LABS) & set(SOLUTION_LABS)))
def test_spec_items_are_the_notebook_exercises(lab):
    """Every graded item is defined by an exercise cell of the solution, and every exercise defines an item."""
    cells = [c for c in code_cells(read_notebook(SOLUTION_LABS[lab])) if "exercise" in c.tags]
    defined = set().union(*(c.defines for c in cells))
    items = {it.name for it in load_spec(lab).items}
    assert items <= defined, f"spec items not defined by the notebook's exercise cells: {sorted(items - defined)}"
    for c in cells:
        assert c.defines & items, f"exercise cell {c.index} defines {sorted(c.defines)}, none of them graded"


@pytest.mark.parametrize("lab", SELF_CHECK_LABS)
def test_self_check_real_lab(lab):
    """Solution: full marks; untouched lab: zero.

    Skipped only for a spec written ahead of its lab (no solution notebook yet);
    a solution lab without a spec fails here and in the test above.
    """
    if lab not in GRADED_LABS:
        pytest.fail(f"lab {lab} has exercise cells in {SOLUTION_LABS[lab].name} but no grading spec")
    spec = load_spec(lab)
    sol_nb = find_lab(lab, folder="solutions")
    if sol_nb is None:
        pytest.skip(f"lab {spec.lab}: spec written, solutions/{spec.lab}.ipynb not there yet")
    lab_nb = find_lab(lab, folder="labs")
    assert lab_nb is not None, f"solutions/{sol_nb.name} exists but labs/{sol_nb.name} does not: run `genlab build`"
    ok, lines, _ = self_check(spec, lab_nb, sol_nb, seed=0, limits=Limits(timeout=120), workers=2)
    assert ok, "\n".join(lines)


def test_reference_scenarios_are_thread_safe():
    """The parent judges submissions from several threads; scenarios seed the global RNG (dropout)."""
    from concurrent.futures import ThreadPoolExecutor

    from genlab.exercises.lab07 import train_epoch as ref_train_epoch
    from genlab.exercises.scenarios import run_scenario

    def run(_):
        return run_scenario("train_epoch", ref_train_epoch, [0, False, False], None)["weights"]

    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(run, range(8)))
    assert all(torch.equal(o, outs[0]) for o in outs)


@pytest.mark.parametrize("lab", ["04", "06", "07", "09"])
def test_held_back_scenarios_pass_correct_code_for_any_seed(lab):
    """Held-back scenario setups are drawn from --seed: correct code must pass whatever the seed.

    Seeds 0, 6 and 16 once hid a correct CRNN's long-range dependency behind dead ReLUs.
    """
    spec = load_spec(lab)
    for seed in (0, 6, 16, 12345):
        res = grade_functions(spec, CORRECT, seed=seed)
        assert all(r.passed for r in res.values()), (seed, {k: v.messages for k, v in res.items() if not v.passed})


def test_lab07_calling_the_check_reference_scores_zero_while_the_grader_may(tmp_path):
    """genlab.exercises.lab07 holds the one reference of each lab-07 function.

    The grader's scenarios call them; a submission that calls them through the check module,
    even with no name to see in its source, must still score zero for that item only.
    """
    import json as _json

    from gradekit import read_book

    from genlab.grading.grader import grade

    spec = load_spec("07")
    sol = find_lab("07", folder="solutions")
    nb = _json.loads(Path(sol).read_text())
    hidden = ("import importlib\n\n"
              "def save_checkpoint(path, model, optimizer, scaler, epoch):\n"
              "    m = importlib.import_module('genlab.exercises.' + 'lab07')\n"
              "    return getattr(m, 'save_' + 'checkpoint')(path, model, optimizer, scaler, epoch)\n")
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "def save_checkpoint(" in src:
            cell["source"] = hidden
    subs = tmp_path / "subs"
    for name, book in (("cheat", nb), ("honest", _json.loads(Path(sol).read_text()))):
        (subs / name).mkdir(parents=True)
        (subs / name / f"{spec.lab}.ipynb").write_text(_json.dumps(book))
    out = tmp_path / "out"
    grade(spec, find_lab("07", folder="labs"), subs, out, seed=0, limits=Limits(timeout=120), workers=2,
          progress=False)
    book = read_book(out)
    full = {it.name: it.points for it in spec.items}
    assert {k: v["points"] for k, v in book["honest"]["items"].items()} == full
    cheat = {k: v["points"] for k, v in book["cheat"]["items"].items()}
    assert cheat == dict(full, save_checkpoint=0), cheat
    assert "while being graded" in " ".join(book["cheat"]["items"]["save_checkpoint"]["messages"])
