"""Challenges: one exercise per graded lab with a measurable target, scored from a saved model.

A challenge asks for a trained genlab model (one of the registry names of
:data:`genlab.models.MODELS` the challenge accepts) saved as ``challenge_NN.pt``
with :func:`save_challenge`. The file is plain data: ``{"format", "lab", "model",
"config", "state_dict"}``, the config being the model config's fields as numbers and
strings, so it loads with ``torch.load(..., weights_only=True)`` into
``genlab.models.build(model, **config)``.

The grader loads it in a sandboxed worker that runs no submitted code (see
:mod:`genlab.grading.challenges`), measures the metric on held-back data drawn from
the grading run's seed, and gives one point per threshold reached.
:func:`check_challenge` does the same in the student's process on public data.

How to add a lab's challenge: define ``CHALLENGE = Challenge(...)`` in
``labNN.py`` (before its entries) with a metric of :data:`METRICS` (or a new one there) and thresholds
measured on the solution's artefact (full marks) and on an untrained model (zero).
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["ARTEFACT_FORMAT", "MAX_ARTEFACT_BYTES", "METRICS", "Challenge", "ChallengeError",
           "artefact_name", "check_challenge", "draw_data", "evaluate_bytes", "find", "load_artefact",
           "save_challenge", "score"]

#: The ``format`` entry of a challenge file.
ARTEFACT_FORMAT = "genlab-challenge/1"
#: Largest challenge file the grader reads (a bigger one scores zero unread).
MAX_ARTEFACT_BYTES = 16 * 2**20
#: Seed of the public data :func:`check_challenge` uses (the grader draws from its run's seed).
PUBLIC_SEED = 20260


class ChallengeError(ValueError):
    """The challenge file is missing, malformed or does not fit the challenge (the message says how)."""


@dataclass(frozen=True)
class Challenge:
    """One lab's challenge: what to save, how it is measured, the thresholds.

    Attributes:
        lab: two-digit lab number, e.g. ``"02"``.
        cid: gradebook column, starting with ``c_`` (e.g. ``"c_elbo"``).
        title: one line saying what to build.
        models: registry names the file may name (``genlab.models.MODELS`` keys).
        fixed: config fields that must have these values (the data the metric uses).
        metric: a key of :data:`METRICS`.
        unit: what the metric's number is, for messages (``"nats per image"``).
        thresholds: one point for each reached; sorted from easiest to hardest.
        higher_is_better: direction of the metric.
        max_params: parameter budget (bounds the grading time).
        n: held-back examples (images, or points for the toy metric).
        options: metric settings (mask kinds, mixture...).
        fast_points: thresholds the solution's challenge cell reaches in fast mode (what
            ``genlab grade --self-check`` requires when it grades the file that cell writes
            inside the grader, always in fast mode); None: all of them.
    """

    lab: str
    cid: str
    title: str
    models: tuple[str, ...]
    metric: str
    unit: str
    thresholds: tuple[float, ...]
    higher_is_better: bool = False
    fixed: dict[str, Any] = field(default_factory=lambda: {"image_size": 16, "channels": 1})
    max_params: int = 2_000_000
    n: int = 256
    options: dict[str, Any] = field(default_factory=dict)
    fast_points: int | None = None

    @property
    def file(self) -> str:
        """The file name to save next to the notebook."""
        return artefact_name(self.lab)

    @property
    def points(self) -> float:
        """What the challenge is worth: one point per threshold."""
        return float(len(self.thresholds))

    def reached(self, value: float) -> int:
        """How many thresholds ``value`` reaches (a NaN reaches none)."""
        if not isinstance(value, (int, float)) or math.isnan(value):
            return 0
        if self.higher_is_better:
            return sum(value >= t for t in self.thresholds)
        return sum(value <= t for t in self.thresholds)

    def target_text(self) -> str:
        """The thresholds in words, e.g. ``"<= 90, <= 80, <= 70 nats per image"``."""
        op = ">=" if self.higher_is_better else "<="
        return ", ".join(f"{op} {t:g}" for t in self.thresholds) + f" {self.unit}"


def artefact_name(lab: str) -> str:
    """``"02"`` -> ``"challenge_02.pt"``."""
    return f"challenge_{_nn(lab)}.pt"


def _nn(lab: str | int) -> str:
    m = re.search(r"(\d+)", str(lab))
    if not m:
        raise ChallengeError(f"lab {lab!r} has no number: name it like '02' or '02_vae'.")
    return f"{int(m.group(1)):02d}"


def find(lab: str | int) -> Challenge | None:
    """The challenge of a lab (``CHALLENGE`` in its ``labNN.py``), or None."""
    try:
        module = importlib.import_module(f"genlab.exercises.lab{_nn(lab)}")
    except ImportError:
        return None
    ch = getattr(module, "CHALLENGE", None)
    return ch if isinstance(ch, Challenge) else None


# --------------------------------------------------------------------------- the file


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return False


def _registry_name(model: nn.Module, ch: Challenge) -> str:
    from ..models import MODELS

    name = getattr(model, "registry_name", None)
    if name in ch.models:
        return name
    for cand in ch.models:
        if type(model) is MODELS[cand][0]:
            return cand
    raise ChallengeError(f"the lab {ch.lab} challenge takes a model built by genlab.models.build with one of "
                         f"{', '.join(ch.models)}; got a {type(model).__name__}")


def _hidden(nn_: str) -> bool:
    """Whether lab ``nn_``'s module exists but refuses to import (the grading sandbox hides it)."""
    if not (Path(__file__).parent / f"lab{nn_}.py").is_file():
        return False
    try:
        importlib.import_module(f"genlab.exercises.lab{nn_}")
    except ImportError:
        return True
    return False


