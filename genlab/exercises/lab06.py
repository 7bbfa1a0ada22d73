"""Exercise entries of lab 06: the contract, cases, probes and mistakes of each graded item.

Grading spec of lab 06 (CRNN): rows_to_sequences, sequences_to_rows, CRNN, and the stretch
exercise cols_to_sequences / sequences_to_cols (the column sweep).

Properties the reshapes' cases test: values (against the definition), shapes (B = 1, C = 1,
H != W), dtype follows the input (float64, float16), gradients flow back to the input; the
student check also feeds a non-contiguous (transposed) view.

The student check's probes:

Checks for lab 06 (CRNN): the 4-D <-> sequence reshapes and the CRNN forward.

The reshapes are compared with an explicit loop (the definition), not with another
reshape: ``feat.view(B*H, W, C)`` has the right shape and the wrong content, and only
a comparison of values catches it.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .. import masks as _lib_masks
from ..models import crnn as _lib_crnn
from ..models import crnn as _mc_ref
from ._core import Call, Case, Item, Mistakes, build_lab, on_meta, randn
from ._student import call, expect_close, expect_tensor, fail
from .challenges import Challenge
from .scenarios import scenario_case

_VIEW_HINT = ("right shape, wrong content: a plain .view/.reshape of (B, C, H, W) mixes channels and "
              "positions. Move the channels last first (permute(0, 2, 3, 1)), then reshape.")


def _feat(b: int = 2, c: int = 3, h: int = 4, w: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def _rows_loop(feat: torch.Tensor) -> torch.Tensor:
    """The definition: sequence b*H + r is row r of image b, read left to right, channels as features."""
    b, c, h, w = feat.shape
    out = torch.empty(b * h, w, c, dtype=feat.dtype)
    for i in range(b):
        for r in range(h):
            for j in range(w):
                out[i * h + r, j] = feat[i, :, r, j]
    return out


def _probe_to_sequences(name: str, fn, feat: torch.Tensor, loop, layouts: tuple[str, str], swapped: str,
                        plain: tuple[str, str, str], content: str, graph: str) -> None:
    """The probes rows_ and cols_to_sequences share, with each one's messages.

    ``layouts``: the wanted layout and the other sweep's (``"B*H, W, C"``); ``swapped``: the advice
    when the result has the other sweep's shape; ``plain``: (expected, got, advice) when it holds the
    values of a plain reshape; ``content``: when values differ from ``loop``; ``graph``: when cut
    from the autograd graph.
    """
    want = loop(feat)
    other = tuple(loop(feat.transpose(2, 3)).shape)
    out = call(name, fn, feat.clone())
    if isinstance(out, torch.Tensor) and tuple(out.shape) == other:
        fail(name, f"shape ({layouts[0]}) = {tuple(want.shape)}", f"shape {tuple(out.shape)} = ({layouts[1]})",
             swapped)
    out = expect_tensor(name, out, tuple(want.shape))
    if torch.equal(out, feat.reshape(want.shape)):
        fail(name, *plain)
    expect_close(name, out, want, content)
    # gradients must flow: sequences feed an RNN that is trained through them
    if not call(name, fn, feat.clone().requires_grad_(True)).requires_grad:
        fail(name, "a differentiable result", "a tensor cut from the graph", graph)
    _probe_layout(name, fn, loop, lambda f: f)


def _diagnose_rows_to_sequences(fn) -> str | None:
    """``rows_to_sequences(feat) -> (B*H, W, C)`` with ``seq[b*H + r, j] == feat[b, :, r, j]``."""
    _probe_to_sequences(
        "rows_to_sequences", fn, _feat(), _rows_loop, ("B*H, W, C", "B*W, H, C"),
        "these are the columns: one sequence per ROW means H goes with the batch, W is the length.",
        ("seq[b*H + r, j] == feat[b, :, r, j]", "the values of the map's memory read in order as (B*H, W, C), a plain reshape", _VIEW_HINT),
        "sequence b*H + r must be row r of image b, left to right, with the C "
        "channels of each pixel as its features (compare with a loop over b, r, j).",
        'do not detach or copy via numpy; genlab.hint("rows_to_sequences", 3).')
    return None


def _probe_layout(name: str, fn, loop, to_seq) -> None:
    """Non-contiguous input (a transposed view), float64 in, one channel, one image."""
    view = _feat(2, 3, 5, 4, seed=5).transpose(2, 3)          # (2, 3, 4, 5), not contiguous
    out = expect_tensor(name, call(name, fn, view), tuple(loop(view).shape))
    expect_close(name, out, loop(view), "a transposed view (a non-contiguous map) must give the same "
                 f'sequences as its copy; genlab.hint("{name}", 3).')
    f64 = _feat(2, 2, 3, 4, seed=6).double()
    out = call(name, fn, f64)
    if not isinstance(out, torch.Tensor) or out.dtype != torch.float64:
        fail(name, "float64 sequences for a float64 map (the dtype follows the input)",
             f"{getattr(out, 'dtype', type(out).__name__)}",
             f'build the result from the input itself, not from a new float32 tensor; genlab.hint("{name}", 3).')
    one = _feat(1, 1, 2, 3, seed=7)
    expect_close(name, expect_tensor(name, call(name, fn, one), tuple(loop(one).shape)), loop(one),
                 f'one image with one channel keeps every axis of the result (no squeeze); genlab.hint("{name}", 2).')


def _probe_float64_image(name: str, fn, loop, *, seed: int, size: int) -> None:
    """Float64 sequences of one image with one feature -> a float64 (1, 1, 2, 3) map (``size``: H or W)."""
    s64 = loop(_feat(1, 1, 2, 3, seed=seed)).double()
    out = call(name, fn, s64, 1, size)
    if not isinstance(out, torch.Tensor) or out.dtype != torch.float64 or tuple(out.shape) != (1, 1, 2, 3):
        fail(name, "a float64 map of shape (1, 1, 2, 3) for float64 sequences of one image with one feature",
             f"{getattr(out, 'dtype', type(out).__name__)} {tuple(getattr(out, 'shape', ()))}",
             f'keep the dtype and every axis (no squeeze); genlab.hint("{name}", 3).')


def _diagnose_sequences_to_rows(fn) -> str | None:
    """``sequences_to_rows(seq, batch, height) -> (B, C, H, W)``, the inverse of ``rows_to_sequences``."""
    name = "sequences_to_rows"
    feat = _feat(c=6)
    b, c, h, w = feat.shape
    seq = _rows_loop(feat)
    out = call(name, fn, seq.clone(), b, h)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (b, h, w, c):
        fail(name, f"shape (B, C, H, W) = {(b, c, h, w)}", f"shape {tuple(out.shape)} = (B, H, W, C)",
             "the channels must come back to dimension 1: after splitting the first axis, move the feature axis in front of the two spatial axes.")
    out = expect_tensor(name, out, (b, c, h, w))
    if torch.equal(out, seq.reshape(b, c, h, w)):
        fail(name, "out[b, :, r, j] == seq[b*H + r, j]", "the values of the sequences' memory read in order as (B, C, H, W), a plain reshape",
             "right shape, wrong content: reshape to (B, H, W, C) first, then permute the channels to "
             "dimension 1.")
    expect_close(name, out, feat, "sequences_to_rows(rows_to_sequences(feat), B, H) must give feat back.")
    # C may change (a bidirectional RNN outputs 2*hidden features): it must come from seq, not be fixed
    seq2 = torch.randn(b * h, w, 4)
    out2 = expect_tensor(name, call(name, fn, seq2, b, h), (b, 4, h, w))
    expect_close(name, out2[1, :, 2, 3], seq2[1 * h + 2, 3],
                 'read C from the sequences, not a fixed number; genlab.hint("sequences_to_rows", 2).')
    _probe_float64_image(name, fn, _rows_loop, seed=8, size=2)
    leaf = seq.clone().requires_grad_(True)
    res = call(name, fn, leaf, b, h)
    if not isinstance(res, torch.Tensor) or not res.requires_grad:
        fail(name, "a differentiable result", "a tensor cut from the graph",
             'the row GRU is trained through this map: no numpy, no detach; genlab.hint("sequences_to_rows", 3).')
    return None


# ----------------------------------------------------------------------------- the column sweep (stretch)

def _cols_loop(feat: torch.Tensor) -> torch.Tensor:
    """The definition: sequence b*W + j is column j of image b, read top to bottom.

    Column j of a map is row j of the map with its two spatial axes swapped.
    """
    return _rows_loop(feat.transpose(2, 3))


def _diagnose_cols_to_sequences(fn) -> str | None:
    """``cols_to_sequences(feat) -> (B*W, H, C)`` with ``seq[b*W + j, r] == feat[b, :, r, j]``."""
    _probe_to_sequences(
        "cols_to_sequences", fn, _feat(2, 3, 4, 5, seed=1), _cols_loop, ("B*W, H, C", "B*H, W, C"),
        'these are the rows: one sequence per COLUMN; genlab.hint("cols_to_sequences", 2).',
        ("seq[b*W + j, r] == feat[b, :, r, j]", "the values of a plain reshape",
         'right shape, wrong content: reorder the axes before merging; genlab.hint("cols_to_sequences", 2).'),
        "sequence b*W + j must be column j of image b, top to bottom, "
        'with the channels of each pixel as features; genlab.hint("cols_to_sequences", 2).',
        'the column GRU is trained through these sequences; genlab.hint("cols_to_sequences", 3).')
    return None


def _diagnose_sequences_to_cols(fn) -> str | None:
    """``sequences_to_cols(seq, batch, width) -> (B, C, H, W)``, the inverse of ``cols_to_sequences``."""
    name = "sequences_to_cols"
    feat = _feat(2, 6, 4, 5, seed=2)
    b, c, h, w = feat.shape
    seq = _cols_loop(feat)
    out = expect_tensor(name, call(name, fn, seq.clone(), b, w), (b, c, h, w))
    expect_close(name, out, feat, "sequences_to_cols(cols_to_sequences(feat), B, W) must give feat back; "
                 'genlab.hint("sequences_to_cols", 2).')
    seq2 = torch.randn(b * w, h, 4, generator=torch.Generator().manual_seed(3))
    out2 = expect_tensor(name, call(name, fn, seq2, b, w), (b, 4, h, w))
    expect_close(name, out2[1, :, 2, 3], seq2[1 * w + 3, 2],
                 'read C from the sequences, not a fixed number; genlab.hint("sequences_to_cols", 2).')
    _probe_float64_image(name, fn, _cols_loop, seed=4, size=3)
    return None


# ----------------------------------------------------------------------------- the CRNN forward

def crnn_reference_forward(model: nn.Module, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The forward the lab's ``CRNN`` docstring specifies, written with the model's own submodules.

    ``encoder -> rows sweep (residual) -> columns sweep (residual) -> decoder -> sigmoid -> composite``.
    """
    b = x_masked.shape[0]
    feat = model.encoder(torch.cat([x_masked, mask], dim=1))                    # (B, F, h, w)
    _, f, h, w = feat.shape
    seq = feat.permute(0, 2, 3, 1).reshape(b * h, w, f)                         # rows
    out, _ = model.row_rnn(seq)
    feat = feat + model.row_proj(out).reshape(b, h, w, f).permute(0, 3, 1, 2)
    seq = feat.permute(0, 3, 2, 1).reshape(b * w, h, f)                         # columns
    out, _ = model.col_rnn(seq)
    feat = feat + model.col_proj(out).reshape(b, w, h, f).permute(0, 3, 2, 1)
    x_hat = torch.sigmoid(model.decoder(feat))
    return mask * x_hat + (1 - mask) * x_masked


