"""Behaviour scenarios: trusted procedures that exercise a submitted function and report tensors.

Some graded functions take modules, optimisers, files or devices, which cannot
travel to the worker as plain tensors. For those the case names a *scenario*:
a procedure defined here that builds tiny seeded modules, calls the submitted
function, and returns what it observed as a flat ``dict[str, Tensor]`` (weights
after the update, flags such as "gradients leaked into G", returned losses).

The same scenario runs twice: in the sandboxed worker with the submission,
and in the parent with the spec's reference implementation. The parent
compares the two dictionaries key by key (:func:`compare_scenarios`), so what
"correct" means is always "behaves like the reference on the same seeded
setup". Every scenario seeds torch itself and runs under ``fork_rng`` so the
parent's global RNG is left alone.

Scenarios that test one function of a notebook whose other exercises it uses
(``CRNN`` calls ``rows_to_sequences``; ``train_epoch`` calls
``autocast_settings``) put reference versions of those helpers into the
namespace for the duration, so that a wrong helper costs only its own item.
"""

from __future__ import annotations

import copy
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

Outputs = dict[str, torch.Tensor]
_Tensor = torch.Tensor

#: dtype codes of ``autocast_settings`` results (a dtype is not a tensor).
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def _flag(b: Any) -> torch.Tensor:
    return torch.tensor(int(bool(b)))


def _params(m: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().float() for p in m.parameters()])


def _as_float(v: Any, what: str) -> torch.Tensor:
    """A returned number (float, int, 0-d tensor) as a float64 scalar tensor."""
    if type(v) is _Tensor:
        if v.numel() != 1:
            raise TypeError(f"{what} is a tensor of shape {tuple(v.shape)}, expected one number")
        return v.detach().double().reshape(())
    if type(v) in (float, int):
        return torch.tensor(float(v), dtype=torch.float64)
    raise TypeError(f"{what} is a {type(v).__name__}, expected a number")


class _Inject:
    """Temporarily set names in the submission's namespace (reference helpers)."""

    def __init__(self, ns: dict | None, **names: Any) -> None:
        self.ns, self.names, self.saved = ns, names, {}

    def __enter__(self):
        if self.ns is not None:
            for k, v in self.names.items():
                self.saved[k] = self.ns.get(k, _MISSING)
                self.ns[k] = v

    def __exit__(self, *exc):
        if self.ns is not None:
            for k, v in self.saved.items():
                if v is _MISSING:
                    self.ns.pop(k, None)
                else:
                    self.ns[k] = v
        return False


_MISSING = object()


# =========================================================================== lab 04: DCGAN

