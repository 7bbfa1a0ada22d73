r"""``python -m bench`` (or ``make bench``): the course's results against classical baselines and plain PyTorch, in one run.

Every figure is a ratio or a difference measured side by side in the same
process (never an absolute time compared across runs):

==================  ===========================================================
benchmark           what it compares
==================  ===========================================================
``trainer``         ``genlab.train.fit`` vs a bare hand-written PyTorch loop (conv VAE, DCGAN):
                    time ratio (median of interleaved pairs) and the largest loss difference
``data_loading``    ``DataLoader`` settings (workers, pinned memory) vs in-memory
                    ``genlab.data.batches``: throughput ratio
``vae``             conv VAE and the 256-400-20 MLP VAE under one CPU-time budget: test
                    negative ELBO and IWAE (k = 64) in nats beside the Bernoulli entropy floor
``gan``             DCGAN and the MLP GAN under one budget: classifier Frechet distance
                    divided by the real-train vs real-test distance, class coverage, sample grids
``restoration``     hole PSNR/SSIM of mean fill, biharmonic and three learned repairers (same
                    epochs each, CPU time reported) on held-out digits (three mask kinds) and
                    held-out photo patches
``photos``          the shipped photo repairer (and its 8-turn average) vs biharmonic on held-out
                    photo patches at 32 and 64 px, five mask kinds
``course``          wall time of every notebook in ``course/`` and ``solutions/`` in fast mode
``grading``         ``genlab grade`` over generated lab-02 submissions with 2 workers
==================  ===========================================================

The VAE and GAN training budgets are **CPU seconds of this process** (``time.process_time``), not
wall seconds: on a shared machine the wall clock measures the neighbours' load,
while CPU time with one thread is what the same run takes on an idle machine.
The default is one intra-op thread (``--threads 1``): these models are small, a
second thread gains little and, on an oversubscribed machine, costs a lot.

Usage, from the root of a checkout (the benchmarks are not part of the installed package)::

    python -m bench                        # everything, full budgets (about 25 CPU minutes)
    python -m bench --quick --json q.json  # small budgets, under 3 minutes on 2 idle cores
    python -m bench --only vae gan         # some benchmarks
    python -m bench --merge a.json b.json --json all.json   # one table from separate --only runs
    make bench BENCH_ARGS="--quick"        # the same through make
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as _dt
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BENCHMARKS", "Settings", "add_arguments", "format_table", "machine_info", "merge_reports", "run",
           "run_benchmarks"]

REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------------------------
# Settings and figures
# ----------------------------------------------------------------------------------------------
@dataclass
class Settings:
    """Budgets and sizes of one run (``quick`` picks the small ones).

    Attributes:
        quick: small budgets (a smoke run; figures are indicative only).
        out: folder for the sample grids and other pictures.
        vae_budget, gan_budget: CPU seconds of training per model.
        repair_epochs, photo_epochs: epochs per repairer on digits and on photo patches (the
            course's recipe, ``genlab.restoration.train_repairer``; equal epochs, CPU time reported).
        repair_limit: training images per repairer (``None`` = all).
        fill_limit: the ``photos`` benchmark: a cap on its test patches (``None`` = all 300).
        repair_seeds: seeds of the CRNN-vs-conv comparison (its gain is about the size of the
            seed-to-seed spread, so one run cannot settle it).
        trainer_epochs, trainer_repeats: size of each timed run and number of interleaved pairs.
        grading_n: number of generated submissions.
        notebooks: ``None`` = every notebook of course/ and solutions/; else these paths.
        seed: seed of every model and data order.
    """

    quick: bool = False
    out: Path = field(default_factory=lambda: Path("bench_out"))
    vae_budget: float = 120.0
    gan_budget: float = 120.0
    repair_epochs: int = 60
    photo_epochs: int = 10
    fill_limit: int | None = None
    repair_limit: int | None = None
    repair_seeds: int = 2
    trainer_epochs: int = 4
    trainer_repeats: int = 11
    trainer_limit: int | None = None
    loader_epochs: int = 5
    loader_repeats: int = 5
    grading_n: int = 200
    notebooks: list[Path] | None = None
    seed: int = 0

    @classmethod
    def make(cls, quick: bool, out: Path) -> Settings:
        if not quick:
            return cls(quick=False, out=out)
        return cls(quick=True, out=out, vae_budget=6.0, gan_budget=6.0, repair_epochs=1, photo_epochs=1,
                   fill_limit=64,
                   repair_limit=256, repair_seeds=1,
                   trainer_epochs=1, trainer_repeats=2, trainer_limit=256, loader_epochs=1, loader_repeats=2,
                   grading_n=6, notebooks=[REPO / "course" / "00_setup.ipynb"])


def _fig(name: str, value: float | int | None, unit: str = "", target: str | None = None,
         ok: bool | None = None, note: str = "") -> dict[str, Any]:
    """One row of the table: a figure, its unit, its target (if any) and whether it was reached."""
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    if ok is None and target is not None:
        ok = False if value is None else None
    status = "-" if target is None else ("ok" if ok else "MISSED")
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": ok, "status": status,
            "note": note}


def _target(value: float | None, op: str, bound: float) -> bool:
    if value is None or not math.isfinite(value):
        return False
    return value <= bound if op == "<=" else value >= bound


def _budget_fig(name: str, value: float, unit: str, op: str, bound: float, note: str = "") -> dict[str, Any]:
    fmt = f"{op} {bound:g}" + (f" {unit}" if unit else "")
    return _fig(name, value, unit, fmt, _target(value, op, bound), note)


class _CPUBudget:
    """A ``fit`` callback that stops training once this process has used ``seconds`` of CPU time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.start = time.process_time()
        self.steps = 0

    def used(self) -> float:
        return time.process_time() - self.start

    def on_step(self, ctx: Any) -> None:
        self.steps += 1
        if self.used() >= self.seconds:
            ctx.stop = True


def _train_budget(task: Any, data: Any, seconds: float, seed: int, batch_size: int = 64) -> dict[str, Any]:
    """Train ``task`` with ``genlab.train.fit`` until ``seconds`` of CPU time are spent."""
    from genlab.train import fit

    budget = _CPUBudget(seconds)
    t0 = time.perf_counter()
    hist = fit(task, data, 10**6, batch_size=batch_size, device="cpu", progress=False, seed=seed,
               callbacks=[budget])
    return {"cpu_s": round(budget.used(), 2), "wall_s": round(time.perf_counter() - t0, 2), "steps": budget.steps,
            "epochs": len(hist.epochs.get("epoch", []))}


def _load(name: str, split: str, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    from genlab.data import load

    return load(name, split, size=size)


# ----------------------------------------------------------------------------------------------
# Trainer overhead: fit vs a bare loop
# ----------------------------------------------------------------------------------------------
def _bare_vae(model: nn.Module, x: torch.Tensor, epochs: int, seed: int, batch_size: int, lr: float
              ) -> list[float]:
    """A plain PyTorch VAE loop with the same seeds, order and maths as ``fit(VAETask(...))``."""
    from genlab.losses import kl_divergence

    torch.manual_seed(seed)  # reparameterisation noise comes from the global generator
    order_gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=order_gen)
        for i in range(0, len(x), batch_size):
            xb = x[order[i:i + batch_size]]
            x_logits, mu, logvar = model(xb)
            rec = F.binary_cross_entropy_with_logits(x_logits, xb, reduction="none").reshape(len(xb), -1).sum(1)
            kl = kl_divergence(mu, logvar)  # the one Gaussian KL of genlab
            loss = (rec + kl).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
    return torch.stack(losses).tolist()


def _bare_gan(pair: nn.Module, x: torch.Tensor, epochs: int, seed: int, batch_size: int, lr: float
              ) -> list[float]:
    """A plain PyTorch GAN loop (D step, then non-saturating G step) with ``fit(GANTask(...))``'s seeds."""
    torch.manual_seed(seed)
    order_gen = torch.Generator().manual_seed(seed)
    z_gen = torch.Generator().manual_seed(seed + 1)  # fit seeds the task's generator with seed + 1
    g, d = pair.generator, pair.discriminator
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
    g.train()
    d.train()
    z_dim = pair.config.z_dim
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=order_gen)
        for i in range(0, len(x), batch_size):
            xb = x[order[i:i + batch_size]]
            z = torch.randn(len(xb), z_dim, generator=z_gen)
            x_fake = g(z)
            loss_d = F.softplus(-d(xb)).mean() + F.softplus(d(x_fake.detach())).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = F.softplus(-d(x_fake)).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            losses.append((loss_d + loss_g).detach())
    return torch.stack(losses).tolist()


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``fn``; return its result, wall seconds and CPU seconds of this process."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def bench_trainer(s: Settings) -> dict[str, Any]:
    """``genlab.train.fit`` vs a bare loop: same model, data, seed and steps; interleaved repeats."""
    from genlab.models import build
    from genlab.train import GANTask, VAETask, fit

    x, _ = _load("digits", "train")
    if s.trainer_limit:
        x = x[:s.trainer_limit]
    figures, details = [], {}
    cases = {
        "conv VAE": (lambda: build("conv_vae"), lambda m: VAETask(m, lr=1e-3), _bare_vae, 1e-3),
        "DCGAN": (lambda: build("dcgan"), lambda m: GANTask(m, lr=2e-4), _bare_gan, 2e-4),
    }
    for name, (make, make_task, bare, lr) in cases.items():
        torch.manual_seed(s.seed)
        init = make()
        wall_ratios, cpu_ratios, max_diff = [], [], 0.0
        walls: dict[str, list[float]] = {"fit": [], "bare": []}
        cpus: dict[str, list[float]] = {"fit": [], "bare": []}
        steps = 0

        def run_fit(make_task=make_task, init=init) -> list[float]:
            task = make_task(copy.deepcopy(init))
            hist = fit(task, x, s.trainer_epochs, batch_size=64, device="cpu", progress=False, seed=s.seed)
            return hist.steps["loss"]

        def run_bare(bare=bare, init=init, lr=lr) -> list[float]:
            return bare(copy.deepcopy(init), x, s.trainer_epochs, s.seed, 64, lr)

        run_fit()  # warm-up, untimed: first calls pay for lazy initialisation on both sides
        run_bare()
        for r in range(s.trainer_repeats):
            # Alternate which one goes first: drifting load then hits both sides equally.
            order = [("fit", run_fit), ("bare", run_bare)] if r % 2 == 0 else [("bare", run_bare), ("fit", run_fit)]
            res = {}
            for key, fn in order:
                res[key], w, c = _timed(fn)
                walls[key].append(w)
                cpus[key].append(c)
            steps = len(res["bare"])
            if len(res["fit"]) != len(res["bare"]):
                max_diff = math.inf
            else:
                max_diff = max(max_diff, max(abs(a - b) for a, b in zip(res["fit"], res["bare"], strict=True)))
            wall_ratios.append(walls["fit"][-1] / walls["bare"][-1])
            cpu_ratios.append(cpus["fit"][-1] / cpus["bare"][-1])
        cpu_ratio = statistics.median(cpu_ratios)
        wall_ratio = statistics.median(wall_ratios)
        figures.append(_budget_fig(f"{name}: fit / bare loop, CPU time", round(cpu_ratio, 3), "x", "<=", 1.05,
                                   note=f"median of {s.trainer_repeats} interleaved pairs, {steps} steps each"))
        figures.append(_fig(f"{name}: fit / bare loop, wall time", round(wall_ratio, 3), "x",
                            note="load-sensitive on a shared machine"))
        figures.append(_fig(f"{name}: max abs(loss fit - loss bare)", None if math.isinf(max_diff) else max_diff, "",
                            "== 0 (identical)", max_diff == 0.0))
        details[name] = {"steps": steps, "repeats": s.trainer_repeats, "wall_s": walls, "cpu_s": cpus,
                         "wall_ratios": wall_ratios, "cpu_ratios": cpu_ratios, "max_abs_loss_diff": max_diff}
    return {"figures": figures, "details": details}


