"""The grading worker: runs one submission's cells in its own process and saves plain tensors.

Started by :mod:`genlab.grading.sandbox` as a fresh ``python -I`` process whose
working directory is a scratch folder holding exactly two files written by
the parent: ``job.json`` (the cells to run and, per item, the cases to call
with their driver) and ``inputs.pt`` (the case inputs, plain tensors). The
worker reads and deletes both, executes the cells with ``exec`` in one fresh
namespace, calls every item on its inputs and writes ``results.pt`` (a flat
``dict[str, Tensor]``) and ``status.json`` (errors, reference calls) after
each item, so a crash or a timeout later keeps what was already graded.

Nothing here decides a grade: the parent loads the tensors with
``weights_only=True`` and compares them with references it computes itself.
"""

from __future__ import annotations

import builtins
import importlib
import io
import json
import os
import signal
import stat
import sys
import time
import traceback

import torch

from genlab.exercises.drivers import DRIVERS

# Bound now, before any submitted code runs: a cell that patches builtins, json,
# os or torch.save cannot change how the worker reports (the parent checks anyway).
_isinstance, _type, _len, _str, _repr = builtins.isinstance, builtins.type, builtins.len, builtins.str, builtins.repr
_save, _load, _Tensor = torch.save, torch.load, torch.Tensor
_replace, _getpid, _exit, _json_dumps = os.replace, os.getpid, os._exit, json.dumps
_open = builtins.open
_stdout_fd_write = os.write

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


