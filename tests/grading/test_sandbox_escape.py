"""Attacks on the grader's isolation (issue 19): each fails, costs only the attacker's row.

One batch (module fixture) holds every crafted submission and two controls.
Probes report what they saw from inside the sandbox by raising it from
``double``: the text comes back as that case's error message.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from gradekit import DOUBLE_OK, fixture_spec, lab_cells, read_book, submission, write_nb

from genlab.grading.grader import grade
from genlab.grading.notebook import repo_root
from genlab.grading.sandbox import Limits, probe_bwrap

pytestmark = pytest.mark.skipif(not probe_bwrap()[0], reason="bubblewrap cannot run here")

LIMITS = Limits(timeout=20, step_timeout=4)
CHECKOUT = str(repo_root())
MARK = "71.2345"  # the command line of every process an attack leaves behind
PLANT = f"genlab-planted-{os.getpid()}"


def _probe(body: str) -> str:
    """A ``double`` that runs ``body`` (setting ``info``) and raises ``PROBE <info>``."""
    lines = "".join(f"    {ln}\n" for ln in body.strip().splitlines())
    return f"import os, sys\n\ndef double(x):\n{lines}    raise RuntimeError('PROBE ' + repr(info))\n"


ESCAPE = f"""import os, sys, time

def _sleeper():
    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep({MARK})'])

def double(x):
    if os.fork() == 0:  # a daemon: new session, double fork
        os.setsid()
        if os.fork() == 0:
            _sleeper()
        os._exit(0)
    if os.fork() == 0:  # a fork-and-exit chain racing the end of the worker
        for _ in range(30):
            if os.fork() != 0:
                os._exit(0)
        _sleeper()
    time.sleep(0.3)
    return SCALE * x
"""

SCRATCH_TRICKS = """import os
for name, target in [("status.json", "/etc/shadow"), ("results.pt", "../../etc/passwd"),
                     ("stderr.txt", "/dev/zero"), ("job.json", "/proc/1/environ")]:
    try:
        os.symlink(target, name)
    except OSError:
        pass
try:
    os.mkfifo("stdout.txt")
except OSError:
    pass
""" + DOUBLE_OK

RESULT_BOMB = "import torch\n\ndef double(x):\n    return torch.zeros(120_000_000)\n"

FORGED_FRAME = """import json, os, struct

def kl_divergence(mu, logvar):
    head = json.dumps({"t": "tensor", "key": "kl_divergence/public-1/out", "dtype": "float32",
                       "shape": [2**30, 2**12]}).encode()
    for fd in range(3, 40):
        try:
            os.write(fd, struct.pack('>I', len(head)) + head + b'\\0' * 4096)
        except OSError:
            pass
    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(dim=1)
"""

REFERENCE_HUNT = """import gc, glob, marshal
import genlab.losses

def kl_divergence(mu, logvar):
    for o in gc.get_objects():  # any function object that is genlab's kl_divergence
        if type(o).__name__ == 'function' and getattr(o, '__name__', '') == 'kl_divergence' \\
                and getattr(o, '__module__', '').startswith('genlab'):
            try:
                return o(mu, logvar)
            except Exception:
                pass
    for pyc in glob.glob(os.path.dirname(genlab.losses.__file__) + '/**/*.pyc', recursive=True):
        raise RuntimeError('bytecode on disk: ' + pyc)
    ns = {'__name__': 'genlab.losses', '__package__': 'genlab'}
    exec(compile(open(genlab.losses.__file__).read(), 'copy', 'exec'), ns)  # the source on disk
    return ns['kl_divergence'](mu, logvar)