# ----------------------------------------------------------------------------------------------
# Data loading
# ----------------------------------------------------------------------------------------------
def bench_data_loading(s: Settings) -> dict[str, Any]:
    """Images per second of DataLoader settings vs in-memory batches over the same tensors."""
    from torch.utils.data import DataLoader, TensorDataset

    from genlab.data import batches

    x, y = _load("digits", "train")
    x, y = x.repeat(4, 1, 1, 1), y.repeat(4)  # ~5.8k items: several batches per worker start
    bs = 64
    cuda = torch.cuda.is_available()

    def consume(it: Any) -> int:
        n = 0
        for xb, _yb in it:
            n += len(xb)
        return n

    def in_memory() -> int:
        b = batches(x, y, bs, shuffle=True, generator=torch.Generator().manual_seed(0))
        return sum(consume(b) for _ in range(s.loader_epochs))

    def loader(workers: int, pin: bool) -> Callable[[], int]:
        def go() -> int:
            with warnings_quiet():
                dl = DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True, num_workers=workers,
                                pin_memory=pin, persistent_workers=workers > 0,
                                generator=torch.Generator().manual_seed(0))
                return sum(consume(dl) for _ in range(s.loader_epochs))
        return go

    settings = {"genlab.data.batches (in memory)": in_memory,
                "DataLoader workers=0": loader(0, False),
                "DataLoader workers=0, pin_memory": loader(0, True),
                "DataLoader workers=2": loader(2, False),
                "DataLoader workers=2, pin_memory": loader(2, True)}
    rates: dict[str, list[float]] = {k: [] for k in settings}
    for r in range(s.loader_repeats):
        names = list(settings) if r % 2 == 0 else list(reversed(settings))
        for name in names:
            n, wall, _ = _timed(settings[name])
            rates[name].append(n / wall)
    base = statistics.median(rates["genlab.data.batches (in memory)"])
    figures = [_fig("in-memory batches", round(base), "images/s", note="the reference of the ratios below")]
    for name in list(settings)[1:]:
        ratio = statistics.median(rates[name]) / base
        note = "pinning needs CUDA; here it is ignored" if ("pin" in name and not cuda) else ""
        figures.append(_fig(f"{name} / in-memory", round(ratio, 3), "x", note=note))
    best = max(settings, key=lambda k: statistics.median(rates[k]))
    figures.append(_fig("fastest on this CPU", None, note=best))
    return {"figures": figures,
            "details": {"images_per_s": rates, "epochs": s.loader_epochs, "items": len(x), "batch_size": bs,
                        "fastest": best, "cuda": cuda}}


