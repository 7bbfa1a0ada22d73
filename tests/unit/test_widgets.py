"""Python-level tests of genlab.widgets: the synced mask trait drives the restorations.

The models here are tiny closed-form functions, so every expected output is
computed independently (no trained weights, no browser).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
import torch

from genlab.errors import RangeError, ShapeError
from genlab.masks import composite
from genlab.widgets import LatentExplorer, MaskPainter, TrainingDashboard, preset_mask, slerp
from genlab.widgets._maskbits import disc
from genlab.widgets.painter import resolve_backend

BACKENDS = ["anywidget", "ipywidgets"]
H = W = 12


def fill_half(x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A 'repairer' with a closed form: 0.5 in the hole."""
    return x_masked * (1 - mask) + 0.5 * mask


class RowMean(torch.nn.Module):
    """Fills the hole with the mean of the known pixels of the same row (and has a parameter)."""

    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.ones(()))

    def forward(self, x_masked, mask):
        known = 1 - mask
        row = (x_masked * known).sum(-1, keepdim=True) / known.sum(-1, keepdim=True).clamp_min(1)
        return x_masked * known + self.gain * row * mask


@pytest.fixture
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 1, H, W, generator=g)


def block_bits(r0: int, r1: int, c0: int, c1: int) -> list[int]:
    m = torch.zeros(H, W)
    m[r0:r1, c0:c1] = 1
    return [int(v) for v in m.flatten()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_setting_the_synced_trait_updates_the_restorations(images, backend):
    p = MaskPainter(images, models={"half": fill_half, "rowmean": RowMean()}, backend=backend)
    x = images[:1]
    assert p.mask.shape == (1, 1, H, W) and p.mask.sum() == 0
    assert torch.equal(p.outputs["half"], x)          # no hole: nothing to restore
    before = p.outputs["half"].clone()

    p.canvas.mask = block_bits(3, 7, 2, 9)           # what the browser sends at stroke end
    m = torch.zeros(1, 1, H, W)
    m[..., 3:7, 2:9] = 1
    assert torch.equal(p.mask, m)
    assert not torch.equal(p.outputs["half"], before)
    torch.testing.assert_close(p.outputs["half"], composite(torch.full_like(x, 0.5), x, m))
    torch.testing.assert_close(p.outputs["corrupted"], x * (1 - m))
    row_mean = (x * (1 - m)).sum(-1, keepdim=True) / (1 - m).sum(-1, keepdim=True)
    torch.testing.assert_close(p.outputs["rowmean"], x * (1 - m) + row_mean * m)
    assert set(p.outputs) == {"original", "corrupted", "half", "rowmean", "biharmonic"}
    assert "hole PSNR" in p.output_html.value and p.errors == {}


def test_biharmonic_baseline_reproduces_biharmonic_images():
    # Linear ramps solve Delta^2 u = 0 exactly, so the baseline must refill them exactly.
    ii, jj = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    ramp = (0.1 + 0.05 * ii + 0.02 * jj).float()[None, None]
    p = MaskPainter(ramp, backend="ipywidgets")
    p.canvas.mask = block_bits(4, 8, 4, 8)
    assert float(p.outputs["corrupted"][..., 5, 5]) == 0.0
    torch.testing.assert_close(p.outputs["biharmonic"], ramp, atol=2e-3, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_invalid_masks_are_rejected_with_clear_messages(images, backend):
    p = MaskPainter(images, models=fill_half, backend=backend)
    p.canvas.mask = block_bits(0, 2, 0, 2)
    good_mask, good_out = p.mask.clone(), p.outputs["fill_half"].clone()
    with pytest.raises(ShapeError, match=r"12x12 pixels"):
        p.mask = torch.zeros(1, 1, 28, 28)
    with pytest.raises(ShapeError, match=r"one per pixel"):
        p.canvas.mask = [0] * 10                      # a raw list of the wrong length
    with pytest.raises(ShapeError, match=r"One mask at a time"):
        p.mask = torch.zeros(2, 1, H, W)
    with pytest.raises(RangeError, match=r"only 0 \(known\) and 1 \(missing\).*Threshold"):
        p.mask = torch.full((1, 1, H, W), 0.5)
    with pytest.raises(RangeError, match=r"got 2"):
        p.canvas.mask = [2] * (H * W)
    with pytest.raises(ShapeError, match=r"tensor of shape"):
        p.mask = "center"
    # A rejected mask leaves everything as it was.
    assert torch.equal(p.mask, good_mask) and torch.equal(p.outputs["fill_half"], good_out)
    # Accepted spellings: (H, W) bools, nested lists.
    p.mask = torch.ones(H, W, dtype=torch.bool)
    assert p.mask.sum() == H * W
    p.set_mask([[0] * W] * H)
    assert p.mask.sum() == 0


def test_fallback_gives_the_same_outputs_as_the_canvas(images):
    models = {"half": fill_half, "rowmean": RowMean()}
    a = MaskPainter(images, models=models, backend="anywidget", index=2)
    b = MaskPainter(images, models=models, backend="ipywidgets", index=2)
    assert type(a.canvas).__name__ == "CanvasWidget" and type(b.canvas).__name__ == "ToggleGrid"
    for preset in ("center", "strokes", "pixels"):
        a.preset(preset)
        b.preset(preset)
        assert torch.equal(a.mask, b.mask) and a.mask.sum() > 0
        assert a.outputs.keys() == b.outputs.keys()
        for k in a.outputs:
            assert torch.equal(a.outputs[k], b.outputs[k]), k


def test_fallback_click_marks_the_canvas_brush_disc(images):
    b = MaskPainter(images, backend="ipywidgets", brush=3)
    b.canvas.click(5, 6)
    expected = disc([0] * (H * W), H, W, 5, 6, 3, 1)
    assert b.canvas.mask == expected and sum(expected) == 9   # 3x3 disc: centre distance <= 1.5
    assert b.canvas._buttons[5 * W + 6].style.button_color == "#e63c3c"
    b.canvas.click(5, 6)                                        # a second click toggles back
    assert sum(b.canvas.mask) == 0
    assert b.canvas._buttons[5 * W + 6].style.button_color != "#e63c3c"


@pytest.mark.parametrize("backend", BACKENDS)
def test_clear_invert_undo_and_presets(images, backend):
    p = MaskPainter(images, models=fill_half, backend=backend)
    p.preset("center")
    torch.testing.assert_close(p.mask, preset_mask("center", H, W))
    p.invert()
    torch.testing.assert_close(p.mask, 1 - preset_mask("center", H, W))
    p.clear()
    assert p.mask.sum() == 0
    assert p.undo() and torch.equal(p.mask, 1 - preset_mask("center", H, W))
    assert p.undo() and torch.equal(p.mask, preset_mask("center", H, W))
    assert p.undo() and p.mask.sum() == 0
    assert not p.undo()
    torch.testing.assert_close(p.outputs["fill_half"], images[:1])    # outputs follow undo
    with pytest.raises(ValueError, match="unknown preset"):
        p.preset("blob")


def test_image_picker_keeps_the_mask_and_recomputes(images):
    labels = torch.tensor([3, 1, 4, 1])
    p = MaskPainter((images, labels), models={"half": fill_half})
    p.preset("rows")
    p._picker.value = 2                                 # the slider in the UI
    assert p.index == 2 and p.label == 4
    torch.testing.assert_close(p.outputs["original"], images[2:3])
    torch.testing.assert_close(p.outputs["half"], composite(torch.full_like(images[2:3], 0.5),
                                                            images[2:3], p.mask))
    assert p.mask.sum() > 0 and "label 4" in p.output_html.value
    p.show(5)                                           # wraps around
    assert p.index == 1 and p._picker.value == 1


def test_dataset_source_and_model_errors_are_shown_not_raised(images):
    ds = torch.utils.data.TensorDataset(images, torch.arange(4))

    def broken(xm, m):
        raise RuntimeError("shape mismatch in my decoder")

    model = RowMean().train()
    p = MaskPainter(ds, models=[broken, model], baseline="mean", index=1)
    p.preset("center")
    assert "broken" in p.errors and "shape mismatch" in p.output_html.value
    assert "RowMean" in p.outputs and "mean fill" in p.outputs
    assert model.training, "the painter must restore the model's training mode"


def test_auto_backend_falls_back_without_anywidget(monkeypatch):
    monkeypatch.setitem(sys.modules, "anywidget", None)          # import anywidget -> ImportError
    monkeypatch.delitem(sys.modules, "genlab.widgets._canvas", raising=False)
    assert resolve_backend("auto") == "ipywidgets"
    with pytest.raises(ImportError, match="backend='ipywidgets'"):
        resolve_backend("anywidget")
    p = MaskPainter(torch.rand(1, 6, 6))
    assert p.backend == "ipywidgets"
    monkeypatch.setenv("GENLAB_WIDGETS_BACKEND", "ipywidgets")
    assert resolve_backend(None) == "ipywidgets"


# ------------------------------------------------------------------ latent explorer
class LinearDecoder(torch.nn.Module):
    """decode(z) = logits of a 4x4 image, linear in z (a VAE-like decoder)."""

    latent_dim = 3

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.weight = torch.nn.Parameter(torch.randn(16, 3, generator=g))

    def decode(self, z):
        return (z @ self.weight.T).reshape(-1, 1, 4, 4)


def test_latent_explorer_decodes_on_slider_change():
    dec = LinearDecoder()
    ex = LatentExplorer(dec)
    assert ex.latent_dim == 3 and len(ex.sliders) == 3 and ex.logits
    torch.testing.assert_close(ex.image, torch.full((1, 1, 4, 4), 0.5))    # sigmoid(0)
    n = ex.n_decodes
    ex.sliders[1].value = 1.5
    z = torch.tensor([[0.0, 1.5, 0.0]])
    torch.testing.assert_close(ex.z, z)
    torch.testing.assert_close(ex.image, torch.sigmoid(dec.decode(z)).detach())
    assert ex.n_decodes == n + 1
    ex.set_z(torch.tensor([0.2, -0.4, 2.0]))       # one decode for the whole code
    assert ex.n_decodes == n + 2 and ex.sliders[2].value == pytest.approx(2.0)


def test_conditional_generator_and_interpolation():
    def G(z, y):   # images in [0, 1]: class sets the brightness, z[0] the contrast
        base = (y.float()[:, None, None, None] + 1) / 11
        return (base + 0.01 * z[:, :1, None, None]).expand(-1, 1, 5, 5).clamp(0, 1)

    ex = LatentExplorer(G, latent_dim=2, n_classes=10, n_sliders=1)
    assert not ex.logits and len(ex.sliders) == 1
    ex.class_picker.value = 4
    torch.testing.assert_close(ex.image, torch.full((1, 1, 5, 5), 5 / 11))
    with pytest.raises(ValueError, match="0..9"):
        ex.set_class(12)
    z0, z1 = torch.tensor([[-2.0, 0.0]]), torch.tensor([[2.0, 1.0]])
    imgs = ex.interpolate(z0, z1, steps=5, y=0)
    assert imgs.shape == (5, 1, 5, 5)
    expected = torch.stack([(1 / 11 + 0.01 * z) * torch.ones(1, 5, 5) for z in (-2, -1, 0, 1, 2)])
    torch.testing.assert_close(imgs, expected)
    assert "interpolation" in ex.interp_html.value


def test_slerp_keeps_the_norm_and_hits_the_ends():
    z0, z1 = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    zs = slerp(z0, z1, torch.linspace(0, 1, 7))
    torch.testing.assert_close(zs[0], z0[0])
    torch.testing.assert_close(zs[-1], z1[0])
    torch.testing.assert_close(zs.norm(dim=1), torch.full((7,), 3.0))


def test_latent_map_varies_the_chosen_dims():
    dec = LinearDecoder()
    ex = LatentExplorer(dec, span=2.0)
    imgs = ex.latent_map(dims=(0, 2), n=3)
    assert imgs.shape == (9, 1, 4, 4)
    z_top_left = torch.tensor([[-2.0, 0.0, 2.0]])   # column 0 -> z[0] = -span, row 0 -> z[2] = +span
    torch.testing.assert_close(imgs[0:1], torch.sigmoid(dec.decode(z_top_left)).detach())
    assert "latent map" in ex.interp_html.value
    with pytest.raises(ValueError, match="latent_dim"):
        LatentExplorer(lambda z: z)


# ---------------------------------------------------------------- training dashboard
class TinyVAE(torch.nn.Module):
    def sample(self, n, generator=None):
        return torch.rand(n, 1, 6, 6, generator=generator)


def ctx_at(step, epoch=0, loss=1.0):
    task = SimpleNamespace(model=TinyVAE())
    return SimpleNamespace(step=step, epoch=epoch, task=task, history=None,
                           losses={"loss": torch.tensor(loss), "kl": loss / 2, "note": "x"})


def test_dashboard_updates_without_a_display(monkeypatch):
    monkeypatch.delenv("GENLAB_FAST", raising=False)
    dash = TrainingDashboard(every=2, samples=4)
    assert not dash.show, "pytest is not a notebook kernel: the dashboard must stay quiet"
    for s in range(1, 6):
        dash.on_step(ctx_at(s, loss=1.0 / s))
    assert dash.steps == [1, 2, 3, 4, 5]
    assert dash.losses["loss"] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert dash.losses["kl"] == pytest.approx([0.5, 1 / 4, 1 / 6, 1 / 8, 1 / 10])
    assert "note" not in dash.losses                  # non-scalars are not curves
    assert dash.n_renders == 2 and dash.curves_png.startswith(b"\x89PNG")
    first = dash.curves_png
    dash.on_epoch_end(ctx_at(5, epoch=1))
    assert dash.n_renders == 3 and dash.curves_png != first
    assert dash.samples.value == dash.samples_png and dash.samples_png.startswith(b"\x89PNG")
    assert "epoch 2" in dash.label.value and not dash.displayed   # ctx.epoch 1 is the second epoch


def test_dashboard_numbers_epochs_like_the_progress_bar(monkeypatch):
    monkeypatch.setenv("GENLAB_FAST", "1")
    dash = TrainingDashboard(every=1)
    dash.on_step(ctx_at(1, epoch=59))
    dash.on_epoch_end(ctx_at(1, epoch=59))             # the last of 60 epochs, 0-based in ctx
    assert "epoch 60" in dash.label.value and "epoch 59" not in dash.label.value


def test_dashboard_is_quiet_in_fast_mode(monkeypatch):
    monkeypatch.setenv("GENLAB_FAST", "1")
    dash = TrainingDashboard(every=1)
    for s in range(3):
        dash.on_step(ctx_at(s))
    dash.on_epoch_end(ctx_at(2, epoch=0))
    assert dash.n_renders == 0 and dash.curves_png == b"" and not dash.show
    assert len(dash.losses["loss"]) == 3                 # still recorded for later plotting


def test_painter_recompute_is_fast_enough_to_feel_live():
    # 28x28 with a small conv model and the biharmonic baseline, after warm-up.
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 16, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(16, 1, 3, padding=1), torch.nn.Sigmoid())
    p = MaskPainter(torch.rand(1, 1, 28, 28), models={"conv": lambda xm, m: net(torch.cat([xm, m], 1))})
    p.preset("center")
    p.preset("strokes")
    assert sum(p.timings_ms.values()) < 500, p.timings_ms   # typically ~10 ms; generous for CI


def test_latent_explorer_reads_a_gan_pair_and_its_config():
    class G(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(0.1))

        def forward(self, z, y=None):
            return (0.5 + self.scale * z[:, :1, None, None] + 0.01 * y.float()[:, None, None, None]
                    ).expand(-1, 1, 3, 3)

    pair = torch.nn.Module()
    pair.generator = G()
    pair.config = SimpleNamespace(z_dim=2, n_classes=3)
    pair.train()
    ex = LatentExplorer(pair)
    assert (ex.latent_dim, ex.n_classes, ex.logits) == (2, 3, False)
    ex.set_class(2)
    ex.sliders[0].value = 1.0
    torch.testing.assert_close(ex.image, torch.full((1, 1, 3, 3), 0.5 + 0.1 + 0.02))
    assert pair.training and pair.generator.training     # eval() only while decoding


def test_load_hint_goes_away_when_the_canvas_reports_ready(images):
    p = MaskPainter(images, backend="anywidget")
    assert "backend='ipywidgets'" in p._load_hint.value       # shown until the browser draws
    p.canvas.ready = True                                     # what painter.js sends on render
    assert p._load_hint.value == ""
    assert MaskPainter(images, backend="ipywidgets")._load_hint.value == ""


def test_display_switches_on_colab_widget_manager(images, monkeypatch):
    import types

    calls = []
    colab = types.ModuleType("google.colab")
    colab.output = SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(1))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    MaskPainter(images, baseline=None)._ipython_display_()
    LatentExplorer(LinearDecoder())._ipython_display_()
    assert calls == [1, 1]
