"""genlab workspace: student copies apart from the repository, never overwriting an edited one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from genlab.course import build
from genlab.workspace import MANIFEST, sync

ROOT = Path(__file__).resolve().parents[2]

SOLUTION = '''# %% [markdown]
# # Lab 99

# %% tags=["setup"]

# %% tags=["exercise"]
def answer(x):
    ### BEGIN SOLUTION
    return x * 42
    ### END SOLUTION
'''


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "course").mkdir(parents=True)
    (root / "solutions").mkdir()
    (root / "solutions" / "99_test.py").write_text(SOLUTION)
    (root / "course" / "99_test.py").write_text('# %% [markdown]\n# # Lecture 99\n\n# %% tags=["setup"]\n')
    assert build(root) == 0
    return root


def _edit(path: Path, text: str) -> None:
    nb = json.loads(path.read_text())
    nb["cells"][-1]["source"] = text
    path.write_text(json.dumps(nb))


def _new_release(root: Path) -> None:
    src = root / "solutions" / "99_test.py"
    src.write_text(src.read_text().replace("# # Lab 99", "# # Lab 99, second release"))
    assert build(root) == 0


def test_copies_lectures_and_labs_without_jupytext_pairing(tmp_path):
    root = _repo(tmp_path)
    work = tmp_path / "work"
    report = sync(root, work)
    assert sorted(report.copied) == ["course/99_test.ipynb", "labs/99_test.ipynb"]
    for rel in report.copied:
        nb = json.loads((work / rel).read_text())
        assert "jupytext" not in nb["metadata"], rel
    assert 'formats = "ipynb"' in (work / "jupytext.toml").read_text()  # pairs nothing in here
    assert set(json.loads((work / MANIFEST).read_text())["copies"]) == set(report.copied)
    again = sync(root, work)
    assert again.copied == [] and sorted(again.unchanged) == sorted(report.copied)


def test_an_edited_copy_is_never_written_and_the_new_release_goes_beside_it(tmp_path):
    root = _repo(tmp_path)
    work = tmp_path / "work"
    sync(root, work)
    mine = work / "labs" / "99_test.ipynb"
    _edit(mine, "def answer(x):\n    return x * 42\n")
    edited = mine.read_text()
    _new_release(root)
    report = sync(root, work)
    assert mine.read_text() == edited
    [(kept, side)] = report.side_by_side
    assert kept == "labs/99_test.ipynb" and side.startswith("labs/99_test.release-")
    assert "second release" in (work / side).read_text()
    assert report.updated == ["course/99_test.ipynb"] or report.unchanged == ["course/99_test.ipynb"]
    assert any("kept labs/99_test.ipynb" in line for line in report.lines())
    sync(root, work)  # once more: still the student's file, no second side copy
    assert mine.read_text() == edited
    assert len(list((work / "labs").glob("99_test.release-*.ipynb"))) == 1


def test_an_untouched_copy_follows_the_release(tmp_path):
    root = _repo(tmp_path)
    work = tmp_path / "work"
    sync(root, work)
    _new_release(root)
    report = sync(root, work)
    assert report.updated == ["labs/99_test.ipynb"]
    assert "second release" in (work / "labs" / "99_test.ipynb").read_text()


def test_a_new_lab_appears(tmp_path):
    root = _repo(tmp_path)
    work = tmp_path / "work"
    sync(root, work)
    (root / "solutions" / "98_new.py").write_text(SOLUTION.replace("Lab 99", "Lab 98"))
    build(root)
    assert "labs/98_new.ipynb" in sync(root, work).copied


def test_answers_typed_into_labs_are_copied_as_the_students_own(tmp_path):
    root = _repo(tmp_path)
    _edit(root / "labs" / "99_test.ipynb", "def answer(x):\n    return x * 42\n")
    work = tmp_path / "work"
    sync(root, work)
    assert "return x * 42" in (work / "labs" / "99_test.ipynb").read_text()
    assert "labs/99_test.ipynb" not in json.loads((work / MANIFEST).read_text())["copies"]
    assert build(root, force=True) == 0
    report = sync(root, work)  # the rebuilt release must not replace the rescued answers
    assert "return x * 42" in (work / "labs" / "99_test.ipynb").read_text()
    assert report.side_by_side and report.side_by_side[0][0] == "labs/99_test.ipynb"


def test_default_workspace_is_git_ignored_and_leaves_git_status_clean(tmp_path):
    out = subprocess.run(["git", "check-ignore", "-q", "work/labs/02_vae.ipynb"], cwd=ROOT)
    assert out.returncode == 0, "work/ must be in .gitignore"


def test_cli_writes_the_workspace(tmp_path):
    root = _repo(tmp_path)
    out = subprocess.run([sys.executable, "-m", "genlab", "workspace", "--root", str(root)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (root / "work" / "labs" / "99_test.ipynb").is_file()
    assert "2 new" in out.stdout


def test_an_edited_copy_without_a_newer_release_is_simply_kept(tmp_path):
    root = _repo(tmp_path)
    work = tmp_path / "work"
    sync(root, work)
    mine = work / "labs" / "99_test.ipynb"
    _edit(mine, "def answer(x):\n    return x * 42\n")
    report = sync(root, work)
    assert report.kept == ["labs/99_test.ipynb"] and report.side_by_side == []
    assert not list((work / "labs").glob("*.release-*"))
