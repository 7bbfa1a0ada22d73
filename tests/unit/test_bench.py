"""Tests of the benchmarks (``python -m bench``, bench/suite.py): the pieces against references, and ``--quick`` end to end (JSON structure).

The end-to-end run is marked ``slow`` (it trains every model for a few CPU seconds);
the other tests take well under a second each.
"""

from __future__ import annotations

import argparse
import json
import math

import pytest
import torch

from bench import suite as bench
from genlab.models import build
from genlab.train import GANTask, VAETask, fit


def test_entropy_floor_matches_closed_form():
    # One image of pixels 0, 1, 0.5, 0.25: H = 0 + 0 + log 2 + H(0.25).
    x = torch.tensor([0.0, 1.0, 0.5, 0.25]).reshape(1, 1, 2, 2)
    h25 = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert bench.bernoulli_entropy_floor(x) == pytest.approx(math.log(2) + h25, rel=1e-12)


def test_entropy_floor_is_a_lower_bound_of_the_bernoulli_loss():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 4, 4, generator=g)
    floor = bench.bernoulli_entropy_floor(x)
    logits = torch.randn(4, 1, 4, 4, generator=g)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 4
    at_optimum = torch.nn.functional.binary_cross_entropy_with_logits(torch.logit(x.double()), x.double(),
                                                                      reduction="sum") / 4
    assert float(bce) > floor
    assert float(at_optimum) == pytest.approx(floor, rel=1e-9)


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_bare_loops_reproduce_fit_exactly(kind):
    torch.set_num_threads(1)
    x = torch.rand(40, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    if kind == "vae":
        init = build("mlp_vae", hidden=32, latent_dim=4)
        task, bare, lr = VAETask(_copy(init), lr=1e-3), bench._bare_vae, 1e-3
    else:
        init = build("gan", hidden=16, z_dim=4)
        task, bare, lr = GANTask(_copy(init), lr=2e-4), bench._bare_gan, 2e-4
    hist = fit(task, x, 2, batch_size=16, device="cpu", progress=False, seed=3)
    losses = bare(_copy(init), x, 2, 3, 16, lr)
    assert len(losses) == 6
    assert hist.steps["loss"] == losses  # identical, not merely close


def _copy(m):
    import copy

    return copy.deepcopy(m)


def test_cpu_budget_stops_fit():
    torch.set_num_threads(1)
    x = torch.rand(64, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    task = VAETask(build("mlp_vae", hidden=16, latent_dim=2), lr=1e-3)
    info = bench._train_budget(task, x, seconds=0.0, seed=0, batch_size=16)
    assert info["steps"] == 1 and info["epochs"] == 1  # stops after the first step, whole history kept


def test_figures_and_table_say_missed_plainly():
    ok = bench._budget_fig("a", 1.0, "x", "<=", 1.05)
    missed = bench._budget_fig("b", 1.2, "x", "<=", 1.05)
    none = bench._fig("c", float("nan"), "s", "<= 3", None)
    assert (ok["status"], missed["status"], none["status"]) == ("ok", "MISSED", "MISSED")
    assert none["value"] is None  # NaN is not valid JSON
    report = {"benchmarks": {"t": {"title": "T", "seconds": 1.0, "figures": [ok, missed]}}}
    table = bench.format_table(report)
    assert "| b | 1.2 x | <= 1.05 x | MISSED |" in table
    assert "Targets missed: 1 - t: b" in table


def test_cli_parses_only_and_rejects_unknown_names():
    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    a = p.parse_args(["--quick", "--only", "vae", "gan", "--json", "x.json"])
    assert a.quick and a.only == ["vae", "gan"] and a.json == "x.json"
    with pytest.raises(SystemExit):
        p.parse_args(["--only", "nope"])


EXPECTED = {
    "trainer": ["conv VAE: fit / bare loop, CPU time", "conv VAE: max abs(loss fit - loss bare)",
                "DCGAN: fit / bare loop, CPU time", "DCGAN: max abs(loss fit - loss bare)"],
    "data_loading": ["in-memory batches", "DataLoader workers=2 / in-memory"],
    "vae": ["entropy floor of the test set", "conv VAE: test -ELBO", "conv VAE: test -IWAE (k=64)",
            "MLP VAE 256-400-20: test -ELBO"],
    "gan": ["DCGAN: FD / real FD", "DCGAN: classes covered", "MLP GAN: FD / real FD"],
    "restoration": ["digits centre 8x8: best learned - biharmonic",
                    "digits 5-row band: CRNN - conv repairer (seed mean)"],
    "photos": [f"photos {size}px {mask}: best learned - biharmonic" for size in (32, 64)
               for mask in ("centre 16x16", "5-row band", "6 scattered rows", "3 strokes")],
    "course": ["all notebooks, fast mode, total wall", "notebooks failing"],
    "grading": ["200 lab-02 submissions, 2 workers, challenge files handed in, wall (EXTRAPOLATED)",
                "200 lab-02 submissions, 2 workers, every challenge cell run by the grader, wall (EXTRAPOLATED)"],
}


@pytest.mark.slow
def test_quick_run_writes_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    rc = bench.main(["--quick", "--json", str(out), "--no-progress"])
    report = json.loads(out.read_text())
    errors = {k: v.get("error") for k, v in report["benchmarks"].items() if "error" in v}
    assert not errors, errors
    assert rc == 0
    assert set(report["benchmarks"]) == set(bench.BENCHMARKS)
    assert report["meta"]["quick"] is True and report["meta"]["machine_start"]["nproc"] >= 1
    for name, figures in EXPECTED.items():
        res = report["benchmarks"][name]
        have = {f["name"]: f for f in res["figures"]}
        for fig in figures:
            assert fig in have, (name, fig, list(have))
            assert have[fig]["status"] in ("ok", "MISSED", "-")
        for f in res["figures"]:
            assert set(f) == {"name", "value", "unit", "target", "ok", "status", "note"}
            assert f["status"] != "ok" or f["target"] is not None
    # the trainer's losses agree exactly, whatever the timings
    trainer = {f["name"]: f for f in report["benchmarks"]["trainer"]["figures"]}
    assert trainer["conv VAE: max abs(loss fit - loss bare)"]["value"] == 0
    # sample grids were written beside the JSON
    for key in ("dcgan", "gan"):
        assert (tmp_path / "bench_out" / f"bench_samples_{key}.png").stat().st_size > 0


def test_merge_keeps_canonical_order_and_every_meta():
    a = {"meta": {"quick": False, "id": "a"}, "benchmarks": {"vae": {"title": "V", "figures": []}}}
    b = {"meta": {"quick": False, "id": "b"}, "benchmarks": {"trainer": {"title": "T", "figures": []}}}
    merged = bench.merge_reports([a, b])
    assert list(merged["benchmarks"]) == ["trainer", "vae"]
    assert [m["id"] for m in merged["meta"]["merged_from"]] == ["a", "b"]
