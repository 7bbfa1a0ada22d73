"""Student checks built from the exercise entries (:mod:`genlab.exercises`).

``check_for(lab, name)`` makes ``check_<name>(fn)``: the entry's own probes
(``Item.diagnose``, which name a mistake when they see one), then the grader's
public cases through the same drivers and judge as the grader, in this process.
``export_checks(lab, globals())`` gives a lab's check module one for every item of
the lab's entry, so a new item needs no line here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..exercises import load_lab, run_cases
from ..exercises._core import is_meta_call
from ..exercises._student import CheckFailed, call, expect_close, expect_tensor, fail, report

__all__ = ["CheckFailed", "call", "check_for", "expect_close", "expect_tensor", "export_checks", "fail", "report"]


#: The hint of a failed case that tests a layout rather than a value.
META_HINT = ("the input was a tensor on the 'meta' device (shapes only, no values): everything the function "
             "creates (noise, masks, targets, constants, hidden states) must be made on the input's device "
             "and in its dtype.")
NONCONTIG_HINT = ("the input was a non-contiguous view (a transposed map): an operation that needs the memory "
                  "in order fails on it; use one that accepts any memory layout.")


def _case_hint(call: Any, default: str) -> str:
    if is_meta_call(call):
        return META_HINT
    if any(isinstance(a, torch.Tensor) and not a.is_contiguous() for a in call.args):
        return NONCONTIG_HINT
    return default


def check_for(lab: str, name: str) -> Callable[[Any], bool]:
    """The student check of item ``name`` of ``lab``: prints a pass line and returns True, or raises."""
    try:
        expected = load_lab(lab).item(name).expected
    except ImportError:  # inside the grading sandbox the exercise modules are absent: checks never run there
        expected = ""

    def check(fn: Any) -> bool:
        item = load_lab(lab).item(name)
        extra = item.diagnose(fn) if item.diagnose is not None else None
        with torch.random.fork_rng(devices=[]):  # the grader's cases leave the notebook's RNG alone
            failures = run_cases(item, fn, public_only=True)
        if failures:
            # a value or shape failure names the mistake better than a layout one: report it first
            failures.sort(key=lambda f: _case_hint(f[1], "") != "")
            case, call_, msg = failures[0]
            fail(name, f"the grader's public case {case.name!r} ({', '.join(case.tags)}) to pass",
                 msg, _case_hint(call_, item.hint))
        return report(name, extra if isinstance(extra, str) else "")

    check.__name__ = check.__qualname__ = f"check_{name}"
    check.__doc__ = f"Check ``{name}`` (lab {lab}): {expected}"
    return check


def export_checks(lab: str, namespace: dict[str, Any]) -> list[str]:
    """Put ``check_<name>`` for every graded item of ``lab`` into ``namespace``; return their names.

    Inside the grading sandbox the lab's exercise module refuses to import (it holds the
    references); the checks are not run there, so the module then exports none and the lab's
    support cells that import other names from it still work.
    """
    try:
        items = load_lab(lab).items
    except ImportError:
        return []
    checks = {f"check_{it.name}": check_for(lab, it.name) for it in items}
    namespace.update(checks)
    return sorted(checks)
