"""The GPU code paths of genlab.train, exercised on the CPU with the same functions.

No GPU is needed: AMP runs as bf16 autocast on the CPU through ``fit``; the CUDA
dtype/scaler decision is tested by faking ``torch.cuda.is_bf16_supported``; the
GradScaler's skip-and-back-off logic runs with a CPU-enabled scaler through
``TrainContext.optimize`` (the function every task's step calls on a GPU too).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import genlab.train as gt
from genlab.train import AutoencoderTask, History, TrainContext, fit


class Probe(nn.Module):
    """A tiny conv autoencoder that records what its forward pass sees."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(1, 4, 3, padding=1)
        self.dec = nn.Conv2d(4, 1, 3, padding=1)
        self.seen: list[dict] = []

    def forward(self, x):
        h = torch.relu(self.enc(x))
        self.seen.append({"autocast": torch.is_autocast_enabled("cpu"), "h_dtype": h.dtype,
                          # with C=1 the input is both layouts at once: look at the 4-channel activation
                          "channels_last": h.is_contiguous(memory_format=torch.channels_last)
                          and not h.is_contiguous()})
        return self.dec(h)


def _data(n: int = 24) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def _task() -> AutoencoderTask:
    torch.manual_seed(0)
    return AutoencoderTask(Probe(), lr=1e-2, model_name="probe")


KW = dict(batch_size=8, device="cpu", progress=False)


# -- the AMP policy --------------------------------------------------------------------------

def test_amp_off_means_no_dtype_no_scaler():
    assert gt.resolve_amp(torch.device("cpu"), False, None) == (None, None)
    assert gt.resolve_amp(torch.device("cuda"), False, None) == (None, None)


def test_cpu_amp_is_bf16_without_scaler():
    assert gt.resolve_amp(torch.device("cpu"), True, None) == (torch.bfloat16, None)
    with pytest.raises(ValueError, match="bfloat16"):
        gt.resolve_amp(torch.device("cpu"), True, torch.float16)


@pytest.mark.parametrize("bf16, dtype, wants_scaler", [(True, torch.bfloat16, False), (False, torch.float16, True)])
def test_cuda_amp_picks_bf16_when_supported_else_fp16_with_scaler(monkeypatch, bf16, dtype, wants_scaler):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a CUDA GradScaler built without CUDA warns and disables itself
        got_dtype, scaler = gt.resolve_amp(torch.device("cuda"), True, None)
    assert got_dtype == dtype
    assert (scaler is not None) == wants_scaler
    if wants_scaler:
        assert isinstance(scaler, torch.amp.GradScaler)


