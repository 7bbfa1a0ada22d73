"""genlab build: py:percent -> ipynb, solutions -> labs, and --check."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genlab.course import build
from genlab.errors import BuildError

ROOT = Path(__file__).resolve().parents[2]

SOLUTION = '''# %% [markdown]
# # Lab 99
# <!-- BEGIN SOLUTION -->
# The answer is 42.
# <!-- END SOLUTION -->
# Visible text.

# %% tags=["setup"]

# %% tags=["exercise"]
def answer(x):
    ### BEGIN SOLUTION
    # HINT: multiply by six, then by seven.
    return x * 42
    ### END SOLUTION


# %%
print(answer(1))
'''


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "course").mkdir()
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "99_test.py").write_text(SOLUTION)
    return tmp_path


def test_committed_notebooks_are_up_to_date():
    out = subprocess.run([sys.executable, "-m", "genlab", "build", "--check", "--root", str(ROOT)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_lab_replaces_code_and_removes_markdown(tmp_path):
    root = _repo(tmp_path)
    assert build(root) == 0
    lab = (root / "labs" / "99_test.py").read_text()
    assert "return x * 42" not in lab and "42." not in lab
    assert "raise NotImplementedError('multiply by six, then by seven.')" in lab
    assert "Visible text." in lab
    nb = json.loads((root / "labs" / "99_test.ipynb").read_text())
    tags = [c["metadata"].get("tags", []) for c in nb["cells"]]
    assert ["exercise"] in tags and ["setup"] in tags
    assert all(c.get("outputs", []) == [] for c in nb["cells"])
    sol = json.loads((root / "solutions" / "99_test.ipynb").read_text())
    assert any("return x * 42" in "".join(c["source"]) for c in sol["cells"])


def test_lab_code_raises_not_implemented(tmp_path):
    root = _repo(tmp_path)
    build(root)
    ns: dict = {}
    src = (root / "labs" / "99_test.py").read_text()
    exercise = src.split('# %% tags=["exercise"]')[1].split("# %%")[0]
    exec(exercise, ns)
    with pytest.raises(NotImplementedError, match="six"):
        ns["answer"](1)


def test_check_names_changed_file_and_build_is_idempotent(tmp_path, capsys):
    root = _repo(tmp_path)
    assert build(root) == 0
    assert build(root, check=True) == 0
    capsys.readouterr()
    src = root / "solutions" / "99_test.py"
    src.write_text(src.read_text().replace("x * 42", "x * 43"))
    before = (root / "labs" / "99_test.ipynb").read_text()
    assert build(root, check=True) == 1
    out = capsys.readouterr().out
    assert "solutions/99_test.ipynb" in out
    assert (root / "labs" / "99_test.ipynb").read_text() == before  # --check writes nothing


def test_stale_generated_file_is_reported(tmp_path, capsys):
    root = _repo(tmp_path)
    build(root)
    (root / "labs" / "98_gone.ipynb").write_text("{}")
    assert build(root, check=True) == 1
    assert "98_gone.ipynb" in capsys.readouterr().out


@pytest.mark.parametrize("body, line, words", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", 8, "never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", 9, "without a matching"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", 9,
     "nested"),
])
def test_bad_markers_name_file_and_line(tmp_path, body, line, words):
    root = _repo(tmp_path)
    text = '# %% [markdown]\n# # Bad\n\n# %% tags=["setup"]\n\n# %% tags=["exercise"]\n' + body
    (root / "solutions" / "99_test.py").write_text(text)
    with pytest.raises(BuildError, match=words) as err:
        build(root)
    assert f"99_test.py:{line}" in str(err.value)
    assert not (root / "labs").exists()  # nothing half-written


def test_missing_setup_cell_is_an_error(tmp_path):
    root = _repo(tmp_path)
    (root / "course" / "01_x.py").write_text("# %%\nprint(1)\n")
    with pytest.raises(BuildError, match="no setup cell"):
        build(root)


def test_cli_check_fails_after_editing_a_solution(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "course", root / "course")
    shutil.copytree(ROOT / "solutions", root / "solutions")
    shutil.copytree(ROOT / "labs", root / "labs")
    cmd = [sys.executable, "-m", "genlab", "build", "--check", "--root", str(root)]
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    src = root / "solutions" / "00_setup.py"
    src.write_text(src.read_text() + "\n# %%\nprint('edited')\n")
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 1
    assert "solutions/00_setup.py" in out.stdout and "labs/00_setup.ipynb" in out.stdout


def test_every_notebook_starts_with_the_setup_cell():
    from genlab.config import REPO_URL

    for path in sorted(ROOT.glob("*/[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert code and code[0]["metadata"].get("tags") == ["setup"], path
        src = "".join(code[0]["source"])
        assert "%pip install" in src and REPO_URL in src and "except ImportError" in src, path


# ---------------------------------------------------------------- student work in labs/

def _solve_lab(root: Path) -> None:
    """Type the answer into the generated lab, as a student in JupyterLab would."""
    path = root / "labs" / "99_test.ipynb"
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if "exercise" in cell["metadata"].get("tags", []):
            cell["source"] = "def answer(x):\n    return x * 42\n"
    path.write_text(json.dumps(nb))


def test_build_refuses_to_overwrite_a_lab_holding_answers(tmp_path, capsys):
    root = _repo(tmp_path)
    assert build(root) == 0
    _solve_lab(root)
    solved = (root / "labs" / "99_test.ipynb").read_text()
    src = root / "solutions" / "99_test.py"
    src.write_text(src.read_text().replace("Visible text.", "Visible text, edited."))
    assert build(root) == 1
    err = capsys.readouterr().err
    assert "labs/99_test.ipynb" in err and "genlab workspace" in err and "--force" in err
    assert (root / "labs" / "99_test.ipynb").read_text() == solved           # answers intact
    assert "edited" not in (root / "solutions" / "99_test.ipynb").read_text()  # nothing written at all
    assert build(root, check=True) == 1
    out = capsys.readouterr().out
    assert "holds edits" in out and "Run `genlab build` and commit" not in out
    assert build(root, force=True) == 0
    assert "return x * 42" not in (root / "labs" / "99_test.ipynb").read_text()


def test_running_a_lab_is_not_editing_it(tmp_path):
    root = _repo(tmp_path)
    build(root)
    path = root / "labs" / "99_test.ipynb"
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ran\n"}]
            cell["execution_count"] = 1
    path.write_text(json.dumps(nb))
    src = root / "solutions" / "99_test.py"
    src.write_text(src.read_text().replace("Visible text.", "Visible text, edited."))
    assert build(root) == 0
    assert "edited" in path.read_text()


def test_an_edited_py_twin_is_kept_too(tmp_path):
    root = _repo(tmp_path)
    build(root)
    py = root / "labs" / "99_test.py"
    py.write_text(py.read_text().replace("raise NotImplementedError('multiply by six, then by seven.')",
                                         "return x * 42"))
    src = root / "solutions" / "99_test.py"
    src.write_text(src.read_text().replace("Visible text.", "Visible text, edited."))
    assert build(root) == 1
    assert "return x * 42" in py.read_text()


def test_self_check_notebooks_are_the_built_release(tmp_path):
    from genlab.course import release_notebooks

    root = _repo(tmp_path)
    build(root)
    _solve_lab(root)
    sol, lab = release_notebooks(root / "solutions" / "99_test.py", root)
    assert sol == (root / "solutions" / "99_test.ipynb").read_text()
    assert "NotImplementedError" in lab and "return x * 42" not in lab


# ---------------------------------------------------------------- marked copies and "Developed in"

LIB = '''"""A tiny library.

