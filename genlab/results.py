"""The results registry: every figure the course prose quotes, with where it was measured.

``docs/results.json`` maps a key (``"gan.mlp.fd_ratio"``) to an entry::

    {"value": 3.01, "unit": "x", "mode": "full", "seed": 0, "commit": "2525f14",
     "date": "2026-11-26T07:30:03+00:00", "machine": {...}, "measured_by": "genlab bench --only gan",
     "note": "..."}

Two writers fill it:

* :func:`import_benchmarks` copies the figures of ``docs/benchmarks.json`` (written by
  ``python -m bench``) under ``bench.*`` keys, plus a few derived figures the lectures quote;
* :func:`record`, called from a notebook's last cells, writes a headline figure of a
  full-mode run. It does nothing unless ``GENLAB_RECORD_RESULTS=1`` is set (``make results``
  sets it), and never in fast mode, so CI and students never touch the registry.

The prose quotes a figure as a literal number followed by a marker, ``3.01<!--r:gan.mlp.fd_ratio-->``
(an HTML comment, invisible in Jupyter and on the site). ``genlab build`` checks every marker
against the registry (:func:`check_text`): the literal must equal the registry value rounded
to the literal's decimals, so a figure that changes without its sentence fails the build.
A marker may name a transform: ``|abs``, ``|neg`` or ``|pct`` (x100), for "wins by 3.8 dB"
when the registry holds -3.76, and another numeric field of the entry than ``value``:
``<!--r:time.full.course.02_vae@kernel_cpu_s-->``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .config import _truthy, environment, is_fast
from .errors import BuildError

#: The repository's registry (an editable install; elsewhere set ``GENLAB_RESULTS``).
REPO = Path(__file__).resolve().parents[1]
DEFAULT_PATH = REPO / "docs" / "results.json"
BENCHMARKS_PATH = REPO / "docs" / "benchmarks.json"

MARKER = re.compile(r"(?P<num>[-+\u2212]?\d[\d,]*(?:\.\d+)?)(?P<gap>\s?)<!--\s*r:(?P<key>[\w.\-]+)"
                    r"(?:@(?P<field>\w+))?(?:\|(?P<tf>abs|neg|pct))?\s*-->")
BARE_MARKER = re.compile(r"<!--\s*r:")
GRAY_CAVEAT = ("Bernoulli objective on gray pixels, not a normalised likelihood, so not a bound on "
               "-log p(x) (lecture 02, section 9)")
TRANSFORMS = {None: lambda v: v, "abs": abs, "neg": lambda v: -v, "pct": lambda v: 100 * v}


def registry_path() -> Path:
    """Where the registry lives: ``GENLAB_RESULTS`` or ``docs/results.json`` of the repository."""
    return Path(os.environ.get("GENLAB_RESULTS", DEFAULT_PATH))


def load(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """All entries of the registry (an empty dict when the file does not exist)."""
    path = path or registry_path()
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ValueError(f"{path}: expected a JSON object with a 'results' object, got {type(data).__name__}")
    return data["results"]


def entry(key: str, path: Path | None = None) -> dict[str, Any]:
    """One registry entry with its provenance; KeyError naming close keys if absent."""
    results = load(path)
    if key not in results:
        near = [k for k in results if key.split(".")[0] in k][:5]
        raise KeyError(f"no figure {key!r} in {path or registry_path()}; close keys: {near}")
    return results[key]


def get(key: str, path: Path | None = None) -> Any:
    """The value of one figure of the registry."""
    return entry(key, path)["value"]


def _write(results: dict[str, dict[str, Any]], path: Path) -> None:
    """Write the registry atomically (sorted keys, so diffs stay small)."""
    text = json.dumps({"schema": 1, "about": "figures the course prose quotes; see genlab/results.py",
                       "results": dict(sorted(results.items()))}, indent=1, sort_keys=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict[str, Any]:
    """A short description of this machine (what a figure's speed depends on)."""
    import torch

    return {"nproc": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else False,
            "python": platform.python_version()}


def recording() -> bool:
    """True when :func:`record` writes: ``GENLAB_RECORD_RESULTS`` set and full mode."""
    return _truthy(os.environ.get("GENLAB_RECORD_RESULTS")) and not is_fast()


def record(key: str, value: float | int, *, unit: str = "", measured_by: str = "", seed: int | None = None,
           note: str = "", path: Path | None = None, **provenance: Any) -> None:
    """Write one figure with its provenance, only under ``make results`` (see :func:`recording`).

    Returns None so that a notebook's last line shows nothing.
    """
    if not recording():
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"record({key!r}, ...): expected a number, got {type(value).__name__}")
    path = path or registry_path()
    results = load(path)
    results[key] = {"value": value, "unit": unit, "mode": "full", "seed": seed, "commit": _commit(),
                    "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
                    "measured_by": measured_by or os.environ.get("GENLAB_RECORD_SOURCE", ""),
                    "note": note, **provenance}
    _write(results, path)
    return None


