import pytest
import torch

from genlab.checks import CheckFailed, check_missing_fraction, check_to_course_format


def test_lab00_checks_pass_on_solutions(capsys):
    assert check_to_course_format(lambda im: im.unsqueeze(1).float() / 255)
    assert check_missing_fraction(lambda m: m.flatten(1).mean(1))
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (lambda im: im.unsqueeze(1).float(), "divide by 255"),
    (lambda im: im.float() / 255, "shape"),
    (lambda im: im.unsqueeze(1) // 255, "floating"),
    (lambda im: im.unsqueeze(1).float() / 256, "255"),
])
def test_to_course_format_catches_mistakes(wrong, words):
    with pytest.raises(CheckFailed, match=words):
        check_to_course_format(wrong)


@pytest.mark.parametrize("wrong", [lambda m: m.mean(), lambda m: m.sum((1, 2, 3)),
                                   lambda m: m.mean((2, 3))])
def test_missing_fraction_catches_mistakes(wrong):
    with pytest.raises(CheckFailed):
        check_missing_fraction(wrong)


def test_unimplemented_is_reported_clearly():
    def todo(x):
        raise NotImplementedError
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check_to_course_format(todo)
    with pytest.raises(AttributeError, match="the checks are"):
        from genlab import checks
        checks.check_nothing  # noqa: B018
    assert torch.tensor(1)
