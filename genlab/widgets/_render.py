"""Small image helpers shared by the widgets: tensors -> PNG bytes -> HTML.

Everything here works without a display, so the widgets can be tested in
plain pytest and stay quiet in scripts.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

#: Colour of the hole in the "corrupted" panel (display only; the tensor keeps the fill value).
HOLE_RGB = (230, 60, 60)


def as_image_batch(x: object, name: str = "image") -> torch.Tensor:
    """Turn ``(H, W)``, ``(C, H, W)``, ``(N, C, H, W)`` tensors or arrays into ``(N, C, H, W)`` floats.

    uint8 input is divided by 255 so it lands in the library's ``[0, 1]`` range.
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor (or array) of shape (N, C, H, W), (C, H, W) or "
                        f"(H, W); got {type(x).__name__}.")
    if x.dtype == torch.uint8:
        x = x.float() / 255
    x = x.detach().float().cpu()
    if x.dim() == 2:          # (H, W) -> (1, 1, H, W)
        x = x[None, None]
    elif x.dim() == 3:        # (C, H, W) -> (1, C, H, W)
        x = x[None]
    return x


def to_uint8_hwc(img: torch.Tensor) -> np.ndarray:
    """One image ``(C, H, W)`` or ``(1, C, H, W)`` in ``[0, 1]`` -> ``(H, W, 3)`` uint8 RGB."""
    if img.dim() == 4:
        img = img[0]
    img = img.detach().float().cpu().clamp(0, 1)
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    elif img.shape[0] != 3:
        img = img[:1].expand(3, -1, -1)   # show the first channel of odd inputs
    return (img.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def png_bytes(img: torch.Tensor | np.ndarray, scale: int = 1) -> bytes:
    """Encode one image as PNG, upscaled ``scale`` times with nearest neighbour (crisp pixels)."""
    arr = img if isinstance(img, np.ndarray) else to_uint8_hwc(img)
    pil = Image.fromarray(arr)
    if scale > 1:
        pil = pil.resize((arr.shape[1] * scale, arr.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def data_url(png: bytes) -> str:
    """``data:image/png;base64,...`` for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def show_hole(x: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """RGB uint8 picture of ``x`` with the hole painted in ``HOLE_RGB`` (so a black hole on a
    black background stays visible)."""
    arr = to_uint8_hwc(x).copy()
    m = mask.reshape(mask.shape[-2], mask.shape[-1]).bool().numpy()
    arr[m] = HOLE_RGB
    return arr


def image_row_html(items: Sequence[tuple[str, bytes, str]], size_px: int | tuple[int, int]) -> str:
    """A row of captioned images: ``items`` is ``[(title, png, note), ...]``; ``size_px`` is the
    displayed side (or ``(width, height)``) of each image."""
    w_px, h_px = (size_px, size_px) if isinstance(size_px, int) else size_px
    cells = []
    for title, png, note in items:
        cells.append(
            '<figure style="margin:0 6px 0 0;text-align:center;display:inline-block;vertical-align:top">'
            f'<img src="{data_url(png)}" width="{w_px}" height="{h_px}" '
            'style="image-rendering:pixelated;border:1px solid #ccc" />'
            f'<figcaption style="font-size:12px;line-height:1.2">{html.escape(title)}'
            f'<br><span style="color:#666">{html.escape(note)}</span></figcaption></figure>')
    return '<div class="genlab-outputs" style="display:flex;flex-wrap:wrap">' + "".join(cells) + "</div>"


def grid(x: torch.Tensor, nrow: int = 8, pad: int = 1) -> torch.Tensor:
    """Tile ``(N, C, H, W)`` images into one ``(C, H', W')`` image with white gutters."""
    x = as_image_batch(x).clamp(0, 1)
    n, c, h, w = x.shape
    ncol = max(1, min(nrow, n))
    nrows = math.ceil(n / ncol)
    out = torch.ones(c, nrows * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(n):
        r, k = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        out[:, top:top + h, left:left + w] = x[i]
    return out


def masked_psnr(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> float:
    """Hole PSNR of one image in dB: :func:`genlab.metrics.masked_psnr` (``nan`` for an empty hole,
    ``inf`` for a perfect fill)."""
    from ..metrics import masked_psnr as per_image

    x_hat, x, mask = (t.unsqueeze(0) if t.dim() == 3 else t for t in (x_hat, x, mask))
    return float(per_image(x_hat.float(), x.float(), mask.float()).mean())


def in_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab), False in scripts/pytest."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def display_widget(widget: object) -> None:
    """Display an ipywidgets widget in any front end.

    On Colab, third-party widgets (anywidget) and in-place updates need Colab's
    custom widget manager; it is switched on here, once, so students need no extra cell.
    """
    import sys

    from IPython.display import display

    if "google.colab" in sys.modules:
        try:
            from google.colab import output  # type: ignore[import-not-found]
            output.enable_custom_widget_manager()
        except Exception:  # pragma: no cover - only on Colab; plain ipywidgets still work
            pass
    display(widget)
