"""What a student check says: one failure type, one report format, the probes' helpers.

Used by the ``diagnose`` probes of the exercise entries and by :mod:`genlab.checks`.
A failure reads ``expected / got / hint``; it never quotes the reference's code, and
its last line points to the level of the item's hint ladder (:mod:`genlab.exercises.hints`)
that helps with what went wrong, e.g. ``genlab.hint("kl_divergence", 2)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .hints import HINTS

#: The first words of a check's verdict: a symbol and a plain word, so the verdict reads the same
#: where the notebook's font has no emoji.
PASS_MARK = "\u2705 PASS"
FAIL_MARK = "\u274c FAIL"

#: What each hint level is about, as the pointer line names it.
_LEVEL_NAMES = {1: "the idea", 2: "the maths and the shapes", 3: "the structure of the code"}
# Words of a failure that say which level helps: the code's structure for graph cuts, side
# effects, devices and signatures; the maths for values and shapes; otherwise the idea.
_LEVEL_WORDS = (
    (3, ("gradient", "graph", "in place", "modified", "device", "dtype", "signature", "a class",
         "nn.Module", "fresh", "reseed", "same noise", "identical", "python float", "not implemented")),
    (2, ("shape", "scalar", "sum", "mean", "sign", "factor", "nan", "inf", "finite", "range",
         "standard deviation", "variance", "values")),
)


def item_of(name: str) -> str:
    """The item a check's display name belongs to: ``"generator_loss (default)"`` -> ``"generator_loss"``."""
    return name.split(" ", 1)[0].split("(", 1)[0]


def hint_level(*texts: str) -> int:
    """The hint level most relevant to a failure whose message parts are ``texts``."""
    words = " ".join(texts).lower()
    for level, keys in _LEVEL_WORDS:
        if any(k.lower() in words for k in keys):
            return level
    return 1


def hint_pointer(name: str, level: int | None = None, *texts: str) -> str:
    """The closing line of a failure: which ``genlab.hint`` call helps (empty if ``name`` has no hints)."""
    item = item_of(name)
    if item not in HINTS:
        return ""
    level = level if level is not None else hint_level(*texts)
    return f'  more:     genlab.hint("{item}", {level}) gives hint {level} of 3 ({_LEVEL_NAMES[level]})'


class CheckFailed(AssertionError):
    """A lab check found a problem; the message teaches what to look at."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback through genlab's internals.
        return str(self).splitlines()


def report(name: str, message: str = "") -> bool:
    """Print the pass line of a check and return True."""
    extra = f" ({message})" if message else ""
    print(f"{PASS_MARK} {name}: all checks passed{extra}.")
    return True


def fail(name: str, expected: str, got: str, hint: str = "", level: int | None = None) -> None:
    """Raise ``CheckFailed`` with the expected / got / hint layout students see.

    The last line points to the item's hint ladder: ``level`` when given, otherwise the
    level :func:`hint_level` reads from the message (the maths for a wrong value or shape,
    the code's structure for a cut graph or a side effect).
    """
    lines = [f"{FAIL_MARK} {name}", f"  expected: {expected}", f"  got:      {got}"]
    if hint:
        lines.append(f"  hint:     {hint}")
    pointer = hint_pointer(name, level, expected, got, hint)
    if pointer:
        lines.append(pointer)
    raise CheckFailed("\n".join(lines))


def call(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's function; turn NotImplementedError and crashes into a clear failure."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        pointer = hint_pointer(name, 1)
        raise CheckFailed(f"{FAIL_MARK} {name}: not implemented yet. Replace the `raise NotImplementedError` "
                          "in the exercise cell with your code." + (f"\n{pointer}" if pointer else "")) from None
    except CheckFailed:
        raise
    except Exception as exc:  # the student's code crashed: say where, keep the traceback
        pointer = hint_pointer(name, None, str(exc))
        raise CheckFailed(f"{FAIL_MARK} {name}: your function raised {type(exc).__name__}: {exc}"
                          + (f"\n{pointer}" if pointer else "")) from exc


def expect_tensor(name: str, value: Any, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Fail unless ``value`` is a tensor of ``shape`` (when given) with finite values."""
    if not isinstance(value, torch.Tensor):
        fail(name, f"a tensor{f' of shape {shape}' if shape else ''}", type(value).__name__)
    if shape is not None and tuple(value.shape) != tuple(shape):
        fail(name, f"shape {tuple(shape)}", f"shape {tuple(value.shape)}",
             "check which dimensions you reduce over and keep.")
    if value.is_floating_point() and not torch.isfinite(value).all():
        fail(name, "finite values", "NaN or inf in the output")
    return value


def expect_close(name: str, got: torch.Tensor, want: torch.Tensor, hint: str = "",
                 rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Fail unless ``got`` matches ``want`` within tolerance; show both."""
    got = expect_tensor(name, got, tuple(want.shape))
    if not torch.allclose(got.float(), want.float(), rtol=rtol, atol=atol):
        diff = (got.float() - want.float()).abs().max().item()
        fail(name, f"{_preview(want)}", f"{_preview(got)} (max abs difference {diff:.3g})", hint)


def _preview(t: torch.Tensor, n: int = 4) -> str:
    flat = t.detach().flatten()[:n].tolist()
    more = ", ..." if t.numel() > n else ""
    return "[" + ", ".join(f"{v:.4g}" for v in flat) + more + "]"
