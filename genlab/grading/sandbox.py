"""Run one submission in a fresh, isolated worker process and bring back plain tensors.

Isolation (see docs/grading.md for the threat model and what each layer stops):

- **bubblewrap** (``bwrap``) puts every worker in new PID, mount, IPC, network,
  UTS and cgroup namespaces, with ``--die-with-parent`` and ``--new-session``.
  The worker's file system is built from nothing: read-only binds of the
  system libraries (``/usr/lib``), the Python environment (the venv and the
  interpreter it points to) and genlab's package folder (at the neutral path
  ``/opt/genlab/genlab``, so the checkout that holds it is never mounted),
  a size-limited private tmpfs for ``/tmp`` (the scratch folder) and
  ``/dev/shm``, a minimal ``/dev`` and its own ``/proc``. The checkout,
  ``solutions/``, ``tests/``, the submissions, the output folder and the
  instructor's home are not there. When the worker's first process ends, the
  kernel ends its PID namespace, so nothing it started can outlive it.
- **No root inside.** As root, bwrap runs without a user namespace and
  ``setpriv`` (util-linux) drops to an unprivileged uid of the slot, with no
  capabilities, an empty bounding set and ``no_new_privs``, before the
  interpreter starts. As a normal user, bwrap's user namespace maps the
  instructor's uid to ``nobody`` and drops every capability.
- ``setrlimit`` before ``exec``: CPU seconds, address space, process count,
  file size, no core dumps. Each graded item also runs under a CPU-time
  slice in the worker, with a generous wall-clock backstop.
- **Nothing comes back through files.** The job and its inputs go to the
  worker on its stdin; results and status come back on its stdout pipe in the
  bounded format of :mod:`genlab.grading.wire`; stderr (the submission's
  prints) is kept up to ``LOG_KEEP`` bytes. The parent never opens a path the
  worker could have written, and the job settings (uid, limits) live in the
  parent only.

``--sandbox none`` runs the same worker without bubblewrap (an explicit,
recorded opt-out for machines where it cannot run): limits and the pipe
transport still apply, file-system isolation does not.
"""

from __future__ import annotations

import fcntl
import fnmatch
import functools
import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import wire

#: Default address-space limit of a worker (torch reserves ~3.5 GB of virtual memory when idle).
DEFAULT_MEMORY_MB = 6144
#: Bytes of the worker's stderr/stdout prints the parent keeps.
LOG_KEEP = 4000
#: Cap of any file a worker writes (RLIMIT_FSIZE) and of the result stream it sends back.
FILE_LIMIT = 64 * 2**20
#: Size of the worker's private /tmp (its scratch folder) and /dev/shm.
SCRATCH_BYTES = 64 * 2**20
SHM_BYTES = 16 * 2**20
#: Processes/threads a sandbox uid may have (RLIMIT_NPROC; per uid, so per slot when running as root).
NPROC_LIMIT = 64
#: First uid used for workers when the grader runs as root (systemd's dynamic-user range).
SANDBOX_UID_BASE = 61184
#: Where genlab's package folder appears inside the sandbox.
GENLAB_MOUNT = "/opt/genlab"
#: Sandbox kinds ``genlab grade --sandbox`` accepts.
SANDBOX_KINDS = ("bwrap", "none")

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: "
                "`sudo dnf install bubblewrap`) and make sure user namespaces are allowed "
                "(`sysctl user.max_user_namespaces` > 0; on Ubuntu 24.04 also "
                "`kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile for bwrap)")

_WORKER_CODE = ("import sys; sys.path[:] = [p for p in sys.path if p] + {paths!r}; "
                "from genlab.grading.worker import main, _exit; _exit(main())")


class SandboxUnavailable(RuntimeError):
    """The requested sandbox cannot run on this machine (the message says how to fix it)."""


