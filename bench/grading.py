"""Grading throughput: grade N generated submissions (lab 02 by default) and report seconds per submission.

``python -m bench.grading --n 200 --workers 2`` (from a checkout) grades ``n`` copies of
lab 02 with a mix of correct and wrong exercise cells. ``--challenge`` says where each
submission's challenge file comes from: ``handed-in`` (default; the file beside the
notebook, as students hand it in: a lab-02 file is the shipped ``conv_vae``), ``cell`` (none
handed in: the grader runs every submission's challenge cell in the sandbox, the costliest
case) or ``none`` (no challenge cells, no files: the code items and questions alone). It uses the real
``labs/02_vae.ipynb`` and ``solutions/02_vae.ipynb`` when they exist and a
built-in stand-in lab with the same graded functions otherwise (the cost of a
submission is dominated by starting the worker and importing torch, not by
the lab).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from genlab.exercises import load_spec
from genlab.grading.challenges import lab_challenge
from genlab.grading.grader import grade
from genlab.grading.notebook import code_cells, find_lab, read_notebook
from genlab.grading.sandbox import Limits

_SUPPORT = "import torch\nimport torch.nn.functional as F\n"
_SOLUTION = {
    "reparameterize": "def reparameterize(mu, logvar):\n    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)\n",
    "kl_divergence": "def kl_divergence(mu, logvar):\n"
                     "    return 0.5 * (logvar.exp() + mu**2 - 1 - logvar).sum(dim=1)\n",
    "elbo_loss": "def elbo_loss(x, x_logits, mu, logvar):\n"
                 "    rec = F.binary_cross_entropy_with_logits(x_logits, x, reduction='none').flatten(1).sum(1)\n"
                 "    return (rec + kl_divergence(mu, logvar)).mean()\n",
}
_WRONG = {
    "reparameterize": "def reparameterize(mu, logvar):\n    return mu + logvar * torch.randn_like(mu)\n",
    "kl_divergence": "def kl_divergence(mu, logvar):\n    return 0.5 * (logvar.exp() + mu**2 - 1 - logvar).sum()\n",
    "elbo_loss": "def elbo_loss(x, x_logits, mu, logvar):\n"
                 "    return F.binary_cross_entropy_with_logits(x_logits, x) + kl_divergence(mu, logvar).mean()\n",
}


def _stand_in(path: Path, sources: dict[str, str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import sys\n", metadata={"tags": ["setup"]}))
    nb.cells.append(nbformat.v4.new_code_cell(_SUPPORT, metadata={"tags": ["support"]}))
    for name in ("reparameterize", "kl_divergence", "elbo_loss"):
        nb.cells.append(nbformat.v4.new_code_cell(sources[name], metadata={"tags": ["exercise"]}))
        nb.cells.append(nbformat.v4.new_code_cell(f"genlab.checks.check_{name}({name})\n"))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _variant(solution: Path, k: int, dest: Path) -> None:
    """Submission k: the solution with item (k mod 4) replaced by a wrong version (3 in 4 of them)."""
    nb = json.loads(solution.read_text())
    names = list(_WRONG)
    if k % 4 < 3:
        bad = names[k % 4]
        for c in nb["cells"]:
            if c.get("cell_type") == "code" and "exercise" in c.get("metadata", {}).get("tags", []):
                src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                if f"def {bad}(" in src:
                    c["source"] = _WRONG[bad]
    dest.write_text(json.dumps(nb))


def _stub_variant(solution: Path, lab: Path, k: int, dest: Path) -> None:
    """Submission k of another lab: the solution with exercise cell (k mod m) left as the lab's stub (3 in 4)."""
    nb = json.loads(solution.read_text())
    stubs = [c for c in json.loads(lab.read_text())["cells"]
             if c.get("cell_type") == "code" and "exercise" in c.get("metadata", {}).get("tags", [])]
    ex = [c for c in nb["cells"] if c.get("cell_type") == "code" and "exercise" in c.get("metadata", {}).get("tags", [])]
    if k % 4 < 3 and ex and len(ex) == len(stubs):
        i = k % len(ex)
        ex[i]["source"] = stubs[i]["source"]
    dest.write_text(json.dumps(nb))


