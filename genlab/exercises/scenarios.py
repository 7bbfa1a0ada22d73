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
import sys
import threading
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._core import Call, Case, CheckFn, Item, compare_tensors, randint

Outputs = dict[str, torch.Tensor]
Tensor = torch.Tensor

#: dtype codes of ``autocast_settings`` results (a dtype is not a tensor).
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def as_flag(b: Any) -> torch.Tensor:
    return torch.tensor(int(bool(b)))


def flat_params(m: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().float() for p in m.parameters()])


def as_float(v: Any, what: str) -> torch.Tensor:
    """A returned number (float, int, 0-d tensor) as a float64 scalar tensor."""
    if type(v) is Tensor:
        if v.numel() != 1:
            raise TypeError(f"{what} is a tensor of shape {tuple(v.shape)}, expected one number")
        return v.detach().double().reshape(())
    if type(v) in (float, int):
        return torch.tensor(float(v), dtype=torch.float64)
    raise TypeError(f"{what} is a {type(v).__name__}, expected a number")


def output_check(check: Callable[[Call, Tensor, Outputs], str | None]) -> CheckFn:
    """``check(call, y, outputs)`` as an item's check, ``y`` the call's tensor output (a case without one fails)."""
    def judge_output(call: Call, out: Outputs, ref: Any) -> str | None:  # noqa: ARG001
        y = out.get("out")
        return "no tensor output" if y is None else check(call, y, out)
    return judge_output


def like_input(y: Tensor, like: Tensor, name: str, advice: str, subject: str = "") -> str | None:
    """Why ``y`` is not shaped and typed like the input ``like`` (called ``name``), or None."""
    if tuple(y.shape) != tuple(like.shape):
        return f"{subject}shape {tuple(y.shape)}, expected the shape of {name} {tuple(like.shape)}"
    if y.dtype != like.dtype:
        return f"{subject}dtype {y.dtype}, expected {name}'s dtype {like.dtype}: {advice}"
    return None


class Inject:
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
    """z (B, 3) -> images (B, 1, 4, 4) in (0, 1), through one hidden layer of ``hidden`` units."""

    def __init__(self, hidden: int = 8, act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, hidden), act(), nn.Linear(hidden, 16))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(z)).view(-1, 1, 4, 4)