Developed in course/{nb} (lab 99).
"""


def double(x, k=2):
    """Twice x."""
    # a comment the check ignores
    return x * k
'''


def _repo_with_library(tmp_path: Path, monkeypatch, cell: str, nb: str = "99_test") -> Path:
    root = _repo(tmp_path)
    pkg = root / "genlab" / "fakelib_ux"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(LIB.format(nb=nb))
    src = root / "solutions" / "99_test.py"
    src.write_text(src.read_text() + "\n# %%\n" + cell)
    (root / "course" / "99_test.py").write_text('# %% [markdown]\n# # L\n\n# %% tags=["setup"]\n')
    import genlab

    monkeypatch.setattr(genlab, "__path__", [*genlab.__path__, str(root / "genlab")])
    sys.modules.pop("genlab.fakelib_ux", None)
    return root


SAME = "# Same as genlab.fakelib_ux.double\ndef double(x, k=2):\n    ### BEGIN SOLUTION\n    return x * k\n    ### END SOLUTION\n"


def test_marked_copy_equal_to_the_library_passes(tmp_path, monkeypatch, capsys):
    root = _repo_with_library(tmp_path, monkeypatch, SAME)
    assert build(root) == 0
    assert build(root, check=True) == 0, capsys.readouterr().out
    lab = (root / "labs" / "99_test.py").read_text()
    assert "Same as" not in lab and "fakelib_ux" not in lab  # the marker would point at the answer
    assert "def double(x, k=2):" in lab and "NotImplementedError" in lab


def test_type_hints_do_not_count_in_a_marked_copy(tmp_path, monkeypatch, capsys):
    cell = SAME.replace("def double(x, k=2):", "def double(x: float, k: int = 2) -> float:")
    root = _repo_with_library(tmp_path, monkeypatch, cell)
    assert build(root) == 0
    assert build(root, check=True) == 0, capsys.readouterr().out


#: The solution cells that must equal a library function (the student-visible answer and its reference).
MARKED = {
    "solutions/07_gpu_training.py": ["genlab.exercises.lab07.autocast_settings", "genlab.train.loop.autocast_settings",
                                     "genlab.exercises.lab07.train_epoch", "genlab.exercises.lab07.save_checkpoint",
                                     "genlab.exercises.lab07.load_checkpoint",
                                     "genlab.exercises.lab07.train_epoch_accumulate"],
    "solutions/04_gans_on_images.py": ["genlab.exercises.lab04.hinge_discriminator_loss",
                                       "genlab.exercises.lab04.hinge_generator_loss"],
    "solutions/09_debugging.py": ["genlab.exercises.lab09._ref_dead_units as dead_units"],
}


def test_the_solutions_marked_copies_equal_their_library_functions():
    from genlab.course import same_as_problems

    for rel, names in MARKED.items():
        text = (ROOT / rel).read_text(encoding="utf-8")
        for dotted in names:
            assert f"# Same as {dotted}\n" in text, (rel, dotted)
        lab = (ROOT / rel.replace("solutions/", "labs/")).read_text(encoding="utf-8")
        assert "Same as" not in lab, rel
    assert same_as_problems(ROOT) == []


@pytest.mark.parametrize("rel, old, new, words", [
    ("solutions/07_gpu_training.py", 'tmp = path.with_name(path.name + ".tmp")', 'tmp = path.with_name(path.name + ".part")',
     "save_checkpoint differs from genlab.exercises.lab07.save_checkpoint (exercises/lab07.py:"),
    ("solutions/09_debugging.py", "model.train(was_training)", "model.train(True)",  # a copy under another name
     "dead_units differs from genlab.exercises.lab09._ref_dead_units (exercises/lab09.py:"),
])
def test_a_drifted_solution_copy_fails_naming_both_sides(tmp_path, rel, old, new, words):
    from genlab.course import same_as_problems

    (tmp_path / "solutions").mkdir()
    text = (ROOT / rel).read_text(encoding="utf-8")
    drifted = text.replace(old, new)
    assert drifted != text
    (tmp_path / rel).write_text(drifted, encoding="utf-8")
    problems = same_as_problems(tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{rel}:")
    assert words in problems[0]


#: A cell marked as the copy of a library function of another name (a private ``_ref_`` reference).
ALIAS = SAME.replace("# Same as genlab.fakelib_ux.double", "# Same as genlab.fakelib_ux.double as twice").replace(
    "def double", "def twice")


@pytest.mark.parametrize("cell, words", [
    (SAME.replace("x * k", "x * k + 1"), "double differs from genlab.fakelib_ux.double"),
    (SAME.replace("k=2", "k=3"), "double differs"),
    (SAME.replace("def double", "def triple"), "defines no double"),
    (SAME.replace("fakelib_ux.double", "fakelib_ux.nothing").replace("def double", "def nothing"),
     "no such function"),
    (ALIAS.replace("x * k", "x * k + 1"), "twice differs from genlab.fakelib_ux.double"),
    (ALIAS.replace("def twice", "def double"), "defines no twice"),
])
def test_marked_copy_that_drifted_fails_the_check(tmp_path, monkeypatch, capsys, cell, words):
    root = _repo_with_library(tmp_path, monkeypatch, cell)
    assert build(root) == 0
    capsys.readouterr()
    assert build(root, check=True) == 1
    out = capsys.readouterr().out
    assert words in out and "solutions/99_test.py:" in out


def test_a_marked_copy_may_have_another_name(tmp_path, monkeypatch, capsys):
    root = _repo_with_library(tmp_path, monkeypatch, ALIAS)
    assert build(root) == 0
    assert build(root, check=True) == 0, capsys.readouterr().out
    lab = (root / "labs" / "99_test.py").read_text()
    assert "Same as" not in lab and "def twice(x, k=2):" in lab


def test_lab07s_delegating_autocast_reference_is_compared_with_the_library_code(tmp_path):
    from genlab.course import same_as_problems

    (tmp_path / "solutions").mkdir()
    text = (ROOT / "solutions/07_gpu_training.py").read_text(encoding="utf-8")
    drifted = text.replace("return True, torch.float16, False", "return False, torch.float16, False")
    assert drifted != text
    (tmp_path / "solutions" / "07_gpu_training.py").write_text(drifted, encoding="utf-8")
    problems = same_as_problems(tmp_path)
    assert len(problems) == 2, problems  # both markers: the exercise's reference and the library's
    assert all("autocast_settings differs from" in p and "(train/loop.py:" in p for p in problems), problems


def test_developed_in_must_name_an_existing_notebook(tmp_path, monkeypatch, capsys):
    root = _repo_with_library(tmp_path, monkeypatch, SAME, nb="99_gone")
    build(root)
    capsys.readouterr()
    assert build(root, check=True) == 1
    out = capsys.readouterr().out
    assert "genlab/fakelib_ux/__init__.py:3" in out and "course/99_gone" in out


def test_every_developed_in_of_the_library_names_a_notebook():
    from genlab.course import developed_in_problems

    assert developed_in_problems(ROOT) == []