def _any_registry_name(model: nn.Module) -> str:
    from ..models import MODELS

    name = getattr(model, "registry_name", None)
    if name in MODELS:
        return name
    for cand, entry in MODELS.items():
        if type(model) is entry[0]:
            return cand
    raise ChallengeError(f"the challenge takes a model built by genlab.models.build; got a {type(model).__name__}")


def save_challenge(model: nn.Module, lab: str | int, folder: str | os.PathLike = ".") -> Path:
    """Save ``model`` as the lab's challenge file (``challenge_NN.pt`` in ``folder``) and return its path.

    The file holds the registry name, the config as plain data and the ``state_dict``
    on the CPU. It is written to a temporary file in the same folder and renamed, so a
    crash leaves the previous file whole.
    """
    nn_ = _nn(lab)
    ch = find(nn_)
    if ch is not None:
        name, file = _registry_name(model, ch), ch.file
    elif _hidden(nn_):
        # Inside the grading sandbox the lab module (and with it the challenge entry) is hidden
        # from submitted code; the measuring worker checks the model name against the entry.
        name, file = _any_registry_name(model), artefact_name(nn_)
    else:
        raise ChallengeError(f"lab {lab!r} has no challenge")
    cfg = getattr(model, "config", None)
    if not dataclasses.is_dataclass(cfg):
        raise ChallengeError(f"the model has no config dataclass at .config (build it with genlab.models.build({name!r}, ...))")
    config = dataclasses.asdict(cfg)
    bad = [k for k, v in config.items() if not _plain(v)]
    if bad:
        raise ChallengeError(f"config fields {bad} are not plain numbers or strings")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {"format": ARTEFACT_FORMAT, "lab": nn_, "model": name, "config": config, "state_dict": state}
    folder = Path(folder)
    dest = folder / file
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{file}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return dest