def _diagnose_CRNN(cls) -> str | None:
    """The lab's ``CRNN`` class: ``CRNN(channels, width, hidden)``, ``forward(x_masked, mask) -> x_hat``."""
    name = "CRNN.forward"
    torch.manual_seed(0)
    try:
        model = cls(channels=1, width=4, hidden=5)
    except NotImplementedError:
        fail(name, "the class to build", "NotImplementedError in __init__", "only forward is the exercise.")
    model.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 16, 12, generator=g)      # H != W: catches rows/columns mixed up
    mask = torch.zeros(2, 1, 16, 12)
    mask[:, :, 2:5] = 1                             # a band of whole rows
    x_masked = x * (1 - mask)
    out = expect_tensor(name, call(name, model, x_masked, mask), (2, 1, 16, 12))
    if not torch.allclose(out * (1 - mask), x_masked * (1 - mask)):
        fail(name, "known pixels (mask 0) equal to the input", "known pixels changed",
             "finish with the composite: mask * x_hat + (1 - mask) * x_masked.")
    out = out.detach()
    if float(out.min()) < 0 or float(out.max()) > 1:
        fail(name, "values in [0, 1]", f"range [{float(out.min()):.3g}, {float(out.max()):.3g}]",
             "the decoder returns logits: apply a sigmoid before the composite.")
    with torch.no_grad():
        want = crnn_reference_forward(model, x_masked, mask)
    # Receptive field: a hole pixel must depend on a far-away known pixel in another row AND column.
    xi = x_masked.clone().requires_grad_(True)
    res = call(name, model, xi, mask)
    res[0, 0, 3, 0].backward()
    far = xi.grad[0, 0, 15, 11].abs().item() if xi.grad is not None else 0.0
    if far == 0.0:
        fail(name, "hole pixel (3, 0) to depend on the known pixel (15, 11) far below and to the right",
             "no gradient: the output cannot see it",
             "run BOTH sweeps (rows, then columns) and add their projections to the features; the "
             "recurrence is what carries information across the whole image.")
    if xi.grad is not None and xi.grad[1].abs().max() > 0:
        fail(name, "images of a batch processed independently", "image 0's output depends on image 1",
             "sequences got mixed across the batch: check the reshapes (permute before reshape).")
    expect_close(name, out.detach(), want,
                 "follow the docstring step by step: encoder on [x_masked, mask]; rows: "
                 "rows_to_sequences -> row_rnn -> row_proj -> sequences_to_rows, ADDED to the features; "
                 "columns the same with col_rnn/col_proj on the transposed map; decoder; sigmoid; composite.",
                 rtol=1e-4, atol=1e-5)
    return None