@contextlib.contextmanager
def warnings_quiet() -> Iterator[None]:
    """Silence the 'pin_memory without an accelerator' warning inside the loader benchmark."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ----------------------------------------------------------------------------------------------
# VAE
# ----------------------------------------------------------------------------------------------
def bernoulli_entropy_floor(x: torch.Tensor) -> float:
    r"""Mean over images of :math:`\sum_i H(x_i)`, :math:`H(p) = -p\log p - (1-p)\log(1-p)`, in nats.

    With a Bernoulli likelihood on continuous pixels, :math:`-\log p(x\mid z) = \sum_i
    \mathrm{BCE}(l_i, x_i) \ge \sum_i H(x_i)` (equality at :math:`\sigma(l_i) = x_i`), so no
    decoder, and hence no ELBO, goes below this floor.
    """
    p = x.double().clamp(1e-12, 1 - 1e-12)
    h = -(p * p.log() + (1 - p) * (-p).log1p())
    h = torch.where((x > 0) & (x < 1), h, torch.zeros_like(h))  # 0 log 0 = 0
    return float(h.reshape(len(x), -1).sum(1).mean())


@torch.no_grad()
def _test_nelbo(model: nn.Module, x: torch.Tensor, seed: int) -> float:
    from genlab.losses import negative_elbo

    model.eval()
    g = torch.Generator().manual_seed(seed)
    x_logits, mu, logvar = model(x, generator=g)
    return float(negative_elbo(x, x_logits, mu, logvar).mean())


def bench_vae(s: Settings) -> dict[str, Any]:
    """Conv VAE and the MLP VAE under the same CPU budget: test -ELBO and IWAE (k=64) vs the floor."""
    from genlab.metrics import iwae_bound
    from genlab.models import build
    from genlab.train import VAETask

    x, _ = _load("digits", "train")
    xt, _ = _load("digits", "test")
    floor = bernoulli_entropy_floor(xt)
    figures = [_fig("entropy floor of the test set", round(floor, 2), "nats",
                    note="sum over pixels of the Bernoulli entropy H(x); no -ELBO goes below it")]
    details: dict[str, Any] = {"floor_nats": floor, "budget_cpu_s": s.vae_budget, "n_test": len(xt)}
    results = {}
    for name, make in (("conv VAE", lambda: build("conv_vae")),
                       ("MLP VAE 256-400-20", lambda: build("mlp_vae", hidden=400, latent_dim=20))):
        torch.manual_seed(s.seed)
        model = make()
        train = _train_budget(VAETask(model, lr=1e-3), x, s.vae_budget, s.seed)
        nelbo = _test_nelbo(model, xt, s.seed)
        nll = -float(iwae_bound(model, xt, k=64, batch_size=4096, generator=torch.Generator().manual_seed(s.seed))
                     .mean())
        results[name] = nelbo
        details[name] = {"test_neg_elbo": nelbo, "test_iwae64_nll_bound": nll, "train": train}
        budget = f"{train['cpu_s']:.0f} CPU s, {train['epochs']} epochs"
        if name == "conv VAE":
            figures.append(_budget_fig(f"{name}: test -ELBO", round(nelbo, 2), "nats", "<=", 97.0, note=budget))
        else:
            figures.append(_fig(f"{name}: test -ELBO", round(nelbo, 2), "nats", note=budget))
        figures.append(_fig(f"{name}: test -IWAE (k=64)", round(nll, 2), "nats", note="-L_64 on gray pixels: an objective, not a bound on -log p(x) (the Bernoulli on gray pixels is not normalised)"))
        figures.append(_fig(f"{name}: -ELBO minus floor", round(nelbo - floor, 2), "nats"))
    figures.append(_fig("conv minus MLP test -ELBO", round(results["conv VAE"] - results["MLP VAE 256-400-20"], 2),
                        "nats", note="negative: the conv VAE is better"))
    return {"figures": figures, "details": details}


# ----------------------------------------------------------------------------------------------
# GAN
# ----------------------------------------------------------------------------------------------
def _classifier(s: Settings) -> tuple[nn.Module, str]:
    """The shipped digits classifier, or one trained here when the weights are missing."""
    try:
        from genlab.weights import load_pretrained

        return load_pretrained("classifier"), "shipped weights (genlab/weights/classifier.pt)"
    except Exception as exc:  # missing or corrupt weights: train one so the benchmark still runs
        from genlab.models import build
        from genlab.train import ClassifierTask

        x, y = _load("digits", "train")
        torch.manual_seed(s.seed)
        clf = build("classifier")
        _train_budget(ClassifierTask(clf, lr=2e-3), (x, y), 30.0 if not s.quick else 5.0, s.seed)
        return clf, f"trained in the benchmark ({type(exc).__name__}: {exc})"


def save_grid(x: torch.Tensor, path: Path, nrow: int = 10) -> Path:
    """Save images ``(N, C, H, W)`` in ``[0, 1]`` as one PNG grid (upscaled 3x so digits are visible)."""
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    big = F.interpolate(x.float().clamp(0, 1), scale_factor=3, mode="nearest")
    save_image(big, str(path), nrow=nrow, padding=2, pad_value=1.0)
    return path


def bench_gan(s: Settings) -> dict[str, Any]:
    """DCGAN and the MLP GAN under one budget: relative Frechet distance, class coverage, grids."""
    from genlab.metrics import class_coverage, classifier_frechet
    from genlab.models import build
    from genlab.train import GANTask

    x, _ = _load("digits", "train")
    xt, _ = _load("digits", "test")
    clf, clf_source = _classifier(s)
    ref = classifier_frechet(x, xt, clf)
    figures = [_fig("Frechet distance real-train vs real-test", round(ref, 3), "",
                    note=f"the unit of the ratios below; classifier: {clf_source.split(' (')[0]}")]
    details: dict[str, Any] = {"reference_fd": ref, "classifier": clf_source, "budget_cpu_s": s.gan_budget}
    for name, key in (("DCGAN", "dcgan"), ("MLP GAN", "gan")):
        torch.manual_seed(s.seed)
        pair = build(key)
        # one recipe for both: Adam 4e-4, betas (0.5, 0.999), D sees real and fake shifted by up to
        # 2 px (GANTask augment; without it D memorises the 1,438 digits: ratio 6.8 at this budget)
        train = _train_budget(GANTask(pair, lr=4e-4, augment=2), x, s.gan_budget, s.seed)
        g = pair.generator.eval()
        zg = torch.Generator().manual_seed(s.seed + 99)
        with torch.no_grad():
            # As many samples as test images: the same sample sizes as the reference distance.
            fake = g(torch.randn(len(xt), pair.config.z_dim, generator=zg)).clamp(0, 1)
            many = g(torch.randn(1000, pair.config.z_dim, generator=zg)).clamp(0, 1)
        fd = classifier_frechet(fake, x, clf)
        cov = class_coverage(many, clf)
        png = save_grid(fake[:100], s.out / f"bench_samples_{key}.png")
        ratio = fd / ref
        budget = f"{train['cpu_s']:.0f} CPU s, {train['epochs']} epochs"
        if key == "dcgan":
            figures.append(_budget_fig(f"{name}: FD / real FD", round(ratio, 2), "x", "<=", 3.0, note=budget))
            figures.append(_budget_fig(f"{name}: classes covered", cov["covered"], "of 10", ">=", 10))
        else:
            figures.append(_fig(f"{name}: FD / real FD", round(ratio, 2), "x", note=budget))
            figures.append(_fig(f"{name}: classes covered", cov["covered"], "of 10"))
        details[name] = {"fd": fd, "fd_ratio": ratio, "coverage": cov, "train": train, "samples_png": str(png)}
    return {"figures": figures, "details": details}


# ----------------------------------------------------------------------------------------------
# Restoration
# ----------------------------------------------------------------------------------------------
_REPAIRERS = (("MLP repairer", "mlp_repair"), ("conv repairer", "conv_repair"), ("CRNN", "crnn"))


def _train_repairers(x: torch.Tensor, epochs: int, seed: int, which: tuple[tuple[str, str], ...] = _REPAIRERS
                     ) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    """The repairers, each trained with the course's recipe for the same number of epochs."""
    from genlab.models import build
    from genlab.restoration import train_repairer

    side = x.shape[-1]
    models, info = {}, {}
    for name, key in which:
        torch.manual_seed(seed)
        model = build(key, image_size=side, channels=x.shape[1])
        cpu0, wall0 = time.process_time(), time.perf_counter()
        # the course's mask mix, Adam 2e-3 and the late learning-rate drop (x0.3 after 75 % of the epochs)
        train_repairer(model, x, epochs, lr=2e-3, seed=seed, device="cpu", progress=False)
        info[name] = {"epochs": epochs, "cpu_s": round(time.process_time() - cpu0, 2),
                      "wall_s": round(time.perf_counter() - wall0, 2),
                      "params": sum(p.numel() for p in model.parameters())}
        models[name] = model.eval()
    return models, info


