"""One spec per graded lab: ``labNN.py`` defines ``SPEC: LabSpec``.

:func:`load_spec` finds it from a lab name (``"02_vae"``, ``"02"``, ``"lab02"``).
"""

from __future__ import annotations

import importlib

from ...errors import NotALabError
from ..notebook import lab_number
from ..spec import LabSpec

#: Labs that have a grading spec.
GRADED_LABS = ("01", "02", "03", "05", "06")


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
