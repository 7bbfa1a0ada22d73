"""The grading worker: runs one submission's cells in its own process and sends back plain tensors.

Started by :mod:`genlab.grading.sandbox` as a fresh ``python -I -S`` process
(inside bubblewrap, see there). The job (cells to run and, per item, the cases
with their driver) and the case inputs arrive on stdin in the format of
:mod:`genlab.grading.wire`; nothing is read from disk. Before any submitted
code runs, the worker keeps its stdout pipe for itself (the submission's prints
go to stderr), replaces the graded reference functions by stubs (see
:func:`stub_references`), then executes the cells with ``exec`` in one fresh
namespace, calls every item on its inputs, and after each item sends the new
result tensors and its status on the pipe, so a crash or a timeout later keeps
what was already graded.

Nothing here decides a grade: the parent reads the tensors within a byte
budget and compares them with references it computes itself.
"""

from __future__ import annotations

import builtins
import gc
import importlib
import io
import json
import os
import signal
import sys
import time
import traceback
import types

import torch

from genlab.exercises.drivers import DRIVERS
from genlab.grading import wire

# Bound now, before any submitted code runs: a cell that patches builtins, json,
# os or torch.save cannot change how the worker reports (the parent checks anyway).
_isinstance, _type, _len, _str, _repr = builtins.isinstance, builtins.type, builtins.len, builtins.str, builtins.repr
_Tensor = torch.Tensor
_getpid, _exit, _json_dumps = os.getpid, os._exit, json.dumps
_write_frame = wire.write_frame

MAX_MESSAGE = 600


class StepTimeout(BaseException):
    """A cell or case ran past its time slice (a BaseException so ``except Exception`` cannot eat it)."""