def load_artefact(ch: Challenge, data: bytes) -> nn.Module:
    """The model a challenge file describes, weights loaded, in eval mode on the CPU.

    Raises:
        ChallengeError: what is wrong, in words (too large, not a torch file, code in the
            pickle, wrong model or config, missing or unexpected keys, shapes, NaN weights).
    """
    from ..models import MODELS, ModelConfigError, build, count_parameters

    if len(data) > MAX_ARTEFACT_BYTES:
        raise ChallengeError(f"{ch.file} is {len(data) / 2**20:.1f} MiB, over the {MAX_ARTEFACT_BYTES // 2**20} MiB limit")
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure is the file's
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ChallengeError(f"{ch.file} could not be loaded with torch.load(weights_only=True): {first}. "
                             "Save it with genlab.save_challenge(model, lab), which stores plain data only") from None
    if not isinstance(obj, dict) or not {"model", "config", "state_dict"} <= set(obj):
        got = sorted(map(str, obj))[:8] if isinstance(obj, dict) else type(obj).__name__
        raise ChallengeError(f"{ch.file} must hold a dict with 'model', 'config' and 'state_dict' "
                             f"(genlab.save_challenge writes it); got {got}")
    name, config, state = obj["model"], obj["config"], obj["state_dict"]
    if name not in ch.models:
        raise ChallengeError(f"{ch.file} names the model {str(name)[:60]!r}; this challenge takes "
                             f"{', '.join(ch.models)}")
    if not isinstance(config, dict) or not all(isinstance(k, str) and _plain(v) for k, v in config.items()):
        raise ChallengeError(f"{ch.file}: 'config' must be a dict of plain values (the model config's fields)")
    for k, want in ch.fixed.items():
        if config.get(k, want) != want:
            raise ChallengeError(f"{ch.file}: the challenge data needs {k}={want!r}, the config has {config.get(k)!r}")
    fields = {f.name for f in dataclasses.fields(MODELS[name][1])}
    config = {k: v for k, v in config.items() if k in fields}
    try:
        with torch.device("meta"):  # size first: a huge config must not allocate
            probe = build(name, **config)
        n_params = count_parameters(probe)
    except (ModelConfigError, TypeError, ValueError, RuntimeError) as exc:
        raise ChallengeError(f"{ch.file}: genlab.models.build({name!r}, **config) failed: {str(exc)[:300]}") from None
    if n_params > ch.max_params:
        raise ChallengeError(f"{ch.file}: the model has {n_params:,} parameters, over this challenge's budget of "
                             f"{ch.max_params:,}")
    torch.manual_seed(0)
    model = build(name, **config)
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise ChallengeError(f"{ch.file}: 'state_dict' must map parameter names to tensors")
    want = model.state_dict()
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or extra:
        raise ChallengeError(f"{ch.file}: the state_dict does not fit {name} with this config: missing "
                             f"{missing[:5]}{' ...' if len(missing) > 5 else ''}, unexpected "
                             f"{extra[:5]}{' ...' if len(extra) > 5 else ''}")
    for k, v in want.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise ChallengeError(f"{ch.file}: {k} has shape {tuple(state[k].shape)}, the model wants {tuple(v.shape)}")
        if state[k].is_floating_point() and not bool(torch.isfinite(state[k]).all()):
            raise ChallengeError(f"{ch.file}: {k} holds NaN or infinite values")
    model.load_state_dict({k: state[k].to(want[k].dtype) for k in want}, strict=True)
    return model.eval()


# --------------------------------------------------------------------------- data


def _digits_test() -> tuple[torch.Tensor, torch.Tensor]:
    from ..data import load

    return load("digits", split="test", size=16)


def draw_data(ch: Challenge, g: torch.Generator) -> dict[str, torch.Tensor]:
    """The metric's inputs drawn from ``g``: a subset of the digits' test split, masks, a noise seed.

    The grader calls it in the parent with the student's seed; :func:`check_challenge`
    with :data:`PUBLIC_SEED`.
    """
    out = {"noise_seed": torch.randint(0, 2**31 - 1, (1,), generator=g)}
    if ch.metric == "toy_modes":
        return out
    x, y = _digits_test()
    idx = torch.randperm(len(x), generator=g)[: ch.n]
    out["x"], out["y"] = x[idx].contiguous(), y[idx].contiguous()
    kinds = ch.options.get("masks")
    if kinds:
        from .. import masks as M

        n, parts = len(idx), []
        for k, (kind, kw) in enumerate(kinds):
            size = n // len(kinds) + (1 if k < n % len(kinds) else 0)
            parts.append(M.make_mask(kind, size, 16, generator=g, **kw))
        out["mask"] = torch.cat(parts).float()
    return out