class TinyD(nn.Module):
    """Images (B, 1, 4, 4) -> logits (B,); no batch norm, so batching choices do not matter."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class GANStepSpy:
    """Hooks on a GAN pair's optimisers, for calls of a training step (the check's and the grader's).

    Per call (after :meth:`begin`): ``events``, the order of the optimiser steps ("d", "g");
    over all calls: ``leak``, D stepped after gradients reached G during the call, and
    ``moved``, D stepped after G's weights changed during the call.
    """

    def __init__(self, G: nn.Module, opt_g: Any, opt_d: Any) -> None:
        self.G = G
        self.events: list[str] = []
        self.leak = self.moved = False
        opt_d.register_step_post_hook(self._on_d_step)
        opt_g.register_step_post_hook(lambda *_: self.events.append("g"))

    def begin(self) -> None:
        self.events.clear()
        self._grads = [None if p.grad is None else p.grad.clone() for p in self.G.parameters()]
        self._weights = flat_params(self.G)

    def _on_d_step(self, *_: Any) -> None:
        self.events.append("d")
        if "g" in self.events:
            return
        grads = [p.grad for p in self.G.parameters()]
        changed = any(g is not None and (b is None or not torch.equal(g, b))
                      for g, b in zip(grads, self._grads, strict=True))
        self.leak |= changed and any(g is not None and bool(g.abs().sum() > 0) for g in grads)
        self.moved |= not torch.equal(flat_params(self.G), self._weights)


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
        spy = GANStepSpy(G, opt_g, opt_d)
        out: Outputs = {}
        order_ok = True
        losses_d, losses_g = [], []
        floats = True  # the contract: plain Python floats, so the caller keeps no graph alive
        for real, z in data:
            for p in G.parameters():
                p.grad = None
            spy.begin()
            res = fn(G, D, opt_g, opt_d, real.clone(), z.clone())
            order_ok &= spy.events == ["d", "g"]
            if type(res) is not dict or "loss_d" not in res or "loss_g" not in res:
                raise TypeError('gan_training_step must return {"loss_d": float, "loss_g": float}')
            floats &= type(res["loss_d"]) is float and type(res["loss_g"]) is float
            losses_d.append(as_float(res["loss_d"], "loss_d"))
            losses_g.append(as_float(res["loss_g"], "loss_g"))
        out["d_step_leaks_into_G"] = as_flag(spy.leak)
        out["G_moved_by_D_step"] = as_flag(spy.moved)
        out["one_D_step_then_one_G_step"] = as_flag(order_ok)
        out["losses_are_floats"] = as_flag(floats)
        out["D_weights"] = flat_params(D)
        out["G_weights"] = flat_params(G)
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


def _resolved(path: str) -> Any:
    """The object a dotted ``module.name`` path names, or None when it cannot be imported."""
    import importlib

    module_name, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except Exception:  # noqa: BLE001 - a missing reference is no reference to match
        return None


def _is_forbidden_class(obj: Any, forbidden: list[str]) -> bool:
    refs = [_resolved(p) for p in forbidden]
    return isinstance(obj, type) and any(isinstance(r, type) and issubclass(obj, r) for r in refs)


def _net_facts(model: nn.Module, forbidden: list[str], out: Outputs) -> None:
    out["is_reference"] = as_flag(any(_is_forbidden_class(type(m), forbidden) for m in model.modules()))
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
        if type(y) is not Tensor:
            raise TypeError("forward returned no tensor")
        out["shape"] = torch.tensor(list(y.shape))
        G.eval()
        with torch.no_grad():
            y1, y2 = G(z), G(torch.randn(batch, z_dim) * 2)
        G.train()
        out["range"] = torch.stack([y1.min(), y1.max()]).detach().float()
        out["depends_on_z"] = as_flag(y1.shape == y2.shape and not torch.allclose(y1, y2))
        target = torch.rand(y.shape)
        out["losses"] = _train(G, z, target, 15)
        # activations at the ends: trained towards black images, the output must get close to 0
        _train(G, z, torch.zeros(y.shape), 40)
        G.eval()
        with torch.no_grad():
            out["darkest_after_black"] = G(z).amin().reshape(1).float()
        G.train()
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
        if type(y) is not Tensor:
            raise TypeError("forward returned no tensor")
        out["shape"] = torch.tensor(list(y.shape))
        target = torch.randn(y.shape) * 3  # logits far outside [0, 1]: a sigmoid output cannot follow
        out["losses"] = _train(D, x, target, 40)
        with torch.no_grad():
            y = D(x)
        out["range"] = torch.stack([y.min(), y.max()]).float()
    return out


# =========================================================================== lab 06: CRNN

def _in_crnn_scenario() -> bool:
    """Whether the CRNN scenario is running further up this call stack."""
    f = sys._getframe(2)
    while f is not None:
        if f.f_code is _CRNN_CODE:
            return True
        f = f.f_back
    return False


def _lent_row_helpers() -> dict[str, Callable]:
    """The row helpers the CRNN scenario lends a submission's CRNN, for the scenario's run only.

    So that a wrong ``rows_to_sequences`` costs only its own item, the CRNN runs with these in
    its namespace. They are made fresh per run (no module-level copy exists for a submission
    to import) and refuse to work unless the CRNN scenario is on the call stack, so a copy kept
    for later (or rebuilt from this code) cannot stand in for the graded helpers.
    """
    def rows_to_sequences(feat: torch.Tensor) -> torch.Tensor:
        if not _in_crnn_scenario():
            raise RuntimeError("the grader's row helper works inside the CRNN scenario only")
        b, c, h, w = feat.shape
        return feat.permute(0, 2, 3, 1).reshape(b * h, w, c)

    def sequences_to_rows(seq: torch.Tensor, batch: int, height: int) -> torch.Tensor:
        if not _in_crnn_scenario():
            raise RuntimeError("the grader's row helper works inside the CRNN scenario only")
        _, w, c = seq.shape
        return seq.reshape(batch, height, w, c).permute(0, 3, 1, 2)

    return {"rows_to_sequences": rows_to_sequences, "sequences_to_rows": sequences_to_rows}


def crnn(cls: Callable, args: list, ns: dict | None = None, forbidden: list[str] = ()) -> Outputs:
    """``cls(channels=1, width=4, hidden=4)`` on non-square masked images: composite, range, global context."""
    seed, batch, h, w = (int(a) for a in args[:4])
    out: Outputs = {}
    with torch.random.fork_rng(), Inject(ns, **_lent_row_helpers()):
        torch.manual_seed(seed)
        model = cls(channels=1, width=4, hidden=4)
        if not isinstance(model, nn.Module):
            raise TypeError("CRNN(...) is not an nn.Module")
        out["is_reference"] = as_flag(any(_is_forbidden_class(type(m), list(forbidden)) for m in model.modules()))
        g = torch.Generator().manual_seed(seed + 1)
        x = torch.rand(batch, 1, h, w, generator=g)
        mask = torch.zeros(batch, 1, h, w)
        mask[:, :, 1:4, 1:4] = 1.0
        xm = (x * (1 - mask)).requires_grad_(True)
        y = model(xm, mask)
        if type(y) is not Tensor:
            raise TypeError("forward returned no tensor")
        out["shape"] = torch.tensor(list(y.shape))
        if y.shape != x.shape:
            return out
        known = (mask == 0).expand_as(y)
        out["known_pixels_kept"] = as_flag(torch.allclose(y[known], xm[known], atol=1e-6))
        hole = y[~known]
        out["hole_in_0_1"] = as_flag(bool(((hole >= 0) & (hole <= 1)).all()))
        # The hole (rows and columns 1-3) must see the far corner (other rows AND other columns,
        # beyond the convolutions' reach on these sizes): only the row pass followed by the
        # column pass gives that. Summed over the hole and the corner block, so one dead ReLU
        # path in a tiny network does not hide it.
        y[0, 0, 1:4, 1:4].sum().backward()
        gfar = xm.grad[0, 0, h - 3:, w - 3:]
        far = bool(gfar.abs().sum() > 0)
        # A tiny network can start with every path to the corner dead (about one seed in twenty for
        # a correct CRNN): two more initialisations decide, so only a missing sweep fails for sure.
        for extra in (1, 2):
            if far:
                break
            torch.manual_seed(seed + 7919 * extra)
            again = cls(channels=1, width=4, hidden=4)
            xa = (x * (1 - mask)).requires_grad_(True)
            ya = again(xa, mask)
            if type(ya) is Tensor and ya.shape == x.shape:
                ya[0, 0, 1:4, 1:4].sum().backward()
                far = bool(xa.grad[0, 0, h - 3:, w - 3:].abs().sum() > 0)
        out["global_context"] = as_flag(far)
        out["other_images_ignored"] = as_flag(batch < 2 or bool(xm.grad[1:].abs().sum() == 0))
    return out


_CRNN_CODE = crnn.__code__


# =========================================================================== lab 09: debugging

def row_rnn(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """``fn(rnn, feat)`` with a seeded batch_first GRU."""
    seed, b, c, h, w, hidden, bidir = (int(a) for a in args)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        rnn = nn.GRU(c, hidden, batch_first=True, bidirectional=bool(bidir))
        feat = torch.randn(b, c, h, w)
        y = fn(rnn, feat)
    if type(y) is not Tensor:
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
        g_before = flat_params(gen)
        loss = fn(gen, disc, opt_d, z, real)
        return {"loss": as_float(loss, "the returned loss").float(),
                "D_weights": flat_params(disc),
                "G_unchanged": as_flag(torch.equal(flat_params(gen), g_before)),
                "G_has_no_gradient": as_flag(all(p.grad is None or not bool(p.grad.abs().sum() > 0)
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
        if type(a) is not Tensor or type(b) is not Tensor:
            raise TypeError("fixed_predict returned no tensor")
        return {"out": a.detach(), "repeatable": as_flag(torch.equal(a, b)), "no_graph": as_flag(not a.requires_grad),
                "train_mode_restored": as_flag(after_train), "eval_mode_kept": as_flag(not after_eval),
                "bn_stats_untouched": as_flag(all(torch.equal(v, model.net[1].state_dict()[k])
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
                and torch.equal(flat_params(ema), flat_params(model)))
        shared = ema is model or bool({p.data_ptr() for p in model.parameters()}
                                      & {p.data_ptr() for p in ema.parameters()})
        frozen = all(not p.requires_grad for p in ema.parameters())
        before = flat_params(ema) if same else None
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        independent = same and torch.equal(flat_params(ema), before)
        return {"same_weights": as_flag(same), "no_shared_storage": as_flag(not shared),
                "independent": as_flag(independent), "frozen": as_flag(frozen),
                "original_trainable": as_flag(all(p.requires_grad for p in model.parameters()))}


def ref_ema_copy(model):
    ema = copy.deepcopy(model)
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


# --------------------------------------------------------------------------- lab 09 stretch: dead units

class DeadBlock(nn.Module):
    """A nested block: Linear -> LeakyReLU -> Dropout (the leaky layer hides one level down)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc, self.act, self.drop = nn.Linear(8, 6), nn.LeakyReLU(0.1), nn.Dropout(0.5)

    def forward(self, h):
        return self.drop(self.act(self.fc(h)))