class TinyG(nn.Module):
    """z (B, 3) -> images (B, 1, 4, 4) in (0, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 16))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(z)).view(-1, 1, 4, 4)


class TinyD(nn.Module):
    """Images (B, 1, 4, 4) -> logits (B,); no batch norm, so batching choices do not matter."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def gan_step(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """Two calls of ``fn(G, D, opt_g, opt_d, real, z)`` on tiny seeded networks with SGD.

    Reports the weights after the two steps, the returned losses, and whether
    D's update put gradients into G or moved G, and the order of the steps.
    """
    seed, batch = int(args[0]), int(args[1])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        G, D = TinyG(), TinyD()
        opt_g = torch.optim.SGD(G.parameters(), lr=0.5)  # SGD: Adam's first step hides sums vs means
        opt_d = torch.optim.SGD(D.parameters(), lr=0.5)
        g = torch.Generator().manual_seed(seed + 1)
        data = [(torch.rand(batch, 1, 4, 4, generator=g), torch.randn(batch, 3, generator=g)) for _ in range(2)]
        events: list[str] = []
        seen = {"leak": False, "g_moved": False}
        state: dict = {}

        def on_d_step(*_):
            events.append("d")
            if "g" in events:
                return
            seen["leak"] |= any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in G.parameters())
            seen["g_moved"] |= not torch.equal(_params(G), state["g"])

        opt_d.register_step_post_hook(on_d_step)
        opt_g.register_step_post_hook(lambda *_: events.append("g"))
        out: Outputs = {}
        order_ok = True
        losses_d, losses_g = [], []
        for real, z in data:
            events.clear()
            for p in G.parameters():
                p.grad = None
            state["g"] = _params(G)
            res = fn(G, D, opt_g, opt_d, real.clone(), z.clone())
            order_ok &= events == ["d", "g"]
            if type(res) is not dict or "loss_d" not in res or "loss_g" not in res:
                raise TypeError('gan_training_step must return {"loss_d": float, "loss_g": float}')
            losses_d.append(_as_float(res["loss_d"], "loss_d"))
            losses_g.append(_as_float(res["loss_g"], "loss_g"))
        out["d_step_leaks_into_G"] = _flag(seen["leak"])
        out["G_moved_by_D_step"] = _flag(seen["g_moved"])
        out["one_D_step_then_one_G_step"] = _flag(order_ok)
        out["D_weights"] = _params(D)
        out["G_weights"] = _params(G)
        out["loss_d"] = torch.stack(losses_d)
        out["loss_g"] = torch.stack(losses_g)
    return out


def ref_gan_training_step(G, D, opt_g, opt_d, real, z):
    """D step (real -> 1, detached fakes -> 0), then G step through the updated D, non-saturating."""
    fake = G(z)
    d_real, d_fake = D(real), D(fake.detach())
    loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = F.softplus(-D(fake)).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}


def _is_forbidden_class(obj: Any, forbidden: list[str]) -> bool:
    import importlib

    for path in forbidden:
        module_name, name = path.rsplit(".", 1)
        try:
            ref = getattr(importlib.import_module(module_name), name)
        except Exception:  # noqa: BLE001
            continue
        if isinstance(ref, type) and isinstance(obj, type) and issubclass(obj, ref):
            return True
    return False


def _net_facts(model: nn.Module, forbidden: list[str], out: Outputs) -> None:
    out["is_reference"] = _flag(any(_is_forbidden_class(type(m), forbidden) for m in model.modules()))
    out["n_conv"] = torch.tensor(sum(isinstance(m, nn.Conv2d) for m in model.modules()))
    out["n_conv_transpose"] = torch.tensor(sum(isinstance(m, nn.ConvTranspose2d) for m in model.modules()))


def _train(model: nn.Module, inp: torch.Tensor, target: torch.Tensor, steps: int, post=None) -> torch.Tensor:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        y = model(inp)
        y = post(y) if post else y
        loss = (y.float() - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return torch.stack(losses)


def dcgan_generator(cls: Callable, args: list, ns: dict | None = None, forbidden: list[str] = ()) -> Outputs:  # noqa: ARG001
    """``cls(z_dim=8, width=8)``: shapes, range, use of z, transposed convolutions, trainable."""
    seed, batch, z_dim = int(args[0]), int(args[1]), int(args[2])
    out: Outputs = {}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        G = cls(z_dim=z_dim, width=8)
        if not isinstance(G, nn.Module):
            raise TypeError("Generator(...) is not an nn.Module")
        _net_facts(G, list(forbidden), out)
        z = torch.randn(batch, z_dim)
        y = G(z)
        if type(y) is not _Tensor:
            raise TypeError("forward returned no tensor")
        out["shape"] = torch.tensor(list(y.shape))
        G.eval()
        with torch.no_grad():
            y1, y2 = G(z), G(torch.randn(batch, z_dim) * 2)
        G.train()
        out["range"] = torch.stack([y1.min(), y1.max()]).detach().float()
        out["depends_on_z"] = _flag(y1.shape == y2.shape and not torch.allclose(y1, y2))
        target = torch.rand(y.shape)
        out["losses"] = _train(G, z, target, 15)
    return out


def dcgan_discriminator(cls: Callable, args: list, ns: dict | None = None, forbidden: list[str] = ()) -> Outputs:  # noqa: ARG001
    """``cls(width=8)``: (B, 1, 16, 16) -> logits (B,), convolutional, unbounded (no sigmoid), trainable."""
    seed, batch = int(args[0]), int(args[1])
    out: Outputs = {}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        D = cls(width=8)
        if not isinstance(D, nn.Module):
            raise TypeError("Discriminator(...) is not an nn.Module")
        _net_facts(D, list(forbidden), out)
        x = torch.rand(batch, 1, 16, 16)
        y = D(x)
        if type(y) is not _Tensor:
            raise TypeError("forward returned no tensor")
        out["shape"] = torch.tensor(list(y.shape))
        target = torch.randn(y.shape) * 3  # logits far outside [0, 1]: a sigmoid output cannot follow
        out["losses"] = _train(D, x, target, 40)
        with torch.no_grad():
            y = D(x)
        out["range"] = torch.stack([y.min(), y.max()]).float()
    return out


# =========================================================================== lab 06: CRNN

def ref_rows_to_sequences(feat: torch.Tensor) -> torch.Tensor:
    b, c, h, w = feat.shape
    return feat.permute(0, 2, 3, 1).reshape(b * h, w, c)


def ref_sequences_to_rows(seq: torch.Tensor, batch: int, height: int) -> torch.Tensor:
    _, w, c = seq.shape
    return seq.reshape(batch, height, w, c).permute(0, 3, 1, 2)


def crnn(cls: Callable, args: list, ns: dict | None = None, forbidden: list[str] = ()) -> Outputs:
    """``cls(channels=1, width=4, hidden=4)`` on non-square masked images: composite, range, global context."""
    seed, batch, h, w = (int(a) for a in args[:4])
    out: Outputs = {}
    with torch.random.fork_rng(), _Inject(ns, rows_to_sequences=ref_rows_to_sequences,
                                           sequences_to_rows=ref_sequences_to_rows):
        torch.manual_seed(seed)
        model = cls(channels=1, width=4, hidden=4)
        if not isinstance(model, nn.Module):
            raise TypeError("CRNN(...) is not an nn.Module")
        out["is_reference"] = _flag(any(_is_forbidden_class(type(m), list(forbidden)) for m in model.modules()))
        g = torch.Generator().manual_seed(seed + 1)
        x = torch.rand(batch, 1, h, w, generator=g)
        mask = torch.zeros(batch, 1, h, w)
        mask[:, :, 1:4, 1:4] = 1.0
        xm = (x * (1 - mask)).requires_grad_(True)
        y = model(xm, mask)
        if type(y) is not _Tensor:
            raise TypeError("forward returned no tensor")
        out["shape"] = torch.tensor(list(y.shape))
        if y.shape != x.shape:
            return out
        known = (mask == 0).expand_as(y)
        out["known_pixels_kept"] = _flag(torch.allclose(y[known], xm[known], atol=1e-6))
        hole = y[~known]
        out["hole_in_0_1"] = _flag(bool(((hole >= 0) & (hole <= 1)).all()))
        # The hole (rows and columns 1-3) must see the far corner (other rows AND other columns,
        # beyond the convolutions' reach on these sizes): only the row pass followed by the
        # column pass gives that. Summed over the hole and the corner block, so one dead ReLU
        # path in a tiny network does not hide it.
        y[0, 0, 1:4, 1:4].sum().backward()
        gfar = xm.grad[0, 0, h - 3:, w - 3:]
        out["global_context"] = _flag(bool(gfar.abs().sum() > 0))
        out["other_images_ignored"] = _flag(batch < 2 or bool(xm.grad[1:].abs().sum() == 0))
    return out


# =========================================================================== lab 07: GPU training

def ref_autocast_settings(device: Any, bf16_supported: bool | None = None) -> tuple[bool, torch.dtype, bool]:
    device = torch.device(device)
    if device.type == "cuda":
        if bf16_supported is None:
            bf16_supported = torch.cuda.is_bf16_supported()
        return (True, torch.bfloat16, False) if bf16_supported else (True, torch.float16, True)
    if device.type == "cpu":
        return True, torch.bfloat16, False
    return True, torch.float16, False


def autocast(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """``fn(device, bf16_supported)`` for each ``[device, flag, as_device_object]`` of ``args``."""
    rows = []
    for dev, flag, as_obj in args:
        d = torch.device(dev) if as_obj else dev
        res = fn(d) if flag is None and dev != "cuda" else fn(d, flag)
        if type(res) not in (tuple, list) or len(res) != 3:
            raise TypeError(f"autocast_settings({dev!r}, {flag!r}) returned {type(res).__name__}, "
                            "expected a tuple (enabled, dtype, use_scaler)")
        enabled, dtype, scaler = res
        if dtype not in DTYPES:
            raise TypeError(f"autocast_settings({dev!r}, {flag!r}) gave dtype {dtype!r}, not a torch float dtype")
        rows.append(torch.tensor([int(bool(enabled)), DTYPES.index(dtype), int(bool(scaler))]))
    return {"settings": torch.stack(rows)}


class _Net(nn.Module):
    """A tiny classifier with dropout (the RNG matters) that records the dtype of its hidden layer."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Dropout(0.3), nn.Linear(12, 3))
        self.dtypes: list[torch.dtype] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        self.dtypes.append(y.dtype)
        return y


