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