@dataclass
class Limits:
    """Resource limits of one worker."""

    timeout: float = 60.0  # CPU seconds of the whole worker (RLIMIT_CPU)
    memory_mb: int = DEFAULT_MEMORY_MB
    nproc: int = NPROC_LIMIT
    file_bytes: int = FILE_LIMIT
    step_timeout: float | None = None  # CPU seconds per cell / per case inside the worker
    wall_factor: float = 3.0  # wall-clock backstop = wall_factor x CPU limit (a loaded machine is slow)
    challenge_timeout: float = 30.0  # CPU seconds for a submission's challenge cells (after the items)
    challenge_eval: float = 20.0  # CPU seconds to load and measure one challenge file (its own slice in a measuring worker)

    def step(self) -> float:
        return self.step_timeout or max(1.0, min(20.0, self.timeout / 4))

    def wall(self) -> float:
        return self.timeout * self.wall_factor + 10.0


@dataclass
class WorkerResult:
    """What came back from one worker."""

    results: dict[str, torch.Tensor] = field(default_factory=dict)
    status: dict = field(default_factory=dict)
    returncode: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    problems: list[str] = field(default_factory=list)


def clean_env(home: str) -> dict[str, str]:
    """The worker's whole environment: nothing of the instructor's shell."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "MPLCONFIGDIR": home,
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "GENLAB_FAST": "1",
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }


# --------------------------------------------------------------------------- what the sandbox mounts

def _python() -> str:
    """This interpreter, as an absolute path through the venv (so the venv's pyvenv.cfg applies)."""
    return os.path.abspath(sys.executable)


def _genlab_dir() -> Path:
    return Path(__file__).resolve().parents[1]


def python_paths() -> tuple[list[str], list[str]]:
    """``(folders to bind read-only, sys.path entries of the worker besides the stdlib)``.

    The folders are the venv (``sys.prefix``) and the interpreter it points to
    (``sys.base_prefix`` and the real location of ``sys.executable``); the
    extra sys.path entries are the site-packages inside them plus
    :data:`GENLAB_MOUNT`. Nothing outside the Python environment, in
    particular not the checkout an editable install points to.
    """
    roots: list[str] = []
    for p in (sys.prefix, sys.base_prefix, str(Path(_python()).resolve().parents[1])):
        p = os.path.realpath(p)
        if p not in roots and not any(p.startswith(r + os.sep) for r in roots):
            roots = [r for r in roots if not r.startswith(p + os.sep)] + [p]
    genlab_parent = str(_genlab_dir().parent)
    site = [p for p in sys.path if p and "-packages" in p and os.path.isdir(p)
            and any(os.path.realpath(p).startswith(r + os.sep) for r in roots)
            and os.path.realpath(p) != genlab_parent]
    return roots, site


def _dirs_for(dest: str) -> list[str]:
    """``--dir`` arguments (0755) for the ancestors of ``dest`` (bwrap copies the host's 0700 otherwise)."""
    parts = Path(dest).parts[1:-1]
    out: list[str] = []
    for i in range(len(parts)):
        out += ["--perms", "0755", "--dir", "/" + "/".join(parts[: i + 1])]
    return out


#: The exercise modules that are absent inside the sandbox (the worker runs the scenarios of
#: ``genlab.exercises.scenarios`` and ``_scenarios07``, which hold no reference).
ABSENT_MODULES = "lab[0-9][0-9].py"
#: Grader-side files hidden inside the sandbox (the worker needs none of them).
_HIDDEN_FILES = ("grading/grader.py", "grading/cli.py", "grading/questions.py")
_HIDDEN_DIRS: tuple[str, ...] = ()


def strip_functions(source: str, names: set[str], module: str) -> str:
    """``source`` with the bodies of its top-level functions ``names`` replaced by a ``raise``.

    The sandbox binds the result over the module's file, so the reference's
    code is not even on the worker's disk (``open(genlab.losses.__file__)``
    and re-executing it give the stub again).
    """
    import ast

    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            msg = f"{module}.{node.name} is not available while grading: write your own implementation"
            node.body = [ast.Raise(exc=ast.Call(func=ast.Name("RuntimeError", ast.Load()),
                                                args=[ast.Constant(msg)], keywords=[]), cause=None)]
            node.decorator_list = []
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def make_overlays(protected: list[str], folder: Path) -> list[tuple[str, str]]:
    """Files bound over genlab's inside the sandbox: ``[(file, mount path)]``.

    Each lab exercise module (:data:`ABSENT_MODULES`) becomes one that raises ImportError, and
    every other module defining a ``protected`` function gets a copy with that function's body
    stripped (:func:`strip_functions`), trusted harness modules included.
    """
    by_module: dict[str, set[str]] = {}
    for path in protected:
        module, _, name = path.rpartition(".")
        by_module.setdefault(module, set()).add(name)
    pkg = _genlab_dir()
    out = []
    # The labs' exercise modules hold the lab-only references and the correct versions the named
    # mistakes are built from: inside the sandbox each is a module that refuses to import.
    for src in sorted((pkg / "exercises").glob(ABSENT_MODULES)):
        module = f"genlab.exercises.{src.stem}"
        dest = folder / f"{len(out)}.py"
        why = f"{module} is not available while grading (it holds the lab's references)"
        dest.write_text(f"raise ImportError({why!r}, name={module!r})\n", encoding="utf-8")
        os.chmod(dest, 0o644)
        out.append((str(dest), f"{GENLAB_MOUNT}/genlab/{src.relative_to(pkg)}"))
    for module, names in sorted(by_module.items()):
        parts = module.split(".")
        if parts[0] != "genlab":
            continue
        if fnmatch.fnmatch(parts[-1] + ".py", ABSENT_MODULES) and parts[:2] == ["genlab", "exercises"]:
            continue  # absent as a whole (above)
        rel = Path(*parts[1:])
        src = pkg / rel.with_suffix(".py")
        if not src.is_file():
            src = pkg / rel / "__init__.py"
            if not src.is_file():
                continue
        try:
            text = strip_functions(src.read_text(encoding="utf-8"), names, module)
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        dest = folder / f"{len(out)}.py"
        dest.write_text(text, encoding="utf-8")
        os.chmod(dest, 0o644)
        out.append((str(dest), f"{GENLAB_MOUNT}/genlab/{src.relative_to(pkg)}"))
    return out


def bwrap_args(uid: int | None, *, scratch_bytes: int = SCRATCH_BYTES,
               overlays: list[tuple[str, str]] = ()) -> list[str]:
    """The bubblewrap command line (up to ``--``) for one worker; ``uid`` is the slot uid when root."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}")
    args = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
    if uid is None:  # a normal user: the user namespace maps us to nobody, no capabilities
        args += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns",
                 "--cap-drop", "ALL"]
    # The private /tmp comes first, so a Python environment that lives under /tmp (a checkout
    # or a JupyterHub scratch folder there) is bound on top of it rather than hidden by it.
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(scratch_bytes), "--tmpfs", "/tmp",
             "--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
    args += ["--perms", "0755", "--dir", "/usr"]
    for lib in ("/usr/lib", "/usr/lib64", "/usr/lib32"):
        if os.path.isdir(lib):
            args += ["--ro-bind", lib, lib]
    for link in ("lib", "lib64", "lib32"):
        if os.path.islink("/" + link):
            args += ["--symlink", os.readlink("/" + link), "/" + link]
        elif os.path.isdir("/" + link):
            args += ["--ro-bind", "/" + link, "/" + link]
    roots, _ = python_paths()
    for r in roots:
        args += _dirs_for(r) + ["--ro-bind", r, r]
    pkg = _genlab_dir()
    args += _dirs_for(GENLAB_MOUNT + "/genlab") + ["--ro-bind", str(pkg), GENLAB_MOUNT + "/genlab"]
    # Compiled bytecode would carry the originals of stripped modules: hide every __pycache__.
    for cache in sorted(pkg.rglob("__pycache__")):
        args += ["--size", "4096", "--tmpfs", f"{GENLAB_MOUNT}/genlab/{cache.relative_to(pkg)}"]
    for rel in _HIDDEN_DIRS:
        if (pkg / rel).is_dir():
            args += ["--size", "4096", "--tmpfs", f"{GENLAB_MOUNT}/genlab/{rel}"]
    for rel in _HIDDEN_FILES:
        if (pkg / rel).is_file():
            args += ["--ro-bind", "/dev/null", f"{GENLAB_MOUNT}/genlab/{rel}"]
    for src, dest in overlays:
        args += ["--ro-bind", src, dest]
    if uid is not None:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise SandboxUnavailable("grading as root needs setpriv (Debian: util-linux) to drop to an "
                                     "unprivileged uid inside bubblewrap")
        args += ["--ro-bind", setpriv, "/usr/bin/setpriv"]
    args += ["--chdir", "/tmp"]
    for k, v in clean_env("/tmp").items():
        args += ["--setenv", k, v]
    args.append("--")
    if uid is not None:
        args += ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "--"]
    return args


def worker_command(mode: str, uid: int | None, overlays: list[tuple[str, str]] = ()) -> list[str]:
    """The full command line of a worker in ``mode`` (``bwrap`` or ``none``)."""
    _, site = python_paths()
    if mode == "bwrap":
        paths = site + [GENLAB_MOUNT]
        return bwrap_args(uid, overlays=overlays) + [_python(), "-I", "-S", "-c", _WORKER_CODE.format(paths=paths)]
    paths = site + [str(_genlab_dir().parent)]
    return [_python(), "-I", "-S", "-c", _WORKER_CODE.format(paths=paths)]


@functools.cache
def probe_bwrap() -> tuple[bool, str]:
    """Can bubblewrap start an isolated Python here? ``(ok, one line saying so or why not)``."""
    try:
        uid = SANDBOX_UID_BASE + 999 if os.geteuid() == 0 else None
        cmd = bwrap_args(uid) + [_python(), "-I", "-S", "-c", "import os; print(os.getuid())"]
    except SandboxUnavailable as exc:
        return False, str(exc)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap could not start: {exc}; {INSTALL_HINT}"
    if r.returncode != 0 or r.stdout.strip() in ("", "0"):
        why = (r.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return False, f"bubblewrap is installed but cannot create the sandbox ({why}); {INSTALL_HINT}"
    version = subprocess.run([cmd[0], "--version"], capture_output=True, text=True).stdout.strip()
    return True, f"{version or 'bubblewrap'} isolates grading workers (namespaces, read-only Python, private /tmp)"


def sandbox_report() -> tuple[bool, str]:
    """``(available, which sandbox genlab grade will use, or how to get one)``."""
    try:
        ok, line = probe_bwrap()
    except Exception as exc:  # noqa: BLE001 - a report must not fail
        ok, line = False, f"{type(exc).__name__}: {exc}"
    return ok, (line if ok else f"none available ({line}); `genlab grade` refuses unless --sandbox none")


def sandbox_summary() -> str:
    """One line for ``genlab doctor``: the sandbox ``genlab grade`` will use, or how to get one."""
    ok, line = sandbox_report()
    return ("bwrap: " if ok else "") + line


# --------------------------------------------------------------------------- uids and processes

def _pids() -> list[str]:
    """Process ids from /proc (empty where there is no /proc, e.g. macOS)."""
    try:
        return [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return []


def _count_tasks(uid: int) -> int:
    """Processes + threads of ``uid`` now (RLIMIT_NPROC counts both)."""
    n = 0
    for d in _pids():
        try:
            if os.stat(f"/proc/{d}").st_uid == uid:
                n += len(os.listdir(f"/proc/{d}/task"))
        except OSError:
            continue
    return n


class Sandbox:
    """Runs workers in ``mode`` (``bwrap`` or ``none``); decides once which uid they run as."""

    def __init__(self, limits: Limits, workers: int = 1, mode: str = "bwrap",
                 protected: list[str] = ()) -> None:
        if mode not in SANDBOX_KINDS:
            raise ValueError(f"sandbox must be one of {', '.join(SANDBOX_KINDS)}, not {mode!r}")
        self.limits, self.mode = limits, mode
        n = max(1, workers)
        self.uids: list[int | None] = [None] * n
        self._free: list[int] = list(range(n))
        self._lock = threading.Lock()
        self._nproc = limits.nproc
        self._locks: list[int] = []
        self._overlay_dir: tempfile.TemporaryDirectory | None = None
        self.overlays: list[tuple[str, str]] = []
        if mode == "bwrap":
            ok, line = probe_bwrap()
            if not ok:
                raise SandboxUnavailable(line)
            self._overlay_dir = tempfile.TemporaryDirectory(prefix="genlab-overlay-")
            self.overlays = make_overlays(list(protected), Path(self._overlay_dir.name))
            if os.geteuid() == 0:
                self.uids, self._locks = _claim_uids(n)
                self.note = (f"bwrap: namespaces, read-only Python environment, private /tmp; submitted "
                             f"code runs as uids {self.uids[0]}..{self.uids[-1]} (one per slot)")
            else:
                self._nproc = _count_tasks(os.getuid()) + limits.nproc * n
                self.note = "bwrap: namespaces, read-only Python environment, private /tmp; user namespace (nobody)"
        else:
            self._nproc = (_count_tasks(os.geteuid()) if os.geteuid() else 0) + limits.nproc * n
            self.note = ("NO SANDBOX (--sandbox none): submitted code ran as the grading user with resource "
                         "limits only and could read and write everything that user can")

    def close(self) -> None:
        """Release the sandbox uids (other graders may use them from now on)."""
        for fd in self._locks:
            os.close(fd)
        self._locks = []
        if self._overlay_dir is not None:
            self._overlay_dir.cleanup()
            self._overlay_dir = None

    def _preexec(self, extra: float = 0.0):
        lim = self.limits
        cpu = int(lim.timeout + extra) + 5  # extra: the challenge cells' own budget, after the items
        mem = int(lim.memory_mb) * 2**20
        nproc, fsize = self._nproc, lim.file_bytes
        limits = [(resource.RLIMIT_CPU, (cpu, cpu + 5)), (resource.RLIMIT_AS, (mem, mem)),
                  (resource.RLIMIT_FSIZE, (fsize, fsize)), (resource.RLIMIT_CORE, (0, 0))]
        if nproc:
            limits.append((resource.RLIMIT_NPROC, (nproc, nproc)))

        def apply() -> None:  # runs in the child between fork and exec: setrlimit calls only
            for which, value in limits:
                try:
                    resource.setrlimit(which, value)
                except (ValueError, OSError):  # e.g. macOS refuses RLIMIT_AS: the others still apply
                    pass
        return apply

    def run(self, job: dict, inputs: dict[str, torch.Tensor], extra_cpu: float = 0.0) -> WorkerResult:
        """Run one job (cells + items) on ``inputs``; the worker leaves nothing behind.

        ``extra_cpu``: CPU seconds granted on top of the limits (a measuring job with several files).
        """
        with self._lock:
            slot = self._free.pop()
        try:
            if self.mode == "none":
                with tempfile.TemporaryDirectory(prefix="genlab-grade-") as scratch:
                    return self._run(job, inputs, None, scratch, extra_cpu)
            return self._run(job, inputs, self.uids[slot], None, extra_cpu)
        finally:
            with self._lock:
                self._free.append(slot)

    def _run(self, job: dict, inputs: dict[str, torch.Tensor], uid: int | None,
             scratch: str | None, extra_cpu: float = 0.0) -> WorkerResult:
        res = WorkerResult()
        # Settings the worker needs travel with the job on its stdin; the uid and the limits that
        # matter are applied here, by the parent, and never read back from the worker.
        job = dict(job, step_timeout=self.limits.step(), max_output=LOG_KEEP * 4)
        extra = (float(self.limits.challenge_timeout) if job.get("challenge") else 0.0) + max(0.0, float(extra_cpu))
        # A measuring job runs no submitted code, and it needs the lab's challenge entry, which
        # lives in the lab module the overlays hide from submissions.
        overlays = [] if job.get("kind") == "challenge" else self.overlays
        cmd = worker_command(self.mode, uid, overlays)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=scratch or "/", env=clean_env(scratch or "/tmp"),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, close_fds=True, preexec_fn=self._preexec(extra))
        feeder = threading.Thread(target=_feed, args=(proc.stdin, job, inputs), daemon=True)
        log: list[bytes] = []
        results: dict = {"tensors": {}, "status": {}, "problems": []}
        readers = [threading.Thread(target=_read_results, args=(proc.stdout.fileno(), results), daemon=True),
                   threading.Thread(target=_drain, args=(proc.stderr.fileno(), log), daemon=True)]
        for t in (feeder, *readers):
            t.start()
        try:
            res.returncode = proc.wait(timeout=self.limits.wall() + extra * self.limits.wall_factor)
        except subprocess.TimeoutExpired:
            res.timed_out = True
        finally:
            # bwrap's --die-with-parent and the PID namespace end everything the worker started;
            # the group kill covers --sandbox none (and a bwrap that is still setting up).
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if res.returncode is None:
                res.returncode = proc.wait()
        for t in readers:
            t.join(timeout=10)
        res.seconds = time.perf_counter() - t0
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        text = b"".join(log)
        res.stdout = text[:LOG_KEEP].decode("utf-8", "replace") + ("\n[...]" if len(text) > LOG_KEEP else "")
        res.status = results["status"]
        res.results = results["tensors"]
        res.problems = results["problems"]
        if res.returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
            res.timed_out = True
            res.problems.append(f"the worker used up its {self.limits.timeout:g} s of CPU time")
        return res


def _feed(pipe, job: dict, inputs: dict[str, torch.Tensor]) -> None:
    """Send the job and its inputs on the worker's stdin, then close it."""
    try:
        fd = pipe.fileno()
        wire.write_frame(fd, {"t": "job", "job": job})
        for k, t in inputs.items():
            wire.write_tensor(fd, k, t)
        wire.write_frame(fd, {"t": "end"})
    except (OSError, ValueError):  # the worker died early: its result says so
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def _drain(fd: int, keep: list[bytes]) -> None:
    """Keep the first LOG_KEEP + 1 bytes of a pipe and discard the rest until it closes."""
    kept = 0
    try:
        while True:
            b = os.read(fd, 65536)
            if not b:
                return
            if kept <= LOG_KEEP:
                keep.append(b[: LOG_KEEP + 1 - kept])
                kept += len(keep[-1])
    except OSError:
        return


def _read_results(fd: int, out: dict) -> None:
    """Read the worker's frames within FILE_LIMIT; the last status counts, tensors accumulate."""
    reader = wire.Reader(fd, FILE_LIMIT)
    tensors, ended = out["tensors"], False
    try:
        while True:
            header, tensor = reader.frame()
            kind = header["t"]
            if kind == "tensor" and tensor is not None:
                tensors[header["key"]] = tensor
            elif kind == "status" and isinstance(header.get("status"), dict):
                out["status"] = header["status"]
            elif kind == "end":
                ended = True
                break
    except EOFError:
        pass
    except wire.WireError as exc:
        out["problems"].append(f"the worker's results were cut off: {exc}")
    except OSError as exc:
        out["problems"].append(f"the worker's results could not be read: {exc}")
    if not ended and not out["status"]:
        out["problems"].append("the worker sent no status")
    try:  # drain whatever follows, bounded by the worker's own limits, so it never blocks on us
        while os.read(fd, 65536):
            pass
    except OSError:
        pass


def _claim_uids(n: int) -> tuple[list[int], list[int]]:
    """Claim ``n`` unused uids for this grader, exclusively among concurrent graders.

    A uid is claimed by holding a ``flock`` on a root-only lock file; the lock
    goes with the process, so a crashed grader frees its uids.
    """
    lock_dir = Path(tempfile.gettempdir()) / "genlab-grade-uids"
    lock_dir.mkdir(mode=0o700, exist_ok=True)
    st = os.lstat(lock_dir)
    if st.st_uid != 0 or st.st_mode & 0o077 or not os.path.isdir(lock_dir) or os.path.islink(lock_dir):
        raise SandboxUnavailable(f"{lock_dir} must be a root-owned 0700 folder")
    uids, fds = [], []
    for uid in range(SANDBOX_UID_BASE, SANDBOX_UID_BASE + 999):
        if len(uids) == n:
            break
        if _uid_exists(uid):
            continue
        fd = os.open(lock_dir / f"{uid}.lock", os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        uids.append(uid)
        fds.append(fd)
    return uids, fds


def _uid_exists(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False
