"""Hints in three steps for every graded item, and stub messages in labs/ that contain no code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import genlab
from genlab.exercises import hints

ROOT = Path(__file__).resolve().parents[2]
GRADED_LABS = ("01", "02", "03", "04", "05", "06", "07", "09")


def graded_items() -> list[str]:
    """Top-level functions and classes of the cells tagged ``exercise`` in the graded solutions."""
    names = []
    for nn in GRADED_LABS:
        text = next((ROOT / "solutions").glob(f"{nn}_*.py")).read_text(encoding="utf-8")
        for cell in re.split(r"^# %%", text, flags=re.M):
            if cell.startswith(' tags=["exercise"]'):
                names += re.findall(r"^(?:def|class) (\w+)", cell, flags=re.M)
    return names


def stub_messages() -> list[tuple[str, str]]:
    """(lab file, message) of every ``raise NotImplementedError(...)`` in labs/*.py."""
    found = []
    for path in sorted((ROOT / "labs").glob("[0-9][0-9]_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                    and getattr(node.exc.func, "id", None) == "NotImplementedError"):
                assert node.exc.args, f"{path.name}: a NotImplementedError without a message"
                found.append((path.name, ast.literal_eval(node.exc.args[0])))
    return found


ALLOWED_CALL = re.compile(r'genlab\.hint\("(\w+)"\)')
CODE_SIGNS = [
    (re.compile(r"\w\("), "a call"),
    (re.compile(r"\.[A-Za-z_]"), "an attribute"),
    (re.compile(r"[=+*/<>%\[\]{}`]"), "code punctuation"),
    (re.compile(r"\b(torch|nn|F|np)\b"), "a library name"),
]


def test_every_graded_item_has_three_levels() -> None:
    items = graded_items()
    assert len(items) >= 30, items
    for name in items:
        assert name in hints.HINTS, f"{name} has no hints"
        levels = hints.HINTS[name]
        assert len(levels) == 3 and all(isinstance(t, str) and len(t) > 40 for t in levels), name


@pytest.mark.parametrize("name", sorted(hints.HINTS))
def test_level_three_describes_code_without_writing_it(name: str) -> None:
    for level, text in enumerate(hints.HINTS[name], 1):
        assert "`" not in text, f"{name} level {level} quotes code"
    third = hints.HINTS[name][2]
    for pattern, what in CODE_SIGNS:
        assert not pattern.search(third), f"{name} level 3 contains {what}: {pattern.search(third).group()!r}"


def test_stub_messages_name_no_call_and_hold_no_code() -> None:
    messages = stub_messages()
    assert len(messages) >= 30
    for lab, msg in messages:
        asked = ALLOWED_CALL.findall(msg)
        assert asked, f"{lab}: {msg!r} does not say how to ask for a hint"
        assert all(a in hints.HINTS for a in asked), f"{lab}: {msg!r} points to an item without hints"
        rest = ALLOWED_CALL.sub("", msg).rstrip(".")
        for pattern, what in CODE_SIGNS:
            assert not pattern.search(rest), f"{lab}: {msg!r} contains {what}"


def test_hint_steps_through_the_levels(capsys) -> None:
    hints._shown.pop("kl_divergence", None)
    for expected in (1, 2, 3, 3):
        genlab.hint("kl_divergence")
        out = capsys.readouterr().out
        assert f"Hint {expected} of 3 for kl_divergence" in out
        assert hints.HINTS["kl_divergence"][expected - 1] in out
    assert 'genlab.hint("kl_divergence", level=1)' in out  # after the last: how to start again
    genlab.hint("kl_divergence", level=2)
    assert "Hint 2 of 3" in capsys.readouterr().out
    genlab.hint("elbo_loss", 1)
    out = capsys.readouterr().out
    assert "Hint 1 of 3 for elbo_loss" in out and 'genlab.hint("elbo_loss") again for hint 2 of 3' in out


def test_hint_errors_are_clear() -> None:
    with pytest.raises(KeyError, match="kl_divergence") as exc:
        genlab.hint("kl_divergance")
    assert "Items with hints" in str(exc.value) and "reparameterize" in str(exc.value)
    with pytest.raises(ValueError, match="1, 2 or 3"):
        genlab.hint("kl_divergence", level=4)
