"""GPU check for issue 9: every model family trains with AMP; throughput against fp32 and the CPU.

Run it in one call on a machine with a CUDA GPU (from the repository root)::

    python bench/gpu_check.py                 # about 3-5 minutes on one H100
    python bench/gpu_check.py --quick         # a smoke test of the script itself (CPU is fine)

For each model family (conv AE, conv VAE, DCGAN, conv repairer, CRNN, U-Net repairer,
classifier, pix2pix, DDPM) it trains with :func:`genlab.train.fit` on the built-in digits
(repeated so an epoch is long enough to time) in these settings, all in the same run:

* ``cpu fp32``      the baseline every course notebook starts from;
* ``gpu fp32``;
* ``gpu amp``       bf16 autocast where the GPU has it (no scaler), else fp16 + GradScaler;
* ``gpu fp16``      fp16 autocast + GradScaler forced (the path of T4/V100 GPUs);
* ``gpu amp+cl``    AMP with channels_last.

It reports images/s of the last epoch (the first is warm-up; ``fit`` synchronises CUDA
around each epoch), the ratios to gpu fp32 and to the CPU, whether every loss stayed
finite, and the peak GPU memory. Results go to ``bench/results/gpu_check.json`` and a
Markdown table is printed. Exit status 1 if any AMP run produced a non-finite loss or failed.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genlab import data, models  # noqa: E402
from genlab.models import DDPM, DiffusionConfig, Pix2Pix, UNetConfig  # noqa: E402
from genlab.train import (  # noqa: E402
    AutoencoderTask,
    ClassifierTask,
    DiffusionTask,
    GANTask,
    Pix2PixTask,
    RepairTask,
    VAETask,
    fit,
)


def families() -> dict:
    """name -> function building a fresh task (seeded by the caller)."""
    return {
        "conv_ae": lambda: AutoencoderTask(models.build("conv_ae"), lr=1e-3),
        "conv_vae": lambda: VAETask(models.build("conv_vae", latent_dim=8), lr=1e-3),
        "dcgan": lambda: GANTask(models.build("dcgan"), lr=2e-4),
        "conv_repair": lambda: RepairTask(models.build("conv_repair"), lr=1e-3),
        "crnn": lambda: RepairTask(models.build("crnn"), lr=1e-3),
        "unet": lambda: RepairTask(models.build("unet"), lr=1e-3),
        "classifier": lambda: ClassifierTask(models.build("classifier"), lr=1e-3),
        "pix2pix": lambda: Pix2PixTask(Pix2Pix(UNetConfig(width=32))),
        "ddpm": lambda: DiffusionTask(DDPM(DiffusionConfig(width=32, n_classes=10))),
    }


def run_one(make, x, y, *, device: str, epochs: int, batch_size: int, **kw) -> dict:
    torch.manual_seed(0)
    task = make()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    hist = fit(task, (x, y), epochs, batch_size=batch_size, device=device, progress=False, seed=0, **kw)
    wall = time.perf_counter() - t0
    losses = hist.steps.get("loss", [])
    return {
        "images_per_s": hist["images_per_s"][-1],
        "images_per_s_by_epoch": hist["images_per_s"],
        "final_loss": hist["loss"][-1],
        "finite": all(math.isfinite(v) for v in losses),
        "wall_s": wall,
        "peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the script runs")
    parser.add_argument("--only", nargs="*", help="model families to run (default: all)")
    parser.add_argument("--repeat", type=int, default=8, help="copies of the digits per GPU epoch")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "gpu_check.json"))
    args = parser.parse_args(argv)

    gpu = torch.cuda.is_available()
    x, y = data.load("digits", "train", 16)
    if args.quick:
        x, y, repeat, gpu_epochs, cpu_limit, bs = x[:128], y[:128], 1, 2, 128, 64
    else:
        repeat, gpu_epochs, cpu_limit, bs = args.repeat, 3, 512, args.batch_size
    xg, yg = x.repeat(repeat, 1, 1, 1), y.repeat(repeat)
    settings = {"cpu fp32": dict(device="cpu", x=x[:cpu_limit], y=y[:cpu_limit], epochs=2)}
    if gpu:
        bf16 = torch.cuda.is_bf16_supported()
        settings |= {
            "gpu fp32": dict(device="cuda", x=xg, y=yg, epochs=gpu_epochs),
            f"gpu amp ({'bf16' if bf16 else 'fp16+scaler'})": dict(device="cuda", x=xg, y=yg, epochs=gpu_epochs,
                                                                   amp=True),
            "gpu fp16+scaler": dict(device="cuda", x=xg, y=yg, epochs=gpu_epochs, amp=True, amp_dtype=torch.float16),
            "gpu amp+channels_last": dict(device="cuda", x=xg, y=yg, epochs=gpu_epochs, amp=True, channels_last=True),
        }
    else:
        print("No CUDA GPU here: only the CPU column runs (use a GPU machine for the real check).")
        settings["cpu amp (bf16)"] = dict(device="cpu", x=x[:cpu_limit], y=y[:cpu_limit], epochs=2, amp=True)

    names = args.only or list(families())
    results: dict = {"device": torch.cuda.get_device_name() if gpu else platform.processor() or "cpu",
                     "torch": torch.__version__, "batch_size": bs, "gpu_images_per_epoch": len(xg),
                     "runs": {}}
    failed = False
    for name in names:
        make = families()[name]
        results["runs"][name] = {}
        for label, s in settings.items():
            s = dict(s)
            xs, ys, device, epochs = s.pop("x"), s.pop("y"), s.pop("device"), s.pop("epochs")
            try:
                r = run_one(make, xs, ys, device=device, epochs=epochs, batch_size=bs, **s)
            except Exception as exc:  # report and go on: one family must not hide the others
                traceback.print_exc()
                r = {"error": f"{type(exc).__name__}: {exc}", "finite": False}
            results["runs"][name][label] = r
            if "amp" in label or "fp16" in label:
                failed |= not r.get("finite", False)
            ips = r.get("images_per_s")
            print(f"{name:12s} {label:26s} " + (f"{ips:12,.0f} images/s  loss {r['final_loss']:.4g}"
                                                  f"{'' if r['finite'] else '  NON-FINITE'}"
                                                  if ips else r.get("error", "")), flush=True)

    # The table: ratios measured in this run.
    labels = list(settings)
    ref = "gpu fp32" if gpu else "cpu fp32"
    lines = ["| model | " + " | ".join(labels) + f" | best vs {ref} | best vs cpu |",
             "|---" * (len(labels) + 3) + "|"]
    for name, runs in results["runs"].items():
        ips = {k: v.get("images_per_s") for k, v in runs.items()}
        best = max((v for v in ips.values() if v), default=None)
        cells = [f"{v:,.0f}" if v else "fail" for v in ips.values()]
        r_ref = f"{best / ips[ref]:.2f}x" if best and ips.get(ref) else "-"
        r_cpu = f"{best / ips['cpu fp32']:.1f}x" if best and ips.get("cpu fp32") else "-"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {r_ref} | {r_cpu} |")
    table = "\n".join(lines)
    print(f"\nimages/s, last of the epochs (device: {results['device']}, batch {bs})\n{table}")
    results["table_markdown"] = table
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {out}")
    if failed:
        print("FAILED: an AMP run diverged or crashed (see above)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