CHALLENGE_MODES = ("handed-in", "cell", "none")


def _challenge_bytes(lab: str) -> bytes | None:
    """A challenge file to hand in beside every submission (lab 02: the shipped conv_vae), or None."""
    if lab != "02_vae":
        return None
    from genlab.exercises.challenges import save_challenge
    from genlab.weights import load_pretrained

    with tempfile.TemporaryDirectory() as d:
        return save_challenge(load_pretrained("conv_vae"), "02", d).read_bytes()


def _strip_challenge_cells(path: Path) -> None:
    nb = json.loads(path.read_text())
    nb["cells"] = [c for c in nb["cells"] if "challenge" not in c.get("metadata", {}).get("tags", [])]
    path.write_text(json.dumps(nb))


def run_bench(n: int = 200, workers: int = 2, timeout: float = 60.0, lab_name: str = "02",
              challenge: str = "handed-in") -> dict:
    """Grade ``n`` generated submissions of a lab; return timings (seconds, per submission, status counts).

    Lab 02 gets hand-written wrong cells (or a stand-in lab when its notebooks are
    missing); any other graded lab needs its notebooks and gets stubs left in place.
    """
    spec = load_spec(lab_name)
    with tempfile.TemporaryDirectory(prefix="genlab-gradebench-") as d:
        root = Path(d)
        lab, sol = find_lab(lab_name, folder="labs"), find_lab(lab_name, folder="solutions")
        real = lab is not None and sol is not None
        if not real and spec.lab != "02_vae":
            raise SystemExit(f"lab {spec.lab}: labs/ or solutions/ notebook missing; run `genlab build`")
        if not real:
            lab = _stand_in(root / "lab.ipynb", {k: f"def {k}(*a):\n    raise NotImplementedError\n" for k in _SOLUTION})
            sol = _stand_in(root / "solution.ipynb", _SOLUTION)
        code_cells(read_notebook(lab))  # fail early on a broken lab
        subs = root / "subs"
        subs.mkdir()
        if challenge not in CHALLENGE_MODES:
            raise SystemExit(f"--challenge must be one of {', '.join(CHALLENGE_MODES)}, not {challenge!r}")
        handed = _challenge_bytes(spec.lab) if challenge == "handed-in" else None
        handed_name = lab_challenge(spec.lab).file if handed is not None else None
        for k in range(n):
            dest = subs / f"student{k:04d}.ipynb"
            if spec.lab == "02_vae":
                _variant(sol, k, dest)
            else:
                _stub_variant(sol, lab, k, dest)
            if challenge == "none":
                _strip_challenge_cells(dest)
            if handed is not None:
                (subs / f"student{k:04d}.{handed_name}").write_bytes(handed)
        t0 = time.perf_counter()
        results = grade(spec, lab, subs, root / "out", seed=0, limits=Limits(timeout=timeout),
                        workers=workers, progress=True)
        seconds = time.perf_counter() - t0
        shutil.rmtree(subs, ignore_errors=True)
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return {"n": n, "workers": workers, "seconds": round(seconds, 1),
            "per_submission_s": round(seconds / max(1, n), 3),
            # Wall seconds of one grading worker (the measuring workers of the challenge files
            # come on top). CPU time is not reported: processes inside bubblewrap's PID namespace
            # are not children the grader waits for, so getrusage would miss them.
            "worker_mean_s": round(sum(r.seconds for r in results) / max(1, n), 3),
            "load_average_end": round(os.getloadavg()[0], 2),
            "statuses": statuses, "lab": f"real labs/{spec.lab}" if real else "stand-in lab 02",
            "challenge": challenge if handed is not None or challenge != "handed-in" else "none to hand in",
            "challenge_points": round(sum(r.items[c].points for r in results for c in r.items if c.startswith("c_")), 1),
            "full_marks": sum(r.total == sum(i.max_points for i in r.items.values()) for r in results)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--lab", default="02", help="graded lab to bench (default 02)")
    p.add_argument("--challenge", default="handed-in", choices=CHALLENGE_MODES,
                   help="where the challenge files come from (default: handed in beside each notebook)")
    a = p.parse_args(argv)
    print(json.dumps(run_bench(a.n, a.workers, a.timeout, a.lab, a.challenge), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
