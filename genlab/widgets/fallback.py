"""Pure-ipywidgets mask painter: a grid of toggle buttons, one per pixel.

Used by :class:`genlab.widgets.MaskPainter` where anywidget cannot be
imported, or on request with ``backend="ipywidgets"``. It keeps the mask in
the same ``mask`` traitlet (flat list of 0/1) as the canvas, so the painter's
Python API does not change. Each button acts as a toggle; it is a ``Button``
rather than a ``ToggleButton`` because only ``Button`` can be coloured in both
ipywidgets 7 and 8 (``style.button_color``), and seeing the digit under the
grid is what makes it usable.
"""

from __future__ import annotations

import ipywidgets as widgets
import traitlets as t

from ._maskbits import disc, validate_bits

HOLE_COLOR = "#e63c3c"


class ToggleGrid(widgets.GridBox):
    """An ``H x W`` grid of small buttons; clicking one toggles a brush-sized disc of the mask.

    Traits (Python side only): ``height``, ``width``, ``pixels``, ``mask``, ``brush``,
    ``mode``, ``ready`` -- the same names as the canvas widget.
    """

    height = t.Int(28)
    width = t.Int(28)
    scale = t.Int(12)
    pixels = t.List(t.Int())
    mask = t.List(t.Int())
    brush = t.Int(1)
    mode = t.Unicode("paint")
    ready = t.Bool(True)  # nothing to load in the browser

    def __init__(self, height: int, width: int, pixels: list[int], mask: list[int],
                 scale: int = 12, brush: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.add_class("genlab-toggle-grid")   # a handle for the browser test and for CSS
        self._buttons: list[widgets.Button] = []
        with self.hold_trait_notifications():
            self.height, self.width, self.scale, self.brush = height, width, scale, brush
            self.pixels = pixels
            self.mask = mask
        self._build()
        self.observe(self._repaint, names=["mask", "pixels"])
        self.observe(lambda _: self._build(), names=["height", "width", "scale"])

    @t.validate("mask")
    def _check_mask(self, proposal):
        return validate_bits(proposal["value"], self.height, self.width)

    def _color(self, k: int) -> str:
        if self.mask and self.mask[k]:
            return HOLE_COLOR
        r, g, b = self.pixels[3 * k: 3 * k + 3] if len(self.pixels) >= 3 * (k + 1) else (0, 0, 0)
        return f"#{r:02x}{g:02x}{b:02x}"

    def _build(self) -> None:
        cell = max(6, min(self.scale, 16))
        self.layout = widgets.Layout(grid_template_columns=f"repeat({self.width}, {cell}px)",
                                     grid_gap="0px", width=f"{self.width * cell + 4}px")
        self._buttons = []
        for k in range(self.height * self.width):
            b = widgets.Button(description="", tooltip=f"row {k // self.width}, col {k % self.width}",
                               layout=widgets.Layout(width=f"{cell}px", height=f"{cell}px",
                                                     padding="0px", margin="0px"))
            b.style.button_color = self._color(k)
            b.on_click(self._clicker(k))
            self._buttons.append(b)
        self.children = tuple(self._buttons)

    def _clicker(self, k: int):
        def click(_button) -> None:
            self.click(k // self.width, k % self.width)
        return click

    def click(self, row: int, col: int) -> None:
        """What a click on button (row, col) does: toggle (or erase, in erase mode) a brush disc."""
        k = row * self.width + col
        value = 0 if self.mode == "erase" else 1 - self.mask[k]
        self.mask = disc(self.mask, self.height, self.width, row, col, self.brush, value)

    def _repaint(self, change) -> None:
        if len(self._buttons) != self.height * self.width:
            return  # a resize is in flight; _build repaints everything
        old = change["old"] if change["name"] == "mask" else None
        for k, b in enumerate(self._buttons):
            # Only touch buttons that changed: each colour change is one message to the browser.
            if old is None or len(old) != len(self.mask) or old[k] != self.mask[k]:
                b.style.button_color = self._color(k)
