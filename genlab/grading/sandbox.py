"""Run one submission in a fresh, limited worker process and bring back plain tensors.

Isolation, layer by layer (see docs/grading.md for what each one stops):

- a fresh ``python -I`` process (no ``PYTHONPATH``, no user site, the scratch
  folder is not on ``sys.path``) in its own session, so the whole process
  group is killed at the wall-clock limit, forks included;
- a cleaned environment (``PATH``, ``HOME`` = scratch, one BLAS thread,
  ``GENLAB_FAST=1``, no proxies or tokens of the instructor's shell);
- ``setrlimit`` in ``preexec_fn``: CPU seconds, address space, process count,
  file size and no core dumps;
- when the grader runs as root, the worker drops to an unprivileged uid (one
  per parallel slot) before any submitted code runs, which makes
  ``RLIMIT_NPROC`` effective and keeps submitted code away from files only
  root may read or write (the gradebook, a private submissions folder);
- inputs and cells are the only things written into the scratch folder;
  the results come back as ``results.pt`` loaded with ``weights_only=True``.
"""

from __future__ import annotations

import fcntl
import json
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

#: Default address-space limit of a worker (torch reserves ~3.5 GB of virtual memory when idle).
DEFAULT_MEMORY_MB = 6144
#: Bytes of stdout/stderr the parent keeps from a worker.
LOG_KEEP = 4000
#: Cap of any file a worker writes (results, logs): RLIMIT_FSIZE.
FILE_LIMIT = 64 * 2**20
#: Processes/threads a sandbox uid may have (RLIMIT_NPROC; per uid, so per slot when running as root).
NPROC_LIMIT = 64
#: First uid used for workers when the grader runs as root (systemd's dynamic-user range).
SANDBOX_UID_BASE = 61184

_WORKER_CODE = ("import sys; sys.path.insert(0, {root!r}); "
                "from genlab.grading.worker import main, _exit; _exit(main())")


@dataclass
class Limits:
    """Resource limits of one worker."""

    timeout: float = 60.0
    memory_mb: int = DEFAULT_MEMORY_MB
    nproc: int = NPROC_LIMIT
    file_bytes: int = FILE_LIMIT
    step_timeout: float | None = None  # per cell / per case slice inside the worker

    def step(self) -> float:
        return self.step_timeout or max(1.0, min(20.0, self.timeout / 4))


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