"""
REFERENCE_HUNT = "import os\n" + REFERENCE_HUNT


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("escape")
    os.chmod(base, 0o700)
    lab = write_nb(base / "labs" / "99_fixture.ipynb", lab_cells())
    subs, out = base / "subs", base / "out"
    submission(subs, "a_control")
    submission(subs, "escape", double=ESCAPE)
    submission(subs, "whoami", double=_probe(
        "st = open('/proc/self/status').read()\n"
        "info = {'uid': os.getuid(), 'euid': os.geteuid(), 'cap': st.split('CapEff:')[1].split()[0],\n"
        "        'nnp': st.split('NoNewPrivs:')[1].split()[0]}"))
    submission(subs, "files", double=_probe(
        f"c = {CHECKOUT!r}\n"
        f"info = {{'solutions': os.path.exists(c + '/solutions'), 'tests': os.path.exists(c + '/tests'),\n"
        f"        'genlab_src': os.path.exists(c + '/genlab'), 'subs': os.path.exists({str(subs)!r}),\n"
        f"        'out': os.path.exists({str(out)!r}), 'home': sorted(os.listdir('/root')) if os.path.isdir('/root') else [],\n"
        "        'path': [p for p in sys.path if p.startswith(c + '/') and not p.startswith(c + '/.venv/')],\n"
        "        'fds': []}\n"
        "for f in os.listdir('/proc/self/fd'):\n"
        "    try:\n"
        "        info['fds'].append(os.readlink('/proc/self/fd/' + f))\n"
        "    except OSError:\n"
        "        pass"))
    submission(subs, "proc", double=_probe(
        f"info = {{'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),\n"
        f"        'host_pid_seen': os.path.exists('/proc/{os.getpid()}/cmdline'), 'ppid': os.getppid()}}"))
    submission(subs, "litter", double=_probe(
        f"open('/tmp/{PLANT}', 'w').write('x')\n"
        f"open('/dev/shm/{PLANT}', 'w').write('x')\n"
        "try:\n"
        "    with open('/tmp/big', 'wb') as f:\n"
        "        for _ in range(200):\n"
        "            f.write(b'x' * 2**20)\n"
        "    info = 'wrote 200 MB'\n"
        "except OSError as e:\n"
        "    info = 'refused: ' + type(e).__name__\n"
        "os.remove('/tmp/big')"))
    submission(subs, "net", double=_probe(
        "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n    info = 'connected'\n"
        "except OSError as e:\n    info = 'no network: ' + type(e).__name__"))
    submission(subs, "scratch_tricks", double=SCRATCH_TRICKS)
    submission(subs, "result_bomb", double=RESULT_BOMB)
    submission(subs, "forged_frame", kl=FORGED_FRAME)
    submission(subs, "reference_hunt", kl=REFERENCE_HUNT)
    submission(subs, "spec_fallback", kl=("from genlab.grading.specs.lab02 import _kl\n\n"
                                          "def kl_divergence(mu, logvar):\n    return _kl(mu, logvar)\n"))
    submission(subs, "seed_a", double="def double(x):\n    return x\n")
    submission(subs, "seed_b", double="def double(x):\n    return x\n")
    submission(subs, '=SUM(1+1)')
    submission(subs, ".hidden")
    os.symlink(subs / "a_control.ipynb", subs / "symlinked.ipynb")
    os.symlink("/dev/zero", subs / "dev_zero.ipynb")
    os.mkfifo(subs / "fifo.ipynb")
    (subs / "linked_dir").mkdir()
    os.symlink(subs / "a_control.ipynb", subs / "linked_dir" / "99_fixture.ipynb")
    submission(subs, "z_control")
    t0 = time.perf_counter()
    grade(fixture_spec(), lab, subs, out, seed=5, limits=LIMITS, workers=2, progress=False)
    seconds = time.perf_counter() - t0
    time.sleep(1.0)
    return {"book": read_book(out), "out": out, "seconds": seconds, "leftovers": _marked(),
            "raw": json.loads((out / "gradebook.json").read_text())}


def _marked() -> list[str]:
    found = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and MARK.encode() in Path(f"/proc/{d}/cmdline").read_bytes():
                found.append(d)
        except OSError:
            continue
    return found


def _msgs(book, student):
    s = book[student]
    return " | ".join(s["messages"] + [m for i in s["items"].values() for m in i["messages"]])


def _probe_info(book, student) -> str:
    text = _msgs(book, student)
    assert "PROBE" in text, text
    return text.split("PROBE", 1)[1]


def _controls_fine(batch):
    for c in ("a_control", "z_control"):
        s = batch["book"][c]
        assert s["status"] == "ok" and s["total"] == 5, _msgs(batch["book"], c)


def test_no_process_outlives_the_worker(batch):
    assert batch["leftovers"] == []
    assert batch["book"]["escape"]["total"] == 5  # the attack costs it nothing and gains nothing
    _controls_fine(batch)


def test_nothing_runs_as_root_and_no_capabilities(batch):
    info = _probe_info(batch["book"], "whoami")
    assert "'uid': 0," not in info and "'euid': 0," not in info, info
    assert "'cap': '0000000000000000'" in info, info
    if os.geteuid() == 0:
        assert "'nnp': '1'" in info, info


def test_checkout_solutions_tests_submissions_and_output_are_absent(batch):
    info = _probe_info(batch["book"], "files")
    for key in ("solutions", "tests", "genlab_src", "subs", "out"):
        assert f"'{key}': False" in info, info
    assert "'path': []" in info, info
    assert "/root/" not in info.split("'home'")[1].split("'path'")[0] or "'.pyenv'" in info


def test_parent_processes_are_invisible(batch):
    info = _probe_info(batch["book"], "proc")
    assert "'host_pid_seen': False" in info, info
    pids = eval(info.split("'pids': ")[1].split("]")[0] + "]")  # noqa: S307 - our own probe's repr
    assert len(pids) < 10 and max(pids) < 100, info


def test_planted_files_are_gone_and_tmp_is_bounded(batch):
    info = _probe_info(batch["book"], "litter")
    assert "refused" in info, info
    assert not Path("/tmp", PLANT).exists() and not Path("/dev/shm", PLANT).exists()


def test_no_network(batch):
    assert "no network" in _probe_info(batch["book"], "net")


def test_files_in_the_scratch_folder_do_not_reach_the_parent(batch):
    s = batch["book"]["scratch_tricks"]
    assert s["status"] == "ok" and s["total"] == 5, _msgs(batch["book"], "scratch_tricks")
    assert "root:" not in json.dumps(batch["raw"])  # nothing of /etc/shadow or /etc/passwd quoted
    _controls_fine(batch)


def test_oversized_and_forged_results_are_cut_off(batch):
    book = batch["book"]
    assert book["result_bomb"]["items"]["double"]["points"] == 0
    assert "cut off" in _msgs(book, "result_bomb")
    assert book["forged_frame"]["items"]["kl_divergence"]["points"] == 0
    assert batch["seconds"] < 240
    _controls_fine(batch)


def test_reference_is_absent(batch):
    book = batch["book"]
    assert book["reference_hunt"]["items"]["kl_divergence"]["points"] == 0
    # Every copy it finds is a stub: the call fails (and is named in the feedback).
    assert any(w in _msgs(book, "reference_hunt") for w in ("not available while grading", "it calls genlab"))
    assert book["spec_fallback"]["items"]["kl_divergence"]["points"] == 0
    assert "ModuleNotFoundError" in _msgs(book, "spec_fallback") or "ImportError" in _msgs(book, "spec_fallback")


def test_cases_differ_per_student(batch):
    a, b = (_msgs(batch["book"], s) for s in ("seed_a", "seed_b"))
    assert "inputs:" in a and a != b


def test_links_fifos_and_hidden_names_are_reported_not_graded(batch):
    book = batch["book"]
    for student, why in [("symlinked", "symbolic link"), ("dev_zero", "symbolic link"),
                         ("fifo", "named pipe"), ("linked_dir", "symbolic link"), (".hidden", "hidden")]:
        assert book[student]["status"] == "invalid" and book[student]["total"] == 0, student
        assert why in _msgs(book, student), _msgs(book, student)
    _controls_fine(batch)


def test_formula_student_id_is_neutralised(batch):
    rows = (batch["out"] / "gradebook.csv").read_text().splitlines()
    cells = [r.split(",")[0] for r in rows[1:]]
    assert not any(c.lstrip('"').startswith(("=", "+", "-", "@")) for c in cells), cells
    assert any(c.lstrip('"').startswith("'=SUM") for c in cells), cells
    row = batch["book"].get('=SUM(1+1)')
    assert row is not None and row["total"] == 5, sorted(batch["book"])


def test_gradebook_records_the_sandbox(batch):
    assert batch["raw"]["sandbox_kind"] == "bwrap"
    assert "bwrap" in batch["raw"]["sandbox"]
    from genlab.grading.sandbox import sandbox_summary
    assert sandbox_summary().startswith("bwrap: bubblewrap")


def test_readable_submissions_folder_is_warned_about(tmp_path, capsys):
    from genlab.grading.grader import discover_submissions

    subs = tmp_path / "subs"
    subs.mkdir(mode=0o755)
    os.chmod(subs, 0o755)
    _, warnings = discover_submissions(subs, "99_fixture")
    assert any("readable by other users" in w for w in warnings)
    os.chmod(subs, 0o700)
    assert discover_submissions(subs, "99_fixture")[1] == []


@pytest.mark.skipif(os.geteuid() != 0 or not all(shutil.which(t) for t in ("useradd", "unshare", "setpriv")),
                    reason="needs root, useradd, unshare and setpriv")
def test_grading_as_an_unprivileged_user():
    """CI runs as root: grade as a fresh unprivileged user, whose bwrap uses a user namespace."""
    import tempfile

    # pytest's own temp root is private to root: the user's folder lives next to it.
    tmp_path = Path(tempfile.mkdtemp(prefix="genlab-unpriv-", dir="/tmp"))
    try:
        _grade_as_user(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _grade_as_user(tmp_path: Path) -> None:
    import pwd
    import shlex
    import subprocess
    import sys

    user = "genlab-grade-test"
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", user], check=True)
    pw = pwd.getpwnam(user)
    work = tmp_path / "work"
    work.mkdir()
    lab = write_nb(work / "labs" / "99_fixture.ipynb", lab_cells())
    subs = work / "subs"
    submission(subs, "ok")
    submission(subs, "files", double=_probe(f"info = os.path.exists({CHECKOUT!r} + '/solutions')"))
    for p in [tmp_path, work, *work.rglob("*")]:
        os.chown(p, pw.pw_uid, pw.pw_gid)
    os.chmod(tmp_path, 0o755)
    script = (
        "import sys, json; sys.path.insert(0, {!r})\n"
        "from gradekit import fixture_spec\n"
        "from genlab.grading.grader import grade\n"
        "from genlab.grading.sandbox import Limits, Sandbox\n"
        "s = Sandbox(Limits(), 1); assert s.uids == [None], s.uids; s.close()\n"
        "grade(fixture_spec(), {!r}, {!r}, {!r}, seed=1, limits=Limits(timeout=20, step_timeout=4), workers=1,"
        " progress=False)\n".format(str(Path(__file__).parent), str(lab), str(subs), str(work / "out")))
    # The venv's interpreter may live under root's 0700 home: in a private mount namespace, root's
    # home becomes an empty tmpfs in which only the interpreter's folder is bound, then setpriv
    # becomes the user, whose grader starts its own unprivileged bubblewrap (a user namespace).
    prefix = os.path.realpath(sys.base_prefix)
    view = tmp_path / "pyview"
    view.mkdir()
    setup = ""
    if prefix.startswith("/root/"):
        setup = (f"mount --bind {prefix} {view} && mount -t tmpfs -o mode=0755 tmpfs /root && "
                 f"mkdir -p {prefix} && mount --bind {view} {prefix} && ")
    run_as = (f"setpriv --reuid={pw.pw_uid} --regid={pw.pw_gid} --clear-groups "
              f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}")
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", setup + run_as]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), "GENLAB_FAST": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=work)
    if r.returncode != 0 and "cannot create the sandbox" in (r.stderr + r.stdout).lower():
        pytest.skip(f"unprivileged user namespaces are not allowed here: {r.stderr[-300:]}")
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    book = read_book(work / "out")
    assert book["ok"]["total"] == 5, _msgs(book, "ok")
    assert "PROBE False" in _msgs(book, "files")
    raw = json.loads((work / "out" / "gradebook.json").read_text())
    assert "user namespace" in raw["sandbox"]


# --------------------------------------------------------------------------- lab-only references (lab 07)
# Lab 07's references live in its exercise module, genlab.exercises.lab07, which is absent from
# the sandbox; the worker's scenarios use fixtures that lack the graded properties. Each attack
# below replaces the solution's exercise cell of one item and must score zero for that item.

_HUNT_TAIL = "    raise RuntimeError('no reference found')\n"
LAB07_ATTACKS = {
    "by_attribute": ("load_checkpoint", "import genlab.exercises.lab07 as _lab\n"
                                        "load_checkpoint = _lab.load_checkpoint\n"),
    "by_getattr": ("load_checkpoint", "import importlib\n\n"
                   "def load_checkpoint(path, model, optimizer, scaler):\n"
                   "    mod = importlib.import_module('genlab.exercises.' + 'lab' + '07')\n"
                   "    return getattr(mod, 'load_' + 'checkpoint')(path, model, optimizer, scaler)\n"),
    "by_gc": ("load_checkpoint", "import gc, types\n\n"
              "def load_checkpoint(path, model, optimizer, scaler):\n"
              "    for o in gc.get_objects():\n"
              "        if (isinstance(o, types.FunctionType) and o.__name__ != 'load_checkpoint'\n"
              "                and ('load' in o.__name__) and o.__module__.startswith('genlab')\n"
              "                and o.__code__.co_argcount == 4):\n"
              "            try:\n"
              "                return o(path, model, optimizer, scaler)\n"
              "            except Exception:\n"
              "                pass\n" + _HUNT_TAIL),
    "by_sys_modules": ("save_checkpoint", "import sys\n\n"
                       "def save_checkpoint(path, model, optimizer, scaler, epoch):\n"
                       "    for name, m in list(sys.modules.items()):\n"
                       "        f = getattr(m, 'save_checkpoint', None) or getattr(m, 'fixture_save', None)\n"
                       "        if name.startswith('genlab') and callable(f) and f is not save_checkpoint:\n"
                       "            try:\n"
                       "                return f(path, model, optimizer, scaler, epoch)\n"
                       "            except Exception:\n"
                       "                pass\n" + _HUNT_TAIL.replace("    raise", "    raise")),
    "by_frame": ("load_checkpoint", "import sys\n\n"
                 "def load_checkpoint(path, model, optimizer, scaler):\n"
                 "    f = sys._getframe(1)\n"
                 "    while f is not None:\n"
                 "        for v in list(f.f_locals.values()) + list(f.f_globals.values()):\n"
                 "            if callable(v) and v is not load_checkpoint and 'load' in getattr(v, '__name__', ''):\n"
                 "                try:\n"
                 "                    return v(path, model, optimizer, scaler)\n"
                 "                except Exception:\n"
                 "                    pass\n"
                 "        f = f.f_back\n" + _HUNT_TAIL),
    "by_source": ("autocast_settings", "import genlab.exercises, os\n"
                  "_src = open(os.path.join(os.path.dirname(genlab.exercises.__file__), 'lab07.py')).read()\n"
                  "_ns = {'__name__': 'genlab.exercises.lab07', '__package__': 'genlab.exercises'}\n"
                  "exec(compile(_src, 'copy', 'exec'), _ns)\n"
                  "autocast_settings = _ns['autocast_settings']\n"),
}


def _lab07_submission(folder: Path, student: str, item: str | None = None, source: str = "") -> None:
    import nbformat

    nb = nbformat.read(repo_root() / "solutions" / "07_gpu_training.ipynb", as_version=4)
    if item is not None:
        cell = next(c for c in nb.cells if c.cell_type == "code" and "exercise" in c.metadata.get("tags", [])
                    and any(line.startswith(f"def {item}(") for line in c.source.splitlines()))
        cell.source = source
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{student}.ipynb")


@pytest.fixture(scope="module")
def lab07_batch(tmp_path_factory):
    from genlab.exercises import load_spec

    base = tmp_path_factory.mktemp("lab07")
    os.chmod(base, 0o700)
    subs, out = base / "subs", base / "out"
    _lab07_submission(subs, "control")
    for student, (item, source) in LAB07_ATTACKS.items():
        _lab07_submission(subs, student, item, source)
    grade(load_spec("07"), repo_root() / "labs" / "07_gpu_training.ipynb", subs, out, seed=3,
          limits=Limits(timeout=120), workers=2, progress=False)
    return read_book(out)


@pytest.mark.parametrize("student", sorted(LAB07_ATTACKS))
def test_lab_only_references_are_absent(lab07_batch, student):
    item = LAB07_ATTACKS[student][0]
    book = lab07_batch
    assert book["control"]["items"][item]["passed"], _msgs(book, "control")
    got = book[student]["items"][item]
    assert got["points"] == 0, (student, _msgs(book, student))
    # the other items are the solution's: the attack costs only the attacked item
    others = [n for n, i in book[student]["items"].items() if n != item and not n.startswith("q")]
    assert all(book[student]["items"][n]["passed"] for n in others), _msgs(book, student)


def test_an_environment_under_tmp_is_bound_over_the_private_tmp(monkeypatch):
    """A venv in /tmp (a checkout or a hub's scratch folder there) stays visible: /tmp's tmpfs is mounted first."""
    from genlab.grading import sandbox as S

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap not installed")
    monkeypatch.setattr(S, "python_paths", lambda: (["/tmp/course/.venv", "/usr/local/lib/python3.11"], []))
    args = S.bwrap_args(None)
    pairs = list(zip(args, args[1:], strict=False))
    tmpfs = pairs.index(("--tmpfs", "/tmp"))
    bind = next(i for i, (a, b) in enumerate(pairs) if a == "--ro-bind" and b == "/tmp/course/.venv")
    assert tmpfs < bind, "the private /tmp would hide an environment that lives under /tmp"
    assert pairs.index(("--tmpfs", "/dev/shm")) > pairs.index(("--dev", "/dev"))
