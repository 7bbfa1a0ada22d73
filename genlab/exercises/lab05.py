"""Exercise entries of lab 05: the contract, cases, probes and mistakes of each graded item.

Grading spec of lab 05 (restoration): block_mask, apply_mask, masked_mse, composite, and the
stretch exercise masked_l1_plus_edges (a loss of the student's own design, graded by properties).

Properties the cases test: values; shapes (B = 1, RGB images with a one-channel mask, H != W);
dtype follows the input (float64, float16); gradients (to the prediction, only through the
hole); no side effects (inputs unchanged); extreme values (an empty hole, a hole as large as
the image); randomness (drawn from the given generator whatever the global seed, fresh on
every call without one, the corner uniform over the legal range: a statistical case).

The student check's probes:

Checks for lab 05 (restoration): mask generator, masking, masked loss, composite.

Each check compares the student's function with ``genlab.masks`` / ``genlab.losses``
on small seeded inputs and names the classic mistake when it sees its symptom.
"""

from __future__ import annotations

import torch

from .. import losses as _lib_losses
from .. import losses as _mc_losses
from .. import masks as _lib_masks
from .. import masks as _mc_masks
from ._core import (
    Call,
    Case,
    Gen,
    Item,
    Mistakes,
    build_lab,
    layout_cases,
    rand,
    randint,
)
from ._student import call, expect_close, expect_tensor, fail
from .challenges import Challenge
from .scenarios import output_check


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _diagnose_block_mask(fn) -> str | None:
    """``block_mask(batch, size, hole, generator=None) -> (B, 1, size, size)``, one random square per image."""
    name = "block_mask"
    batch, size, hole = 64, 12, 4
    m = expect_tensor(name, call(name, fn, batch, size, hole, generator=_gen(0)), (batch, 1, size, size))
    if not m.is_floating_point():
        fail(name, "a float mask (0.0 / 1.0)", f"dtype {m.dtype}", "a mask of floats can multiply images; genlab.hint(\"block_mask\", 3)")
    if not bool(((m == 0) | (m == 1)).all()):
        fail(name, "values in {0, 1}", f"values such as {sorted(set(m.unique().tolist()))[:5]}")
    counts = m.flatten(1).sum(1)
    if bool((counts == size * size - hole * hole).all()):
        fail(name, f"{hole * hole} ones per image (1 = missing, the hole)",
             f"{size * size - hole * hole} ones per image",
             "the convention is inverted: the hole must be 1 and the known pixels 0.")
    if not bool((counts == hole * hole).all()):
        bad = counts[counts != hole * hole][:4].int().tolist()
        fail(name, f"exactly hole*hole = {hole * hole} missing pixels in every image",
             f"images with {bad} missing pixels",
             "either the square has the wrong side, or it is cut off by the image border: "
             "a square fully inside needs a top-left corner in 0..size-hole; genlab.hint(\"block_mask\", 2).")
    # The ones must form one hole x hole square: rows and columns touched = hole each.
    rows_hit = (m[:, 0].sum(2) > 0).sum(1)
    cols_hit = (m[:, 0].sum(1) > 0).sum(1)
    if not bool(((rows_hit == hole) & (cols_hit == hole)).all()):
        fail(name, f"one {hole}x{hole} square per image", "the missing pixels do not form one square",
             "one corner (top, left) per image, and the hole x hole pixels from it; genlab.hint(\"block_mask\", 2).")
    again = call(name, fn, batch, size, hole, generator=_gen(0))
    if not torch.equal(expect_tensor(name, again, (batch, 1, size, size)), m):
        fail(name, "the same masks for the same seeded generator", "different masks on a second call",
             "draw every random number from the generator you are given; genlab.hint(\"block_mask\", 1).")
    other = call(name, fn, batch, size, hole, generator=_gen(1))
    if torch.equal(expect_tensor(name, other, (batch, 1, size, size)), m):
        fail(name, "different masks for differently seeded generators", "identical masks for seeds 0 and 1",
             "the generator is ignored, or nothing is random.")
    tops = m[:, 0].sum(2).argmax(1)   # first row with a one
    lefts = m[:, 0].sum(1).argmax(1)
    if len(set(zip(tops.tolist(), lefts.tolist(), strict=True))) == 1:
        fail(name, "a position drawn per image", "the same square in all 64 images",
             "draw (batch,) corners, not one corner for the whole batch.")
    # Every legal corner must be reachable (catches randint(0, size - hole), whose upper end is exclusive).
    small = expect_tensor(name, call(name, fn, 400, 5, 3, generator=_gen(2)), (400, 1, 5, 5))
    corners = {(int(r), int(c)) for r, c in zip(small[:, 0].sum(2).argmax(1), small[:, 0].sum(1).argmax(1),
                                                strict=True)}
    if len(corners) != 9:
        fail(name, "top-left corners covering all of {0, 1, 2}^2 for size 5, hole 3",
             f"only {len(corners)} distinct corners in 400 masks",
             'the upper end of the corner range is exclusive in most random-integer functions; '
             'genlab.hint("block_mask", 2).')
    spread = _corner_spread(small, 5, 3)
    if spread:
        fail(name, "top-left corners uniform over {0, 1, 2}^2 for size 5, hole 3", spread,
             'draw the corner in the legal range directly, do not push it back inside; genlab.hint("block_mask", 2).')
    a, b = call(name, fn, 32, 10, 3), call(name, fn, 32, 10, 3)
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b):
        fail(name, "fresh masks on every call without a generator", "the same masks twice",
             "without a generator, draw from torch's global generator and never reseed it.")
    full = expect_tensor(name, call(name, fn, 2, 6, 6, generator=_gen(3)), (2, 1, 6, 6))
    if not bool((full == 1).all()):
        fail(name, "an all-ones mask when hole == size", "some pixels kept", "the corner can only be (0, 0).")
    return None