def bench_restoration(s: Settings) -> dict[str, Any]:
    """Hole PSNR/SSIM of baselines and learned repairers on held-out digits and photo patches."""
    from genlab.restoration import evaluate_repairers

    figures: list[dict[str, Any]] = []
    details: dict[str, Any] = {"epochs": s.repair_epochs, "photo_epochs": s.photo_epochs}
    x, _ = _load("digits", "train")
    xt, _ = _load("digits", "test")
    if s.repair_limit:
        x = x[:s.repair_limit]
    models, info = _train_repairers(x, s.repair_epochs, s.seed)
    shipped = {}
    try:
        from genlab.weights import load_pretrained

        shipped["conv repairer (shipped weights)"] = load_pretrained("conv_repair")
        shipped["CRNN (shipped weights)"] = load_pretrained("crnn")
    except Exception as exc:  # the shipped weights are optional here
        details["shipped_error"] = f"{type(exc).__name__}: {exc}"
    table = evaluate_repairers({**models, **shipped}, xt)
    details["digits"] = {**table.to_dict(), "train": info, "markdown": table.to_markdown()}
    learned = [name for name, _ in _REPAIRERS]
    masks = table.masks
    block, band, rows = masks[0], masks[1], masks[2]
    for mask, op, bound in ((block, ">=", 8.0), (band, ">=", 5.0), (rows, ">=", 0.0)):
        best = max(learned, key=lambda m, mask=mask: table.psnr[m][mask])
        gain = table.psnr[best][mask] - table.psnr["biharmonic"][mask]
        figures.append(_budget_fig(f"digits {mask}: best learned - biharmonic", round(gain, 2), "dB", op, bound,
                                   note=f"best: {best}"))
    # CRNN vs conv on the band, over several seeds (seed s.seed is the run above)
    gains = [table.psnr["CRNN"][band] - table.psnr["conv repairer"][band]]
    pair = tuple(r for r in _REPAIRERS if r[0] in ("conv repairer", "CRNN"))
    for k in range(1, s.repair_seeds):
        more, _ = _train_repairers(x, s.repair_epochs, s.seed + k, pair)
        t = evaluate_repairers(more, xt, [band])
        gains.append(t.psnr["CRNN"][band] - t.psnr["conv repairer"][band])
    details["crnn_minus_conv_band_per_seed"] = gains
    sizes = f"{info['CRNN']['params'] / 1e3:.0f}k vs {info['conv repairer']['params'] / 1e3:.0f}k parameters"
    per_seed = ", ".join(f"{g:+.2f}" for g in gains)
    figures.append(_budget_fig(f"digits {band}: CRNN - conv repairer (seed mean)",
                               round(statistics.fmean(gains), 2), "dB", ">=", 0.0,
                               note=f"{len(gains)} seeds: {per_seed}; same {s.repair_epochs} epochs; {sizes}"))
    cost = info["CRNN"]["cpu_s"] / max(info["conv repairer"]["cpu_s"], 1e-9)
    figures.append(_fig("CRNN / conv repairer, CPU time of training", round(cost, 2), "x",
                        note="the price of the sequential sweeps"))
    for method in table.methods:
        cells = ", ".join(f"{m} {table.psnr[method][m]:.1f}/{table.ssim[method][m]:.2f}" for m in masks)
        figures.append(_fig(f"digits {method}", None, "", note=f"PSNR dB/SSIM: {cells}"))
    # Held-out photo patches (test photos are other pictures than the training ones).
    px, _ = _load("photos", "train", size=16)
    pxt, _ = _load("photos", "test", size=16)
    if s.repair_limit:
        px = px[:s.repair_limit]
    pmodels, pinfo = _train_repairers(px, s.photo_epochs, s.seed)
    ptable = evaluate_repairers(pmodels, pxt)
    details["photos"] = {**ptable.to_dict(), "train": pinfo, "markdown": ptable.to_markdown()}
    for mask in ptable.masks:
        best = max(learned, key=lambda m, mask=mask: ptable.psnr[m][mask])
        gain = ptable.psnr[best][mask] - ptable.psnr["biharmonic"][mask]
        figures.append(_fig(f"photos {mask}: best learned - biharmonic", round(gain, 2), "dB", note=f"best: {best}"))
    for method in ptable.methods:
        cells = ", ".join(f"{m} {ptable.psnr[method][m]:.1f}/{ptable.ssim[method][m]:.2f}" for m in ptable.masks)
        figures.append(_fig(f"photos {method}", None, "", note=f"PSNR dB/SSIM: {cells}"))
    details["models"] = ("MLP repairer, conv repairer and CRNN trained here for the same number of epochs "
                         "(genlab.restoration.train_repairer); the shipped conv repairer and CRNN are extra rows")
    return {"figures": figures, "details": details}


