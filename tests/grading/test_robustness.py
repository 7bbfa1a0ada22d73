"""Crafted hostile submissions: each costs only itself, the batch goes on, the gradebook is whole.

All of them are graded in ONE batch (module fixture) with two controls; each
test then checks one crafted submission, the controls and the gradebook.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest
from gradekit import DOUBLE_OK, KL_OK, fixture_spec, lab_cells, read_book, submission, write_nb

from genlab.grading.grader import grade
from genlab.grading.sandbox import Limits, Sandbox

LIMITS = Limits(timeout=20, step_timeout=4)
WORKERS = 2
SWALLOW = ("while True:\n    try:\n        while True:\n            pass\n"
           "    except BaseException:\n        pass\n")


@functools.cache
def _dropped() -> bool:
    """Do workers run as a slot uid of their own here (root under bubblewrap)?"""
    sandbox = Sandbox(LIMITS, 1)
    try:
        return any(u is not None for u in sandbox.uids)
    finally:
        sandbox.close()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("robust")  # under pytest's private (0700) temp root
    os.chmod(base, 0o700)
    lab = write_nb(base / "labs" / "99_fixture.ipynb", lab_cells())
    subs, out = base / "subs", base / "out"
    out.mkdir()
    (out / "gradebook.csv").write_text("stale\n")
    submission(subs, "a_control")
    submission(subs, "inf_loop_cell", double="while True:\n    pass\n" + DOUBLE_OK)
    submission(subs, "inf_loop_call", double="def double(x):\n    while True:\n        pass\n")
    submission(subs, "swallowed_timeout", kl=SWALLOW + KL_OK)
    submission(subs, "alloc_50gb",
               double="def double(x):\n    big = torch.ones(50 * 2**30, dtype=torch.uint8)\n    return SCALE * x\n")
    if _dropped():  # only where RLIMIT_NPROC binds a uid of its own (see test_fork_loop)
        submission(subs, "fork_loop", double=("import os, sys\nwhile True:\n    if os.fork() == 0:\n"
                                              "        os.setsid()\n        os.execv(sys.executable, [sys.executable, '-c', "
                                              "'import time; time.sleep(61.2345)'])\n"
                                              + DOUBLE_OK))
    submission(subs, "os_exit", double="import os\nos._exit(0)\n" + DOUBLE_OK)
    submission(subs, "sys_exit", double="import sys\n\ndef double(x):\n    sys.exit(3)\n")
    submission(subs, "keyboard_interrupt", kl="raise KeyboardInterrupt\n" + KL_OK)
    submission(subs, "patch_builtins", double=(
        "import builtins, sys, json\nbuiltins.open = None\nbuiltins.print = None\nsys.excepthook = None\n"
        "json.dumps = lambda *a, **k: 'forged'\n"
        "try:\n    from IPython.core.interactiveshell import InteractiveShell\n"
        "    InteractiveShell.showtraceback = lambda *a, **k: None\nexcept Exception:\n    pass\n" + DOUBLE_OK))
    submission(subs, "patch_isinstance", double="import builtins\nbuiltins.isinstance = lambda *a: True\n" + DOUBLE_OK)
    submission(subs, "eq_always_true", double=(
        "class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n\n"
        "def double(x):\n    return Yes()\n"), kl=(
        "class T(torch.Tensor):\n    def __eq__(self, other):\n        return True\n\n"
        "def kl_divergence(mu, logvar):\n    return torch.zeros(mu.shape[0]).as_subclass(T)\n"))
    other = subs / "a_control.ipynb"
    submission(subs, "files_outside", double=(
        f"open({str(other)!r}).read()\n"
        f"open({str(out / 'gradebook.csv')!r}, 'w').write('pwned')\n"
        f"open({str(out / 'pwned.txt')!r}, 'w').write('pwned')\n" + DOUBLE_OK))
    submission(subs, "print_flood", double=(
        "import os\nos.write(1, b'y' * 100_000_000)\n\n"
        "def double(x):\n    print('x' * 100_000_000)\n    return SCALE * x\n"))
    submission(subs, "z_control")
    grade(fixture_spec(), lab, subs, out, seed=1, limits=LIMITS, workers=WORKERS, progress=False)
    return {"book": read_book(out), "out": out, "leftover_children": _sleepers(),
            "raw": json.loads((out / "gradebook.json").read_text())}


N_SUBMISSIONS = 15 if _dropped() else 14


def _pts(book, student):
    return {k: v["points"] for k, v in book[student]["items"].items()}


def _msgs(book, student):
    s = book[student]
    return " | ".join(s["messages"] + [m for i in s["items"].values() for m in i["messages"]])


def _others_fine(batch):
    book = batch["book"]
    for control in ("a_control", "z_control"):
        assert book[control]["status"] == "ok" and book[control]["total"] == 5, _msgs(book, control)
    assert len(book) == N_SUBMISSIONS
    assert (batch["out"] / "gradebook.csv").read_text().startswith("student,double,kl_divergence")


def test_infinite_loop_in_cell(batch):
    assert _pts(batch["book"], "inf_loop_cell") == {"double": 0, "kl_divergence": 3}
    assert "longer than" in _msgs(batch["book"], "inf_loop_cell")
    _others_fine(batch)


def test_infinite_loop_in_call(batch):
    assert _pts(batch["book"], "inf_loop_call") == {"double": 0, "kl_divergence": 3}
    _others_fine(batch)


def test_loop_that_swallows_the_timeout_is_killed(batch):
    s = batch["book"]["swallowed_timeout"]
    assert s["status"] == "timeout" and s["total"] == 0
    assert "time limit" in s["messages"][0]  # its CPU time ran out (RLIMIT_CPU)
    _others_fine(batch)


def test_50gb_allocation(batch):
    assert _pts(batch["book"], "alloc_50gb") == {"double": 0, "kl_divergence": 3}
    assert "alloc" in _msgs(batch["book"], "alloc_50gb").lower()
    _others_fine(batch)


def test_fork_loop(batch):
    if not _dropped():
        # As a normal user RLIMIT_NPROC counts all of the user's processes: a fork loop would
        # starve the test runner itself; as root without a free uid it is not enforced at all.
        pytest.skip("no sandbox uid here: the fork loop is only run where RLIMIT_NPROC binds it alone")
    assert _pts(batch["book"], "fork_loop") == {"double": 0, "kl_divergence": 3}
    assert "BlockingIOError" in _msgs(batch["book"], "fork_loop")  # RLIMIT_NPROC stopped it
    # Its children (which left the process group with setsid) ended with the PID namespace.
    assert batch["leftover_children"] == []
    _others_fine(batch)


def _sleepers() -> list[str]:
    """Processes whose command line is the fork loop's ``sleep 61.2345``."""
    found = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and b"61.2345" in Path(f"/proc/{d}/cmdline").read_bytes():
                found.append(d)
        except OSError:
            continue
    return found