# --------------------------------------------------------------------------- named mistakes
# Wrong implementations students write. Each maps to the pattern (a regular expression
# searched in the message) its student check must fail with; the grader must give it less
# than full marks (tests/unit/test_mistakes.py). Helpers are prefixed _m*_ by origin.

_ms_composite = _lib_masks.composite  # the library reference


_ms_rows_to_sequences = _lib_crnn.rows_to_sequences  # the library reference


_ms_sequences_to_rows = _lib_crnn.sequences_to_rows  # the library reference


class _ms_CRNN(nn.Module):

    def __init__(self, channels: int=1, width: int=32, hidden: int=64):
        super().__init__()
        w = width
        self.encoder = nn.Sequential(nn.Conv2d(channels + 1, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.ReLU())
        self.row_rnn = nn.GRU(2 * w, hidden, batch_first=True, bidirectional=True)
        self.row_proj = nn.Linear(2 * hidden, 2 * w)
        self.col_rnn = nn.GRU(2 * w, hidden, batch_first=True, bidirectional=True)
        self.col_proj = nn.Linear(2 * hidden, 2 * w)
        self.decoder = nn.Sequential(nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, channels, 1))

    def _sweep(self, feat, rnn, proj):
        b, c, h, w = feat.shape
        out, _ = rnn(_ms_rows_to_sequences(feat))
        return feat + _ms_sequences_to_rows(proj(out), b, h)

    def forward(self, x_masked, mask):
        feat = self.encoder(torch.cat([x_masked, mask], 1))
        feat = self._sweep(feat, self.row_rnn, self.row_proj)
        feat = self._sweep(feat.transpose(2, 3), self.col_rnn, self.col_proj).transpose(2, 3)
        return _ms_composite(torch.sigmoid(self.decoder(feat)), x_masked, mask)