# ----------------------------------------------------------------------------------------------
# Natural images: the residual-on-biharmonic repairer
# ----------------------------------------------------------------------------------------------
#: Evaluation masks of the photo benchmark, the same pixel sizes at 32 and 64 px (at 64 px the
#: hole is the same, with more context around it); a stroke walk's length scales with the patch.
PHOTO_MASKS: dict[str, tuple[str, dict[str, int]]] = {
    "centre 16x16": ("center", {"hole": 16}),
    "5-row band": ("rows", {"rows": 5}),
    "10-row band": ("rows", {"rows": 10}),
    "6 scattered rows": ("scattered_rows", {"rows": 6}),
    "3 strokes": ("strokes", {"strokes": 3, "width": 3}),
}
def bench_photos(s: Settings) -> dict[str, Any]:
    """Hole PSNR/SSIM on held-out photo patches at 32 and 64 px: the shipped photo repairer vs biharmonic.

    The model is ``load_pretrained("photo_repair")`` (``genlab train --preset photo_repair``,
    trained on 32 px patches of the training photos only); fully convolutional, it runs
    unchanged on the 64 px patches. Baselines and model are scored here, in one process, on
    the same seeded masks.
    """
    from genlab.restoration import SelfEnsemble, evaluate_repairers
    from genlab.weights import load_pretrained, manifest

    entry = manifest()["photo_repair"]
    model = load_pretrained("photo_repair").eval()
    learned = {"photo repairer": model, "photo repairer, 8-turn average": SelfEnsemble(model)}
    figures: list[dict[str, Any]] = []
    details: dict[str, Any] = {"masks": {k: [v[0], v[1]] for k, v in PHOTO_MASKS.items()},
                               "weights": {k: entry[k] for k in ("sha256", "data", "training", "task", "config")}}
    for size in (32, 64):
        xt, _ = _load("photos", "test", size=size)
        if s.fill_limit:
            xt = xt[:s.fill_limit]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        table = evaluate_repairers(learned, xt, list(PHOTO_MASKS.values()))
        # evaluate_repairers names tuple kinds by their parameters; give them the readable names
        rename = dict(zip(table.masks, PHOTO_MASKS, strict=True))
        for d in (table.psnr, table.ssim):
            for method in d:
                d[method] = {rename[k]: v for k, v in d[method].items()}
        details[f"{size}px"] = {**table.to_dict(), "n_test": len(xt), "markdown": table.to_markdown(),
                                "eval_cpu_s": round(time.process_time() - cpu0, 2),
                                "eval_wall_s": round(time.perf_counter() - wall0, 2)}
        for mask in PHOTO_MASKS:
            name = max(learned, key=lambda n: table.psnr[n][mask])
            gain = table.psnr[name][mask] - table.psnr["biharmonic"][mask]
            ssim = f"SSIM {table.ssim[name][mask]:.3f} vs biharmonic {table.ssim['biharmonic'][mask]:.3f}"
            figures.append(_budget_fig(f"photos {size}px {mask}: best learned - biharmonic", round(gain, 2),
                                       "dB", ">=", 1.0, note=f"best: {name}; {ssim}"))
            figures.append(_fig(f"photos {size}px {mask}: best learned - biharmonic, SSIM",
                                round(table.ssim[name][mask] - table.ssim["biharmonic"][mask], 4), "",
                                note="hole SSIM difference"))
        for method in table.methods:
            cells = ", ".join(f"{m} {table.psnr[method][m]:.2f}/{table.ssim[method][m]:.3f}" for m in PHOTO_MASKS)
            figures.append(_fig(f"photos {size}px {method}", None, "", note=f"PSNR dB/SSIM: {cells}"))
    training = entry["training"]
    figures.append(_fig("photos repairer, training", None, "",
                        note=f"genlab train --preset photo_repair: {training['epochs']} epochs of "
                             f"{entry['data']['pool']['patches']} 32 px patches, batch {training['batch_size']}, "
                             f"{sum(p.numel() for p in model.parameters()) / 1e3:.0f}k parameters"))
    return {"figures": figures, "details": details}