# --------------------------------------------------------------------------- metrics


def _recon_mse(model: nn.Module, d: dict, ch: Challenge) -> float:
    x = d["x"]
    return float(torch.sigmoid(model(x)).sub(x).pow(2).mean())


def _neg_elbo(model: nn.Module, d: dict, ch: Challenge) -> float:
    import torch.nn.functional as F

    x = d["x"]
    g = torch.Generator().manual_seed(int(d["noise_seed"]))
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)
    rec = F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
    return float((rec + kl).mean())


def _toy_modes(model: nn.Module, d: dict, ch: Challenge) -> float:
    from ..toy import GaussianMixture2D, mode_coverage

    ring = GaussianMixture2D.ring(n_modes=8, radius=2.0, std=0.05)
    g = torch.Generator().manual_seed(int(d["noise_seed"]))
    pts = model.sample(ch.n, generator=g)
    if not bool(torch.isfinite(pts).all()):
        return 0.0
    # a mode counts when it holds a fair share of the samples (4 %, a third of the 12.5 % it should)
    cov = mode_coverage(pts, ring.centers, ring.std, min_count=max(1, round(0.04 * ch.n)))
    return float(cov["covered"])


def _gen_fd(model: nn.Module, d: dict, ch: Challenge) -> float:
    from ..metrics import classifier_frechet

    gen = model.generator
    g = torch.Generator().manual_seed(int(d["noise_seed"]))
    z = torch.randn(ch.options.get("samples", 512), model.config.z_dim, generator=g)
    fake = gen(z).clamp(0, 1)
    if not bool(torch.isfinite(fake).all()):
        return float("inf")
    return float(classifier_frechet(fake, d["x"]))


def _hole_psnr(model: nn.Module, d: dict, ch: Challenge) -> float:
    from ..masks import apply_mask
    from ..metrics import masked_psnr

    x, mask = d["x"], d["mask"]
    out = model(apply_mask(x, mask), mask).clamp(0, 1)
    psnr = masked_psnr(out, x, mask).clamp(max=60.0)
    mine = float(torch.nanmean(psnr))
    if ch.options.get("over") == "biharmonic":
        from ..baselines import biharmonic

        base = masked_psnr(biharmonic(apply_mask(x, mask), mask), x, mask).clamp(max=60.0)
        return mine - float(torch.nanmean(base))
    return mine


def _accuracy(model: nn.Module, d: dict, ch: Challenge) -> float:
    return float((model(d["x"]).argmax(1) == d["y"]).float().mean())


#: metric name -> ``f(model, data, challenge) -> float``
METRICS: dict[str, Callable[[nn.Module, dict, Challenge], float]] = {
    "recon_mse": _recon_mse, "neg_elbo": _neg_elbo, "toy_modes": _toy_modes, "gen_fd": _gen_fd,
    "hole_psnr": _hole_psnr, "accuracy": _accuracy,
}


def measure(ch: Challenge, model: nn.Module, data: dict[str, torch.Tensor]) -> float:
    """The challenge's metric of a loaded model on ``data`` (no gradients, one thread is enough)."""
    with torch.no_grad():
        value = METRICS[ch.metric](model, data, ch)
    if math.isnan(value):
        return float("inf") if not ch.higher_is_better else float("-inf")
    return value


def evaluate_bytes(ch: Challenge, data: bytes, inputs: dict[str, torch.Tensor]) -> float:
    """Load a challenge file's bytes and measure it (what the grading worker runs)."""
    return measure(ch, load_artefact(ch, data), inputs)


