"""The results registry (docs/results.json) and the quoted figures `genlab build` verifies."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from genlab import results
from genlab.course import build
from genlab.errors import BuildError

ROOT = Path(__file__).resolve().parents[2]

LECTURE = '''# %% [markdown]
# # 99 · Test
#
# The MLP GAN reaches a Frechet ratio of 3.01<!--r:gan.mlp.fd_ratio--> and biharmonic wins
# by 3.8<!--r:restore.photos.best_minus_biharmonic.centre|neg--> dB.

# %% tags=["setup"]

# %%
print(1)
'''


def _registry(path: Path, mlp: float = 3.0126, centre: float = -3.76) -> None:
    entry = {"unit": "x", "mode": "full", "seed": 0, "commit": "abc", "date": "2026-01-01", "machine": {}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": 1, "results": {
        "gan.mlp.fd_ratio": {"value": mlp, **entry},
        "restore.photos.best_minus_biharmonic.centre": {"value": centre, **entry}}}))


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "course").mkdir()
    (tmp_path / "solutions").mkdir()
    (tmp_path / "course" / "99_test.py").write_text(LECTURE)
    _registry(tmp_path / "docs" / "results.json")
    return tmp_path


def test_quoted_figures_that_match_build_and_check(tmp_path):
    root = _repo(tmp_path)
    assert build(root, out=io.StringIO()) == 0
    assert build(root, check=True, out=io.StringIO()) == 0
    nb = json.loads((root / "course" / "99_test.ipynb").read_text())
    assert "3.01<!--r:gan.mlp.fd_ratio-->" in "".join(nb["cells"][0]["source"])


def test_a_changed_registry_figure_fails_build_check(tmp_path):
    root = _repo(tmp_path)
    assert build(root, out=io.StringIO()) == 0
    _registry(root / "docs" / "results.json", mlp=3.4)  # the figure moved; the sentence did not
    with pytest.raises(BuildError, match=r"99_test.py:\d+: the text says 3.01 but the registry has gan.mlp.fd_ratio"):
        build(root, check=True, out=io.StringIO())


def test_the_cli_check_exits_nonzero_on_a_stale_figure(tmp_path, capsys):
    from genlab.cli import main

    root = _repo(tmp_path)
    _registry(root / "docs" / "results.json", centre=-4.2)
    assert main(["build", "--check", "--root", str(root)]) != 0
    assert "restore.photos.best_minus_biharmonic.centre" in capsys.readouterr().err


def test_unknown_keys_and_loose_markers_are_errors():
    reg = {"a.b": {"value": 1.234}}
    assert results.check_text("x 1.23<!--r:a.b--> y", "f", reg) == []
    assert "not in the results registry" in results.check_text("1.2<!--r:nope-->", "f", reg)[0]
    assert "must follow a number" in results.check_text("about <!--r:a.b-->", "f", reg)[0]
    assert results.check_text("123.4<!--r:a.b|pct-->", "f", reg) == []
    assert results.check_text("-1.2<!--r:a.b|neg-->", "f", reg) == []


def test_record_is_a_no_op_unless_asked_and_never_in_fast_mode(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    monkeypatch.delenv("GENLAB_RECORD_RESULTS", raising=False)
    monkeypatch.delenv("GENLAB_FAST", raising=False)
    assert results.record("x.y", 1.0, path=path) is None and not path.exists()
    monkeypatch.setenv("GENLAB_RECORD_RESULTS", "1")
    monkeypatch.setenv("GENLAB_FAST", "1")
    results.record("x.y", 1.0, path=path)
    assert not path.exists()
    monkeypatch.delenv("GENLAB_FAST")
    results.record("x.y", 1.5, unit="dB", seed=3, path=path)
    e = results.entry("x.y", path)
    assert e["value"] == 1.5 and e["mode"] == "full" and e["seed"] == 3 and e["date"] and "nproc" in e["machine"]
    with pytest.raises(TypeError, match="expected a number"):
        results.record("x.z", "3", path=path)


def test_import_benchmarks_keeps_recorded_figures(tmp_path):
    path = tmp_path / "results.json"
    _registry(path)
    shutil.copy(ROOT / "docs" / "benchmarks.json", tmp_path / "benchmarks.json")
    n = results.import_benchmarks(tmp_path / "benchmarks.json", path)
    reg = results.load(path)
    assert n > 50 and reg["bench.gan.mlp_gan_fd_real_fd"]["value"] == 3.01
    assert reg["bench.gan.mlp_gan_fd_real_fd"]["measured_by"] == "genlab bench --only gan"
    assert reg["gan.epoch_cost_ratio"]["value"] == pytest.approx(6.65, abs=0.01)
    assert "restore.photos.best_minus_biharmonic.centre" in reg  # not a bench key: kept


def test_the_committed_registry_backs_every_quoted_figure():
    texts = {str(p.relative_to(ROOT)): p.read_text() for d in ("course", "solutions")
             for p in sorted((ROOT / d).glob("[0-9][0-9]_*.py"))}
    results.check_sources(texts, ROOT / "docs" / "results.json")