def clean_env(scratch: Path) -> dict[str, str]:
    """The worker's whole environment: nothing of the instructor's shell beyond PATH."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
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
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{d}/task"))
            except OSError:
                continue
    return n


class Sandbox:
    """Runs workers; decides once which uid they run as."""

    def __init__(self, limits: Limits, workers: int = 1) -> None:
        self.limits = limits
        self.root = str(Path(__file__).resolve().parents[2])
        self.uids: list[int | None] = [None] * max(1, workers)
        self.note = ""
        self._free: list[int] = list(range(max(1, workers)))
        self._lock = threading.Lock()
        self._nproc = limits.nproc
        self._locks: list[int] = []
        if os.geteuid() == 0:
            # The worker starts as root (the interpreter may live where only root can read, e.g.
            # /root/.pyenv), imports what the cells need, then drops to its slot's uid before any
            # submitted code runs (see worker._drop_privileges).
            self.uids, self._locks = _claim_uids(len(self.uids))
            self.note = (f"submitted code runs as unprivileged uids {self.uids[0]}..{self.uids[-1]} "
                         "(one per parallel slot)")
        else:
            # RLIMIT_NPROC counts every process of this user: leave room above what runs now.
            self._nproc = _count_tasks(os.getuid()) + limits.nproc * max(1, workers)
            self.note = "workers run as the grading user (see docs/grading.md for what that allows)"

    def close(self) -> None:
        """Release the sandbox uids (other graders may use them from now on)."""
        for fd in self._locks:
            os.close(fd)
        self._locks = []

    def _preexec(self):
        lim = self.limits
        cpu = int(lim.timeout) + 5
        mem = int(lim.memory_mb) * 2**20
        nproc, fsize = self._nproc, lim.file_bytes

        limits = [(resource.RLIMIT_CPU, (cpu, cpu + 5)), (resource.RLIMIT_AS, (mem, mem)),
                  (resource.RLIMIT_NPROC, (nproc, nproc)), (resource.RLIMIT_FSIZE, (fsize, fsize)),
                  (resource.RLIMIT_CORE, (0, 0))]

        def apply() -> None:  # runs in the child between fork and exec: setrlimit calls only
            for which, value in limits:
                try:
                    resource.setrlimit(which, value)
                except (ValueError, OSError):  # e.g. macOS refuses RLIMIT_AS: the others still apply
                    pass
        return apply

    def run(self, job: dict, inputs_file: Path) -> WorkerResult:
        """Run one job (cells + items) on the inputs; always cleans up its scratch folder."""
        with self._lock:
            slot = self._free.pop()
        scratch = Path(tempfile.mkdtemp(prefix="genlab-grade-"))
        try:
            return self._run_in(scratch, job, inputs_file, self.uids[slot])
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            with self._lock:
                self._free.append(slot)

    def _run_in(self, scratch: Path, job: dict, inputs_file: Path, uid: int | None) -> WorkerResult:
        res = WorkerResult()
        job = dict(job, step_timeout=self.limits.step(), sandbox_uid=uid)
        (scratch / "job.json").write_text(json.dumps(job), encoding="utf-8")
        shutil.copyfile(inputs_file, scratch / "inputs.pt")
        if uid is not None:
            for p in [scratch, *scratch.iterdir()]:
                os.chown(p, uid, uid)
        out_path, err_path = scratch / "stdout.txt", scratch / "stderr.txt"
        t0 = time.perf_counter()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            if uid is not None:
                os.chown(out_path, uid, uid)
                os.chown(err_path, uid, uid)
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _WORKER_CODE.format(root=self.root)],
                cwd=scratch, env=clean_env(scratch), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True, close_fds=True, preexec_fn=self._preexec())
            try:
                res.returncode = proc.wait(timeout=self.limits.timeout)
            except subprocess.TimeoutExpired:
                res.timed_out = True
            finally:
                # Kill the whole process group: the worker and any child it forked.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                if res.returncode is None:
                    res.returncode = proc.wait()
                if uid is not None:  # children that left the group with setsid(): kill by uid
                    _kill_uid(uid)
        res.seconds = time.perf_counter() - t0
        res.stdout = _head(out_path)
        res.stderr = _head(err_path)
        res.status = _read_status(scratch / "status.json", res.problems)
        res.results = _read_results(scratch / "results.pt", res.problems)
        return res


def _claim_uids(n: int) -> tuple[list[int], list[int]]:
    """Claim ``n`` unused uids for this grader, exclusively among concurrent graders.

    A uid is claimed by holding a ``flock`` on a root-only lock file; the lock
    goes with the process, so a crashed grader frees its uids. Processes left
    running under a freshly claimed uid are leftovers and are killed.
    """
    lock_dir = Path(tempfile.gettempdir()) / "genlab-grade-uids"
    lock_dir.mkdir(mode=0o700, exist_ok=True)
    uids, fds = [], []
    for uid in range(SANDBOX_UID_BASE, SANDBOX_UID_BASE + 1000):
        if len(uids) == n:
            break
        if _uid_exists(uid):
            continue
        fd = os.open(lock_dir / f"{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _kill_uid(uid)
        uids.append(uid)
        fds.append(fd)
    return uids, fds


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid`` (a sandbox uid: nothing else runs as it)."""
    for _ in range(3):  # a fork racing with the scan is caught by the next pass
        found = False
        for d in _pids():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    os.kill(int(d), signal.SIGKILL)
                    found = True
            except OSError:
                continue
        if not found:
            return


def _uid_exists(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


def _head(path: Path, keep: int = LOG_KEEP) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(keep + 1)
    except OSError:
        return ""
    text = data[:keep].decode("utf-8", "replace")
    return text + ("\n[...]" if len(data) > keep else "")


def _read_status(path: Path, problems: list[str]) -> dict:
    try:
        if path.stat().st_size > 2 * 2**20:
            problems.append("status.json is too large")
            return {}
        status = json.loads(path.read_text(encoding="utf-8"))
        return status if isinstance(status, dict) else {}
    except FileNotFoundError:
        problems.append("the worker wrote no status")
    except (OSError, ValueError) as exc:
        problems.append(f"status unreadable: {exc}")
    return {}


def _read_results(path: Path, problems: list[str]) -> dict[str, torch.Tensor]:
    """Load the worker's tensors without unpickling anything but plain tensors."""
    try:
        if path.stat().st_size > FILE_LIMIT:
            problems.append("results.pt is too large")
            return {}
        data = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        problems.append("the worker wrote no results")
        return {}
    except Exception as exc:  # noqa: BLE001 - a crafted file is that submission's problem only
        problems.append(f"results unreadable ({type(exc).__name__}): treated as no results")
        return {}
    if not isinstance(data, dict):
        problems.append("results are not a dict of tensors")
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and type(v) is torch.Tensor}
