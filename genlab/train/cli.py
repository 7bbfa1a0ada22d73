"""``genlab train``: train any model family of the registry on a dataset, with checkpoints.

Examples::

    genlab train vae --data digits --epochs 2 --out runs/vae
    genlab train vae --data digits --epochs 4 --out runs/vae --resume     # continues exactly
    genlab train --preset classifier                                      # rebuilds a shipped weight file
    torchrun --nproc_per_node=2 -m genlab.train.cli train vae --data digits --epochs 2 --out runs/ddp

``DIR/checkpoint.pt`` (everything needed to resume) and ``DIR/metrics.json`` (the
history) are written atomically after every epoch. ``--export PATH`` (or a preset)
also writes a small weights-only file that :func:`genlab.weights.load_pretrained` reads.
Bad input (unknown model or dataset, an unwritable folder, ``--epochs 0``) prints what
was wrong and exits with status 2 before anything is written.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, GenlabError
from .checkpoint import CHECKPOINT_NAME, atomic_write_bytes, check_plain
from .context import intra_op_threads
from .loop import CosineLR, LRDrop, fit
from .tasks import FAMILIES, Task, mask_mix

__all__ = ["FAMILIES", "PRESETS", "WEIGHTS_FORMAT", "add_arguments", "export_weights", "main", "make_task", "run"]

#: Format marker of the small weights-only files (genlab/weights/*.pt).
WEIGHTS_FORMAT = "genlab-weights/1"

#: Mask mix of the shipped repairers: the evaluation masks of ``genlab.restoration.EVAL_MASKS``
#: (centre 8x8, 5-row band, 3 scattered rows) plus 8x8 blocks anywhere, an equal share of each batch.
_REPAIR_MASK_MIX: dict[str, Any] = {
    "masks": ("center", "block", "rows", "scattered_rows"),
    "mask_params": {"block": {"hole": 8}, "rows": {"rows": 5}, "scattered_rows": {"rows": 3}},
}

#: Training masks of the photo repairer: the benchmark's evaluation masks (centre 16x16, 5- and
#: 10-row bands, 6 scattered rows, 3 strokes) plus 16x16 blocks anywhere and 7-row bands.
PHOTO_TRAIN_MASKS: tuple[tuple[str, dict[str, int]], ...] = (
    ("center", {"hole": 16}), ("block", {"hole": 16}), ("rows", {"rows": 7}), ("rows", {"rows": 5}),
    ("rows", {"rows": 10}), ("scattered_rows", {"rows": 6}), ("strokes", {"strokes": 3, "width": 3}),
)

#: The shipped weights and exactly how each was trained (``genlab train --preset NAME``).
#: ``task`` holds the task's own settings (masks, beta, ...); ``config`` the model's.
#: ``threads``: every file was trained on one intra-op CPU thread; on two threads the same
#: recipe rounds differently and ends elsewhere (dcgan: train loss 2.375 instead of 2.176).
PRESETS: dict[str, dict[str, Any]] = {
    "classifier": {"model": "classifier", "data": "digits", "size": 16, "epochs": 15, "batch_size": 64,
                   "lr": 2e-3, "seed": 0, "threads": 1, "config": {}, "task": {}, "file": "classifier.pt"},
    "conv_vae": {"model": "conv_vae", "data": "digits", "size": 16, "epochs": 40, "batch_size": 64,
                 "lr": 2e-3, "seed": 0, "threads": 1, "config": {"latent_dim": 8}, "task": {"beta": 1.0},
                 "file": "conv_vae.pt"},
    "dcgan": {"model": "dcgan", "data": "digits", "size": 16, "epochs": 25, "batch_size": 64,
              "lr": 2e-4, "seed": 0, "threads": 1, "config": {}, "task": {"betas": (0.5, 0.999)}, "file": "dcgan.pt"},
    "conv_repair": {"model": "conv_repair", "data": "digits", "size": 16, "epochs": 60, "batch_size": 64,
                    "lr": 2e-3, "lr_drop": (0.75, 0.3), "seed": 0, "threads": 1, "config": {},
                    "task": dict(_REPAIR_MASK_MIX),
                    "file": "conv_repair.pt"},
    "crnn": {"model": "crnn", "data": "digits", "size": 16, "epochs": 60, "batch_size": 64,
             "lr": 2e-3, "lr_drop": (0.75, 0.3), "seed": 0, "threads": 1, "config": {}, "task": dict(_REPAIR_MASK_MIX),
             "file": "crnn.pt"},
    # the natural-image repairer of course/05 and bench/photos: residual U-Net on biharmonic,
    # trained on a fill pool of 48,000 patches of every offline non-test photo at random scales;
    # two threads (the pool's fills take two worker processes), cosine schedule
    "photo_repair": {"model": "fill_repair", "data": "photos", "size": 32, "epochs": 10, "batch_size": 64,
                     "lr": 1e-3, "schedule": "cosine", "seed": 0, "threads": 2,
                     "config": {"width": 24, "depth": 2, "fill_gradients": True},
                     "task": {"masks": PHOTO_TRAIN_MASKS, "mask_params": {}, "loss": "psnr", "augment": True},
                     "pool": {"patches": 48000, "random_scales": (96, 512), "extra": "MORE_TRAIN_PHOTOS",
                              "mask_seed": 22, "workers": 2},
                     "file": "photo_repair.pt"},
}


class UsageError(GenlabError, ValueError):
    """Bad command-line input: reported in one line, exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``genlab train`` (cli.py wires them in)."""
    from .. import data as gdata

    parser.usage = ("%(prog)s MODEL --data NAME --epochs N --out DIR [options]\n"
                    "       %(prog)s --preset NAME [options]")
    by_lr: dict[float, list[str]] = {}
    for name, (_, lr) in FAMILIES.items():
        by_lr.setdefault(lr, []).append(name)
    lrs = "; ".join(f"{lr:g} for {', '.join(names)}" for lr, names in by_lr.items())
    req = parser.add_argument_group("required (a --preset supplies them all)")
    req.add_argument("model", nargs="?", metavar="MODEL", help=f"model name: {', '.join(FAMILIES)}")
    req.add_argument("--data", metavar="NAME", help=f"dataset: {', '.join(gdata.DATASETS)} (presets: digits)")
    req.add_argument("--epochs", type=int, metavar="N", help="total number of epochs (with --resume: in total)")
    req.add_argument("--out", metavar="DIR", help="output folder for checkpoint.pt and metrics.json "
                     "(presets: runs/preset-NAME)")
    opt = parser.add_argument_group("training options")
    opt.add_argument("--preset", help=f"reproduce a shipped weight file: {', '.join(PRESETS)}")
    opt.add_argument("--resume", action="store_true", help="continue from --out's checkpoint (exact)")
    opt.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    opt.add_argument("--amp", action="store_true", help="mixed precision (bf16, or fp16 + GradScaler)")
    opt.add_argument("--seed", type=int, help="random seed (default: 0)")
    opt.add_argument("--batch-size", type=int, help="global batch size (default: 64)")
    opt.add_argument("--lr", type=float, help=f"learning rate (default per model: {lrs})")
    opt.add_argument("--size", type=int, help="image side in pixels (default: the dataset's)")
    opt.add_argument("--limit", type=int, help="train on the first N items only (default: all)")
    opt.add_argument("--threads", type=int, metavar="N", help="intra-op CPU threads while training "
                     "(default: torch's; presets: 1, as the shipped weights were trained)")
    opt.add_argument("--export", help="also write a small weights-only .pt here (presets: genlab/weights/)")
    opt.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fail(message: str) -> int:
    print(f"genlab train: error: {message}", file=sys.stderr)
    return 2


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def _check_writable(folder: Path, what: str) -> None:
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise UsageError(f"{what} {folder} cannot be created: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {folder} is not writable ({existing} does not allow writing); "
                         "choose another folder.")


def _package_weights_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "weights"  # genlab/weights, beside genlab/train


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """Preset defaults overridden by what the command line gives."""
    settings: dict[str, Any] = {"config": {}, "task": {}, "seed": 0, "batch_size": 64, "export": None}
    if args.preset:
        if args.preset not in PRESETS:
            raise UsageError(f"unknown preset {args.preset!r}; valid presets: {', '.join(PRESETS)}.")
        preset = PRESETS[args.preset]
        settings.update({k: v for k, v in preset.items() if k != "file"})
        settings["export"] = str(_package_weights_dir() / preset["file"])
        settings["out"] = str(Path("runs") / f"preset-{args.preset}")
        if args.model and args.model != preset["model"]:
            raise UsageError(f"preset {args.preset!r} trains model {preset['model']!r}, not {args.model!r}; "
                             "leave MODEL out.")
    for key, value in (("model", args.model), ("data", args.data), ("epochs", args.epochs), ("out", args.out),
                       ("seed", args.seed), ("batch_size", args.batch_size), ("lr", args.lr),
                       ("size", args.size), ("export", args.export),
                       ("threads", getattr(args, "threads", None))):
        if value is not None:
            settings[key] = value
    settings["limit"] = args.limit
    return settings


def _resolve(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """Merge preset defaults and command-line values; validate everything before any write.

    Returns the settings and the required options still missing: :func:`run` reports those
    together with the dataset's own message, so one attempt shows every problem.
    """
    from .. import data as gdata
    from .. import models

    settings = _settings(args)
    model = settings.get("model")
    if not model:
        raise UsageError(f"which model? give MODEL ({', '.join(FAMILIES)}) or --preset NAME.")
    if model not in models.MODELS or model not in FAMILIES:
        raise UsageError(f"unknown model {model!r}; valid models: {', '.join(FAMILIES)}.")
    if not settings.get("data"):
        raise UsageError(f"--data is required, e.g. --data digits (datasets: {', '.join(gdata.DATASETS)}).")
    missing = []
    if settings.get("epochs") is None:
        missing.append("--epochs N is required (the total number of epochs, >= 1)")
    if not settings.get("out"):
        missing.append("--out DIR is required: where checkpoint.pt and metrics.json go")
    for flag, key, ok in (("--epochs", "epochs", lambda v: v is None or v >= 1),
                          ("--batch-size", "batch_size", lambda v: v >= 1),
                          ("--lr", "lr", lambda v: v is None or v > 0),
                          ("--limit", "limit", lambda v: v is None or v >= 1),
                          ("--threads", "threads", lambda v: v is None or v >= 1)):
        if not ok(settings.get(key)):
            raise UsageError(f"{flag} must be {'> 0' if key == 'lr' else '>= 1'}, got {settings[key]}.")
    if settings.get("out"):
        _check_out(args, Path(settings["out"]))
    if settings.get("export"):
        _check_writable(Path(settings["export"]).parent, "--export folder")
    if args.device:
        from .. import device as pick_device

        try:
            pick_device(args.device)
        except (RuntimeError, ValueError) as exc:
            raise UsageError(f"--device {args.device}: {exc}") from exc
    if settings.get("lr") is None:
        settings["lr"] = FAMILIES[model][1]
    return settings, missing


def _check_out(args: argparse.Namespace, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder.")
    _check_writable(out, "--out folder")
    if (out / CHECKPOINT_NAME).exists() and not args.resume:
        raise UsageError(f"{out} already holds a checkpoint; add --resume to continue it, or choose "
                         "another --out (nothing was overwritten).")


def make_task(model_name: str, config: dict[str, Any], lr: float, task_kwargs: dict[str, Any] | None = None) -> Task:
    """Build ``genlab.models.build(model_name, **config)`` and wrap it in its family's task."""
    from .. import models

    cls, _ = FAMILIES[model_name]
    model = models.build(model_name, **config)
    kwargs = dict(task_kwargs or {})
    if "mask_params" in kwargs:
        # a mask mix with per-kind sizes ({"rows": {"rows": 5}}): plain data in PRESETS and the
        # manifest, turned here into the shuffled sampler the shipped repairers were trained with
        kwargs["masks"] = mask_mix(kwargs.pop("masks"), kwargs.pop("mask_params"))
    return cls(model, lr=lr, **kwargs, model_name=model_name, model_config=config)