# ----------------------------------------------------------------------------------------------
# Import from docs/benchmarks.json
# ----------------------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", text.lower())).strip("_")


def _bench_commit(bench: Path) -> str | None:
    """The commit that last wrote the benchmark file (its figures' provenance)."""
    try:
        return subprocess.run(["git", "-C", str(bench.parent), "log", "-1", "--format=%h", "--", bench.name],
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _derived(b: dict[str, Any]) -> dict[str, tuple[float, str, str]]:
    """Figures the lectures quote that benchmarks.json holds in its details: key -> (value, unit, what)."""
    out: dict[str, tuple[float, str, str]] = {}
    gan = b.get("gan", {}).get("details", {})
    if "DCGAN" in gan and "MLP GAN" in gan:
        d, m = gan["DCGAN"]["train"], gan["MLP GAN"]["train"]
        out["gan.budget_cpu_s"] = (gan["budget_cpu_s"], "s", "CPU budget of each GAN")
        out["gan.dcgan.epochs"] = (d["epochs"], "epochs", "DCGAN epochs in the CPU budget")
        out["gan.mlp.epochs"] = (m["epochs"], "epochs", "MLP GAN epochs in the CPU budget")
        out["gan.dcgan.fd_ratio"] = (round(gan["DCGAN"]["fd_ratio"], 3), "x", "DCGAN Frechet / real-vs-real")
        out["gan.mlp.fd_ratio"] = (round(gan["MLP GAN"]["fd_ratio"], 3), "x", "MLP GAN Frechet / real-vs-real")
        out["gan.real_fd"] = (round(gan["reference_fd"], 3), "", "Frechet distance real train vs real test")
        out["gan.epoch_cost_ratio"] = (round((d["cpu_s"] / d["epochs"]) / (m["cpu_s"] / m["epochs"]), 2), "x",
                                       "CPU time of one DCGAN epoch / one MLP GAN epoch")
    vae = b.get("vae", {}).get("details", {})
    for name, short in (("conv VAE", "conv"), ("MLP VAE 256-400-20", "mlp")):
        if name in vae:
            out[f"vae.{short}.neg_elbo"] = (round(vae[name]["test_neg_elbo"], 2), "nats", f"{name} test -ELBO")
            out[f"vae.{short}.neg_iwae64"] = (round(vae[name]["test_iwae64_nll_bound"], 2), "nats",
                                             f"{name} test -IWAE k=64; {GRAY_CAVEAT}")
    rest = b.get("restoration", {}).get("details", {})
    for domain in ("digits", "photos"):
        psnr = rest.get(domain, {}).get("psnr", {})
        for method, per_mask in psnr.items():
            for mask, v in per_mask.items():
                out[f"restore.{domain}.{_slug(method)}.{_slug(mask)}"] = (round(v, 2), "dB",
                                                                          f"{domain} {method} hole PSNR, {mask}")
        if "biharmonic" in psnr:
            learned = [m for m in ("MLP repairer", "conv repairer", "CRNN") if m in psnr]
            for mask in psnr["biharmonic"]:
                best = max(psnr[m][mask] for m in learned)
                out[f"restore.{domain}.best_minus_biharmonic.{_slug(mask)}"] = (
                    round(best - psnr["biharmonic"][mask], 2), "dB", f"{domain}: best learned - biharmonic, {mask}")
        if "CRNN" in psnr and "conv repairer" in psnr:
            for mask in psnr["CRNN"]:
                out[f"restore.{domain}.crnn_minus_conv.{_slug(mask)}"] = (
                    round(psnr["CRNN"][mask] - psnr["conv repairer"][mask], 2), "dB", f"{domain}: CRNN - conv, {mask}")
    for i, v in enumerate(rest.get("crnn_minus_conv_band_per_seed", [])):
        out[f"restore.digits.crnn_minus_conv_band.seed{i}"] = (round(v, 2), "dB", f"CRNN - conv on the band, seed {i}")
    train = rest.get("digits", {}).get("train", {}) if isinstance(rest.get("digits"), dict) else {}
    for method, row in train.items():
        out[f"restore.digits.train_cpu_s.{_slug(method)}"] = (row["cpu_s"], "s", f"{method}: CPU time of training")
    if "CRNN" in train and "conv repairer" in train:
        out["restore.crnn_over_conv_cpu"] = (round(train["CRNN"]["cpu_s"] / train["conv repairer"]["cpu_s"], 2), "x",
                                             "CPU time of CRNN training / conv repairer training")
    photos = b.get("photos", {}).get("details", {})
    for size in ("32px", "64px"):
        psnr = photos.get(size, {}).get("psnr", {})
        for method, slug in (("photo repairer", "single"), ("photo repairer, 8-turn average", "ensemble")):
            for mask, value in psnr.get(method, {}).items():
                if mask in psnr.get("biharmonic", {}):
                    out[f"photos.{size}.{slug}_minus_biharmonic.{_slug(mask)}"] = (
                        round(value - psnr["biharmonic"][mask], 2), "dB", f"photos {size}: {method} - biharmonic, {mask}")
    course = b.get("course", {}).get("details", {})
    for nb, row in (course.get("notebooks") or course.get("rows") or {}).items():
        if isinstance(row, dict) and "wall_s" in row:
            out[f"time.fast.{Path(nb).parent.name}.{Path(nb).stem}"] = (row["wall_s"], "s", f"{nb} fast mode wall")
    return out


def import_benchmarks(bench: Path | None = None, path: Path | None = None) -> int:
    """Copy every figure of ``docs/benchmarks.json`` into the registry; return how many were written.

    Existing ``bench.*`` and derived entries are replaced; figures recorded by notebooks stay.
    """
    bench = bench or BENCHMARKS_PATH
    path = path or registry_path()
    data = json.loads(bench.read_text(encoding="utf-8"))
    meta, benches = data.get("meta", {}), data.get("benchmarks", {})
    if not isinstance(benches, dict):
        raise ValueError(f"{bench}: expected a 'benchmarks' object, got {type(benches).__name__}")
    common = {"mode": "quick" if meta.get("quick") else "full", "seed": meta.get("settings", {}).get("seed"),
              "commit": _bench_commit(bench), "date": meta.get("date"), "machine": meta.get("machine_start", {})}
    results = load(path)
    n = 0
    for bname, block in benches.items():
        for fig in block.get("figures", []):
            if not isinstance(fig.get("value"), (int, float)) or isinstance(fig.get("value"), bool):
                continue
            results[f"bench.{bname}.{_slug(fig['name'])}"] = {
                "value": fig["value"], "unit": fig.get("unit") or "", **common,
                "measured_by": f"genlab bench --only {bname}", "note": f"{fig['name']}; {fig.get('note') or ''}".strip("; ")}
            if "IWAE" in fig["name"]:  # the bench's note calls it a bound on -log p(x); on gray pixels it is not
                results[f"bench.{bname}.{_slug(fig['name'])}"]["caveat"] = GRAY_CAVEAT
            n += 1
    for key, (value, unit, what) in _derived(benches).items():
        bname = key.split(".")[0]
        results[key] = {"value": value, "unit": unit, **common,
                        "measured_by": f"genlab bench ({'restoration' if bname == 'restore' else bname}), "
                                       "derived by genlab.results.import_benchmarks", "note": what}
        n += 1
    _write(results, path)
    return n


# ----------------------------------------------------------------------------------------------
# Markers in the prose
# ----------------------------------------------------------------------------------------------
def _expected(value: float, literal: str, tf: str | None) -> str:
    v = TRANSFORMS[tf](float(value))
    decimals = len(literal.split(".")[1]) if "." in literal else 0
    return f"{v:.{decimals}f}"


def check_text(text: str, where: str, results: dict[str, dict[str, Any]]) -> list[str]:
    """Every marker of ``text`` whose literal disagrees with the registry, as ``file:line: why``."""
    problems: list[str] = []
    for no, line in enumerate(text.splitlines(), 1):
        found = list(MARKER.finditer(line))
        if len(found) != len(BARE_MARKER.findall(line)):
            problems.append(f"{where}:{no}: a '<!--r:KEY-->' marker must follow a number directly")
        for m in found:
            key, literal, tf = m["key"], m["num"], m["tf"]
            if key not in results:
                problems.append(f"{where}:{no}: {key!r} is not in the results registry (docs/results.json)")
                continue
            field = m["field"] or "value"
            if not isinstance(results[key].get(field), (int, float)):
                problems.append(f"{where}:{no}: {key!r} has no number {field!r} in the results registry")
                continue
            want = _expected(results[key][field], literal.replace(",", "").replace("\u2212", "-").lstrip("+"), tf)
            have = literal.replace(",", "").replace("\u2212", "-").lstrip("+")
            if have != want and not (have.lstrip("-") == want.lstrip("-") and float(want) == 0):
                problems.append(f"{where}:{no}: the text says {literal} but the registry has {key}"
                                f"{'' if field == 'value' else '@' + field} = {results[key][field]!r} (rounds to {want}); update the sentence, not just the number")
    return problems


def check_sources(texts: dict[str, str], path: Path | None = None) -> None:
    """Raise BuildError listing every stale or unknown quoted figure in the given sources."""
    if not any(BARE_MARKER.search(t) for t in texts.values()):
        return
    results = load(path)
    problems = [p for where, t in texts.items() for p in check_text(t, where, results)]
    if problems:
        raise BuildError("quoted figures disagree with the results registry:\n  " + "\n  ".join(problems))


def run_notebooks(notebooks: list[Path], timeout: int = 1800, save_dir: Path | None = None) -> int:
    """Execute each notebook in full mode with recording on; record its wall and kernel CPU time.

    The times become ``time.full.<folder>.<name>`` (the "Time" line of each notebook quotes them).
    Returns the number of notebooks that failed.
    """
    import resource
    import time

    import nbformat
    from nbclient import NotebookClient

    failed = 0
    with environment({"GENLAB_FAST": None, "GENLAB_RECORD_RESULTS": "1", "MPLBACKEND": "Agg"},
                     restore=("GENLAB_RECORD_SOURCE",)):
        for nb_path in notebooks:
            nb_path = nb_path.resolve()
            rel = nb_path.relative_to(REPO) if nb_path.is_relative_to(REPO) else nb_path
            os.environ["GENLAB_RECORD_SOURCE"] = f"full-mode run of {rel} (genlab.results run)"
            nb = nbformat.read(nb_path, as_version=4)
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                    resources={"metadata": {"path": str(nb_path.parent)}})
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            try:
                client.execute()
            except Exception as exc:  # report and go on: one failing notebook should not hide the rest
                failed += 1
                print(f"{rel}: FAILED: {type(exc).__name__}: {(str(exc).strip().splitlines() or [repr(exc)])[-1][:300]}")
                continue
            wall = time.perf_counter() - t0
            if save_dir is not None:  # the executed notebook, for reading the figures the text describes
                save_dir.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, save_dir / f"{nb_path.parent.name}__{nb_path.name}")
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
            key = f"time.full.{nb_path.parent.name}.{nb_path.stem}"
            load_avg = os.getloadavg()[0]
            record(key, round(wall, 1), unit="s", measured_by=f"wall time of a full-mode run of {rel}",
                   note=f"kernel CPU {cpu:.1f} s; 1-min load average at the end {load_avg:.1f}",
                   kernel_cpu_s=round(cpu, 1))
            print(f"{rel}: {wall:.1f} s wall, {cpu:.1f} s kernel CPU")
    return failed


def main(argv: list[str] | None = None) -> int:
    """``python -m genlab.results import`` refreshes the bench figures; ``show KEY`` prints one."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m genlab.results")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("import", help="copy docs/benchmarks.json's figures into docs/results.json")
    show = sub.add_parser("show", help="print one figure and its provenance")
    show.add_argument("key")
    run = sub.add_parser("run", help="execute notebooks in full mode, recording their figures and times")
    run.add_argument("notebooks", nargs="+", type=Path)
    run.add_argument("--save", type=Path, default=None, help="also write the executed notebooks into this folder")
    args = parser.parse_args(argv)
    if args.cmd == "import":
        print(f"{import_benchmarks()} figures imported into {registry_path()}")
    elif args.cmd == "run":
        return run_notebooks(args.notebooks, save_dir=args.save)
    else:
        print(json.dumps(entry(args.key), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
