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


# --------------------------------------------------------------------------- messages and hints hold no code
# What the checks print, what the grader's feedback quotes and every hint level state the
# contract in words and maths: no method calls, no library names, no keyword arguments, no
# API calls (maths such as exp(x), log sigma(l) or softplus(l) is fine).
MESSAGE_CODE = re.compile(
    r"\.\w+\(|\b(?:torch|F|nn|np|math|os)\.\w|\b\w+=[\w'\"]|`|\b(?:permute|reshape|view|transpose|flatten|squeeze|"
    r"unsqueeze|contiguous|detach|item|backward|zero_grad|randn|randn_like|rand|rand_like|randint|zeros|ones|"
    r"zeros_like|ones_like|full|full_like|cat|stack|logsumexp|binary_cross_entropy|binary_cross_entropy_with_logits|"
    r"mse_loss|cross_entropy|no_grad|state_dict|load_state_dict|numpy|tensor|expand|manual_seed|Generator|"
    r"GradScaler|autocast|normal|sample|linspace|arange|cumsum|where|amax|masked_fill|isfinite|nan_to_num|"
    r"set_rng_state|get_rng_state|replace|rename|mkstemp)\(")
HINT_POINTER = re.compile(r'genlab\.hint\("[\w{}]+"(?:, (?:level=)?[\d{}]+)?\)')


def _text(node: ast.AST) -> str | None:
    """A string literal, an f-string (placeholders as ``{}``) or a sum of them, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp):
        parts = [_text(node.left), _text(node.right)]
        return "".join(p for p in parts if p) if any(parts) else None
    return None


def check_messages(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of every message of an exercise module: the expected / got / hint of each
    ``fail`` call, each item's ``expected`` and ``hint``, and the feedback strings of its tables."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name == "fail":
                found += [(node.lineno, t) for a in node.args[1:4] if (t := _text(a))]
                found += [(node.lineno, t) for k in node.keywords if k.arg == "hint" and (t := _text(k.value))]
            elif name == "Item":
                found += [(node.lineno, t) for k in node.keywords
                          if k.arg in ("expected", "hint") and (t := _text(k.value))]
        elif isinstance(node, ast.Dict):
            found += [(v.lineno, v.value) for v in node.values
                      if isinstance(v, ast.Constant) and isinstance(v.value, str) and " " in v.value and len(v.value) > 25]
    return found


@pytest.mark.parametrize("nn", GRADED_LABS)
def test_check_messages_and_feedback_name_no_code(nn: str) -> None:
    path = ROOT / "genlab" / "exercises" / f"lab{nn}.py"
    messages = check_messages(path)
    assert len(messages) >= 10, path.name
    bad = [(line, m.group(), text[:120]) for line, text in messages
           if (m := MESSAGE_CODE.search(HINT_POINTER.sub("", text)))]
    assert not bad, f"{path.name}: messages that quote code: {bad}"


@pytest.mark.parametrize("name", sorted(hints.HINTS))
def test_every_hint_level_holds_no_code(name: str) -> None:
    for level, text in enumerate(hints.HINTS[name], 1):
        m = MESSAGE_CODE.search(HINT_POINTER.sub("", text))
        assert m is None, f"{name} level {level} quotes code: {m.group()!r} in {text[:120]!r}"


def test_the_shared_check_texts_name_no_code() -> None:
    from genlab.checks import _core as checks_core
    from genlab.exercises import _student

    texts = [checks_core.META_HINT, checks_core.NONCONTIG_HINT, *(t for _, t in check_messages(
        ROOT / "genlab" / "exercises" / "_student.py"))]
    for text in texts:
        assert not MESSAGE_CODE.search(HINT_POINTER.sub("", text)), text
    assert _student.FAIL_MARK.endswith("FAIL") and _student.PASS_MARK.endswith("PASS")


@pytest.mark.parametrize("first", ["genlab.exercises.lab02", "genlab.checks.lab05", "genlab.exercises.lab09"])
def test_challenge_hints_whatever_is_imported_first(first: str) -> None:
    """A lab module imported before the hints (as a lab's setup cell does) leaves no challenge without hints."""
    import subprocess
    import sys

    code = (f"import {first}\nimport genlab\nfrom genlab.exercises import GRADED_LABS, hints\n"
            "missing = [n for n in GRADED_LABS if f'challenge_{n}' not in hints.HINTS]\n"
            "assert not missing, missing\ngenlab.hint('challenge_02', 1)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Hint 1 of 3 for challenge_02" in done.stdout