def export_weights(task: Task, path: str | os.PathLike, *, preset: str | None = None,
                   metrics: dict[str, Any] | None = None, data: str | None = None) -> str:
    """Write the small weights-only file of ``task.model`` atomically; return its sha256.

    The file holds ``{"format", "model", "config", "state_dict", "preset", "data", "metrics"}``:
    plain data, readable with ``torch.load(weights_only=True)``. Tensors are made contiguous
    CPU copies so the file does not depend on the training device or memory format.
    """
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in task.model.state_dict().items()}
    payload = {"format": _own_copy(WEIGHTS_FORMAT), "model": _own_copy(task.model_name),
               "config": task.model_config, "state_dict": state, "preset": _own_copy(preset),
               "data": _own_copy(data), "metrics": metrics or {}}
    check_plain(payload)
    import io

    buf = io.BytesIO()
    torch.save(payload, buf)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    from ..weights import file_sha256

    return file_sha256(path)


def _own_copy(text: str | None) -> str | None:
    """A new string object equal to ``text``.

    pickle writes a string once and refers back to it when the *same object* comes again,
    so the file's bytes (and sha256) would depend on whether ``model`` and ``preset`` are
    one object: they are when ``main(["--preset", "dcgan"])`` is called from Python
    (literals are interned), not when the shell passes ``--preset dcgan``. Separate copies
    give the bytes of the shipped files however the export was reached.
    """
    return None if text is None else "".join(list(text))