class DeadMLP(nn.Module):
    """(B, 4) -> (B, 5) with batch norm, dropout, and dead units at every depth by construction."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.block = DeadBlock()
        self.out = nn.Linear(6, 5)
        self.act = nn.ReLU()
        with torch.no_grad():  # units that cannot fire in evaluation behaviour
            self.inp[1].running_mean[:3] = 6.0
            self.block.fc.bias[:2] = -20.0
            self.out.bias[0] = -20.0

    def forward(self, x):
        return self.act(self.out(self.block(self.inp(x))))


class DeadConv(nn.Module):
    """(B, C, H, W) -> (B, 3); the units of a convolution's activation are its channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(),
                                      nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.LeakyReLU(0.2)))
        self.head = nn.Linear(6, 3)
        with torch.no_grad():
            self.features[0].bias[0] = -30.0
            self.features[2][0].bias[1:4] = -30.0

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def dead_unit_names(model: nn.Module) -> list[str]:
    """The names of the model's ReLU and LeakyReLU modules, at any depth."""
    return [n for n, m in model.named_modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]


def dead_units(fn: Callable, args: list, ns: dict | None = None) -> Outputs:  # noqa: ARG001
    """``fn(model, x)`` once from training mode, once from eval mode: the fractions and every side effect.

    ``args``: ``[seed, kind, batch]``, ``kind`` "mlp", "conv1" or "conv3" (the input's channels).
    """
    seed, kind, n = int(args[0]), str(args[1]), int(args[2])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = DeadMLP() if kind == "mlp" else DeadConv(int(kind[-1]))
        x = torch.randn(n, 4) * 2 + 1 if kind == "mlp" else torch.randn(n, int(kind[-1]), 5, 7)
        x_before = x.clone()
        params = list(model.parameters())
        params[-1].requires_grad_(False)  # the caller froze a layer: it stays frozen
        flags = [p.requires_grad for p in params]
        for p in params[::2]:  # the caller's gradients, half of them set, must survive the call
            p.grad = torch.full_like(p, 0.5)
        caller_hook = model.register_forward_hook(lambda m, i, o: None)
        hooks = {k: (len(m._forward_hooks), len(m._forward_pre_hooks)) for k, m in model.named_modules()}
        buffers = {k: v.clone() for k, v in model.named_buffers()}
        model.train()
        got = fn(model, x)
        after_train = model.training
        model.eval()
        got_eval = fn(model, x)
        after_eval = model.training
        names = dead_unit_names(model)
        for res in (got, got_eval):
            if not isinstance(res, dict):
                raise TypeError(f"dead_units returned a {type(res).__name__}, expected a dict {{layer name: fraction}}")
        hooks_after = {k: (len(m._forward_hooks), len(m._forward_pre_hooks)) for k, m in model.named_modules()}
        kept = caller_hook.id in model._forward_hooks
        caller_hook.remove()

        def fractions(res: dict) -> Tensor:
            return torch.stack([as_float(res[k], f"the fraction of {k!r}") if k in res
                                else torch.tensor(-1.0, dtype=torch.float64) for k in names])

        grads_kept = all((p.grad is None) if i % 2 else (p.grad is not None and bool((p.grad == 0.5).all()))
                         for i, p in enumerate(params))
        return {"names": as_flag(set(got) == set(names)),
                "fractions": fractions(got),
                "fractions_from_eval": fractions(got_eval),
                "hooks_removed": as_flag(hooks_after == hooks and kept),
                "train_mode_restored": as_flag(after_train),
                "eval_mode_kept": as_flag(not after_eval),
                "requires_grad_restored": as_flag([p.requires_grad for p in params] == flags),
                "grads_untouched": as_flag(grads_kept),
                "bn_stats_untouched": as_flag(all(torch.equal(v, dict(model.named_buffers())[k])
                                                for k, v in buffers.items())),
                "x_unchanged": as_flag(torch.equal(x, x_before))}