def score(ch: Challenge, value: float) -> tuple[float, str]:
    """Points and a message for a measured value (one point per threshold reached)."""
    k = ch.reached(value)
    shown = f"{value:.4g}" if math.isfinite(value) else str(value)
    return float(k), (f"{ch.metric.replace('_', ' ')} = {shown} {ch.unit}: {k} of {len(ch.thresholds)} "
                      f"thresholds reached (targets {ch.target_text()})")


def check_challenge(lab: str | int, path: str | os.PathLike | None = None) -> float:
    """Measure your challenge file on public data and print the points it would get.

    The grader measures the same way on held-back data drawn from its run's seed, so
    expect a slightly different number there. Returns the points.
    """
    ch = find(lab)
    if ch is None:
        raise ChallengeError(f"lab {lab!r} has no challenge")
    path = Path(path) if path is not None else Path(ch.file)
    if not path.is_file():
        print(f"challenge: {path} not found; train your model and save it with "
              f"genlab.save_challenge(model, {ch.lab!r}) (it writes {ch.file} next to the notebook)")
        return 0.0
    try:
        value = evaluate_bytes(ch, path.read_bytes()[: MAX_ARTEFACT_BYTES + 1],
                               draw_data(ch, torch.Generator().manual_seed(PUBLIC_SEED)))
    except ChallengeError as exc:
        print(f"challenge: 0 points: {exc}")
        return 0.0
    pts, msg = score(ch, value)
    print(f"challenge {ch.cid} (public data): {msg}")
    return pts


# --------------------------------------------------------------------------- hints


_IDEAS = {
    "01": ("a code small enough to force the network to learn digit structure, yet large enough to keep "
           "the strokes: the reconstruction error on digits it never saw measures both"),
    "02": ("the negative ELBO bounds the negative log-likelihood from above; a lower value on held-back "
           "digits means a better model of them, not a memorised training set"),
    "03": ("a GAN that collapses puts all its samples on one or two modes; covering all eight, each with a "
           "fair share, is what the minimax game promises at its optimum"),
    "04": ("the Frechet distance compares the mean and covariance of classifier features of your samples "
           "with those of real digits: blurry, collapsed or noisy samples all move it up"),
    "05": ("biharmonic inpainting is a strong formula for smooth holes; a learned repairer beats it by "
           "knowing what digits look like, which a formula cannot"),
    "06": ("a missing band of rows has no known neighbour in its own rows; the sweeps along columns carry "
           "the rows above and below into the hole, which small convolutions reach only slowly"),
    "07": ("the classifier is small and the data easy, so the target tests your training loop: every batch "
           "used, the loss averaged right, the model in the right mode"),
    "09": ("with the fixed pieces the VAE trains like the one of lab 02; with a KL of the wrong sign or a "
           "loss on raw logits it drifts, and the target says which one you have"),
}


def _hint_ladder(ch: Challenge) -> tuple[str, str, str]:
    one = f"The challenge asks for {ch.title}. The idea: {_IDEAS.get(ch.lab, 'reach the target on unseen data')}."
    two = (f"The grader measures {ch.metric.replace('_', ' ')} ({ch.unit}) on held-back data and gives one "
           f"point per threshold: {ch.target_text()}. The model is one of {', '.join(ch.models)} from the "
           "genlab registry, for 16 by 16 gray digits where images are involved; more training, a wider "
           "network and the learning rate are the knobs.")
    three = ("Build the model from the registry with the sizes you choose, train it on the training split "
             "only with the pieces you wrote in this lab, put it in evaluation mode, save it with the "
             "course helper for challenges, then run the challenge check to see your points on public data.")
    return one, two, three


def challenge_hints() -> dict[str, tuple[str, str, str]]:
    """``{"challenge_NN": (level 1, level 2, level 3)}`` for every lab with a challenge."""
    out = {}
    for p in sorted(Path(__file__).parent.glob("lab[0-9][0-9].py")):
        ch = find(p.stem[3:])
        if ch is not None:
            out[f"challenge_{ch.lab}"] = _hint_ladder(ch)
    return out