def _diagnose_apply_mask(fn) -> str | None:
    """``apply_mask(x, mask, fill=0.0)``: known pixels kept, hole pixels set to ``fill``."""
    name = "apply_mask"
    g = _gen(0)
    x = torch.rand(3, 3, 6, 6, generator=g) * 0.8 + 0.1
    mask = (torch.rand(3, 1, 6, 6, generator=g) < 0.4).float()
    x_copy = x.clone()
    out = expect_tensor(name, call(name, fn, x, mask), tuple(x.shape))
    if not torch.equal(x, x_copy):
        fail(name, "x left unchanged", "x was modified in place", "build a new tensor instead of writing into x.")
    keep = 1 - mask
    if torch.allclose(out, x * mask):
        fail(name, "known pixels (mask 0) kept, hole (mask 1) blanked", "the hole kept and the known pixels blanked",
             "mask = 1 marks the missing pixels: multiply by (1 - mask) to keep the known ones.")
    expect_close(name, out, x * keep, "with fill=0.0 the result is x with the hole set to 0, on every channel")
    out = expect_tensor(name, call(name, fn, x, mask, fill=0.5), tuple(x.shape))
    expect_close(name, out, x * keep + 0.5 * mask.expand_as(x),
                 "hole pixels must equal `fill` (0.5 here), known pixels x; did you ignore `fill`?")
    return None


