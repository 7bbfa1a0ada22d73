"""CRNN repairer: convolutions for local texture, recurrence for long range.

A convolution sees a bounded window: to fill a hole that covers whole rows,
an output pixel needs information from far away (the strokes above and below,
the other end of the row). A bidirectional RNN run along each feature-map row
gives every position a summary of the **entire** row (the forward pass carries
everything to its left, the backward pass everything to its right); a second
one along the columns then spreads that across the whole image. So after the
two sweeps each output pixel depends on every input pixel, whatever the size.

The only trick is the reshaping between 4-D feature maps and batches of
sequences. ``nn.GRU(batch_first=True)`` wants ``(N, L, F)``:

.. code-block:: text

    rows:    (B, C, H, W) --permute(0, 2, 3, 1)--> (B, H, W, C) --reshape--> (B*H, W, C)
    columns: (B, C, H, W) --permute(0, 3, 2, 1)--> (B, W, H, C) --reshape--> (B*W, H, C)

A plain ``feat.view(B*H, W, C)`` has the right shape and the wrong content:
it mixes channels and positions (the classic bug of lab 09).

Developed in course/06_crnn (lab 06).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ShapeError
from .autoencoder import check_size_multiple
from .config import ImageConfig
from .repair import RepairerBase, repair_decoder, repair_encoder, repair_input

__all__ = ["CRNNConfig", "CRNNRepairer", "cols_to_sequences", "rows_to_sequences",
           "sequences_to_cols", "sequences_to_rows"]


def _check_4d(feat: torch.Tensor, name: str = "feat") -> None:
    if not isinstance(feat, torch.Tensor) or feat.dim() != 4:
        got = tuple(feat.shape) if isinstance(feat, torch.Tensor) else type(feat).__name__
        raise ShapeError(f"{name} must be a feature map (B, C, H, W), got {got}.")


def _check_seq(seq: torch.Tensor, n: int, length: int, what: str) -> None:
    if not isinstance(seq, torch.Tensor) or seq.dim() != 3 or seq.shape[0] != n or seq.shape[1] != length:
        got = tuple(seq.shape) if isinstance(seq, torch.Tensor) else type(seq).__name__
        raise ShapeError(f"sequences must have shape ({n}, {length}, C) = (batch*{what}, length, "
                         f"features), got {got}.")


def rows_to_sequences(feat: torch.Tensor) -> torch.Tensor:
    """One sequence per feature-map row: ``(B, C, H, W) -> (B*H, W, C)``.

    ``seq[b*H + r, j] == feat[b, :, r, j]``: sequence ``b*H + r`` is row ``r`` of
    image ``b`` read left to right, with the ``C`` channels as features.

    Developed in course/06_crnn (lab 06).
    """
    _check_4d(feat)
    b, c, h, w = feat.shape
    return feat.permute(0, 2, 3, 1).reshape(b * h, w, c)   # (B, H, W, C) -> (B*H, W, C)


def sequences_to_rows(seq: torch.Tensor, batch: int, height: int) -> torch.Tensor:
    """Inverse of :func:`rows_to_sequences`: ``(B*H, W, C) -> (B, C, H, W)``.

    ``C`` may differ from the input's (e.g. ``2 * hidden`` after a bidirectional RNN).
    """
    if not isinstance(seq, torch.Tensor) or seq.dim() != 3:
        raise ShapeError(f"seq must have shape (B*H, W, C), got {getattr(seq, 'shape', type(seq))}.")
    _check_seq(seq, batch * height, seq.shape[1], "rows")
    _, w, c = seq.shape
    return seq.reshape(batch, height, w, c).permute(0, 3, 1, 2)   # (B, H, W, C) -> (B, C, H, W)


def cols_to_sequences(feat: torch.Tensor) -> torch.Tensor:
    """One sequence per feature-map column: ``(B, C, H, W) -> (B*W, H, C)``.

    ``seq[b*W + j, r] == feat[b, :, r, j]``: column ``j`` read top to bottom.
    """
    _check_4d(feat)
    b, c, h, w = feat.shape
    return feat.permute(0, 3, 2, 1).reshape(b * w, h, c)   # (B, W, H, C) -> (B*W, H, C)


def sequences_to_cols(seq: torch.Tensor, batch: int, width: int) -> torch.Tensor:
    """Inverse of :func:`cols_to_sequences`: ``(B*W, H, C) -> (B, C, H, W)``."""
    if not isinstance(seq, torch.Tensor) or seq.dim() != 3:
        raise ShapeError(f"seq must have shape (B*W, H, C), got {getattr(seq, 'shape', type(seq))}.")
    _check_seq(seq, batch * width, seq.shape[1], "columns")
    _, h, c = seq.shape
    return seq.reshape(batch, width, h, c).permute(0, 3, 2, 1)    # (B, W, H, C) -> (B, C, H, W)


@dataclass
class CRNNConfig(ImageConfig):
    """Sizes of the CRNN repairer.

    Attributes:
        image_size: height = width (any size divisible by 2 also works at run time).
        channels: 1 or 3.
        width: conv channels at full resolution; the trunk and the sweeps work on ``2 * width``.
        hidden: hidden size of each direction of the recurrent layers.
        rnn: ``"gru"`` or ``"lstm"``.
        layers: stacked recurrent layers per sweep.
        depth: dilated residual conv blocks at half resolution before the sweeps (dilations
            1, 2, 4, 1, ...): the local stroke features the recurrence carries.
        zero_init: start each sweep's output projection at zero, so every residual sweep is the
            identity at initialisation and training starts like a plain conv net (the sweeps
            then learn what to add). ``False`` keeps PyTorch's default init (used by the tests
            that check the receptive field at initialisation).
    """

    width: int = 32
    hidden: int = 96
    rnn: str = "gru"
    layers: int = 1
    depth: int = 2
    zero_init: bool = True

    def __post_init__(self) -> None:
        if self.rnn not in ("gru", "lstm"):
            raise ValueError(f"CRNNConfig.rnn must be 'gru' or 'lstm', got {self.rnn!r}.")
        if self.depth < 0:
            raise ValueError(f"CRNNConfig.depth must be >= 0 (number of conv blocks), got {self.depth}.")


class _BiSweep(nn.Module):
    r"""Bidirectional RNN over every row (or column) plus a linear map back to ``C`` channels, residual.

    ``(B, C, H, W) -> sequences (B*H, W, C) -> RNN -> (B*H, W, 2*hidden) -> Linear -> (B, C, H, W)``;
    the result is added to the input, :math:`h \leftarrow h + P\,\mathrm{BiRNN}(h)`, so the conv
    features pass through unchanged where the recurrence has nothing to add. With ``zero_init``
    :math:`P = 0` at the start: the sweep is exactly the identity until training says otherwise.
    """

    def __init__(self, channels: int, hidden: int, rnn: str, layers: int, along: str,
                 zero_init: bool = True) -> None:
        super().__init__()
        cls = nn.GRU if rnn == "gru" else nn.LSTM
        self.rnn = cls(channels, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * hidden, channels)
        if zero_init:
            # identity residual at init: gradients still reach proj (its input is not zero),
            # so the sweep switches itself on as soon as it helps
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)
        self.along = along

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        b, _, h, w = feat.shape
        if self.along == "rows":
            seq = rows_to_sequences(feat)                # (B*H, W, C)
            out, _ = self.rnn(seq)                       # (B*H, W, 2*hidden): each step sees the whole row
            return feat + sequences_to_rows(self.proj(out), b, h)
        seq = cols_to_sequences(feat)                    # (B*W, H, C)
        out, _ = self.rnn(seq)                           # (B*W, H, 2*hidden)
        return feat + sequences_to_cols(self.proj(out), b, w)


class CRNNRepairer(RepairerBase):
    """The conv repairer's encoder and decoder with a row sweep and a column sweep in the middle.

    Shapes (``w = width``, ``k = hidden``)::

        [x_masked, mask]              (B, C+1, H, W)
          -> conv3x3                  (B, w, H, W)              = skip
          -> conv4x4 stride 2         (B, 2w, H/2, W/2)
          -> depth x dilated residual blocks (dilations 1, 2, 4, ...)
          -> rows:    (B*H/2, W/2, 2w) -> BiGRU -> (B*H/2, W/2, 2k) -> Linear -> (B, 2w, H/2, W/2), + residual
          -> columns: (B*W/2, H/2, 2w) -> BiGRU -> (B*W/2, H/2, 2k) -> Linear -> (B, 2w, H/2, W/2), + residual
          -> convT4x4 stride 2        (B, w, H, W)
          -> concat skip, conv3x3, conv1x1 -> (B, C, H, W) -> sigmoid -> composite

    It is :class:`~genlab.models.repair.ConvRepairer` with two of its four dilated
    blocks traded for the two sweeps (about 440k parameters against 380k), so the
    comparison in course/06_crnn changes one thing: how the middle of the network
    moves information across the image.

    Why it helps with whole-row holes: when rows ``r..r+k`` are missing, no
    pixel of the hole has a known neighbour in its own row. A conv net reaches
    the rows above and below through a stack of bounded windows; here the column
    sweep carries them to every hole position in one pass, whatever the distance,
    and the row sweep hands each position its whole row. Every output pixel
    depends on every input pixel, on any image size (tested by a gradient check).

    Why half resolution: the sweeps' sequences are half as long and there are half
    as many of them, so the recurrence costs a quarter of what it would at full
    resolution, while the full-resolution skip keeps the exact, pixel-level mask
    for the head. Why zero-initialised projections (``zero_init``): each residual
    sweep starts as the identity, so the network starts training as fast as a conv
    net and the recurrence is added where it lowers the loss.

    Same API as the other repairers: ``forward(x_masked, mask)`` and ``raw``.
    """

    def __init__(self, cfg: CRNNConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or CRNNConfig()
        check_size_multiple(cfg.image_size, 2, "CRNNRepairer")
        w = cfg.width
        # the conv repairer's encoder and decoder (built in this order: seeded inits stay the same)
        self.stem, self.down, self.trunk = repair_encoder(cfg.channels, w, cfg.depth)
        self.rows = _BiSweep(2 * w, cfg.hidden, cfg.rnn, cfg.layers, along="rows", zero_init=cfg.zero_init)
        self.cols = _BiSweep(2 * w, cfg.hidden, cfg.rnn, cfg.layers, along="cols", zero_init=cfg.zero_init)
        self.up, self.head = repair_decoder(cfg.channels, w)

    def raw(self, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Prediction for every pixel ``(B, C, H, W)`` in ``[0, 1]``, before keeping the known pixels."""
        inp, _ = repair_input(x_masked, mask, self.config.channels, multiple=2)
        skip = self.stem(inp)                                       # (B, w, H, W)
        h = self.trunk(self.down(skip))                             # (B, 2w, H/2, W/2)
        h = self.cols(self.rows(h))                                 # every position sees every position
        return torch.sigmoid(self.head(torch.cat([self.up(h), skip], dim=1)))