class _CappedStream(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters and drops the rest (print floods)."""

    def __init__(self, target, limit: int) -> None:
        self._target, self._left = target, limit

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        n = _len(s)
        if self._left > 0:
            chunk = s[: self._left]
            self._left -= _len(chunk)
            try:
                self._target.write(chunk)
                if self._left <= 0:
                    self._target.write("\n[output truncated by the grader]\n")
                self._target.flush()
            except (OSError, ValueError):
                self._left = 0
        return n

    def flush(self) -> None:
        pass


def _short(exc: BaseException) -> str:
    """``TypeError: message`` plus the last frame of the submission's traceback."""
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith("<"):
            where = f" (in {frame.filename} line {frame.lineno})"
    msg = f"{_type(exc).__name__}: {exc}"
    if _len(msg) > MAX_MESSAGE:
        msg = msg[:MAX_MESSAGE] + "..."
    return msg + where


def _on_alarm(signum, frame):  # noqa: ARG001
    raise StepTimeout()


#: Wall-clock backstop of a slice, as a multiple of its CPU seconds (sleeps and blocking reads use no CPU).
WALL_FACTOR = 4.0


class _Slice:
    """``with _Slice(seconds):`` raises StepTimeout after ``seconds`` of this process's CPU time.

    CPU time (``ITIMER_PROF``) rather than wall time, so that a loaded machine
    does not cut an honest item short; a wall-clock timer at ``WALL_FACTOR``
    times the slice catches code that hangs without using the CPU.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    def __enter__(self):
        if self.seconds:
            signal.setitimer(signal.ITIMER_PROF, self.seconds)
            signal.setitimer(signal.ITIMER_REAL, self.seconds * WALL_FACTOR)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        return False


# --------------------------------------------------------------------------- absent references

class ReferenceUnavailable(RuntimeError):
    """Raised by a stub that stands in for a graded reference inside the sandbox."""


class _Recorder:
    """Which stubbed references a submission tried to call (a message for the honest case only)."""

    def __init__(self) -> None:
        self.calls: set[str] = set()
        self.active = False


RECORDER = _Recorder()


def _make_stub(path: str, original):
    name = getattr(original, "__name__", path.rsplit(".", 1)[1])
    recorder = RECORDER  # the recorder only: the stub holds no reference to the original

    def stub(*args, **kwargs):  # noqa: ARG001
        if recorder.active:  # calls from the lab's own (trusted) cells are not the submission's
            recorder.calls.add(path)
        raise ReferenceUnavailable(f"{path} is not available while grading: write your own implementation")

    stub.__name__ = stub.__qualname__ = name
    stub.__doc__ = f"{path} is not available while grading."
    stub.__module__ = path.rsplit(".", 1)[0]
    return stub


def _replace_everywhere(original, stub, skip: set[int]) -> None:
    """Point every holder of ``original`` that gc knows (dicts, cells, lists, defaults) at ``stub``.

    No comprehension or nested function here: ``original`` must not become a
    cell of this frame (it would be found, and replaced, as a holder).
    """
    for holder in gc.get_referrers(original):
        if id(holder) in skip:
            continue
        if _type(holder) is dict:
            for k, v in list(holder.items()):
                if v is original:
                    holder[k] = stub
        elif _type(holder) is types.CellType:
            holder.cell_contents = stub
        elif _type(holder) is list:
            for i, v in enumerate(holder):
                if v is original:
                    holder[i] = stub
        elif _type(holder) is tuple:  # e.g. a function's __defaults__: rebuild it on its owner
            new = []
            for v in holder:
                new.append(stub if v is original else v)
            for owner in gc.get_referrers(holder):
                if _type(owner) is types.FunctionType and owner.__defaults__ is holder:
                    owner.__defaults__ = tuple(new)
        elif _type(holder) is types.MethodType:
            pass  # bound methods of a function we replace die with their owner
        elif _isinstance(holder, types.FunctionType) and getattr(holder, "__wrapped__", None) is original:
            holder.__wrapped__ = stub


def stub_references(paths: list[str]) -> dict[str, str]:
    """Replace each dotted function ``paths`` entry by a stub, everywhere, before submitted code runs.

    Each module is imported, the function is replaced in its module and in every
    loaded module that imported it by name, and then in whatever else still
    holds it (closures, containers, defaults, ``__wrapped__``), so that no copy
    of the original function object stays reachable from the worker's modules
    or ``gc``. Classes are left alone (the rest of genlab builds on them; the
    module driver detects them by behaviour). Returns ``{path: what happened}``.
    """
    done: dict[str, str] = {}
    # Nothing is spared, the worker's own harness modules included: their scenarios use fixtures,
    # never a reference (see genlab.exercises._scenarios07).
    trusted_ids: set[int] = set()
    for path in paths:
        module_name, _, name = path.rpartition(".")
        try:
            module = importlib.import_module(module_name)
            original = getattr(module, name)
        except Exception as exc:  # noqa: BLE001 - a reference that does not exist is absent already
            done[path] = f"absent ({_type(exc).__name__})"
            continue
        if _isinstance(original, _type) or not callable(original):
            done[path] = "left alone (not a function)"
            continue
        stub = _make_stub(path, original)
        _replace_in_modules(original, stub, trusted_ids)
        _replace_everywhere(original, stub, trusted_ids)
        done[path] = "stubbed"
        del original, stub, module
    gc.collect()
    return done


def _replace_in_modules(original, stub, trusted_ids: set[int]) -> None:
    for mod in list(sys.modules.values()):
        d = getattr(mod, "__dict__", None)
        if _type(d) is not dict or id(d) in trusted_ids:
            continue
        for attr in [k for k, v in d.items() if v is original]:
            d[attr] = stub




# --------------------------------------------------------------------------- main

class Worker:
    """State of one grading run inside the worker process."""

    def __init__(self, job: dict, inputs: dict) -> None:
        self.job, self.inputs = job, inputs
        self.results: dict = {}
        self.status: dict = {"cells": [], "items": {}, "done": False, "pid": _getpid()}
        self.main_pid = _getpid()
        self.results_fd = 1
        self.sent: set[str] = set()

    def flush(self) -> None:
        """Send the tensors not sent yet and the whole status on the results pipe."""
        if _getpid() != self.main_pid:
            _exit(0)
        fd = self.results_fd
        try:
            for key, t in self.results.items():
                if key in self.sent:
                    continue
                self.sent.add(key)
                try:
                    head, raw = wire.tensor_bytes(t)
                except (TypeError, RuntimeError) as exc:  # e.g. a complex dtype: that output is missing
                    self.status.setdefault("unsent", {})[key] = _str(exc)[:200]
                    continue
                _write_frame(fd, {"t": "tensor", "key": key, **head}, raw)
            _write_frame(fd, {"t": "status", "status": self.status})
        except (OSError, TypeError, ValueError):  # the parent stopped reading: nothing more to say
            _exit(3)

    def run_cells(self, ns: dict) -> None:
        step = self.job.get("step_timeout")
        for cell in self.job["cells"]:
            entry = {"label": cell["label"], "role": cell["role"], "error": None}
            RECORDER.active = cell["role"] == "exercise"
            RECORDER.calls.clear()
            try:
                code = compile(cell["source"], f"<{cell['label']}>", "exec")
                with _Slice(step if cell["role"] == "exercise" else None):
                    exec(code, ns)
            except StepTimeout:
                entry["error"] = f"the cell ran longer than {step:g} s (infinite loop?)"
            except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt included
                entry["error"] = _short(exc)
            finally:
                RECORDER.active = False
            if _getpid() != self.main_pid:  # a fork of ours: never report twice
                _exit(0)
            entry["reference_calls"] = sorted(RECORDER.calls)
            self.status["cells"].append(entry)

    def run_items(self, ns: dict) -> None:
        step = self.job.get("step_timeout")
        early_calls = {c for e in self.status["cells"] for c in e.get("reference_calls", [])}
        for item in self.job["items"]:
            name = item["name"]
            st = {"cases": {}, "reference_called": sorted(set(item["forbidden"]) & early_calls),
                  "defined": name in ns}
            self.status["items"][name] = st
            obj = ns.get(name)
            if obj is None:
                self.flush()
                continue
            t_item = time.process_time()
            for case in item["cases"]:
                res: dict = {}
                err = None
                RECORDER.calls.clear()
                RECORDER.active = True
                try:
                    with _Slice(step):
                        res = DRIVERS[case.get("driver", "call")](obj, case, self.inputs, ns)
                except StepTimeout:
                    err = f"ran longer than {step:g} s (infinite loop?)"
                except BaseException as exc:  # noqa: BLE001
                    err = _short(exc)
                finally:
                    RECORDER.active = False
                if _getpid() != self.main_pid:
                    _exit(0)
                called = sorted(set(item["forbidden"]) & RECORDER.calls)
                if called:
                    st["reference_called"] = sorted(set(st["reference_called"]) | set(called))
                st["cases"][case["name"]] = {"error": err}
                for k, v in res.items():
                    if _type(v) is _Tensor:
                        self.results[f"{name}/{case['name']}/{k}"] = v
            st["cpu_s"] = round(time.process_time() - t_item, 3)
            self.flush()

    def run_challenge(self, ns: dict) -> None:
        """Run the submission's challenge cells (after the items), then send back the file they wrote.

        One CPU slice for all of them; the file is read with a bound, never followed through a link.
        """
        spec = self.job.get("challenge")
        if not _isinstance(spec, dict):
            return
        st: dict = {"error": None, "found": False}
        self.status["challenge"] = st
        self.flush()
        try:
            with _Slice(float(spec.get("timeout") or 30.0)):
                for k, source in enumerate(spec.get("cells") or []):
                    exec(compile(source, f"<challenge cell {k}>", "exec"), ns)
        except StepTimeout:
            st["error"] = f"the challenge cells ran longer than {float(spec.get('timeout') or 30.0):g} s of CPU time"
        except BaseException as exc:  # noqa: BLE001
            st["error"] = _short(exc)
        if _getpid() != self.main_pid:
            _exit(0)
        try:
            fd = os.open(_str(spec["file"]), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            self.flush()
            return
        try:
            import stat as _stat

            info = os.fstat(fd)
            limit = int(spec.get("max_bytes") or 0)
            if not _stat.S_ISREG(info.st_mode) or info.st_size > limit:
                st["error"] = (st["error"] or "") + f" (the file written is not a regular file of at most {limit} bytes)"
            else:
                raw = os.read(fd, limit + 1)
                st["found"] = True
                self.results["challenge/artefact"] = torch.frombuffer(bytearray(raw), dtype=torch.uint8).clone() \
                    if raw else torch.empty(0, dtype=torch.uint8)
        finally:
            os.close(fd)
        self.flush()


def measure_challenge(job: dict, inputs: dict, results_fd: int) -> int:
    """A measuring job (no submitted code): load each challenge file, measure it, send the numbers.

    The job holds ``count`` files (inputs ``{i}/artefact`` and ``{i}/data/...``), each
    measured within its own CPU slice; the status is sent after each one, so a file that
    crashes the worker leaves the earlier ones measured (the parent measures the rest alone).
    """
    from genlab.exercises.challenges import ChallengeError, evaluate_bytes, find

    per_file: dict = {}
    status: dict = {"challenge": per_file, "done": False, "pid": _getpid()}
    step = float(job.get("step_timeout") or 20.0)
    try:
        ch = find(_str(job.get("lab")))
        if ch is None:
            raise ChallengeError(f"lab {job.get('lab')!r} has no challenge")
    except BaseException as exc:  # noqa: BLE001
        status["error"] = _str(exc)[:MAX_MESSAGE]
        ch = None
    count = int(job.get("count") or 0) if ch is not None else 0
    for i in range(count):
        entry: dict = {"error": None}
        per_file[str(i)] = entry
        raw = inputs.get(f"{i}/artefact")
        data = raw.numpy().tobytes() if raw is not None else b""
        prefix = f"{i}/data/"
        d = {k[len(prefix):]: v for k, v in inputs.items() if k.startswith(prefix)}
        t0 = time.process_time()
        try:
            with _Slice(step):
                value = evaluate_bytes(ch, data, d)
            _write_frame(results_fd, {"t": "tensor", "key": f"challenge/{i}/value", "dtype": "float64", "shape": [1]},
                         torch.tensor([value], dtype=torch.float64).numpy().tobytes())
        except StepTimeout:
            entry.update(error=f"took longer than {step:g} s of CPU time", timeout=True)
        except ChallengeError as exc:
            entry["error"] = _str(exc)[:MAX_MESSAGE]
        except BaseException as exc:  # noqa: BLE001 - e.g. a model that fails on the data
            entry["error"] = f"the model failed on the challenge data: {_short(exc)}"
        entry["cpu_s"] = round(time.process_time() - t0, 3)
        _write_frame(results_fd, {"t": "status", "status": status})
    status["done"] = True
    _write_frame(results_fd, {"t": "status", "status": status})
    _write_frame(results_fd, {"t": "end"})
    return 0


def read_job(fd: int = 0) -> tuple[dict, dict[str, torch.Tensor]]:
    """The job and its input tensors from the parent's stream on ``fd`` (stdin)."""
    reader = wire.Reader(fd, 1 << 30)
    job, inputs = None, {}
    while True:
        header, tensor = reader.frame()
        if header["t"] == "job":
            job = header["job"]
        elif header["t"] == "tensor":
            inputs[header["key"]] = tensor
        elif header["t"] == "end":
            break
    if not _isinstance(job, dict):
        raise RuntimeError("no job on stdin")
    return job, inputs


def _private_results_pipe() -> int:
    """Keep stdout (the results pipe) on a private descriptor; prints go to stderr from now on."""
    fd = os.dup(1)
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return fd


def main() -> int:
    """Entry point of the worker (started by the sandbox; the job arrives on stdin)."""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGPROF, _on_alarm)
    torch.set_num_threads(1)
    job, inputs = read_job(0)
    results_fd = _private_results_pipe()
    if job.get("kind") == "challenge":  # measuring a challenge file: no submitted code runs here
        return measure_challenge(job, inputs, results_fd)
    stubbed = stub_references(_type(job.get("protected")) is list and job["protected"] or [])
    worker = Worker(job, inputs)
    worker.results_fd = results_fd
    worker.status["uid"] = os.getuid()
    worker.status["stubbed"] = sorted(p for p, what in stubbed.items() if what == "stubbed")
    worker.flush()
    limit = int(job.get("max_output", 200_000))
    sys.stdout = _CappedStream(sys.__stdout__, limit)
    sys.stderr = _CappedStream(sys.__stderr__, limit)
    ns: dict = {"__name__": "__main__", "__builtins__": builtins,
                "get_ipython": lambda: None, "display": lambda *a, **k: None}
    t0 = time.perf_counter()
    worker.status["startup_cpu_s"] = round(time.process_time(), 3)  # interpreter, torch, genlab, the stubs
    phases = worker.status["phase_seconds"] = {}  # where a submission's time goes (for profiling the grader)
    for phase, step in (("cells", worker.run_cells), ("items", worker.run_items), ("challenge", worker.run_challenge)):
        t = time.perf_counter()
        step(ns)
        phases[phase] = round(time.perf_counter() - t, 3)
        if phase == "items":
            worker.status["items_done"] = True  # a challenge cell that kills the worker leaves the items graded
    worker.status["done"] = True
    worker.status["seconds"] = time.perf_counter() - t0
    worker.flush()
    _write_frame(results_fd, {"t": "end"})
    return 0


if __name__ == "__main__":
    code = main()
    # Skip interpreter teardown: atexit hooks and __del__ methods a submission registered never run.
    try:
        sys.__stdout__.flush()
    except Exception:  # noqa: BLE001
        pass
    _exit(code)