class _ms_CRNNNoColumns(_ms_CRNN):

    def forward(self, x_masked, mask):
        feat = self._sweep(self.encoder(torch.cat([x_masked, mask], 1)), self.row_rnn, self.row_proj)
        return _ms_composite(torch.sigmoid(self.decoder(feat)), x_masked, mask)


class _ms_CRNNNoComposite(_ms_CRNN):

    def forward(self, x_masked, mask):
        feat = self._sweep(self.encoder(torch.cat([x_masked, mask], 1)), self.row_rnn, self.row_proj)
        feat = self._sweep(feat.transpose(2, 3), self.col_rnn, self.col_proj).transpose(2, 3)
        return torch.sigmoid(self.decoder(feat))


class _ms_CRNNNoSigmoid(_ms_CRNN):

    def forward(self, x_masked, mask):
        feat = self._sweep(self.encoder(torch.cat([x_masked, mask], 1)), self.row_rnn, self.row_proj)
        feat = self._sweep(feat.transpose(2, 3), self.col_rnn, self.col_proj).transpose(2, 3)
        return _ms_composite(self.decoder(feat) * 3, x_masked, mask)


class _ms_CRNNNoTransposeBack(_ms_CRNN):

    def forward(self, x_masked, mask):
        feat = self._sweep(self.encoder(torch.cat([x_masked, mask], 1)), self.row_rnn, self.row_proj)
        feat = self._sweep(feat.transpose(2, 3), self.col_rnn, self.col_proj)
        return _ms_composite(torch.sigmoid(self.decoder(feat)), x_masked, mask)


