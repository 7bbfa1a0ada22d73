"""Every named mistake of every exercise entry: its student check fails with the expected
message, and the grader (in-process, held-back cases included) gives it less than full marks."""

from __future__ import annotations

import re

import pytest
import torch

import genlab.checks
from genlab.checks import CheckFailed
from genlab.exercises import GRADED_LABS, Lab, load_lab
from genlab.grading.grader import grade_functions

CASES = [(lab, item.name, label) for lab in GRADED_LABS for item in load_lab(lab).items for label in item.mistakes]


@pytest.mark.parametrize(("lab", "name", "label"), CASES, ids=[f"{n}-{m}" for _, n, m in CASES])
def test_named_mistake_fails_the_check_and_loses_points(lab, name, label, capsys):
    item = load_lab(lab).item(name)
    wrong, pattern = item.mistakes[label]
    torch.manual_seed(3)
    with pytest.raises(CheckFailed) as failed:
        getattr(genlab.checks, f"check_{name}")(wrong)
    capsys.readouterr()
    if pattern is not None:
        assert re.search(pattern, str(failed.value)), str(failed.value)
    torch.manual_seed(0)
    res = grade_functions(Lab(load_lab(lab).lab, [item]), {name: wrong}, seed=11)[name]
    assert res.points < item.points, f"the grader gave {label!r} full marks"


def test_every_graded_item_has_named_mistakes():
    for lab in GRADED_LABS:
        for item in load_lab(lab).items:
            assert len(item.mistakes) >= 2, item.name
            assert any(not c.public for c in item.cases) or item.compare == "custom", item.name