# ----------------------------------------------------------------------------------------------
# Course execution
# ----------------------------------------------------------------------------------------------
def _notebooks(s: Settings) -> list[Path]:
    if s.notebooks is not None:
        return [p for p in s.notebooks if p.is_file()]
    return sorted((REPO / "course").glob("*.ipynb")) + sorted((REPO / "solutions").glob("*.ipynb"))


def bench_course(s: Settings) -> dict[str, Any]:
    """Execute every notebook in fast mode with nbclient; wall time each and their sum."""
    import nbformat
    from nbclient import NotebookClient

    env_before = {k: os.environ.get(k) for k in ("GENLAB_FAST", "MPLBACKEND")}
    os.environ["GENLAB_FAST"] = "1"  # the kernel inherits this process's environment
    os.environ["MPLBACKEND"] = "Agg"
    rows, figures = {}, []
    total_wall = total_cpu = 0.0
    failures = 0
    try:
        for path in _notebooks(s):
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                    resources={"metadata": {"path": str(path.parent)}})
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            status = "ok"
            try:
                client.execute()
            except Exception as exc:  # a failing notebook is a result, not a crash of the benchmark
                status = f"error: {type(exc).__name__}: {str(exc).strip().splitlines()[-1][:200] if str(exc) else ''}"
                failures += 1
            wall = time.perf_counter() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
            rel = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
            rows[rel] = {"wall_s": round(wall, 2), "kernel_cpu_s": round(cpu, 2), "status": status}
            total_wall += wall
            total_cpu += cpu
            figures.append(_fig(rel, round(wall, 1), "s", note=f"kernel CPU {cpu:.1f} s; {status}"))
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    n = len(rows)
    scope = "quick: only " + ", ".join(rows) if s.quick else f"all {n} notebooks"
    figures.insert(0, _budget_fig("all notebooks, fast mode, total wall", round(total_wall, 1), "s", "<=", 300.0,
                                  note=f"{scope}; wall time is load-sensitive"))
    figures.insert(1, _fig("all notebooks, kernel CPU time", round(total_cpu, 1), "s",
                           note="CPU seconds of the kernels: about the idle wall time"))
    figures.insert(2, _fig("notebooks failing", failures, f"of {n}", "== 0", failures == 0))
    return {"figures": figures, "details": {"notebooks": rows, "total_wall_s": total_wall,
                                            "total_kernel_cpu_s": total_cpu, "quick": s.quick}}


