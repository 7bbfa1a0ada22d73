"""The instructor autograder: lab specs, a sandboxed worker per submission, gradebook and feedback.

``genlab grade LAB SUBMISSIONS --out OUT`` (see docs/grading.md). The Python API:

- :func:`genlab.grading.grader.grade` grades a folder and writes the outputs;
- :func:`genlab.grading.grader.self_check` grades a lab's solution and its untouched lab;
- :func:`genlab.grading.grader.grade_functions` grades in-process implementations (trusted code);
- :func:`genlab.exercises.load_spec` returns a lab's :class:`~genlab.exercises.Lab` (its contracts).
"""

from __future__ import annotations

__all__ = ["grade", "grade_functions", "load_spec", "self_check"]


def __getattr__(name: str):
    # Lazy: the worker imports genlab.grading.worker without the grader's dependencies.
    if name in ("grade", "grade_functions", "self_check"):
        from . import grader
        return getattr(grader, name)
    if name == "load_spec":
        from ..exercises import load_spec
        return load_spec
    raise AttributeError(f"module 'genlab.grading' has no attribute {name!r}")
