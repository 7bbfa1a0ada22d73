"""The anywidget canvas behind :class:`genlab.widgets.MaskPainter` (imports anywidget)."""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets as t

from ._maskbits import validate_bits

#: The ES module, read once at import: no JS build step, works offline.
PAINTER_ESM = Path(__file__).with_name("painter.js").read_text(encoding="utf-8")


class CanvasWidget(anywidget.AnyWidget):
    """A canvas that shows one image scaled up and lets the user paint a mask on it.

    Synced traits: ``height``, ``width``, ``scale`` (screen pixels per image
    pixel), ``pixels`` (``H*W*3`` RGB bytes as ints), ``mask`` (``H*W`` ints,
    1 = missing), ``brush`` (diameter in image pixels), ``mode``
    (``"paint"``/``"erase"``) and ``ready`` (set by the browser once drawn).
    """

    _esm = PAINTER_ESM
    height = t.Int(28).tag(sync=True)
    width = t.Int(28).tag(sync=True)
    scale = t.Int(12).tag(sync=True)
    pixels = t.List(t.Int()).tag(sync=True)
    mask = t.List(t.Int()).tag(sync=True)
    brush = t.Int(2).tag(sync=True)
    mode = t.Unicode("paint").tag(sync=True)
    ready = t.Bool(False).tag(sync=True)

    @t.validate("mask")
    def _check_mask(self, proposal):
        return validate_bits(proposal["value"], self.height, self.width)
