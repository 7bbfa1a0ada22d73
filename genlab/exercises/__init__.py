"""The single home of every graded exercise: what "correct" means, once.

One module per graded lab (``lab01.py`` ... ``lab09.py``) defines ``LAB: Lab``, whose
:class:`~genlab.exercises._core.Item` s hold, per graded function or class: the
reference, the public and held-back cases, the judge, the student check's own
probes (``diagnose``), the named mistakes and the hint slots. The student checks
(:mod:`genlab.checks`) and the grader (:mod:`genlab.grading`) both read these
entries; neither holds a contract of its own.

How to add ...

- **an item**: write its ``Item(...)`` in the lab's ``LAB.items`` (``name`` as in the
  notebook's exercise cell), with ``reference`` the dotted path of the library's
  implementation (for a lab-only function, define the one reference in the exercise
  module and point at it); ``genlab.checks.check_<name>`` exists from then on.
- **a case**: append ``Case("held-3", make, public=False, tags=("extreme",))`` to the
  item's ``cases``; ``make(g)`` draws a :class:`~genlab.exercises._core.Call` from the
  generator it is given (public cases also run in the student check; held-back ones
  only in the grader, drawn from the run's seed). Tag it with the contract properties
  it tests (:data:`~genlab.exercises._core.PROPERTIES`).
- **a mistake**: add ``"label": (wrong_fn, "substring")`` to the item's ``mistakes``;
  ``tests/unit/test_mistakes.py`` then requires the student check to fail with a
  message containing the substring and the grader to give it less than full marks.
  That one line is the only place a new mistake needs.
- **hints / questions**: ``Item.hints`` (levels 1-3) and ``Lab.questions`` are the slots.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from ..errors import NotALabError
from ._core import PROPERTIES, Call, Case, Gen, Item, Lab, LabSpec, judge
from .drivers import run_cases

__all__ = ["GRADED_LABS", "PROPERTIES", "UNGRADED_LABS", "Call", "Case", "Gen", "Item", "Lab", "LabSpec",
           "all_items", "judge", "load_lab", "load_spec", "protected_references", "run_cases"]

#: Labs that are graded: every ``labNN.py`` in this folder.
GRADED_LABS: tuple[str, ...] = tuple(sorted(p.stem[3:] for p in Path(__file__).parent.glob("lab[0-9][0-9].py")))

#: Labs with exercise cells that are deliberately not graded, and why.
UNGRADED_LABS: dict[str, str] = {
    "00": "the setup lab: its exercises check the student's environment, not course material",
}


def _lab_number(lab: str) -> str:
    m = re.search(r"(\d+)", lab)
    if not m:
        raise NotALabError(f"lab {lab!r} has no number: name it like '02_vae' or '02'.")
    return f"{int(m.group(1)):02d}"


def load_lab(lab: str) -> Lab:
    """The :class:`Lab` of a lab given as ``"02_vae"``, ``"02"`` or ``"lab02"``.

    Raises:
        NotALabError: the lab is not graded.
    """
    nn = _lab_number(lab)
    if nn not in GRADED_LABS:
        raise NotALabError(f"lab {lab!r} has no grading spec; graded labs: {', '.join(GRADED_LABS)}.")
    return importlib.import_module(f"{__name__}.lab{nn}").LAB


#: The grader's name for :func:`load_lab`.
load_spec = load_lab


def all_items() -> dict[str, Item]:
    """Every graded item of every lab, by name (names are unique across labs)."""
    return {it.name: it for nn in GRADED_LABS for it in load_lab(nn).items}


def protected_references(lab: str) -> list[str]:
    """Dotted names of every genlab function that computes one of ``lab``'s graded items.

    The references, what a submission must not call, and the closed forms elsewhere
    in genlab: what a grading sandbox should make unavailable.
    """
    module = importlib.import_module(f"{__name__}.lab{_lab_number(lab)}")
    names = [p for it in load_lab(lab).items for p in it.protected_names()]
    # correct versions kept beside the named mistakes (the mistakes are built from them)
    names += [f"{module.__name__}._ms_{it.name}" for it in load_lab(lab).items if hasattr(module, f"_ms_{it.name}")]
    return list(dict.fromkeys(names))
