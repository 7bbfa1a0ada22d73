"""One spec per graded lab: ``labNN.py`` defines ``SPEC: LabSpec``.

:func:`load_spec` finds it from a lab name (``"02_vae"``, ``"02"``, ``"lab02"``).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ...errors import NotALabError
from ..notebook import lab_number
from ..spec import LabSpec

#: Labs that have a grading spec: every ``labNN.py`` in this folder.
GRADED_LABS: tuple[str, ...] = tuple(sorted(p.stem[3:] for p in Path(__file__).parent.glob("lab[0-9][0-9].py")))

#: Labs with exercise cells that are deliberately not graded, and why.
UNGRADED_LABS: dict[str, str] = {
    "00": "the setup lab: its exercises check the student's environment, not course material",
}


def load_spec(lab: str) -> LabSpec:
    """The :class:`LabSpec` of a lab.

    Raises:
        NotALabError: the lab has no grading spec.
    """
    nn = lab_number(lab)
    try:
        module = importlib.import_module(f"{__name__}.lab{nn}")
    except ModuleNotFoundError:
        raise NotALabError(f"lab {lab!r} has no grading spec; graded labs: "
                           f"{', '.join(GRADED_LABS)}.") from None
    return module.SPEC