# ----------------------------------------------------------------------------------------------
# Grading scale
# ----------------------------------------------------------------------------------------------
GRADING_SCENARIOS = (("handed-in", "challenge files handed in"), ("cell", "every challenge cell run by the grader"))


def bench_grading(s: Settings) -> dict[str, Any]:
    """Grade generated lab-02 submissions with 2 workers (``bench.grading``), in two scenarios.

    ``handed-in``: every submission comes with its challenge file beside the notebook (how the
    lab asks for it), the target scenario. ``cell``: no file, so the grader runs every
    submission's challenge cell in the sandbox (a fast-mode training run each), the costliest case.
    """
    from .grading import run_bench

    details = {mode: run_bench(n=s.grading_n, workers=2, challenge=mode) for mode, _ in GRADING_SCENARIOS}
    return {"figures": grading_figures(details), "details": details}


def grading_figures(details: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The grading table from :func:`bench.grading.run_bench` results keyed by scenario.

    A scenario run with fewer than 200 submissions is extrapolated to 200 (and says so).
    """
    figures = []
    for mode, label in GRADING_SCENARIOS:
        res = details.get(mode)
        if res is None:
            continue
        per = res["seconds"] / max(1, res["n"])
        if res["n"] >= 200:
            name, value, note = f"{res['n']} lab-02 submissions, 2 workers, {label}, wall", res["seconds"], \
                "load-sensitive on a shared machine"
        else:
            name, value, note = f"200 lab-02 submissions, 2 workers, {label}, wall (EXTRAPOLATED)", \
                round(per * 200, 1), f"extrapolated from {res['n']} submissions ({res['seconds']} s)"
        if mode == "handed-in":
            figures.append(_budget_fig(name, value, "s", "<=", 600.0, note=note))
        else:
            figures.append(_fig(name, value, "s", note=note + "; bounded by --challenge-timeout (30 s CPU each)"))
        figures.append(_fig(f"  {label}: worker wall per submission", res["worker_mean_s"], "s",
                            note="one grading worker (start-up, cells, items, challenge cells)"))
        figures.append(_fig(f"  {label}: statuses", None, "", note=", ".join(f"{k}: {v}" for k, v in res["statuses"].items())
                            + f"; full marks {res['full_marks']} of {res['n']}; challenge points {res['challenge_points']:g} "
                            f"({res['lab']})"))
    return figures


# ----------------------------------------------------------------------------------------------
# Running, table, JSON
# ----------------------------------------------------------------------------------------------
BENCHMARKS: dict[str, tuple[Callable[[Settings], dict[str, Any]], str]] = {
    "trainer": (bench_trainer, "Trainer overhead: genlab fit vs a bare PyTorch loop"),
    "data_loading": (bench_data_loading, "Data loading: DataLoader settings vs in-memory batches (CPU)"),
    "vae": (bench_vae, "VAE on 16x16 digits: conv vs MLP under one budget"),
    "gan": (bench_gan, "GAN on 16x16 digits: DCGAN vs MLP GAN under one budget"),
    "restoration": (bench_restoration, "Restoration: hole PSNR/SSIM vs classical baselines"),
    "photos": (bench_photos, "Natural images: the shipped photo repairer vs biharmonic on held-out photo patches"),
    "course": (bench_course, "Course execution: every notebook in fast mode"),
    "grading": (bench_grading, "Grading scale: lab-02 submissions with 2 workers"),
}


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, load, torch version and threads: what the figures were measured on."""
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {"nproc": os.cpu_count(), "cpu": cpu, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version(), "platform": platform.platform(), "loadavg": load,
            "cuda": torch.cuda.is_available()}


def run_benchmarks(names: list[str], s: Settings, progress: bool = True) -> dict[str, Any]:
    """Run the named benchmarks in order; a benchmark that fails is recorded, the others still run.

    Returns:
        ``{"meta": {...}, "benchmarks": {name: {"title", "seconds", "figures", "details" | "error"}}}``.
    """
    from tqdm.auto import tqdm

    s.out.mkdir(parents=True, exist_ok=True)
    meta = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "quick": s.quick,
            "machine_start": machine_info(), "settings": {k: (str(v) if isinstance(v, Path) else v)
                                                          for k, v in vars(s).items() if k != "notebooks"}}
    results: dict[str, Any] = {}
    bar = tqdm(names, desc="genlab bench", unit="bench", disable=not progress, file=sys.stderr)
    for name in bar:
        bar.set_postfix_str(name)
        fn, title = BENCHMARKS[name]
        t0 = time.perf_counter()
        try:
            out = fn(s)
            results[name] = {"title": title, **out}
        except Exception as exc:  # record and go on: one broken piece must not hide the others
            import traceback

            results[name] = {"title": title, "error": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc(),
                             "figures": [_fig("benchmark failed", None, "", "runs", False, f"{type(exc).__name__}: {exc}")]}
        results[name]["seconds"] = round(time.perf_counter() - t0, 1)
    bar.close()
    meta["machine_end"] = machine_info()
    return {"meta": meta, "benchmarks": results}


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report from several ``--only`` runs (benchmarks in the canonical order; every run's meta kept).

    Each benchmark's figures still come from one process; only the table is assembled.
    """
    benchmarks: dict[str, Any] = {}
    for rep in reports:
        benchmarks.update(rep["benchmarks"])
    order = [n for n in BENCHMARKS if n in benchmarks] + [n for n in benchmarks if n not in BENCHMARKS]
    metas = [rep["meta"] for rep in reports]
    return {"meta": {**metas[0], "merged_from": metas}, "benchmarks": {n: benchmarks[n] for n in order}}


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-2 and v != 0 else f"{v:,.2f}".rstrip("0").rstrip(".")
    return str(v)


def format_table(report: dict[str, Any]) -> str:
    """The report as one Markdown table per benchmark (figure, value, target, status, note)."""
    lines = []
    for name, res in report["benchmarks"].items():
        lines += [f"### {res['title']} (`{name}`, {res.get('seconds', 0):.0f} s)", "",
                  "| figure | value | target | status | note |", "| --- | ---: | --- | --- | --- |"]
        for f in res["figures"]:
            value = _fmt(f["value"]) + (f" {f['unit']}" if f["unit"] and f["value"] is not None else "")
            lines.append(f"| {f['name']} | {value} | {f['target'] or ''} | {f['status']} | {f['note']} |")
        lines.append("")
    missed = [(n, f["name"]) for n, r in report["benchmarks"].items() for f in r["figures"] if f["status"] == "MISSED"]
    lines.append(f"Targets missed: {len(missed)}" + ("" if not missed else " - " + "; ".join(f"{n}: {m}"
                                                                                         for n, m in missed)))
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m bench``."""
    parser.add_argument("--quick", action="store_true", help="small budgets (under 3 minutes on 2 idle cores)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(BENCHMARKS),
                        help=f"run only these benchmarks ({', '.join(BENCHMARKS)})")
    parser.add_argument("--out", metavar="DIR", help="folder for sample grids (default: beside --json, "
                                                     "else ./bench_out)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: small models; robust on a loaded machine)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="run nothing: merge reports of separate --only runs into one (table and --json)")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``python -m bench``: run, print the table, write the JSON."""
    if getattr(args, "merge", None):
        report = merge_reports([json.loads(Path(p).read_text()) for p in args.merge])
        print(format_table(report))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
            print(f"\nwrote {args.json}")
        return 0
    names = list(args.only) if args.only else list(BENCHMARKS)
    out = Path(args.out) if args.out else (Path(args.json).resolve().parent / "bench_out" if args.json
                                           else Path("bench_out"))
    torch.set_num_threads(max(1, int(args.threads)))
    # Notebook kernels and grading workers are separate processes: give them the same thread count.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, int(args.threads))))
    s = Settings.make(bool(args.quick), out)
    report = run_benchmarks(names, s, progress=not args.no_progress)
    print(format_table(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return 1 if any("error" in r for r in report["benchmarks"].values()) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