def test_os_exit(batch):
    s = batch["book"]["os_exit"]
    assert s["status"] == "crashed" and s["total"] == 0
    assert "stopped before finishing" in s["messages"][0]
    _others_fine(batch)


def test_sys_exit(batch):
    assert _pts(batch["book"], "sys_exit") == {"double": 0, "kl_divergence": 3}
    assert "SystemExit" in _msgs(batch["book"], "sys_exit")
    _others_fine(batch)


def test_keyboard_interrupt(batch):
    assert _pts(batch["book"], "keyboard_interrupt") == {"double": 2, "kl_divergence": 0}
    assert "KeyboardInterrupt" in _msgs(batch["book"], "keyboard_interrupt")
    _others_fine(batch)


def test_patching_builtins_and_ipython(batch):
    s = batch["book"]["patch_builtins"]
    assert s["status"] == "ok" and s["total"] == 5, _msgs(batch["book"], "patch_builtins")
    s = batch["book"]["patch_isinstance"]  # breaks torch itself: any outcome, but only for itself
    assert s["status"] in {"ok", "crashed"} and s["total"] <= 5
    _others_fine(batch)


def test_eq_always_true_objects(batch):
    assert _pts(batch["book"], "eq_always_true") == {"double": 0, "kl_divergence": 0}
    assert "not a plain torch.Tensor" in _msgs(batch["book"], "eq_always_true")
    _others_fine(batch)


def test_files_outside_the_scratch_folder(batch):
    book = batch["book"]
    assert (batch["out"] / "gradebook.csv").read_text() != "pwned"
    # The submissions and the output folder are not mounted in the sandbox at all.
    assert not (batch["out"] / "pwned.txt").exists()
    assert _pts(book, "files_outside") == {"double": 0, "kl_divergence": 3}
    assert "FileNotFoundError" in _msgs(book, "files_outside")
    _others_fine(batch)


def test_printing_100_mb(batch):
    assert _pts(batch["book"], "print_flood") == {"double": 2, "kl_divergence": 3}
    assert len(json.dumps(batch["raw"])) < 200_000
    _others_fine(batch)


def test_gradebook_is_whole(batch):
    rows = (batch["out"] / "gradebook.csv").read_text().strip().splitlines()
    assert rows[0] == "student,double,kl_divergence,total,max,status" and len(rows) == N_SUBMISSIONS + 1
    assert sorted(p.name for p in Path(batch["out"], "feedback").iterdir())[0] == "a_control.md"
    assert len(list(Path(batch["out"], "feedback").iterdir())) == N_SUBMISSIONS