def _mp_rows_float32(f):
    """The definition as a loop into a fresh tensor: right values, but always float32."""
    b, c, h, w = f.shape
    out = torch.zeros(b * h, w, c)
    out[:] = f.permute(0, 2, 3, 1).reshape(b * h, w, c)
    return out


def _mp_rows_squeeze(f):
    return f.permute(0, 2, 3, 1).reshape(f.shape[0] * f.shape[2], f.shape[3], f.shape[1]).squeeze()


def _mp_to_rows_squeeze(s, b, h):
    return s.reshape(b, h, s.shape[1], s.shape[2]).permute(0, 3, 1, 2).squeeze()


def _mp_to_rows_float32(s, b, h):
    return s.reshape(b, h, s.shape[1], s.shape[2]).permute(0, 3, 1, 2).float()


def _mp_to_rows_numpy(s, b, h):
    return torch.from_numpy(s.detach().numpy().reshape(b, h, s.shape[1], s.shape[2]).transpose(0, 3, 1, 2).copy())


_MISTAKES: dict[str, Mistakes] = {
    'cols_to_sequences': {
        "check: these are the rows": (lambda f: _mc_ref.rows_to_sequences(f), "these are the rows"),
        "check: right shape, wrong content": (lambda f: f.reshape(f.shape[0] * f.shape[3], f.shape[2], f.shape[1]),
                                              "right shape, wrong content"),
        "check: columns read bottom to top": (lambda f: _mc_ref.cols_to_sequences(f).flip(1), "top to bottom"),
        "check: differentiable": (lambda f: _mc_ref.cols_to_sequences(f).detach(), "differentiable"),
        "check: float64": (lambda f: _mc_ref.cols_to_sequences(f).float(), "float64"),
        "check: squeeze": (lambda f: _mc_ref.cols_to_sequences(f).squeeze(), "squeeze|shape"),
    },
    'sequences_to_cols': {
        "check: feat back": (lambda s, b, w: s.reshape(b, w, s.shape[1], s.shape[2]).permute(0, 3, 1, 2), "feat back|shape"),
        "check: fixed C": (lambda s, b, w: s.reshape(b, w, s.shape[1], 6).permute(0, 3, 2, 1), "Error|read C"),
        "check: float64": (lambda s, b, w: _mc_ref.sequences_to_cols(s, b, w).float(), "float64"),
        "check: squeeze": (lambda s, b, w: _mc_ref.sequences_to_cols(s, b, w).squeeze(), "squeeze|shape"),
    },
    'rows_to_sequences': {
        "noncontig: view of a transposed map": (lambda f: f.view(f.shape[0], f.shape[1], -1).transpose(1, 2).reshape(f.shape[0] * f.shape[2], f.shape[3], f.shape[1]), "view size|contiguous"),
        "check: float64 (loop into a float32 tensor)": (_mp_rows_float32, "float64"),
        "check: squeeze": (_mp_rows_squeeze, "squeeze|shape"),
        "check: right shape, wrong content": (lambda f: f.reshape(f.shape[0] * f.shape[2], f.shape[3], f.shape[1]), "right shape, wrong content"),
        "check: these are the columns": (lambda f: f.permute(0, 3, 2, 1).reshape(-1, f.shape[2], f.shape[1]), "these are the columns"),
        "check: loop": (lambda f: f.permute(0, 2, 1, 3).reshape(f.shape[0] * f.shape[2], f.shape[3], f.shape[1]), "loop"),
        "check: differentiable": (lambda f: _mc_ref.rows_to_sequences(f).detach(), "differentiable"),
        "view instead of permute": (lambda f: f.reshape(f.shape[0] * f.shape[2], f.shape[3], f.shape[1]), None),
        "H and W swapped": (lambda f: f.permute(0, 3, 2, 1).reshape(-1, f.shape[2], f.shape[1]), None),
    },
    'sequences_to_rows': {
        "check: right shape, wrong content": (lambda s, b, h: s.reshape(b, s.shape[2], h, s.shape[1]), "right shape, wrong content"),
        "check: channels back to dimension 1": (lambda s, b, h: s.reshape(b, h, s.shape[1], s.shape[2]), "channels must come back to dimension 1"),
        "check: feat back": (lambda s, b, h: s.reshape(b, h, s.shape[1], s.shape[2]).permute(0, 3, 2, 1).transpose(2, 3).contiguous().reshape(b, s.shape[2], s.shape[1], h).transpose(2, 3), "feat back"),
        "check: Error|C from seq": (lambda s, b, h: s.reshape(b, h, s.shape[1], 6).permute(0, 3, 1, 2), "Error|C from seq"),
        "view instead of permute": (lambda s, b, h: s.reshape(b, s.shape[2], h, s.shape[1]), None),
        "wrong permute": (lambda s, b, h: s.reshape(b, h, s.shape[1], s.shape[2]).permute(0, 3, 2, 1), None),
        "check: squeeze": (_mp_to_rows_squeeze, "squeeze|shape"),
        "check: float64": (_mp_to_rows_float32, "float64"),
        "numpy round trip": (_mp_to_rows_numpy, None),
    },
    'CRNN': {
        "no column pass": (_ms_CRNNNoColumns, None),
        "no composite": (_ms_CRNNNoComposite, None),
        "no sigmoid": (_ms_CRNNNoSigmoid, None),
        "column features not transposed back": (_ms_CRNNNoTransposeBack, None),
    },
}