def _update_manifest(preset: str, settings: dict[str, Any], sha: str, file: Path, metrics: dict[str, Any]) -> None:
    manifest_path = file.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[preset] = {
        "file": file.name,
        "sha256": sha,
        "bytes": file.stat().st_size,
        "preset": preset,
        "model": settings["model"],
        "config": settings["task_config"],
        "task": {k: list(v) if isinstance(v, tuple) else v for k, v in settings["task"].items()},
        "data": {"name": settings["data"], "split": "train", "size": settings["size"],
                 "limit": settings["limit"],
                 **({"pool": {k: list(v) if isinstance(v, tuple) else v for k, v in settings["pool"].items()}}
                    if settings.get("pool") else {})},
        "training": {"epochs": settings["epochs"], "batch_size": settings["batch_size"],
                     "lr": settings["lr"], "seed": settings["seed"],
                     **({"lr_drop": list(settings["lr_drop"])} if settings.get("lr_drop") else {}),
                     **({"schedule": settings["schedule"]} if settings.get("schedule") else {}),
                     **({"threads": settings["threads"]} if settings.get("threads") else {})},
        "metrics": metrics,
        "date": _dt.date.today().isoformat(),
        "torch": str(torch.__version__),
        # the CPU kernels torch chose (AVX2, AVX512, ...): other kernels round sums otherwise
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "regenerate": f"genlab train --preset {preset}",
    }
    atomic_write_bytes(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def _final_metrics(task: Task, history: Any, test: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
    """A few numbers for the manifest: last train loss and test-set values."""
    out = {"train_loss": round(float(history["loss"][-1]), 5)}
    for key, values in history.epochs.items():
        if key.startswith("val_"):
            out["test_" + key[4:]] = round(float(values[-1]), 5)
    return out


def _load_data(args: argparse.Namespace) -> tuple[dict[str, Any], tuple, tuple]:
    """Settings and the train / test data; a missing dataset is reported with any missing option."""
    from .. import data as gdata

    settings, missing = _resolve(args)
    # Load the data before creating anything on disk: a missing dataset leaves no folder behind.
    try:
        if settings.get("pool"):
            train = _fill_pool_data(settings)
        else:
            train = gdata.load(settings["data"], "train", size=settings.get("size"), limit=settings["limit"])
        test = gdata.load(settings["data"], "test", settings.get("size"),
                          limit=None if settings["limit"] is None else max(settings["limit"] // 4, 32))
    except (GenlabError, ValueError, FileNotFoundError) as exc:
        also = f"\nAlso: {'; '.join(missing)}." if missing else ""
        raise UsageError(f"{exc}{also}") from exc
    if missing:
        raise UsageError("; ".join(missing) + ".")
    return settings, train, test


def _fill_pool_data(settings: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """A preset's ``pool``: photo training patches with their masks and fills (``genlab.train.fill_pool``)."""
    from .. import data as gdata
    from .tasks import fill_pool

    pool = settings["pool"]
    extra = getattr(gdata, pool["extra"])
    names = [n for n in gdata.PHOTO_SOURCES if n not in gdata.TEST_PHOTOS] + list(extra)
    per_photo = -(-int(pool["patches"]) // len(names))
    x = gdata.photo_training_patches(int(settings["size"]), extra=extra, per_photo=per_photo,
                                     random_scales=tuple(pool["random_scales"]), seed=int(settings["seed"]))
    x = x[: int(pool["patches"])]
    if settings["limit"] is not None:
        x = x[: settings["limit"]]
    task = settings["task"]
    return fill_pool(x, mask_mix(task["masks"], task.get("mask_params")), seed=int(pool["mask_seed"]),
                     workers=int(pool.get("workers", 1)))


def run(args: argparse.Namespace) -> int:
    """Run ``genlab train``; returns the exit status (0 ok, 2 bad input, 1 training failed)."""
    try:
        settings, (x, y), test = _load_data(args)
    except (UsageError, GenlabError, ValueError, FileNotFoundError) as exc:
        return _fail(str(exc))
    # From the model's first weights to the exported file: the thread count sets the rounding.
    with intra_op_threads(settings.get("threads")):
        return _train(args, settings, (x, y), test)


def _train(args: argparse.Namespace, settings: dict[str, Any], train: tuple, test: tuple) -> int:
    """Build the task, fit it, export; the exit status of :func:`run`."""
    from .. import seed_everything

    x, y = train
    size = int(x.shape[-1])
    settings["size"] = size
    config = {"image_size": size, "channels": int(x.shape[1]), **settings["config"]}
    settings["task_config"] = config
    out = Path(settings["out"])
    try:
        seed_everything(int(settings["seed"]))  # the model's initial weights depend on the seed only
        task = make_task(settings["model"], config, settings["lr"], settings["task"])
    except (GenlabError, TypeError, ValueError) as exc:
        return _fail(f"cannot build model {settings['model']!r} for {settings['data']} at {size}px: {exc}")
    if args.resume and not (out / CHECKPOINT_NAME).exists():
        print(f"genlab train: --resume: {out} holds no checkpoint yet, so training starts fresh.", file=sys.stderr)
    write_metrics = _metrics_writer(out / "metrics.json", settings, task, len(x), args.preset)
    callbacks: list[Any] = [write_metrics]
    if settings.get("lr_drop"):  # presets only: (fraction of the epochs, factor), see genlab.train.LRDrop
        callbacks.append(LRDrop(settings["epochs"], *settings["lr_drop"]))
    if settings.get("schedule") == "cosine":  # presets only: see genlab.train.CosineLR
        callbacks.append(CosineLR(settings["epochs"] * math.ceil(len(x) / settings["batch_size"])))
    try:
        history = fit(task, (x, y), settings["epochs"], batch_size=settings["batch_size"], device=args.device,
                      amp=args.amp, checkpoint_dir=out, resume=args.resume, callbacks=callbacks,
                      progress=False if args.no_progress else None, seed=int(settings["seed"]), val_data=test)
    except CheckpointError as exc:
        return _fail(str(exc))
    except (RuntimeError, ValueError) as exc:
        print(f"genlab train: training failed: {exc}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        _finish(args, settings, task, history, test, out, write_metrics)
    return 0


def _metrics_writer(path: Path, settings: dict[str, Any], task: Task, n_train: int, preset: str | None) -> Any:
    """An end-of-epoch callback writing ``metrics.json`` (settings and history) atomically on rank 0."""
    meta = {"model": settings["model"], "config": settings["task_config"], "task": task.name,
            "hparams": task.hparams,
            "data": {"name": settings["data"], "size": settings["size"], "limit": settings["limit"],
                     "n_train": n_train},
            "seed": int(settings["seed"]), "batch_size": settings["batch_size"], "preset": preset,
            "threads": torch.get_num_threads()}

    def write_metrics(ctx: Any) -> None:
        if ctx.rank == 0:
            body = {**meta, **ctx.history.to_dict()}
            atomic_write_bytes(path, json.dumps(_json_safe(body), indent=1).encode())

    write_metrics.path = path
    return write_metrics


def _finish(args: argparse.Namespace, settings: dict[str, Any], task: Task, history: Any, test: tuple,
            out: Path, write_metrics: Any) -> None:
    """After training: metrics.json, the exported weights (and the manifest for a preset), a summary."""
    if not write_metrics.path.exists():  # resumed a run that was already complete
        write_metrics(type("Ctx", (), {"rank": 0, "history": history})())
    if settings.get("export"):
        metrics = _final_metrics(task, history, test)
        export = Path(settings["export"])
        sha = export_weights(task, export, preset=args.preset, metrics=metrics, data=settings["data"])
        if args.preset:
            _update_manifest(args.preset, settings, sha, export, metrics)
        print(f"wrote {export} (sha256 {sha[:12]}..., {export.stat().st_size / 1e6:.2f} MB)")
    last = {k: round(v[-1], 4) for k, v in history.epochs.items() if k not in ("epoch", "seconds")}
    n = len(history)
    print(f"{settings['model']}: {n} epoch{'' if n == 1 else 's'}, {last}; checkpoint in {out / CHECKPOINT_NAME}")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN: an epoch without that metric
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    """``python -m genlab.train.cli [train] MODEL ...`` (also under torchrun)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":
        argv = argv[1:]
    parser = argparse.ArgumentParser(prog="genlab train", description="train a model family on a dataset")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
