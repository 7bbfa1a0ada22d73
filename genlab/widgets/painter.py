"""Mask painter: paint a hole on an image and watch models fill it, live.

Developed in course/05_restoration (lab 05) and used again in course/06_crnn.

The painter shows one image scaled up on a canvas. The student paints the
hole (mask = 1) with the mouse or a finger; when a stroke ends the mask goes to
Python, and every model restores the corrupted input

    x_masked = x * (1 - m) + fill * m,    x_hat = composite(f(x_masked, m), x, m)

so only the hole comes from the model. The biharmonic baseline (smooth
interpolation, Delta^2 u = 0 in the hole) is shown next to it for comparison,
with the PSNR over the hole under each image.

Two back ends with one Python API: an anywidget canvas (default) and a grid
of ipywidgets buttons (``backend="ipywidgets"``, chosen automatically when
anywidget cannot be imported).
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import torch

from ..errors import check_image
from ..masks import apply_mask, composite
from . import _render
from ._maskbits import bits_to_tensor, tensor_to_bits

Restorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Preset masks offered in the drop-down (name -> description).
PRESETS = {
    "center": "centre block (half the side)",
    "rows": "band of rows in the middle",
    "scattered_rows": "every third row",
    "columns": "band of columns in the middle",
    "left": "left half",
    "bottom": "bottom half",
    "strokes": "two diagonal strokes",
    "pixels": "30% random pixels",
}

_UNDO_LIMIT = 200


def preset_mask(name: str, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A deterministic preset mask ``(1, 1, H, W)`` (1 = missing); names in :data:`PRESETS`.

    Raises:
        ValueError: unknown preset name.
    """
    m = torch.zeros(height, width)
    h4, w4 = max(1, height // 4), max(1, width // 4)
    if name == "center":
        m[h4:height - h4, w4:width - w4] = 1
    elif name == "rows":
        m[height // 2 - max(1, height // 8): height // 2 + max(1, height // 8)] = 1
    elif name == "scattered_rows":
        m[1::3] = 1
    elif name == "columns":
        m[:, width // 2 - max(1, width // 8): width // 2 + max(1, width // 8)] = 1
    elif name == "left":
        m[:, : width // 2] = 1
    elif name == "bottom":
        m[height // 2:] = 1
    elif name == "strokes":
        thick = max(1, min(height, width) // 14)
        for i in range(height):
            j = round(i * (width - 1) / max(1, height - 1))
            m[i, max(0, j - thick): j + thick + 1] = 1                  # main diagonal
            j2 = round((height - 1 - i) * (width - 1) / max(1, height - 1) * 0.6 + width * 0.2)
            if height // 3 <= i <= 2 * height // 3:
                m[i, max(0, j2 - thick): j2 + thick + 1] = 1            # a shorter cross stroke
    elif name == "pixels":
        g = torch.Generator().manual_seed(seed)
        m = (torch.rand(height, width, generator=g) < 0.3).float()
    else:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    return m[None, None]


class _Images:
    """Uniform access to what the painter pages through: one image, a batch, (x, y), a Dataset, a name."""

    def __init__(self, source: Any):
        self.labels: Any = None
        self.dataset: Any = None
        if isinstance(source, str):
            from .. import data  # lazy: only when a dataset name is given
            source = data.load(source, split="test")
        if isinstance(source, tuple | list) and len(source) == 2 and isinstance(source[0], torch.Tensor) \
                and source[0].dim() == 4:
            source, self.labels = source
        if isinstance(source, torch.Tensor) or type(source).__module__ == "numpy":
            self.x = _render.as_image_batch(source, "images")
            check_image(self.x, "images")
            self.n = self.x.shape[0]
        elif hasattr(source, "__getitem__") and hasattr(source, "__len__"):
            self.x = None
            self.dataset = source
            self.n = len(source)
        else:
            raise TypeError("MaskPainter needs an image (C, H, W), a batch (N, C, H, W), a pair (x, y) "
                            "from genlab.data.load, a torch Dataset or a dataset name; got "
                            f"{type(source).__name__}.")
        if self.n == 0:
            raise ValueError("MaskPainter got an empty set of images.")

    def get(self, i: int) -> tuple[torch.Tensor, Any]:
        """Image ``i`` as ``(1, C, H, W)`` in [0, 1] and its label (or None)."""
        if self.x is not None:
            label = None if self.labels is None else self.labels[i]
            img = self.x[i:i + 1]
        else:
            item = self.dataset[i]
            img, label = (item[0], item[1]) if isinstance(item, tuple | list) else (item, None)
            img = check_image(_render.as_image_batch(img, "dataset image"), f"dataset[{i}]")
        if isinstance(label, torch.Tensor):
            label = label.item() if label.numel() == 1 else label.tolist()
        return img, label


def _name_models(models: Any) -> dict[str, Restorer]:
    """None / one model / list / dict / shipped weight names -> ordered ``{name: model}``."""
    if models is None:
        return {}
    if isinstance(models, Mapping):
        items = list(models.items())
    else:
        seq = models if isinstance(models, Sequence) and not isinstance(models, str) else [models]
        items = []
        for m in seq:
            name = m if isinstance(m, str) else getattr(m, "__name__", None) or type(m).__name__
            items.append((name, m))
    out: dict[str, Restorer] = {}
    for name, m in items:
        if isinstance(m, str):
            from ..weights import load_pretrained  # lazy: shipped weights only when asked for
            m = load_pretrained(m)
        if not callable(m):
            raise TypeError(f"model {name!r} must be callable as model(x_masked, mask) -> x_hat, "
                            f"got {type(m).__name__}.")
        base, k = str(name), 2
        while name in out:   # two models of the same class: "ConvRepairer", "ConvRepairer_2"
            name, k = f"{base}_{k}", k + 1
        out[str(name)] = m
    return out


def _baseline(baseline: Any) -> tuple[str, Restorer] | None:
    if baseline is None or baseline is False:
        return None
    if callable(baseline):
        return getattr(baseline, "__name__", "baseline"), baseline
    if baseline == "biharmonic":
        try:
            from ..baselines import biharmonic
        except ImportError:  # pragma: no cover - only while genlab.baselines is missing
            biharmonic = _skimage_biharmonic
        return "biharmonic", biharmonic
    if baseline in ("mean", "mean_fill"):
        try:
            from ..baselines import mean_fill
        except ImportError:  # pragma: no cover
            mean_fill = _local_mean_fill
        return "mean fill", mean_fill
    raise ValueError(f"baseline must be 'biharmonic', 'mean', a function (x, mask) -> x_hat or None; "
                     f"got {baseline!r}.")


def _skimage_biharmonic(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Stand-in for genlab.baselines.biharmonic (scikit-image's solver), per image and channel."""
    from skimage.restoration import inpaint_biharmonic
    out = x.clone()
    for n in range(x.shape[0]):
        m = mask[min(n, mask.shape[0] - 1), 0].bool().numpy()
        img = x[n].permute(1, 2, 0).numpy()
        out[n] = torch.from_numpy(inpaint_biharmonic(img, m, channel_axis=-1)).permute(2, 0, 1).float()
    return out.clamp(0, 1)


def _local_mean_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    known = 1 - mask
    mean = (x * known).sum(dim=(2, 3), keepdim=True) / known.sum(dim=(2, 3), keepdim=True).clamp_min(1)
    return x * known + mean * mask


def resolve_backend(backend: str | None) -> str:
    """``"auto"`` -> ``"anywidget"`` when it imports, else ``"ipywidgets"``.

    ``GENLAB_WIDGETS_BACKEND=ipywidgets`` in the environment forces the fallback
    (useful in a front end where the canvas does not load).
    """
    choice = backend or "auto"
    if choice == "auto":
        choice = os.environ.get("GENLAB_WIDGETS_BACKEND", "auto") or "auto"
    if choice not in ("auto", "anywidget", "ipywidgets"):
        raise ValueError(f"backend must be 'auto', 'anywidget' or 'ipywidgets', got {choice!r}.")
    if choice in ("auto", "anywidget"):
        try:
            importlib.import_module(f"{__package__}._canvas")   # imports anywidget
        except ImportError as err:
            if choice == "anywidget":
                raise ImportError(f"backend='anywidget' needs the anywidget package ({err}); "
                                  "pip install anywidget, or use backend='ipywidgets'.") from err
            return "ipywidgets"
        return "anywidget"
    return choice


class MaskPainter:
    """Paint a mask on an image and compare restorations live.

    Args:
        image_or_dataset: one image ``(C, H, W)``/``(H, W)``, a batch ``(N, C, H, W)`` in
            [0, 1], a pair ``(x, y)`` from ``genlab.data.load``, a ``torch.utils.data.Dataset``
            of ``(image, label)`` or a dataset name for ``genlab.data.load(name, "test")``.
        models: restorers called as ``model(x_masked, mask) -> x_hat`` (``(1, C, H, W)`` each):
            one model, a list, a dict ``{name: model}``, or names of shipped weights
            (``genlab.weights.load_pretrained``).
        baseline: ``"biharmonic"`` (default), ``"mean"``, a function ``(x, mask) -> x_hat`` or None.
        brush: brush diameter in image pixels.
        index: first image shown.
        scale: screen pixels per image pixel (default: about 320 px wide canvas).
        backend: ``"auto"``, ``"anywidget"`` (canvas) or ``"ipywidgets"`` (button grid).
        fill: value written into the hole of the model input.

    Attributes:
        canvas: the front-end widget; its ``mask`` trait is the synced mask (``H*W`` ints).
        widget: the whole UI (``ipywidgets.VBox``); displaying the painter displays it.

    Example:
        >>> painter = MaskPainter(genlab.data.load("mnist", "test", limit=100),
        ...                       models={"mine": model, "shipped": "conv_repair"})
        >>> painter                  # paint in the notebook, then:
        >>> painter.mask.sum(), painter.outputs["mine"].shape
    """

    def __init__(self, image_or_dataset: Any, models: Any = None, baseline: Any = "biharmonic",
                 brush: int = 2, *, index: int = 0, scale: int | None = None, backend: str = "auto",
                 fill: float = 0.0):
        self._images = _Images(image_or_dataset)
        self._models = _name_models(models)
        self._baseline = _baseline(baseline)
        self.fill = float(fill)
        self.backend = resolve_backend(backend)
        self.errors: dict[str, str] = {}
        self.timings_ms: dict[str, float] = {}
        self._outputs: dict[str, torch.Tensor] = {}
        self._undo: list[list[int]] = []
        self._restoring = False
        self._index = int(index) % self._images.n
        self._x, self._label = self._images.get(self._index)
        h, w = self._x.shape[-2:]
        self._scale = int(scale) if scale else max(4, min(16, 320 // max(h, w)))
        pixels = self._pixels(self._x)
        if self.backend == "anywidget":
            from ._canvas import CanvasWidget
            self.canvas = CanvasWidget(height=h, width=w, scale=self._scale, pixels=pixels,
                                       mask=[0] * (h * w), brush=int(brush))
        else:
            from .fallback import ToggleGrid
            self.canvas = ToggleGrid(h, w, pixels, [0] * (h * w), scale=self._scale, brush=int(brush))
        self.canvas.observe(self._on_mask, names="mask")
        self._build_controls(int(brush))
        self._recompute()

    # ------------------------------------------------------------------ UI
    def _build_controls(self, brush: int) -> None:
        self._brush = widgets.IntSlider(value=brush, min=1, max=8, description="brush")
        widgets.link((self._brush, "value"), (self.canvas, "brush"))
        self._mode = widgets.ToggleButtons(options=["paint", "erase"], value="paint")
        widgets.link((self._mode, "value"), (self.canvas, "mode"))
        buttons = []
        for label, fn in (("clear", self.clear), ("undo", self.undo), ("invert", self.invert)):
            b = widgets.Button(description=label, layout=widgets.Layout(width="70px"))
            b.on_click(lambda _b, fn=fn: fn())
            buttons.append(b)
        self._preset = widgets.Dropdown(options=[("preset mask...", "")] + [(d, k) for k, d in PRESETS.items()],
                                        value="", layout=widgets.Layout(width="220px"))
        self._preset.observe(self._on_preset, names="value")
        self._picker = widgets.IntSlider(value=self._index, min=0, max=self._images.n - 1,
                                         description="image", continuous_update=False)
        self._picker.observe(lambda ch: self.show(ch["new"]) if ch["new"] != self._index else None,
                             names="value")
        prev_b = widgets.Button(description="<", layout=widgets.Layout(width="36px"))
        next_b = widgets.Button(description=">", layout=widgets.Layout(width="36px"))
        prev_b.on_click(lambda _b: self.show(self._index - 1))
        next_b.on_click(lambda _b: self.show(self._index + 1))
        self.output_html = widgets.HTML()
        self.status = widgets.HTML()
        self._load_hint = widgets.HTML()
        if self.backend == "anywidget" and not self.canvas.ready:
            # Hidden again as soon as the browser draws the canvas (ready=True); if it stays,
            # this front end could not load anywidget's module.
            self._load_hint.value = ("<small>Loading the canvas... if nothing appears, this front end "
                                     "cannot load anywidget: use MaskPainter(..., backend='ipywidgets').</small>")
            self.canvas.observe(lambda ch: setattr(self._load_hint, "value", "") if ch["new"] else None,
                                names="ready")
        rows = [widgets.HBox([self._brush, self._mode]), widgets.HBox(buttons + [self._preset])]
        if self._images.n > 1:
            rows.append(widgets.HBox([prev_b, self._picker, next_b]))
        self.widget = widgets.VBox(rows + [self.canvas, self._load_hint, self.output_html, self.status])

    def _ipython_display_(self) -> None:
        # Works with ipywidgets 7 and 8 (and in VS Code / Colab): display the container.
        _render.display_widget(self.widget)

    def _on_preset(self, change) -> None:
        if change["new"]:
            self.preset(change["new"])
            self._preset.value = ""

    # ------------------------------------------------------------- state
    @staticmethod
    def _pixels(x: torch.Tensor) -> list[int]:
        return _render.to_uint8_hwc(x).reshape(-1).tolist()

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the current image."""
        return int(self.canvas.height), int(self.canvas.width)

    @property
    def image(self) -> torch.Tensor:
        """The current image ``(1, C, H, W)``."""
        return self._x

    @property
    def label(self) -> Any:
        """The current image's label (None when the source has none)."""
        return self._label

    @property
    def index(self) -> int:
        """Index of the current image in the source."""
        return self._index

    @property
    def mask(self) -> torch.Tensor:
        """The painted mask, float ``(1, 1, H, W)``, 1 = missing (hole), 0 = known."""
        return bits_to_tensor(self.canvas.mask, *self.shape)

    @mask.setter
    def mask(self, value: Any) -> None:
        self.set_mask(value)

    def set_mask(self, mask: Any) -> None:
        """Replace the mask (undoable) and recompute the restorations.

        Args:
            mask: tensor/array ``(1, 1, H, W)`` or ``(H, W)`` of 0/1 (1 = missing).

        Raises:
            ShapeError: wrong number of pixels. RangeError: values other than 0/1.
        """
        self.canvas.mask = tensor_to_bits(mask, *self.shape)

    def clear(self) -> None:
        """No hole at all (undoable)."""
        self.canvas.mask = [0] * (self.shape[0] * self.shape[1])

    def invert(self) -> None:
        """Swap hole and known pixels (undoable): ``m <- 1 - m``."""
        self.canvas.mask = [1 - v for v in self.canvas.mask]

    def preset(self, name: str) -> None:
        """Apply a preset mask from :data:`PRESETS` (undoable)."""
        self.set_mask(preset_mask(name, *self.shape, seed=self._index))

    def undo(self) -> bool:
        """Go back one mask change; returns False when there is nothing to undo."""
        if not self._undo:
            return False
        self._restoring = True
        try:
            self.canvas.mask = self._undo.pop()
        finally:
            self._restoring = False
        return True

    def show(self, index: int) -> None:
        """Move to image ``index`` (wraps around); the mask is kept so holes can be compared."""
        index = int(index) % self._images.n
        x, label = self._images.get(index)
        self._index, self._x, self._label = index, x, label
        h, w = x.shape[-2:]
        if (h, w) != self.shape:   # a different size: start from an empty mask
            self._undo.clear()
            with self.canvas.hold_trait_notifications():
                self.canvas.height, self.canvas.width = h, w
                self.canvas.mask = [0] * (h * w)
        self.canvas.pixels = self._pixels(x)
        if self._picker.value != index:
            self._picker.value = index   # its observer sees the same index and does nothing
        self._recompute()

    def _on_mask(self, change) -> None:
        if not self._restoring and change["old"] is not None and len(change["old"]) == len(change["new"]):
            self._undo.append(list(change["old"]))
            del self._undo[:-_UNDO_LIMIT]
        self._recompute()

    # ------------------------------------------------------------ compute
    @property
    def outputs(self) -> dict[str, torch.Tensor]:
        """Last results, name -> ``(1, C, H, W)`` in [0, 1]: ``"original"``, ``"corrupted"``
        (the model input), one entry per model, and the baseline."""
        return dict(self._outputs)

    def refresh(self) -> None:
        """Recompute the restorations (e.g. after training the model a bit more)."""
        self._recompute()

    @staticmethod
    def _run(model: Restorer, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
        dev = params[0].device if params else torch.device("cpu")
        was_training = getattr(model, "training", False)
        if isinstance(model, torch.nn.Module):
            model.eval()   # dropout/batch-norm in inference mode, restored below
        try:
            with torch.no_grad():
                y = model(x_masked.to(dev), mask.to(dev))
        finally:
            if isinstance(model, torch.nn.Module) and was_training:
                model.train()
        if isinstance(y, tuple | list):
            y = y[0]
        return y.detach().float().cpu()

    def _recompute(self) -> None:
        x, m = self._x, self.mask
        x_masked = apply_mask(x, m, fill=self.fill)
        out = {"original": x, "corrupted": x_masked}
        self.errors, self.timings_ms = {}, {}
        runs = [(name, model, True) for name, model in self._models.items()]
        if self._baseline is not None:
            runs.append((self._baseline[0], self._baseline[1], False))
        for name, fn, is_model in runs:
            t0 = time.perf_counter()
            try:
                if not is_model and float(m.sum()) == 0:
                    y = x.clone()      # no hole, nothing to interpolate
                else:
                    y = self._run(fn, x_masked, m)
                if y.shape != x.shape:
                    raise ValueError(f"returned shape {tuple(y.shape)}, expected {tuple(x.shape)}")
                # Only the hole comes from the restorer (known pixels are given).
                out[name] = composite(y.clamp(0, 1), x, m)
            except Exception as err:  # show the error in the widget instead of killing the UI
                self.errors[name] = f"{type(err).__name__}: {err}"
            self.timings_ms[name] = (time.perf_counter() - t0) * 1000
        self._outputs = out
        self._render()

    def _render(self) -> None:
        x, m = self._x, self.mask
        h, w = self.shape
        k = max(1, 128 // max(h, w))   # upscale in the PNG itself: some front ends drop CSS
        size = max(h, w) * k
        missing = float(m.mean()) * 100
        cap = "original" if self._label is None else f"original (label {self._label})"
        items = [(cap, _render.png_bytes(x, k), f"#{self._index}"),
                 ("input", _render.png_bytes(_render.show_hole(x, m), k), f"{missing:.0f}% missing")]
        for name in self.timings_ms:
            if name in self._outputs:
                psnr = _render.masked_psnr(self._outputs[name], x, m)
                note = "no hole" if m.sum() == 0 else f"hole PSNR {psnr:.1f} dB"
                items.append((name, _render.png_bytes(self._outputs[name], k), note))
        html = _render.image_row_html(items, size)
        for name, msg in self.errors.items():
            html += f'<div style="color:#b00;font-size:12px">{name}: {msg}</div>'
        self.output_html.value = html
        total = sum(self.timings_ms.values())
        self.status.value = f'<small style="color:#666">restored in {total:.0f} ms</small>'
