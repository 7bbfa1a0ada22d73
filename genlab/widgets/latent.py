"""Latent explorer: move through a VAE's or GAN's latent space with sliders and watch the decoded image.

Developed in course/02_vae (lab 02) and used again in course/04_gans_on_images.

A decoder maps a latent code ``z`` (shape ``(1, D)``) to an image. Sliders set
the first few coordinates of ``z`` (the others stay where they are); a class
drop-down feeds ``y`` to a conditional generator ``G(z, y)``. Interpolation
decodes the straight line ``z_t = (1 - t) z_0 + t z_1`` (or the great circle,
``spherical=True``, which keeps ``|z|`` near the typical radius ``sqrt(D)`` of a
Gaussian prior).
"""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets
import torch

from . import _render


def _infer_latent_dim(model: Any) -> int | None:
    for obj in (model, getattr(model, "config", None), getattr(model, "cfg", None)):
        for attr in ("latent_dim", "z_dim", "nz"):
            v = getattr(obj, attr, None) if obj is not None else None
            if isinstance(v, int) and v > 0:
                return v
    return None


def _as_images(y: torch.Tensor) -> torch.Tensor:
    """Decoder output -> ``(N, C, H, W)``; flat ``(N, H*W)`` outputs of MLP decoders become square images."""
    if y.dim() == 2:
        side = math.isqrt(y.shape[1])
        if side * side != y.shape[1]:
            raise ValueError(f"the decoder returned shape {tuple(y.shape)}: expected images (N, C, H, W) "
                             "or flat square images (N, H*W).")
        y = y.reshape(y.shape[0], 1, side, side)
    if y.dim() != 4:
        raise ValueError(f"the decoder returned shape {tuple(y.shape)}, expected (N, C, H, W).")
    return y


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of rows: ``sin((1-t) w)/sin(w) z0 + sin(t w)/sin(w) z1``, ``cos w = <z0, z1>/(|z0||z1|)``.

    Args:
        z0, z1: ``(1, D)``. t: ``(T,)`` in [0, 1].
    Returns:
        ``(T, D)``; falls back to the straight line when ``z0`` and ``z1`` are (anti)parallel.
    """
    cos = (z0 * z1).sum() / (z0.norm() * z1.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1, 1))
    t = t[:, None]
    if float(torch.sin(omega)) < 1e-6:
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


class LatentExplorer:
    """Sliders over a latent code, decoded live.

    Args:
        decoder_or_model: a VAE (anything with ``decode(z) -> logits``), a GAN generator
            (``G(z)`` or ``G(z, y)`` -> images in [0, 1]) or any function ``z -> images``.
        latent_dim: size ``D`` of ``z``; read from the model (``latent_dim``, ``config.latent_dim``,
            ``z_dim``, ``nz``) when left out.
        n_classes: > 0 for a conditional generator: adds a class drop-down and passes ``y``;
            ``None`` reads it from the model's ``config.n_classes`` (0 when absent).
        n_sliders: how many leading coordinates of ``z`` get a slider.
        span: slider range ``[-span, span]`` (prior is N(0, I), so 3 covers most of it).
        output: ``"auto"`` (``decode`` -> logits -> sigmoid; otherwise images), ``"logits"`` or ``"images"``.
        seed: seed of the generator behind the "random z" button.

    Example:
        >>> ex = LatentExplorer(vae)          # display it in a cell
        >>> ex.interpolate(steps=10)          # (10, C, H, W), also shown under the sliders
    """

    def __init__(self, decoder_or_model: Any, latent_dim: int | None = None, n_classes: int | None = None, *,
                 n_sliders: int = 6, span: float = 3.0, output: str = "auto", scale: int | None = None,
                 seed: int = 0):
        self.model = decoder_or_model
        if n_classes is None:
            n_classes = getattr(getattr(decoder_or_model, "config", None), "n_classes", 0) or 0
        if not hasattr(decoder_or_model, "decode") and isinstance(getattr(decoder_or_model, "generator", None),
                                                                 torch.nn.Module):
            # A GAN pair (genlab.models.gan.GANPair): explore its generator.
            decoder_or_model = decoder_or_model.generator
        has_decode = hasattr(decoder_or_model, "decode")
        self._fn = decoder_or_model.decode if has_decode else decoder_or_model
        if not callable(self._fn):
            raise TypeError(f"LatentExplorer needs a decoder (a VAE with .decode, a generator or a "
                            f"function z -> images), got {type(decoder_or_model).__name__}.")
        if output not in ("auto", "logits", "images"):
            raise ValueError(f"output must be 'auto', 'logits' or 'images', got {output!r}.")
        self.logits = output == "logits" or (output == "auto" and has_decode)
        dim = latent_dim or _infer_latent_dim(decoder_or_model) or _infer_latent_dim(self.model)
        if not dim:
            raise ValueError("LatentExplorer could not find the latent size: pass latent_dim=... "
                             "(the D of z, e.g. LatentExplorer(vae, latent_dim=16)).")
        self.latent_dim, self.n_classes, self.span = int(dim), int(n_classes), float(span)
        self._gen = torch.Generator().manual_seed(seed)
        self._z = torch.zeros(1, self.latent_dim)
        self._y = 0
        self._scale = scale
        self._quiet = False
        self.image: torch.Tensor | None = None
        self.n_decodes = 0

        k = min(n_sliders, self.latent_dim)
        self.sliders = [widgets.FloatSlider(value=0.0, min=-span, max=span, step=0.05,
                                            description=f"z[{i}]", continuous_update=True)
                        for i in range(k)]
        for i, s in enumerate(self.sliders):
            s.observe(lambda ch, i=i: self._on_slider(i, ch["new"]), names="value")
        self.class_picker = widgets.Dropdown(options=list(range(self.n_classes)) or [0], value=0,
                                             description="class")
        self.class_picker.observe(lambda ch: self.set_class(ch["new"]), names="value")
        rand_b = widgets.Button(description="random z", layout=widgets.Layout(width="90px"))
        zero_b = widgets.Button(description="z = 0", layout=widgets.Layout(width="70px"))
        rand_b.on_click(lambda _b: self.randomize())
        zero_b.on_click(lambda _b: self.set_z(torch.zeros(1, self.latent_dim)))
        self.image_html = widgets.HTML()
        self.interp_html = widgets.HTML()
        top = [rand_b, zero_b] + ([self.class_picker] if self.n_classes else [])
        self.widget = widgets.VBox([widgets.HBox(top),
                                    widgets.HBox([widgets.VBox(self.sliders), self.image_html]),
                                    self.interp_html])
        self._update()

    def _ipython_display_(self) -> None:
        _render.display_widget(self.widget)

    # ------------------------------------------------------------- state
    @property
    def z(self) -> torch.Tensor:
        """The current latent code ``(1, D)`` (a copy)."""
        return self._z.clone()

    @z.setter
    def z(self, value: torch.Tensor) -> None:
        self.set_z(value)

    def set_z(self, z: torch.Tensor) -> None:
        """Set the whole code (``(D,)`` or ``(1, D)``), move the sliders, decode once."""
        z = torch.as_tensor(z, dtype=torch.float32).detach().cpu().reshape(-1)
        if z.numel() != self.latent_dim:
            raise ValueError(f"z must have {self.latent_dim} values (shape (1, {self.latent_dim})), "
                             f"got {z.numel()}.")
        self._z = z[None].clone()
        self._quiet = True   # one decode for the whole update, not one per slider
        try:
            for i, s in enumerate(self.sliders):
                s.value = float(max(-self.span, min(self.span, float(z[i]))))
        finally:
            self._quiet = False
        self._z = z[None].clone()   # sliders clip to the span; keep the exact code
        self._update()

    def randomize(self) -> torch.Tensor:
        """Draw ``z ~ N(0, I)`` from the explorer's own generator, decode it, return it."""
        z = torch.randn(1, self.latent_dim, generator=self._gen)
        self.set_z(z)
        return self.z

    def set_class(self, y: int) -> None:
        """Class fed to a conditional generator."""
        if self.n_classes and not 0 <= int(y) < self.n_classes:
            raise ValueError(f"class must be in 0..{self.n_classes - 1}, got {y}.")
        self._y = int(y)
        if self.class_picker.value != self._y:
            self.class_picker.value = self._y
        self._update()

    def _on_slider(self, i: int, value: float) -> None:
        if self._quiet:
            return
        self._z[0, i] = float(value)
        self._update()

    # ------------------------------------------------------------ decode
    def decode(self, z: torch.Tensor, y: int | torch.Tensor | None = None) -> torch.Tensor:
        """Decode a batch of codes ``(N, D)`` to images ``(N, C, H, W)`` in [0, 1].

        VAE decoders return logits, so ``sigmoid`` is applied (``output="logits"``).
        """
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.dim() == 1:
            z = z[None]
        model = getattr(self._fn, "__self__", self.model)   # the module whose parameters decode
        if not isinstance(model, torch.nn.Module):
            model = self._fn if isinstance(self._fn, torch.nn.Module) else self.model
        params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
        dev = params[0].device if params else torch.device("cpu")
        was_training = getattr(model, "training", False)
        if isinstance(model, torch.nn.Module):
            model.eval()
        try:
            with torch.no_grad():
                if self.n_classes:
                    yy = torch.as_tensor(self._y if y is None else y, dtype=torch.long).reshape(-1)
                    if yy.numel() == 1:
                        yy = yy.expand(z.shape[0]).clone()   # one class for the whole batch
                    out = self._fn(z.to(dev), yy.to(dev))
                else:
                    out = self._fn(z.to(dev))
        finally:
            if isinstance(model, torch.nn.Module) and was_training:
                model.train()
        out = _as_images(out.detach().float().cpu())
        return torch.sigmoid(out) if self.logits else out.clamp(0, 1)

    def _k(self, h: int) -> int:
        return self._scale or max(1, 160 // h)

    def _update(self) -> None:
        self.image = self.decode(self._z)
        self.n_decodes += 1
        k = self._k(self.image.shape[-2])
        png = _render.png_bytes(self.image, k)
        note = f"class {self._y}" if self.n_classes else f"|z| = {float(self._z.norm()):.2f}"
        self.image_html.value = _render.image_row_html([("decoded", png, note)], self.image.shape[-1] * k)

    def interpolate(self, z0: torch.Tensor | None = None, z1: torch.Tensor | None = None, steps: int = 8,
                    y: int | None = None, spherical: bool = False) -> torch.Tensor:
        """Decode ``steps`` codes from ``z0`` to ``z1`` (random ones when left out) and show them.

        Returns:
            images ``(steps, C, H, W)``; row ``t`` decodes ``z_t = (1 - t) z_0 + t z_1``.
        """
        if steps < 2:
            raise ValueError(f"steps must be at least 2 (both ends), got {steps}.")
        z0 = torch.randn(1, self.latent_dim, generator=self._gen) if z0 is None else \
            torch.as_tensor(z0, dtype=torch.float32).reshape(1, -1)
        z1 = torch.randn(1, self.latent_dim, generator=self._gen) if z1 is None else \
            torch.as_tensor(z1, dtype=torch.float32).reshape(1, -1)
        for name, v in (("z0", z0), ("z1", z1)):
            if v.shape[1] != self.latent_dim:
                raise ValueError(f"{name} must have {self.latent_dim} values, got {v.shape[1]}.")
        t = torch.linspace(0, 1, steps)
        zs = slerp(z0, z1, t) if spherical else (1 - t[:, None]) * z0 + t[:, None] * z1
        imgs = self.decode(zs, y)
        k = max(1, self._k(imgs.shape[-2]) // 2)
        g = _render.grid(imgs, nrow=steps)
        self.interp_html.value = _render.image_row_html(
            [("interpolation z0 -> z1", _render.png_bytes(g, k), "spherical" if spherical else "linear")],
            (g.shape[-1] * k, g.shape[-2] * k))
        return imgs

    def latent_map(self, dims: tuple[int, int] = (0, 1), n: int = 8, span: float | None = None) -> torch.Tensor:
        """Decode an ``n x n`` grid over two coordinates of ``z`` (the rest as now): a 2-D map of the latent.

        Returns:
            images ``(n*n, C, H, W)``, row-major: row ``i`` varies ``z[dims[1]]``, column ``j`` ``z[dims[0]]``.
        """
        span = self.span if span is None else span
        a, b = dims
        vals = torch.linspace(-span, span, n)
        zs = self._z.repeat(n * n, 1)
        zs[:, a] = vals.repeat(n)                 # columns
        zs[:, b] = vals.flip(0).repeat_interleave(n)   # rows, top = +span like a plot's y axis
        imgs = self.decode(zs)
        g = _render.grid(imgs, nrow=n)
        k = max(1, 320 // g.shape[-1])
        self.interp_html.value = _render.image_row_html(
            [(f"latent map: z[{a}] across, z[{b}] down", _render.png_bytes(g, k), f"[-{span:g}, {span:g}]")],
            (g.shape[-1] * k, g.shape[-2] * k))
        return imgs