class SpyScaler:
    """A loss scaler that multiplies by 1024 and unscales in ``step``: ignoring it changes the result."""

    S = 1024.0

    def __init__(self) -> None:
        self.calls = {"scale": 0, "step": 0, "update": 0}

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        self.calls["scale"] += 1
        return loss * self.S

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.calls["step"] += 1
        with torch.no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.div_(self.S)
        optimizer.step()

    def update(self) -> None:
        self.calls["update"] += 1

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:  # noqa: ARG002 - accepted, no effect
        pass


def _data(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def _batches(x: torch.Tensor, y: torch.Tensor, bs: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    idx = torch.randperm(len(x))  # global RNG, as a DataLoader without a generator
    return [(x[idx[i:i + bs]], y[idx[i:i + bs]]) for i in range(0, len(x), bs)]


def train_epoch_scenario(fn: Callable, args: list, ns: dict | None = None) -> Outputs:
    """``fn(model, batches, optimizer, scaler, "cpu", amp)`` from eval mode; batches of unequal sizes."""
    seed, amp, use_scaler = int(args[0]), bool(args[1]), bool(args[2])
    out: Outputs = {}
    with torch.random.fork_rng(), _Inject(ns, autocast_settings=ref_autocast_settings):
        torch.manual_seed(seed)
        model = _Net()
        model.eval()  # train_epoch must switch dropout on itself
        opt = torch.optim.SGD(model.parameters(), lr=0.3)
        x, y = _data(seed, 29)
        scaler = SpyScaler() if use_scaler else None
        loss = fn(model, _batches(x, y, 12), opt, scaler, "cpu", amp)
        out["mean_loss"] = _as_float(loss, "the returned loss").float()
        out["weights"] = _params(model)
        out["training_mode"] = _flag(model.training)
        low = {torch.bfloat16, torch.float16}
        out["forward_autocast"] = _flag(bool(model.dtypes) and all(d in low for d in model.dtypes))
        out["forward_fp32"] = _flag(bool(model.dtypes) and all(d == torch.float32 for d in model.dtypes))
        if scaler is not None:
            out["scaler_calls"] = torch.tensor([scaler.calls[k] for k in ("scale", "step", "update")])
    return out


def ref_train_epoch(model, batches, optimizer, scaler, device, amp):
    device = torch.device(device)
    model.to(device)
    model.train()
    _, dtype, _ = ref_autocast_settings(device)
    total, count = 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def ref_save_checkpoint(path, model, optimizer, scaler, epoch):
    path = Path(path)
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scaler": scaler.state_dict() if scaler is not None else None,
             "epoch": int(epoch), "rng": {"torch": torch.get_rng_state()}}
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def ref_load_checkpoint(path, model, optimizer, scaler):
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if state.get("optimizer"):
        optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    rng = state.get("rng") or {}
    if isinstance(rng, dict) and "torch" in rng:
        torch.set_rng_state(rng["torch"])
    return int(state["epoch"])


def _epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    """A trusted training epoch: shuffling and dropout draw from the global RNG."""
    model.train()
    for xb, yb in _batches(x, y, 8):
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _scaler(scale: float):
    try:
        return torch.amp.GradScaler("cpu", init_scale=scale)
    except Exception:  # noqa: BLE001 - older torch: no CPU scaler
        return None


def _resume(save: Callable, load: Callable, seed: int, folder: Path, out: Outputs) -> None:
    """2 epochs, save, scramble, fresh model + optimiser, load, 2 epochs == 4 epochs in one go."""
    x, y = _data(seed, 24)
    torch.manual_seed(seed)
    full = _Net()
    opt = torch.optim.Adam(full.parameters(), lr=1e-2)
    for _ in range(4):
        _epoch(full, opt, x, y)
    torch.manual_seed(seed)
    model = _Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(2):
        _epoch(model, opt, x, y)
    path = folder / "resume.pt"
    save(path, model, opt, None, 2)
    torch.manual_seed(seed + 999)  # a new session: other weights, other RNG state
    fresh = _Net()
    opt2 = torch.optim.Adam(fresh.parameters(), lr=1e-2)
    epoch = load(path, fresh, opt2, None)
    out["resumed_epoch"] = _as_float(epoch, "the returned epoch")
    for _ in range(2):
        _epoch(fresh, opt2, x, y)
    out["resume_max_abs_diff"] = (_params(fresh) - _params(full)).abs().max().reshape(())


def _corrupting_save(obj: Any, f: Any, *a: Any, **k: Any) -> None:  # noqa: ARG001
    """Stands in for torch.save during the crash test: writes half a file, then fails."""
    if hasattr(f, "write"):
        f.write(b"partial checkpoint")
    else:
        with open(f, "wb") as fh:
            fh.write(b"partial checkpoint")
    raise OSError("simulated crash in the middle of the write (disk full / preempted)")


def save_scenario(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """Atomicity, content (keys, weights, epoch, RNG, scaler) and an exact resume through the reference loader."""
    seed = int(args[0])
    out: Outputs = {}
    with torch.random.fork_rng(), tempfile.TemporaryDirectory(prefix="genlab-ckpt-") as d:
        folder = Path(d)
        torch.manual_seed(seed)
        model = _Net()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        x, y = _data(seed, 24)
        _epoch(model, opt, x, y)
        path = folder / "ckpt.pt"
        ref_save_checkpoint(path, model, opt, None, 1)
        real_save = torch.save
        torch.save = _corrupting_save
        try:
            fn(path, model, opt, None, 2)
        except Exception:  # noqa: BLE001 - the simulated crash is expected to propagate
            pass
        finally:
            torch.save = real_save
        try:
            intact = torch.load(path, map_location="cpu", weights_only=True).get("epoch") == 1
        except Exception:  # noqa: BLE001
            intact = False
        out["previous_checkpoint_intact"] = _flag(intact)
        out["no_partial_file_left"] = _flag(sorted(p.name for p in folder.iterdir()) == ["ckpt.pt"])
        _epoch(model, opt, x, y)
        rng = torch.get_rng_state()
        scaler = _scaler(512.0)
        fn(path, model, opt, scaler, 2)
        state = torch.load(path, map_location="cpu", weights_only=True)
        keys = ("model", "optimizer", "scaler", "epoch", "rng")
        out["keys"] = _flag(isinstance(state, dict) and set(state) >= set(keys))
        if not out["keys"]:
            return out
        ms = state["model"]
        out["model_saved"] = _flag(isinstance(ms, dict) and set(ms) == set(model.state_dict())
                                   and all(torch.equal(ms[k], v) for k, v in model.state_dict().items()))
        out["optimizer_saved"] = _flag(isinstance(state["optimizer"], dict) and bool(state["optimizer"].get("state")))
        out["epoch"] = _as_float(state["epoch"], "the saved epoch")
        r = state["rng"]
        out["rng_saved"] = _flag(isinstance(r, dict) and type(r.get("torch")) is _Tensor and torch.equal(r["torch"], rng))
        if scaler is not None:
            sc = state["scaler"]
            out["scaler_saved"] = _flag(isinstance(sc, dict) and float(sc.get("scale", 0)) == 512.0)
        fn(path, model, opt, None, 3)
        out["no_scaler_is_None"] = _flag(torch.load(path, map_location="cpu", weights_only=True)["scaler"] is None)
        _resume(fn, ref_load_checkpoint, seed, folder, out)
    return out


def load_scenario(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """Exact resume from a reference-format file; epoch returned; scaler restored when both exist."""
    seed = int(args[0])
    out: Outputs = {}
    with torch.random.fork_rng(), tempfile.TemporaryDirectory(prefix="genlab-ckpt-") as d:
        folder = Path(d)
        _resume(ref_save_checkpoint, fn, seed, folder, out)
        torch.manual_seed(seed)
        model = _Net()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        saved = _scaler(256.0)
        if saved is not None:
            ref_save_checkpoint(folder / "s.pt", model, opt, saved, 5)
            fresh = _scaler(2.0)
            fn(folder / "s.pt", _Net(), torch.optim.Adam(_Net().parameters(), lr=1e-2), fresh)
            out["scaler_restored"] = torch.tensor(float(fresh.get_scale()))
            ref_save_checkpoint(folder / "n.pt", model, opt, None, 6)
            epoch = fn(folder / "n.pt", _Net(), torch.optim.Adam(_Net().parameters(), lr=1e-2), _scaler(2.0))
            out["file_without_scaler"] = _as_float(epoch, "the returned epoch")
    return out


# =========================================================================== lab 09: debugging

def row_rnn(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """``fn(rnn, feat)`` with a seeded batch_first GRU."""
    seed, b, c, h, w, hidden, bidir = (int(a) for a in args)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        rnn = nn.GRU(c, hidden, batch_first=True, bidirectional=bool(bidir))
        feat = torch.randn(b, c, h, w)
        y = fn(rnn, feat)
    if type(y) is not _Tensor:
        raise TypeError("fixed_row_rnn returned no tensor")
    return {"out": y.detach()}


def ref_row_rnn(rnn, feat):
    b, c, h, w = feat.shape
    out, _ = rnn(feat.permute(0, 2, 3, 1).reshape(b * h, w, c))
    return out.reshape(b, h, w, -1).permute(0, 3, 1, 2)


class Tiny9G(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, z):
        return self.net(z)


class Tiny9D(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x).squeeze(1)


def d_update(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """``fn(generator, discriminator, opt_d, z, real)``: returned loss, D moved, G untouched (weights and grads)."""
    seed, n = int(args[0]), int(args[1])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        gen, disc = Tiny9G(), Tiny9D()
        opt_d = torch.optim.SGD(disc.parameters(), lr=0.1)
        g = torch.Generator().manual_seed(seed + 1)
        z, real = torch.randn(n, 2, generator=g), torch.randn(n, 3, generator=g) + 2
        g_before = _params(gen)
        loss = fn(gen, disc, opt_d, z, real)
        return {"loss": _as_float(loss, "the returned loss").float(),
                "D_weights": _params(disc),
                "G_unchanged": _flag(torch.equal(_params(gen), g_before)),
                "G_has_no_gradient": _flag(all(p.grad is None or not bool(p.grad.abs().sum() > 0)
                                               for p in gen.parameters()))}


def ref_discriminator_update(generator, discriminator, opt_d, z, real):
    fake = generator(z).detach()
    loss = (F.binary_cross_entropy_with_logits(discriminator(real), torch.ones(len(real)))
            + F.binary_cross_entropy_with_logits(discriminator(fake), torch.zeros(len(fake))))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.detach()


class Noisy(nn.Module):
    """Dropout and batch norm: the layers whose behaviour differs between train and eval."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2))

    def forward(self, x):
        return self.net(x)


def predict(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """``fn(model, x)`` twice from train mode and once from eval mode."""
    seed, n = int(args[0]), int(args[1])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Noisy()
        with torch.no_grad():
            for _ in range(3):
                model(torch.randn(32, 4) * 2 + 1)
        stats = copy.deepcopy(model.net[1].state_dict())
        x = torch.randn(n, 4)
        model.train()
        a = fn(model, x)
        after_train = model.training
        b = fn(model, x)
        model.eval()
        fn(model, x)
        after_eval = model.training
        if type(a) is not _Tensor or type(b) is not _Tensor:
            raise TypeError("fixed_predict returned no tensor")
        return {"out": a.detach(), "repeatable": _flag(torch.equal(a, b)), "no_graph": _flag(not a.requires_grad),
                "train_mode_restored": _flag(after_train), "eval_mode_kept": _flag(not after_eval),
                "bn_stats_untouched": _flag(all(torch.equal(v, model.net[1].state_dict()[k])
                                                for k, v in stats.items()))}


def ref_predict(model, x):
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.train(was)


def ema_copy(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """``fn(model)``: an independent frozen copy with equal weights."""
    seed = int(args[0])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Tiny9G()
        ema = fn(model)
        if not isinstance(ema, nn.Module):
            raise TypeError(f"fixed_ema_copy returned a {type(ema).__name__}, not an nn.Module")
        same = (ema is not model and len(list(ema.parameters())) == len(list(model.parameters()))
                and torch.equal(_params(ema), _params(model)))
        shared = ema is model or bool({p.data_ptr() for p in model.parameters()}
                                      & {p.data_ptr() for p in ema.parameters()})
        frozen = all(not p.requires_grad for p in ema.parameters())
        before = _params(ema) if same else None
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        independent = same and torch.equal(_params(ema), before)
        return {"same_weights": _flag(same), "no_shared_storage": _flag(not shared),
                "independent": _flag(independent), "frozen": _flag(frozen),
                "original_trainable": _flag(all(p.requires_grad for p in model.parameters()))}


def ref_ema_copy(model):
    ema = copy.deepcopy(model)
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


SCENARIOS: dict[str, Callable[..., Outputs]] = {
    "gan_step": gan_step, "dcgan_generator": dcgan_generator, "dcgan_discriminator": dcgan_discriminator,
    "crnn": crnn, "autocast": autocast, "train_epoch": train_epoch_scenario, "save_checkpoint": save_scenario,
    "load_checkpoint": load_scenario, "row_rnn": row_rnn, "d_update": d_update, "predict": predict,
    "ema_copy": ema_copy,
}

#: Scenarios that also receive the item's forbidden references (module classes detected by behaviour).
_WITH_FORBIDDEN = {"dcgan_generator", "dcgan_discriminator", "crnn"}


#: Scenarios seed and use torch's *global* RNG; the parent judges submissions from several
#: threads, so reference runs take turns (a race would give another dropout mask).
_LOCK = threading.Lock()


def run_scenario(name: str, fn: Callable, args: list, ns: dict | None, forbidden: list[str] = ()) -> Outputs:
    """Run scenario ``name`` on ``fn`` (a submission in the worker, a reference in the parent)."""
    scenario = SCENARIOS[name]
    with _LOCK:
        if name in _WITH_FORBIDDEN:
            return scenario(fn, args, ns, forbidden=list(forbidden))
        return scenario(fn, args, ns)


def compare_scenarios(got: Outputs, want: Outputs, messages: dict[str, str], rtol: float = 1e-4,
                      atol: float = 1e-6, loose: dict[str, float] | None = None) -> str | None:
    """None when the submission's observations match the reference's, else the first difference.

    Integer tensors (flags, counts, shapes) must be equal; float tensors close
    (``loose`` gives a per-key absolute tolerance). ``messages[key]`` says what a
    difference in ``key`` means, for feedback.
    """
    from ._core import compare_tensors

    loose = loose or {}
    for key, w in want.items():
        what = messages.get(key, key)
        g = got.get(key)
        if g is None:
            return f"{what} (not observed: the scenario stopped early)"
        if w.is_floating_point():
            tol = loose.get(key)
            why = compare_tensors(g.double(), w.double(), "close", 0.0 if tol else rtol, tol or atol)
        else:
            why = None if (g.shape == w.shape and torch.equal(g.long(), w.long())) else "differs"
        if why:
            return f"{what} ({key}: {why})" if w.numel() > 1 or w.is_floating_point() else what
    return None