SCENARIOS: dict[str, Callable[..., Outputs]] = {
    "gan_step": gan_step, "dcgan_generator": dcgan_generator, "dcgan_discriminator": dcgan_discriminator,
    "crnn": crnn, "row_rnn": row_rnn, "d_update": d_update, "predict": predict,
    "ema_copy": ema_copy, "dead_units": dead_units,
}

#: Scenarios that also receive the item's forbidden references (module classes detected by behaviour).
_WITH_FORBIDDEN = {"dcgan_generator", "dcgan_discriminator", "crnn"}


#: Scenarios seed and use torch's *global* RNG; the parent judges submissions from several
#: threads, so reference runs take turns (a race would give another dropout mask).
_LOCK = threading.Lock()


#: Scenarios of one lab kept in their own module (read lazily: it imports this one); never in the
#: lab's exercise module, which holds the references and is absent from the grading sandbox.
_LAB_SCENARIOS = {"autocast": "_scenarios07", "train_epoch": "_scenarios07", "save_checkpoint": "_scenarios07",
                  "load_checkpoint": "_scenarios07", "train_epoch_accumulate": "_scenarios07"}


def _lab_scenario(name: str) -> Callable[..., Outputs]:
    import importlib

    return importlib.import_module(f"genlab.exercises.{_LAB_SCENARIOS[name]}").SCENARIOS[name]