class _Slice:
    """``with _Slice(seconds):`` raises StepTimeout in this thread after ``seconds`` of wall time."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    def __enter__(self):
        if self.seconds:
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        return False


# --------------------------------------------------------------------------- reference-call recorder

class _Recorder:
    """Wraps genlab reference functions so that calling one is recorded by name."""

    def __init__(self) -> None:
        self.calls: set[str] = set()
        self.active = False

    def install(self, paths: list[str]) -> None:
        for path in paths:
            module_name, name = path.rsplit(".", 1)
            try:
                module = importlib.import_module(module_name)
                original = getattr(module, name)
            except Exception:  # noqa: BLE001 - reference not available: static check only
                continue
            if _isinstance(original, _type):
                continue  # classes are detected by behaviour (isinstance/mro) in the module driver
            wrapper = self._wrap(original, path)
            # Replace every genlab module attribute that is this function (re-exports too), except
            # in the grader's own modules and the exercises' drivers: those call reference
            # implementations (e.g. a reference save before a load scenario), and the grader
            # calling them is not the submission calling them.
            for mod_name, mod in list(sys.modules.items()):
                if mod is None or not mod_name.startswith("genlab") or mod_name.startswith(_TRUSTED):
                    continue
                for attr, value in list(vars(mod).items()):
                    if value is original:
                        setattr(mod, attr, wrapper)

    def _wrap(self, fn, path):
        recorder = self

        def reference(*args, **kwargs):
            if recorder.active:
                recorder.calls.add(path)
            return fn(*args, **kwargs)

        reference.__name__ = getattr(fn, "__name__", "reference")
        reference.__doc__ = fn.__doc__
        return reference


RECORDER = _Recorder()
_TRUSTED = ("genlab.grading", "genlab.exercises.scenarios", "genlab.exercises.drivers", "genlab.exercises._core")


# --------------------------------------------------------------------------- main

class Worker:
    """State of one grading run inside the worker process."""

    def __init__(self, job: dict, inputs: dict) -> None:
        self.job, self.inputs = job, inputs
        self.results: dict = {}
        self.status: dict = {"cells": [], "items": {}, "done": False, "pid": _getpid()}
        self.main_pid = _getpid()

    def flush(self) -> None:
        """Write results and status atomically (temp file, then rename)."""
        if _getpid() != self.main_pid:
            _exit(0)
        _save(self.results, "results.pt.tmp")
        _replace("results.pt.tmp", "results.pt")
        with _open("status.json.tmp", "w", encoding="utf-8") as f:
            f.write(_json_dumps(self.status))
        _replace("status.json.tmp", "status.json")

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
            self.flush()


PREIMPORT = ("math", "random", "itertools", "functools", "collections", "dataclasses", "typing",
             "numpy", "torch.nn", "torch.nn.functional", "torch.optim", "genlab", "genlab.errors",
             "genlab.config", "genlab.losses", "genlab.masks", "genlab.models")


_LIBRARIES = {"torch", "numpy", "genlab", "scipy", "sklearn", "skimage", "matplotlib", "torchvision"}
_NOISY = {"antigravity", "this", "__hello__", "__phello__", "webbrowser", "turtle", "turtledemo",
          "idlelib", "tkinter", "pydoc", "ensurepip", "venv", "pip"}


def _imports_of(sources: list[str]) -> set[str]:
    """Module names the cells import (``import a.b`` gives a and a.b)."""
    import ast

    names: set[str] = set()
    for src in sources:
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            mods = []
            if _isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif _isinstance(node, ast.ImportFrom) and node.module and not node.level:
                mods = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for m in mods:
                parts = m.split(".")
                names.update(".".join(parts[: i + 1]) for i in range(_len(parts)))
    return names


def _traversable(path: str) -> bool:
    """Can any user reach ``path`` (every ancestor has the others-execute bit)?"""
    parts = os.path.abspath(path).split(os.sep)
    for i in range(2, _len(parts) + 1):
        try:
            if not os.stat(os.sep.join(parts[:i])).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _reach_private_paths() -> None:
    """Keep the interpreter's own library importable after dropping root.

    The standard library may live where only root can traverse (pyenv under
    ``/root``). Each such ``sys.path`` folder is opened now, as root, and
    replaced by ``/proc/self/fd/N``: lookups through the open descriptor need
    no permission on the folder's ancestors, and give access to that library
    folder only.
    """
    remap: dict[str, str] = {}
    for p in list(sys.path):
        if p and os.path.isdir(p) and not _traversable(p):
            fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY)
            remap[p] = f"/proc/self/fd/{fd}"
    if not remap:
        return
    sys.path[:] = [remap.get(p, p) for p in sys.path]
    sys.path_importer_cache.clear()
    for module in list(sys.modules.values()):  # packages already imported keep finding submodules
        paths = getattr(module, "__path__", None)
        if _type(paths) is not list:
            continue
        for i, entry in enumerate(paths):
            for old, new in remap.items():
                if _isinstance(entry, _str) and entry.startswith(old + os.sep):
                    paths[i] = new + entry[_len(old):]


def _drop_privileges(job: dict) -> str:
    """Become the sandbox uid (when the parent runs as root) before any submitted code runs.

    Modules the cells import are imported first, as root: the interpreter and
    its standard library may be readable by root only (pyenv under /root).
    Importing a module by name runs that module's code, never the submission's.
    """
    uid = job.get("sandbox_uid")
    if uid is None or os.geteuid() != 0:
        return f"uid {os.geteuid()}"
    trusted = _imports_of([c["source"] for c in job["cells"] if c["role"] != "exercise"])
    # From submitted cells only library modules without side effects on import.
    submitted = {m for m in _imports_of([c["source"] for c in job["cells"] if c["role"] == "exercise"])
                 if (m.split(".")[0] in sys.stdlib_module_names or m.split(".")[0] in _LIBRARIES)
                 and m.split(".")[0] not in _NOISY}
    for name in sorted(set(PREIMPORT) | trusted | submitted):
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - a missing module fails later, in the cell, as it should
            pass
    _reach_private_paths()
    try:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        return f"could not drop root privileges: {exc}"
    return f"uid {uid}"


def main() -> int:
    """Entry point of ``python -m genlab.grading.worker`` (run in the scratch folder)."""
    signal.signal(signal.SIGALRM, _on_alarm)
    torch.set_num_threads(1)
    with _open("job.json", encoding="utf-8") as f:
        job = json.load(f)
    inputs = _load("inputs.pt", weights_only=True)
    for name in ("job.json", "inputs.pt"):  # the submission never sees its inputs on disk
        try:
            os.remove(name)
        except OSError:
            pass
    RECORDER.install(sorted({p for it in job["items"] for p in it["forbidden"]}))
    dropped = _drop_privileges(job)
    worker = Worker(job, inputs)
    worker.status["privileges"] = dropped
    worker.flush()
    limit = int(job.get("max_output", 200_000))
    sys.stdout = _CappedStream(sys.__stdout__, limit)
    sys.stderr = _CappedStream(sys.__stderr__, limit)
    ns: dict = {"__name__": "__main__", "__builtins__": builtins,
                "get_ipython": lambda: None, "display": lambda *a, **k: None}
    t0 = time.perf_counter()
    worker.run_cells(ns)
    worker.run_items(ns)
    worker.status["done"] = True
    worker.status["seconds"] = time.perf_counter() - t0
    worker.flush()
    return 0


if __name__ == "__main__":
    code = main()
    # Skip interpreter teardown: atexit hooks and __del__ methods a submission registered never run.
    try:
        sys.__stdout__.flush()
    except Exception:  # noqa: BLE001
        pass
    _exit(code)