def _ref_masked_mse(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.expand_as(x)
    return ((x_hat - x).pow(2) * m).sum() / m.sum().clamp_min(1.0)


def _diagnose_masked_mse(fn) -> str | None:
    """``masked_mse(x_hat, x, mask) -> scalar``: the mean squared error over hole pixels only."""
    name = "masked_mse"
    g = _gen(0)
    x = torch.rand(4, 1, 8, 8, generator=g)
    x_hat = torch.rand(4, 1, 8, 8, generator=g)
    mask = torch.zeros(4, 1, 8, 8)
    mask[0, :, 2:6, 2:6] = 1        # holes of different sizes: the mean pools all hole pixels
    mask[1, :, 0:2, :] = 1
    mask[2, :, 5, 5] = 1
    x_hat_leaf = x_hat.clone().requires_grad_(True)
    out = call(name, fn, x_hat_leaf, x, mask)
    out = expect_tensor(name, out, ())
    want = _ref_masked_mse(x_hat, x, mask)
    if torch.allclose(out.detach(), (x_hat - x).pow(2).mean(), rtol=1e-4):
        fail(name, f"{want.item():.4f} (mean over the hole pixels only)", f"{out.item():.4f}",
             "this is the mean over ALL pixels: the known pixels dilute the loss. Divide by the number of hole pixels; genlab.hint(\"masked_mse\", 2).")
    if torch.allclose(out.detach(), ((x_hat - x).pow(2) * mask).mean(), rtol=1e-4):
        fail(name, f"{want.item():.4f}", f"{out.item():.4f}",
             "you zeroed the known pixels but still divided by the number of ALL pixels.")
    if torch.allclose(out.detach(), ((x_hat - x).pow(2) * mask).sum(), rtol=1e-4):
        fail(name, f"{want.item():.4f} (a mean)", f"{out.item():.4f} (a sum)", "divide by the number of hole pixels.")
    if torch.allclose(out.detach(), ((x_hat - x).pow(2) * (1 - mask)).sum() / (1 - mask).sum(), rtol=1e-4):
        fail(name, f"{want.item():.4f}", f"{out.item():.4f} (the error over the KNOWN pixels)",
             "mask = 1 marks the hole; you averaged where mask = 0.")
    expect_close(name, out.detach(), want,
                 "sum the squared errors where mask = 1 over the whole batch, then divide by the number of hole "
                 "pixels in the batch (not one mean per image).")
    if out.requires_grad:
        out.backward()
        grad = x_hat_leaf.grad
        if grad is not None and bool((grad * (1 - mask)).abs().max() > 0):
            fail(name, "zero gradient on known pixels", "known pixels receive gradient",
                 "only the hole may contribute to the loss.")
    else:
        fail(name, "a differentiable loss", "a tensor without gradient",
             "the loss must train the model: no conversion to a number, no detaching, no gradient-free block; genlab.hint(\"masked_mse\", 3).")
    # RGB images with a one-channel mask: each hole pixel counts once per channel.
    xr, xr_hat = torch.rand(2, 3, 5, 5, generator=g), torch.rand(2, 3, 5, 5, generator=g)
    mr = (torch.rand(2, 1, 5, 5, generator=g) < 0.5).float()
    out = expect_tensor(name, call(name, fn, xr_hat, xr, mr), ())
    expect_close(name, out.detach(), _ref_masked_mse(xr_hat, xr, mr),
                 "with RGB images and a (B, 1, H, W) mask, expand the mask to the image's shape "
                 "before counting hole pixels; genlab.hint(\"masked_mse\", 2).")
    empty = call(name, fn, x_hat, x, torch.zeros_like(mask))
    if not isinstance(empty, torch.Tensor) or empty.numel() != 1 or float(empty) != 0.0:
        fail(name, "0 for a batch without holes", f"{empty}",
             "clamp the count of hole pixels to at least 1, so an empty hole gives 0; genlab.hint(\"masked_mse\", 2).")
    return None


def _diagnose_composite(fn) -> str | None:
    """``composite(x_hat, x, mask)``: the model's pixels in the hole, the known pixels everywhere else."""
    name = "composite"
    g = _gen(0)
    x = torch.rand(3, 3, 6, 6, generator=g)
    x_hat = torch.rand(3, 3, 6, 6, generator=g)
    mask = (torch.rand(3, 1, 6, 6, generator=g) < 0.4).float()
    out = expect_tensor(name, call(name, fn, x_hat, x, mask), tuple(x.shape))
    known = (mask == 0).expand_as(x)
    hole = ~known
    if torch.allclose(out, x_hat):
        fail(name, "known pixels copied from x", "x_hat everywhere",
             "the known pixels were overwritten by the model: keep x where mask = 0.")
    if not torch.allclose(out[known], x[known]):
        fail(name, "known pixels (mask 0) equal to x", "known pixels changed",
             "known pixels overwritten: mask = 1 is the hole, the rest comes from x; genlab.hint(\"composite\", 2).")
    if not torch.allclose(out[hole], x_hat[hole]):
        fail(name, "hole pixels (mask 1) equal to x_hat", "other values in the hole",
             "the hole must take the model's prediction.")
    expect_close(name, out, x_hat * mask + x * (1 - mask))
    return None


# --------------------------------------------------------------------------- named mistakes
# Wrong implementations students write. Each maps to the pattern (a regular expression
# searched in the message) its student check must fail with; the grader must give it less
# than full marks (tests/unit/test_mistakes.py). Helpers are prefixed _m*_ by origin.

def _mc_inverted_block(batch, size, hole, generator=None):
    return 1 - _mc_masks.block_mask(batch, size, hole, generator)


def _mc_clipped_block(batch, size, hole, generator=None):
    corner = torch.randint(0, size, (2, batch), generator=generator)
    m = torch.zeros(batch, 1, size, size)
    for b in range(batch):
        m[b, 0, corner[0, b]:corner[0, b] + hole, corner[1, b]:corner[1, b] + hole] = 1
    return m


def _mc_exclusive_high(batch, size, hole, generator=None):
    corner = torch.randint(0, max(1, size - hole), (2, batch), generator=generator)
    m = torch.zeros(batch, 1, size, size)
    for b in range(batch):
        m[b, 0, corner[0, b]:corner[0, b] + hole, corner[1, b]:corner[1, b] + hole] = 1
    return m


def _mc_ignores_generator(batch, size, hole, generator=None):
    return _mc_masks.block_mask(batch, size, hole)


def _mc_wrong_side(batch, size, hole, generator=None):
    return _mc_masks.block_mask(batch, size, hole - 1, generator)


def _mc_one_corner(batch, size, hole, generator=None):
    return _mc_masks.block_mask(1, size, hole, generator).expand(batch, 1, size, size).clone()


def _mc_in_place(x, mask, fill=0.0):
    x.mul_(1 - mask)
    return x + fill * mask


def _mc_per_image_mean(x_hat, x, mask):
    return (((x_hat - x) ** 2 * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1)).mean()


def _mc_no_expand(x_hat, x, mask):
    return ((x_hat - x) ** 2 * mask).sum() / mask.sum().clamp_min(1)


def _ms_fixed_block(batch, size, hole, generator=None):
    m = torch.zeros(batch, 1, size, size)
    m[:, :, :hole, :hole] = 1
    return m


_ms_block_mask = _lib_masks.block_mask  # the library reference


def _ms_block_ignores_generator(batch, size, hole, generator=None):
    return _ms_block_mask(batch, size, hole, None)


def _ms_block_spills(batch, size, hole, generator=None):
    m = torch.zeros(batch, 1, size, size)
    t = torch.randint(0, size, (batch, 2), generator=generator)
    for i in range(batch):
        m[i, 0, t[i, 0]:t[i, 0] + hole, t[i, 1]:t[i, 1] + hole] = 1
    return m


_ms_apply_mask = _lib_masks.apply_mask  # the library reference


_ms_masked_mse = _lib_losses.masked_mse  # the library reference


_ms_composite = _lib_masks.composite  # the library reference


def _mp_clamped_corner(batch, size, hole, generator=None):
    """Corners drawn over the whole image, then pushed back inside: piled on the far border."""
    corner = torch.randint(0, size, (2, batch), generator=generator).clamp(max=size - hole)
    return _mc_masks._square_at(batch, size, hole, corner[0], corner[1])


def _mp_reseeds_global(batch, size, hole, generator=None):
    """Reproducible by reseeding torch's global generator: the same masks on every call."""
    if generator is None:
        torch.manual_seed(0)
    return _mc_masks.block_mask(batch, size, hole, generator)


def _mp_apply_float32_mask(x, mask, fill=0.0):
    m = mask.float()
    return x * (1 - m) + fill * m


def _mp_mse_float32(x_hat, x, mask):
    m = mask.expand_as(x).float()
    return ((x_hat.float() - x.float()) ** 2 * m).sum() / m.sum().clamp_min(1)


def _mp_mse_in_place(x_hat, x, mask):
    m = mask.expand_as(x)
    x_hat.data.mul_(m)   # zero the known pixels "to be safe": the caller's prediction is changed
    return ((x_hat - x * m) ** 2).sum() / m.sum().clamp_min(1)


def _mp_composite_in_place(x_hat, x, mask):
    m = mask.expand_as(x).bool()
    x[m] = x_hat[m]
    return x


def _mp_composite_detached(x_hat, x, mask):
    return mask * x_hat.detach() + (1 - mask) * x


_MISTAKES: dict[str, Mistakes] = {
    'block_mask': {
        "corner clamped onto the border": (_mp_clamped_corner, "uniform|border|corners"),
        "global RNG reseeded": (_mp_reseeds_global, None),
        "check: inverted": (_mc_inverted_block, "inverted"),
        "check: cut off by the image border": (_mc_clipped_block, "cut off by the image border"),
        "check: exclusive": (_mc_exclusive_high, "exclusive"),
        "check: generator": (_mc_ignores_generator, "generator"),
        "check: wrong side": (_mc_wrong_side, "wrong side"),
        "check: per image": (_mc_one_corner, "per image"),
        "check: float": (lambda b, s, h, generator=None: _mc_masks.block_mask(b, s, h, generator).bool(), "float"),
        "check: shape": (lambda b, s, h, generator=None: _mc_masks.block_mask(b, s, h, generator)[:, 0], "shape"),
        "same place for every image": (_ms_fixed_block, None),
        "ignores the generator": (_ms_block_ignores_generator, None),
        "hole cut at the border": (_ms_block_spills, None),
    },
    'apply_mask': {
        "meta: fill tensor made on the CPU (device)": (lambda x, mask, fill=0.0: x * (1 - mask) + torch.full(x.shape, float(fill), dtype=x.dtype) * mask, "device"),
        "check: multiply by \\(1 - mask\\)": (lambda x, mask, fill=0.0: x * mask, "multiply by \\(1 - mask\\)"),
        "check: ignore `fill`": (lambda x, mask, fill=0.0: x * (1 - mask), "ignore `fill`"),
        "check: in place": (_mc_in_place, "in place"),
        "mask inverted": (lambda x, m, fill=0.0: _ms_apply_mask(x, 1 - m, fill), None),
        "fill ignored": (lambda x, m, fill=0.0: x * (1 - m), None),
        "check: float16 (mask made float32)": (_mp_apply_float32_mask, "float16"),
        "check: mask squeezed": (lambda x, m, fill=0.0: x * (1 - m.squeeze()) + fill * m.squeeze(), "shape|max abs difference"),
    },
    'masked_mse': {
        "check: ALL pixels": (lambda x_hat, x, mask: ((x_hat - x) ** 2).mean(), "ALL pixels"),
        "check: still divided": (lambda x_hat, x, mask: ((x_hat - x) ** 2 * mask).mean(), "still divided"),
        "check: a sum": (lambda x_hat, x, mask: ((x_hat - x) ** 2 * mask).sum(), "a sum"),
        "check: KNOWN": (lambda x_hat, x, mask: ((x_hat - x) ** 2 * (1 - mask)).sum() / (1 - mask).sum(), "KNOWN"),
        "check: not one mean per image": (_mc_per_image_mean, "not one mean per image"),
        "check: differentiable": (lambda x_hat, x, mask: _mc_losses.masked_mse(x_hat, x, mask).detach(), "differentiable"),
        "check: expand the mask": (_mc_no_expand, "expand the mask"),
        "check: clamp": (lambda x_hat, x, mask: ((x_hat - x) ** 2 * mask.expand_as(x)).sum() / mask.expand_as(x).sum(), "clamp"),
        "mean over all pixels": (lambda xh, x, m: ((xh - x) ** 2 * m).mean(), None),
        "known pixels": (lambda xh, x, m: _ms_masked_mse(xh, x, 1 - m), None),
        "check: float64 (computed in float32)": (_mp_mse_float32, "float64"),
        "check: prediction modified in place": (_mp_mse_in_place, "in place"),
    },
    'composite': {
        "check: overwritten": (lambda x_hat, x, mask: x_hat, "overwritten"),
        "check: overwritten (2)": (lambda x_hat, x, mask: x_hat * (1 - mask) + x * mask, "overwritten"),
        "check: the model's prediction": (lambda x_hat, x, mask: x * (1 - mask), "the model's prediction"),
        "known pixels overwritten": (lambda xh, x, m: xh, None),
        "mask inverted": (lambda xh, x, m: _ms_composite(xh, x, 1 - m), None),
        "check: x modified in place": (_mp_composite_in_place, "in place"),
        "check: prediction detached": (_mp_composite_detached, "graph|gradient"),
        "check: float64": (lambda xh, x, m: _ms_composite(xh, x, m).float(), "float64"),
    },
}


# --------------------------------------------------------------------------- the stretch: a loss of your own design


def masked_l1_plus_edges(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor,
                         weight: float = 0.5) -> torch.Tensor:
    """One loss that meets the stretch exercise's contract (for the tests; any such loss passes).

    The L1 error over the hole plus ``weight`` times the L1 error of the horizontal and
    vertical differences of the composite, both divided by the number of hole entries.
    """
    m = mask.expand_as(x).to(x.dtype)
    d = m * x_hat + (1 - m) * x - x           # the composite's error: zero outside the hole
    n = m.sum().clamp_min(1.0)
    edges = (d[..., :, 1:] - d[..., :, :-1]).abs().sum() + (d[..., 1:, :] - d[..., :-1, :]).abs().sum()
    return (d.abs().sum() + weight * edges) / n


def _design_call(b: int, c: int, h: int, w: int, kind: str, dtype=torch.float32):
    """Inputs for the stretch loss: ``kind`` says what the hole holds."""
    def make(g: torch.Generator) -> Call:
        x = rand(g, b, c, h, w)
        mask = _rect_mask(g, b, h, w)
        if kind == "empty":
            mask = torch.zeros_like(mask)
        x_hat = rand(g, b, c, h, w)
        if kind == "small":
            x_hat = (x + rand(g, b, c, h, w, high=0.1)).clamp(0, 1)
        m = mask.expand_as(x)
        if kind in ("perfect", "wild-known"):
            x_hat = m * x + (1 - m) * x_hat * (1000.0 if kind == "wild-known" else 1.0)
        return Call([x_hat.to(dtype), x.to(dtype), mask.to(dtype)])
    return make


@output_check
def _check_design(call: Call, loss: torch.Tensor, out: dict) -> str | None:
    """The contract of the stretch loss, decided from one call's output and gradient."""
    x_hat, x, mask = call.args
    if loss.dim() != 0:
        return f"a loss of shape {tuple(loss.shape)}, expected one number (a 0-d tensor)"
    if loss.dtype != x.dtype:
        return f"a {x.dtype} input gave a {loss.dtype} loss: compute in the inputs' dtype"
    value = float(loss)
    if value != value or abs(value) == float("inf"):
        return "NaN or inf: an empty hole (no missing pixels) must give a finite loss, 0"
    m = mask.expand_as(x).bool()
    err = (x_hat.double() - x.double()).abs()[m]
    if err.numel() == 0 or float(err.max()) == 0.0:
        if abs(value) > 1e-6:
            what = "an empty hole" if err.numel() == 0 else "a perfect fill of the hole (the known pixels differ)"
            return (f"a loss of {value:.4g} for {what}, expected 0: the known pixels must not count, "
                    "neither directly nor through differences with their neighbours")
    else:
        if value <= 0:
            return f"a loss of {value:.4g} for a wrong fill, expected a positive number"
        if value > 50 * float(err.max()):
            return (f"a loss of {value:.4g} for hole errors of at most {float(err.max()):.3g}: it grows with the "
                    "number of pixels; divide by the number of hole pixels (a mean, not a sum)")
    grad = out.get("grad.0")
    if grad is not None:
        outside = grad.double().abs()[~m]
        if outside.numel() and float(outside.max()) > 0:
            return "the known pixels of x_hat receive a gradient: the loss must depend on x_hat only through the hole"
        if err.numel() and float(err.max()) > 0 and float(grad.double().abs()[m].max()) == 0:
            return "no gradient reaches the hole pixels of x_hat"
    return None


def _diagnose_design(fn) -> None:
    """A first call through the student-check wrapper: an unimplemented stub reads as such."""
    g = _gen(0)
    x = torch.rand(2, 1, 4, 4, generator=g)
    call("masked_l1_plus_edges", fn, torch.rand(2, 1, 4, 4, generator=g), x, _rect_mask(g, 2, 4, 4))


def _mp_design_all_pixels(x_hat, x, mask):
    return (x_hat - x).abs().mean()


def _mp_design_raw_edges(x_hat, x, mask):
    m = mask.expand_as(x)
    d = x_hat - x
    n = m.sum().clamp_min(1)
    edges = ((d[..., :, 1:] - d[..., :, :-1]).abs() * m[..., :, 1:]).sum()
    return ((d.abs() * m).sum() + edges) / n


def _mp_design_sum(x_hat, x, mask):
    return masked_l1_plus_edges(x_hat, x, mask) * mask.expand_as(x).sum()


def _mp_design_no_clamp(x_hat, x, mask):
    m = mask.expand_as(x)
    return ((m * (x_hat - x)).abs().sum()) / m.sum()


_MISTAKES["masked_l1_plus_edges"] = {
    "ignores the mask": (_mp_design_all_pixels, "known pixels"),
    "edges on the raw prediction": (_mp_design_raw_edges, "known pixels"),
    "a sum, not a mean": (_mp_design_sum, "a sum"),
    "empty hole gives NaN": (_mp_design_no_clamp, "empty hole"),
    "computed in float32": (lambda xh, x, m: masked_l1_plus_edges(xh.float(), x.float(), m.float()), "dtype"),
    "detached": (lambda xh, x, m: masked_l1_plus_edges(xh, x, m).detach(), "graph|gradient"),
}


# --------------------------------------------------------------------------- the entry (grading contract)


def _mask(g: torch.Generator, b: int, size: int, c: int = 1) -> torch.Tensor:
    m = (torch.rand(b, c, size, size, generator=g) < 0.3).float()
    m[:, :, 0, 0] = 1.0  # at least one hole pixel per image
    return m


def _rect_mask(g: torch.Generator, b: int, h: int, w: int) -> torch.Tensor:
    m = (torch.rand(b, 1, h, w, generator=g) < 0.3).float()
    m[:, :, 0, 0] = 1.0
    return m


def _images(n_img: int, b: int, c: int, h: int, w: int, dtype=torch.float32, with_fill: bool = False):
    """``n_img`` image batches then a one-channel mask, in ``dtype``; optionally a fill."""
    def make(g: torch.Generator) -> Call:
        args = [rand(g, b, c, h, w).to(dtype) for _ in range(n_img)] + [_rect_mask(g, b, h, w).to(dtype)]
        return Call(args, {"fill": 0.25} if with_fill else {})
    return make


def _same_dtype(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
    got, want = out.get("out"), call.args[0].dtype
    if got is not None and got.dtype != want:
        return f"a {want} input gave a {got.dtype} output: the dtype must follow the input"
    return None


def _composite_checks(call: Call, out: dict, ref) -> str | None:
    why = _same_dtype(call, out, ref)
    grad = out.get("grad.0")
    if why is None and grad is not None:
        want = call.args[2].expand_as(call.args[0]).to(grad.dtype)
        if not torch.equal(grad, want):
            return "the gradient to x_hat must be 1 in the hole and 0 on the known pixels"
    return why


def _block_call(b: int, size: int, hole: int, with_generator: bool):
    def make(g: torch.Generator) -> Call:
        kwargs = {"generator": Gen(randint(g, 0, 2**31 - 1))} if with_generator else {}
        return Call([b, size, hole], kwargs)
    return make


def _corner_spread(m: torch.Tensor, size: int, hole: int) -> str | None:
    """Top-left corners uniform over {0..size-hole}^2: every corner seen, none piled up (about 4.5 sd)."""
    b = m.shape[0]
    top, left = m[:, 0].amax(2).argmax(1), m[:, 0].amax(1).argmax(1)
    k = size - hole + 1
    counts = torch.bincount(top * k + left, minlength=k * k).double()
    expected = b / (k * k)
    sd = (expected * (1 - 1 / (k * k))) ** 0.5
    if int((counts == 0).sum()):
        return (f"only {int((counts > 0).sum())} of the {k * k} legal top-left corners occur in {b} masks: "
                "the corner must be uniform over 0..size-hole in each direction (an exclusive upper end?)")
    if float((counts - expected).abs().max()) > 4.5 * sd:
        return (f"the top-left corners are not uniform over the legal range (counts from {int(counts.min())} "
                f"to {int(counts.max())}, expected about {expected:.0f} each): piled on the border?")
    return None


@output_check
def _check_block_mask(call: Call, m: torch.Tensor, out: dict) -> str | None:  # noqa: ARG001
    b, size, hole = call.args
    if tuple(m.shape) != (b, 1, size, size):
        return f"shape {tuple(m.shape)}, expected (batch, 1, size, size) = {(b, 1, size, size)}"
    if not m.is_floating_point():
        return f"dtype {m.dtype}: the mask must be a float tensor of 0s and 1s"
    if not torch.all((m == 0) | (m == 1)):
        return "values other than 0 and 1"
    counts = m.flatten(1).sum(1)
    if not torch.all(counts == hole * hole):
        return f"each mask must have exactly hole*hole = {hole * hole} ones (1 = missing), got {counts[:4].tolist()}"
    rows = m[:, 0].amax(2)  # (B, size): which rows hold hole pixels
    cols = m[:, 0].amax(1)
    if not (torch.all(rows.sum(1) == hole) and torch.all(cols.sum(1) == hole)):
        return "the ones do not form one hole x hole square in every mask"
    if size > hole and b >= 16 and torch.all(m == m[:1]):
        return "every mask in the batch has its hole at the same place: draw a position per image"
    again = out.get("out#1")
    if again is not None and size > hole and b >= 16:
        if "generator" in call.kwargs and not torch.equal(again, m):
            return ("two calls with generators seeded the same gave different masks (under different global "
                    "seeds): draw every position from the generator you are given")
        if "generator" not in call.kwargs and torch.equal(again, m):
            return "two calls without a generator gave the same masks: they must be fresh on every call"
    if b >= 400 and size > hole:
        return _corner_spread(m, size, hole)
    return None


_BLOCK_STATS = (900, 5, 3)  # 9 legal corners, about 100 masks each


# --------------------------------------------------------------------------- challenge
# The lab's challenge (gradebook column c_...): genlab.exercises.challenges measures the saved model.
CHALLENGE = Challenge(
    lab="05", cid="c_gain", title="a repairer that beats biharmonic inpainting on held-back masks",
    models=("conv_repair", "mlp_repair"), metric="hole_psnr", unit="dB of hole PSNR over biharmonic",
    thresholds=(0.0, 2.0, 4.0), higher_is_better=True, max_params=2_000_000,
    options={"masks": [("block", {"hole": 8}), ("rows", {"rows": 5})], "over": "biharmonic"})


# --------------------------------------------------------------------------- the entries
LAB = build_lab("05_restoration", "Image restoration", mistakes=_MISTAKES, namespace=globals(), items=[
        Item(
            name="block_mask", points=3,
            reference="genlab.masks.block_mask", also_forbidden=("genlab.masks.make_mask", "genlab.masks.center_block"),
            compare="custom", check=_check_block_mask,
            cases=[
                Case("public-1", _block_call(32, 16, 6, True), options={"repeat": 2, "seed": 1},
                     tags=("value", "randomness")),
                Case("held-1", _block_call(24, 12, 4, True), public=False, options={"repeat": 2, "seed": 5},
                     tags=("value", "randomness")),
                Case("held-no-generator", _block_call(16, 10, 3, False), public=False, options={"repeat": 2},
                     tags=("randomness",)),
                Case("held-corner-statistics", _block_call(*_BLOCK_STATS, True), public=False,
                     tags=("randomness",)),
                Case("held-corner-statistics-2", _block_call(600, 6, 4, True), public=False,
                     tags=("randomness",)),
                Case("held-b1", _block_call(1, 7, 2, True), public=False, tags=("shape",)),
                Case("held-full-hole", _block_call(3, 6, 6, True), public=False, tags=("extreme",)),
                Case("held-one-pixel", _block_call(20, 8, 1, True), public=False, tags=("extreme",)),
            ],
            expected="a float (B, 1, size, size) mask with one hole x hole square of ones per image, its corner "
                     "uniform over the legal range, drawn from the given generator (fresh on every call without one).",
            hint='where may a square that stays inside the image start? genlab.hint("block_mask", 2).',
        ),
        Item(
            name="apply_mask", points=2,
            reference="genlab.masks.apply_mask", check=_same_dtype,
            cases=[
                Case("public-1", lambda g: Call([rand(g, 2, 1, 6, 6), _mask(g, 2, 6)])),
                *layout_cases(lambda g: Call([rand(g, 2, 1, 6, 6), _mask(g, 2, 6)])),
                Case("public-fill", lambda g: Call([rand(g, 2, 1, 6, 6), _mask(g, 2, 6)], {"fill": 0.5})),
                Case("public-float16", _images(1, 2, 3, 4, 5, torch.float16), tags=("device-dtype",)),
                Case("held-rgb", lambda g: Call([rand(g, 3, 3, 8, 8), _mask(g, 3, 8)], {"fill": 1.0}),
                     public=False, tags=("shape", "side-effects")),
                Case("held-h-ne-w", _images(1, 3, 1, 5, 9, with_fill=True), public=False, tags=("shape",)),
                Case("held-b1", _images(1, 1, 3, 6, 4), public=False, tags=("shape",)),
                Case("held-float64", _images(1, 2, 1, 6, 6, torch.float64, True), public=False,
                     tags=("device-dtype",)),
                Case("held-float16", _images(1, 2, 1, 5, 7, torch.float16), public=False, tags=("device-dtype",)),
            ],
            expected="x * (1 - mask) + fill * mask: known pixels kept, the hole set to fill, in x's dtype, x unchanged.",
            hint='which pixels does a mask value of 1 mark? genlab.hint("apply_mask", 2).',
        ),
        Item(
            name="masked_mse", points=3,
            reference="genlab.losses.masked_mse", check=_same_dtype,
            cases=[
                Case("public-1", lambda g: Call([rand(g, 2, 1, 6, 6), rand(g, 2, 1, 6, 6), _mask(g, 2, 6)])),
                *layout_cases(lambda g: Call([rand(g, 2, 1, 6, 6), rand(g, 2, 1, 6, 6), _mask(g, 2, 6)])),
                Case("public-float64", _images(2, 2, 1, 5, 5, torch.float64), tags=("device-dtype",)),
                Case("public-grad", _images(2, 2, 1, 4, 4), options={"grad": [0]}, tags=("gradients", "side-effects")),
                Case("held-1", lambda g: Call([rand(g, 4, 1, 8, 8), rand(g, 4, 1, 8, 8), _mask(g, 4, 8)]),
                     public=False),
                Case("held-grad", lambda g: Call([rand(g, 2, 1, 6, 6), rand(g, 2, 1, 6, 6), _mask(g, 2, 6)]),
                     public=False, options={"grad": [0]}, tags=("gradients", "side-effects")),
                Case("held-rgb", lambda g: Call([rand(g, 3, 3, 8, 8), rand(g, 3, 3, 8, 8), _mask(g, 3, 8)]),
                     public=False, tags=("shape",)),
                Case("held-h-ne-w-b1", _images(2, 1, 3, 4, 7), public=False, tags=("shape",)),
                Case("held-float64", _images(2, 3, 3, 6, 5, torch.float64), public=False, tags=("device-dtype",)),
                Case("held-empty", lambda g: Call([rand(g, 2, 1, 6, 6), rand(g, 2, 1, 6, 6), torch.zeros(2, 1, 6, 6)]),
                     public=False, tags=("extreme",)),
            ],
            expected="the mean of (x_hat - x)^2 over the hole pixels only (a 0-d tensor in the inputs' dtype), "
                     "0 for an empty hole, differentiable, inputs unchanged.",
            hint='what should the known pixels contribute, and what do you divide by? genlab.hint("masked_mse", 2).',
        ),
        Item(
            name="composite", points=2,
            reference="genlab.masks.composite", check=_composite_checks,
            cases=[
                Case("public-1", lambda g: Call([rand(g, 2, 1, 6, 6), rand(g, 2, 1, 6, 6), _mask(g, 2, 6)])),
                *layout_cases(lambda g: Call([rand(g, 2, 1, 6, 6), rand(g, 2, 1, 6, 6), _mask(g, 2, 6)])),
                Case("public-grad", _images(2, 2, 3, 4, 5), options={"grad": [0]}, tags=("gradients", "side-effects")),
                Case("public-float64", _images(2, 2, 1, 4, 4, torch.float64), tags=("device-dtype",)),
                Case("held-rgb", lambda g: Call([rand(g, 3, 3, 8, 8), rand(g, 3, 3, 8, 8), _mask(g, 3, 8)]),
                     public=False, tags=("shape",)),
                Case("held-h-ne-w-b1", _images(2, 1, 1, 3, 8), public=False, tags=("shape",)),
                Case("held-grad", _images(2, 3, 1, 6, 6), public=False, options={"grad": [0]},
                     tags=("gradients", "side-effects")),
                Case("held-float64", _images(2, 2, 3, 5, 4, torch.float64), public=False, tags=("device-dtype",)),
            ],
            expected="mask * x_hat + (1 - mask) * x: the prediction in the hole, the known pixels untouched, "
                     "gradient to x_hat only through the hole, inputs unchanged.",
            hint='which of the two images may the hole come from? genlab.hint("composite", 2).',
        ),
        Item(
            name="masked_l1_plus_edges", diagnose=_diagnose_design, points=3,
            compare="custom", check=_check_design,
            cases=[
                Case("public-wrong-fill", _design_call(2, 1, 8, 8, "random"), options={"grad": [0]},
                     tags=("value", "gradients")),
                Case("public-perfect-fill", _design_call(2, 3, 6, 7, "perfect"), tags=("value",)),
                Case("public-wild-known-pixels", _design_call(2, 1, 6, 6, "wild-known"), options={"grad": [0]},
                     tags=("value", "gradients")),
                Case("public-empty-hole", _design_call(2, 1, 5, 5, "empty"), tags=("extreme",)),
                Case("public-scale", _design_call(8, 3, 32, 32, "small"), tags=("value",)),
                Case("public-float64", _design_call(2, 1, 6, 6, "random", torch.float64), tags=("device-dtype",)),
                Case("held-wrong-fill", _design_call(3, 3, 9, 6, "random"), public=False, options={"grad": [0]},
                     tags=("value", "gradients", "shape")),
                Case("held-perfect-fill", _design_call(1, 1, 7, 5, "wild-known"), public=False,
                     options={"grad": [0]}, tags=("value", "gradients")),
                Case("held-scale", _design_call(6, 1, 40, 24, "small"), public=False, tags=("value",)),
                Case("held-empty-hole", _design_call(1, 3, 6, 6, "empty"), public=False, tags=("extreme",)),
                Case("held-float64", _design_call(2, 3, 5, 7, "small", torch.float64), public=False,
                     tags=("device-dtype",)),
            ],
            expected="a 0-d loss in the inputs' dtype: 0 for a perfect fill and for an empty hole, positive "
                     "otherwise, independent of the known pixels of x_hat (no gradient there), a mean over the hole.",
            hint='the known pixels must not count at all, not even as neighbours; genlab.hint("masked_l1_plus_edges", 2).',
        ),
    ],
)
