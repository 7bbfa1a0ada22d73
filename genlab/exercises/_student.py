"""What a student check says: one failure type, one report format, the probes' helpers.

Used by the ``diagnose`` probes of the exercise entries and by :mod:`genlab.checks`.
A failure reads ``expected / got / hint``; it never quotes the reference's code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class CheckFailed(AssertionError):
    """A lab check found a problem; the message teaches what to look at."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback through genlab's internals.
        return str(self).splitlines()


def report(name: str, message: str = "") -> bool:
    """Print the pass line of a check and return True."""
    extra = f" ({message})" if message else ""
    print(f"\u2705 {name}: all checks passed{extra}.")
    return True


def fail(name: str, expected: str, got: str, hint: str = "") -> None:
    """Raise ``CheckFailed`` with the expected / got / hint layout students see."""
    lines = [f"\u274c {name}", f"  expected: {expected}", f"  got:      {got}"]
    if hint:
        lines.append(f"  hint:     {hint}")
    raise CheckFailed("\n".join(lines))


def call(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's function; turn NotImplementedError and crashes into a clear failure."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(f"\u274c {name}: not implemented yet. Replace the `raise NotImplementedError` "
                          "in the exercise cell with your code.") from None
    except CheckFailed:
        raise
    except Exception as exc:  # the student's code crashed: say where, keep the traceback
        raise CheckFailed(f"\u274c {name}: your function raised {type(exc).__name__}: {exc}") from exc


def expect_tensor(name: str, value: Any, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Fail unless ``value`` is a tensor of ``shape`` (when given) with finite values."""
    if not isinstance(value, torch.Tensor):
        fail(name, f"a torch.Tensor{f' of shape {shape}' if shape else ''}", type(value).__name__)
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