# --------------------------------------------------------------------------- the entry (grading contract)


def _feat_case(b, c, h, w, dtype=torch.float32):
    return lambda g: Call([randn(g, b, c, h, w).to(dtype)])


def _seq(b, c, h, w, dtype=torch.float32):
    return lambda g: Call([randn(g, b * h, w, c).to(dtype), b, h])


def _seq_cols(b, c, h, w, dtype=torch.float32):
    return lambda g: Call([randn(g, b * w, h, c).to(dtype), b, w])


def _same_dtype(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
    """The output's dtype follows the input's (float64 in, float64 out; float16 in, float16 out)."""
    got, want = out.get("out"), call.args[0].dtype
    if got is not None and got.dtype != want:
        return f"a {want} input gave a {got.dtype} output: the dtype must follow the input"
    return None


def _transposed(make):
    """The same input as a non-contiguous view: its last two axes stored swapped, then transposed back.

    The values and shape are those ``make`` draws; only the memory layout differs, so a
    ``.view`` that needs contiguous memory fails where a reshape works (in the grader too:
    the layout travels with the case).
    """
    def wrapped(g):
        c = make(g)
        x = c.args[0]
        return Call([x.transpose(-1, -2).contiguous().transpose(-1, -2), *c.args[1:]], dict(c.kwargs))
    return wrapped


def _reshape_cases(make, b, c, h, w) -> list[Case]:
    """The properties a reshape of the lab states, with fresh draws in the held-back cases."""
    return [
        Case("public-1", make(b, c, h, w)),
        Case("public-meta", on_meta(make(b, c, h, w)), tags=("device-dtype",)),
        Case("held-meta", on_meta(make(3, 2, 5, 4)), public=False, tags=("device-dtype",)),
        Case("public-noncontig", _transposed(make(b, c, h, w)), tags=("shape",)),
        Case("held-noncontig", _transposed(make(3, 2, 5, 4)), public=False, tags=("shape",)),
        Case("held-1", make(3, 5, 2, 7), public=False),
        Case("held-b1-c1", make(1, 1, 6, 3), public=False, tags=("shape",)),
        Case("held-h-ne-w", make(2, 3, 5, 2), public=False, tags=("shape",)),
        Case("held-float64", make(2, 3, 4, 5, torch.float64), public=False, tags=("device-dtype",)),
        Case("held-float16", make(1, 2, 3, 4, torch.float16), public=False, tags=("device-dtype",)),
        Case("held-grad", make(2, 3, 4, 5), public=False, options={"grad": [0]}, tags=("gradients",)),
    ]


def _reshape_item(name: str, points: int, make, expected: str, hint: str) -> Item:
    """The entry of a reshape of ``genlab.models.crnn``: exact values in the input's dtype, on
    the cases of :func:`_reshape_cases` drawn by ``make``; ``expected`` and ``hint`` are its feedback lines."""
    return Item(name=name, points=points, reference=f"genlab.models.crnn.{name}", compare="exact",
                check=_same_dtype, cases=_reshape_cases(make, 2, 3, 4, 5), expected=expected, hint=hint)


def _check_crnn(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
    _, batch, h, w = call.args
    if int(out.get("is_reference", torch.tensor(0))):
        return "the model is (or contains) genlab's CRNN: write the forward pass yourself"
    shape = tuple(out["shape"].tolist()) if "shape" in out else None
    if shape != (batch, 1, h, w):
        return (f"masked images ({batch}, 1, {h}, {w}) gave {shape}, expected the image shape "
                "(non-square images: transpose the column features back)")
    if not int(out["known_pixels_kept"]):
        return "known pixels (mask 0) of the output differ from x_masked: end with the composite"
    if not int(out["hole_in_0_1"]):
        return "hole pixels outside [0, 1]: apply torch.sigmoid to the decoder output"
    if not int(out["global_context"]):
        return ("a hole pixel does not depend on a pixel in another row and column: run the row GRU, then "
                "the column GRU on the transposed features")
    if not int(out["other_images_ignored"]):
        return "an output depends on other images of the batch: sequences mix images (check the reshapes)"
    return None


# --------------------------------------------------------------------------- challenge
# The lab's challenge (gradebook column c_...): genlab.exercises.challenges measures the saved model.
CHALLENGE = Challenge(
    lab="06", cid="c_rows", title="a CRNN repairer with a high hole PSNR on held-back row and band masks",
    models=("crnn",), metric="hole_psnr", unit="dB of hole PSNR", thresholds=(15.0, 20.0, 24.0),
    higher_is_better=True, max_params=2_000_000,
    options={"masks": [("rows", {"rows": 5}), ("scattered_rows", {"rows": 3})]})


# --------------------------------------------------------------------------- the entries
LAB = build_lab("06_crnn", "CRNN", mistakes=_MISTAKES, namespace=globals(), items=[
        _reshape_item("rows_to_sequences", 3, _feat_case,
                      "(B, C, H, W) -> (B*H, W, C): sequence b*H + r is row r of image b, read left to "
                      "right, with the channels as features; dtype and autograd graph kept.",
                      'a plain reshape mixes channels and positions; genlab.hint("rows_to_sequences", 2).'),
        _reshape_item("sequences_to_rows", 3, _seq,
                      "(B*H, W, C) -> (B, C, H, W), the inverse of rows_to_sequences; dtype and autograd graph kept.",
                      'split the first axis before moving the features; genlab.hint("sequences_to_rows", 2).'),
        Item(
            name="CRNN", points=4,
            also_forbidden=("genlab.models.crnn.CRNNRepairer",),
            compare="custom", check=_check_crnn,
            cases=[dataclasses.replace(c, tags=("behaviour", "shape", "activations", "gradients", "side-effects"))
                   for c in (scenario_case("public-1", "crnn", [0, 2, 12, 16]),
                             scenario_case("held-1", "crnn", [3, 2, 14, 10], public=False))],
            expected="forward(x_masked, mask): encoder on [x_masked, mask], row GRU then column GRU (residual), "
                     "decoder, sigmoid, composite; output (B, C, H, W), known pixels equal x_masked.",
            hint='columns are the rows of the map with its two spatial axes swapped; genlab.hint("CRNN", 3).',
            ),
        _reshape_item("cols_to_sequences", 2, _feat_case,
                      "(B, C, H, W) -> (B*W, H, C): sequence b*W + j is column j of image b, read top to "
                      "bottom, with the channels as features; dtype and autograd graph kept.",
                      'which axes become the batch of sequences, which the length? genlab.hint("cols_to_sequences", 2).'),
        _reshape_item("sequences_to_cols", 2, _seq_cols,
                      "(B*W, H, C) -> (B, C, H, W), the inverse of cols_to_sequences; dtype and autograd graph kept.",
                      'split the first axis into batch and width, then order the axes; genlab.hint("sequences_to_cols", 2).'),
    ],
)