def test_forced_fp16_on_cuda_gets_a_scaler(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dtype, scaler = gt.resolve_amp(torch.device("cuda"), True, torch.float16)
    assert dtype == torch.float16 and isinstance(scaler, torch.amp.GradScaler)


def test_fp16_underflows_where_bf16_does_not():
    """Why fp16 needs loss scaling: a small gradient is 0 in fp16 (5 exponent bits), not in bf16 (8)."""
    g = torch.tensor(1e-8)
    assert g.half().item() == 0.0
    assert g.bfloat16().item() == pytest.approx(1e-8, rel=1e-2)
    assert (g * 2**16).half().float().item() / 2**16 == pytest.approx(1e-8, rel=1e-2)  # scaled: survives


# -- bf16 autocast through fit ----------------------------------------------------------------

def test_fit_with_amp_runs_forward_in_bf16_and_learns():
    torch.set_num_threads(1)
    task = _task()
    hist = fit(task, _data(), 3, amp=True, **KW)
    seen = task.model.seen
    assert seen and all(s["autocast"] for s in seen)
    assert all(s["h_dtype"] == torch.bfloat16 for s in seen)
    assert all(p.dtype == torch.float32 for p in task.model.parameters())  # master weights stay fp32
    assert hist["loss"][-1] < hist["loss"][0]


def test_fit_without_amp_stays_fp32_and_amp_is_close_to_it():
    torch.set_num_threads(1)
    plain, mixed = _task(), _task()
    h32 = fit(plain, _data(), 2, **KW)
    h16 = fit(mixed, _data(), 2, amp=True, **KW)
    assert not any(s["autocast"] for s in plain.model.seen)
    assert all(s["h_dtype"] == torch.float32 for s in plain.model.seen)
    # bf16 keeps ~3 significant digits: the same training, slightly different numbers.
    assert h16["loss"][-1] == pytest.approx(h32["loss"][-1], rel=0.05)
    assert h16["loss"][-1] != h32["loss"][-1]


# -- channels_last ----------------------------------------------------------------------------

def test_channels_last_reaches_the_model_and_changes_no_math():
    torch.set_num_threads(1)
    nhwc, nchw = _task(), _task()
    h1 = fit(nhwc, _data(), 2, channels_last=True, **KW)
    h2 = fit(nchw, _data(), 2, **KW)
    assert all(s["channels_last"] for s in nhwc.model.seen)
    assert not any(s["channels_last"] for s in nchw.model.seen)
    assert nhwc.model.enc.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(torch.tensor(h1["loss"]), torch.tensor(h2["loss"]), rtol=1e-4, atol=1e-5)


# -- throughput -------------------------------------------------------------------------------

def test_throughput_is_images_over_seconds():
    torch.set_num_threads(1)
    hist = fit(_task(), _data(24), 2, **KW)
    assert len(hist["images_per_s"]) == 2 and len(hist["seconds"]) == 2
    for ips, sec in zip(hist["images_per_s"], hist["seconds"], strict=True):
        assert ips > 0 and sec > 0
        assert ips == pytest.approx(24 / sec, rel=1e-6)


def test_throughput_counts_every_image_with_a_short_last_batch():
    hist = fit(_task(), _data(20), 1, **KW)  # 8 + 8 + 4
    assert hist["images_per_s"][0] * hist["seconds"][0] == pytest.approx(20, rel=1e-6)


# -- torch.compile guard ----------------------------------------------------------------------

def test_compile_failure_warns_and_trains_eagerly(monkeypatch):
    def broken(module, *a, **k):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    task = _task()
    with pytest.warns(UserWarning, match="torch.compile failed"):
        hist = fit(task, _data(), 1, compile=True, **KW)
    assert isinstance(hist, History) and len(hist) == 1 and task.model.seen


def test_compile_missing_warns(monkeypatch):
    monkeypatch.delattr(torch, "compile")
    with pytest.warns(UserWarning, match="not available"):
        fit(_task(), _data(), 1, compile=True, **KW)


def test_compile_wraps_the_module_while_training(monkeypatch):
    wrapped = []

    def fake_compile(module, *a, **k):
        wrapped.append(module)
        return module  # a real compile returns an OptimizedModule calling the same weights

    monkeypatch.setattr(torch, "compile", fake_compile)
    task = _task()
    fit(task, _data(), 1, compile=True, **KW)
    assert wrapped == [task.model]
    assert task.wrappers == {}  # the wrapper is dropped after fit: the user keeps the plain module


# -- the GradScaler path of TrainContext.optimize, with a CPU-enabled scaler -------------------

def _ctx(scaler, clip=None):
    torch.manual_seed(0)
    task = AutoencoderTask(nn.Sequential(nn.Flatten(), nn.Linear(4, 4)), lr=0.1)
    return task, TrainContext(task, History(), torch.device("cpu"), amp_dtype=None, scaler=scaler, clip_grad=clip)


def test_scaler_path_matches_plain_step_when_finite():
    task_a, ctx_a = _ctx(torch.amp.GradScaler("cpu", init_scale=2.0**8))
    task_b, ctx_b = _ctx(None)
    x = torch.randn(3, 4)
    ctx_a.optimize(task_a.model(x).pow(2).mean())
    ctx_a.scaler.update()
    ctx_b.optimize(task_b.model(x).pow(2).mean())
    for a, b in zip(task_a.model.parameters(), task_b.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)  # unscaled before the step: same update
    assert ctx_a.scaler.get_scale() == 2.0**8  # growth needs growth_interval clean steps


def test_scaler_skips_the_step_on_overflow_and_backs_off():
    task, ctx = _ctx(torch.amp.GradScaler("cpu", init_scale=2.0**8))
    before = [p.detach().clone() for p in task.model.parameters()]
    loss = task.model(torch.randn(3, 4)).sum() * float("inf")
    ctx.optimize(loss)
    ctx.scaler.update()
    for p, b in zip(task.model.parameters(), before, strict=True):
        assert torch.equal(p, b)  # inf gradient: the step is skipped, weights untouched
    assert ctx.scaler.get_scale() == 2.0**7  # and the scale halves


def test_clipping_sees_the_unscaled_gradient():
    task_a, ctx_a = _ctx(torch.amp.GradScaler("cpu", init_scale=2.0**12), clip=0.01)
    task_b, ctx_b = _ctx(None, clip=0.01)
    x = torch.randn(3, 4)
    ctx_a.optimize(task_a.model(x).pow(2).mean())
    ctx_b.optimize(task_b.model(x).pow(2).mean())
    for a, b in zip(task_a.model.parameters(), task_b.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)