def run_scenario(name: str, fn: Callable, args: list, ns: dict | None, forbidden: list[str] = ()) -> Outputs:
    """Run scenario ``name`` on ``fn`` (a submission in the worker, a reference in the parent)."""
    scenario = SCENARIOS[name] if name in SCENARIOS else _lab_scenario(name)
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


# --------------------------------------------------------------------------- behaviour scenarios

def scenario_case(name: str, scenario: str, args: list, public: bool = True, seeded: bool = True) -> Case:
    """A case that runs :mod:`genlab.exercises.scenarios` ``scenario`` with plain JSON ``args``.

    For a held-back case whose scenario takes a seed first (``seeded``), that seed
    is drawn from the run's generator, so held-back setups change with ``--seed``.
    """
    a = list(args)  # a copy: the spec's list cannot change the case later

    def make(g: torch.Generator) -> Call:
        if seeded and not public:
            return Call([randint(g, 0, 2**20)] + list(a[1:]))
        return Call(list(a))

    return Case(name, make, public=public, driver="scenario", options={"scenario": scenario})


def scenario_check(scenario: str, reference: Callable[..., Any], messages: dict[str, str],
                   rtol: float = 1e-4, atol: float = 1e-6,
                   loose: Callable[[list], dict[str, float]] | None = None) -> CheckFn:
    """A check that runs the same scenario on ``reference`` in the parent and compares observations.

    The reference's observations are computed once per set of arguments and cached.
    ``loose(args)`` gives per-key absolute tolerances for a case (e.g. under autocast).
    """
    cache: dict[str, dict[str, torch.Tensor]] = {}

    def check(call: Call, outputs: dict[str, torch.Tensor], ref) -> str | None:  # noqa: ARG001
        key = repr(call.args)
        if key not in cache:
            cache[key] = run_scenario(scenario, reference, list(call.args), None)
        return compare_scenarios(outputs, cache[key], messages, rtol, atol, loose(list(call.args)) if loose else None)

    return check


def scenario_item(name: str, points: float, scenario: str, reference: Callable[..., Any], *,
                  public: list[list], held: list[list], expected: str, hint: str, messages: dict[str, str],
                  rtol: float = 1e-4, atol: float = 1e-6) -> Item:
    """An item judged by one behaviour scenario alone, against a reference kept in this module.

    ``public`` and ``held`` are the scenario's argument lists of the cases ``public-1``...
    and ``held-1``...; ``messages`` and the tolerances go to :func:`scenario_check`.
    """
    return Item(name=name, points=points, compare="custom",
                protected=(f"{__name__}.{reference.__name__}",),
                check=scenario_check(scenario, reference, messages, rtol=rtol, atol=atol),
                cases=[scenario_case(f"public-{i}", scenario, a) for i, a in enumerate(public, 1)]
                + [scenario_case(f"held-{i}", scenario, a, public=False) for i, a in enumerate(held, 1)],
                expected=expected, hint=hint)
