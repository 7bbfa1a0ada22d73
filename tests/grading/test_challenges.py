"""Challenges: the file format, bad files, and one grading batch through the sandbox (tiny models).

The batch grades the fixture lab under lab 01's number, so lab 01's challenge (an
autoencoder's reconstruction MSE) is its ``c_recon`` column; every model here is a
small MLP autoencoder trained for a second.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
from pathlib import Path

import pytest
import torch
from gradekit import DOUBLE_OK, KL_OK, fixture_spec, lab_cells, read_book, write_nb

from genlab import data, models, train
from genlab.exercises import GRADED_LABS, challenges
from genlab.exercises.challenges import ChallengeError, find, load_artefact, save_challenge
from genlab.grading import challenges as gc
from genlab.grading.grader import grade
from genlab.grading.sandbox import Limits

CH = find("01")
TRAIN_CELL = ("import genlab\nfrom genlab import data, models, train\ntorch.manual_seed(0)\n"
              "m = models.build('ae', image_size=16, channels=1, hidden=64, latent_dim=8)\n"
              "x, _ = data.load('digits', 'train', 16)\n"
              "train.fit(train.AutoencoderTask(m, lr=3e-3), x, 15, batch_size=64, progress=False)\n"
              "genlab.save_challenge(m, '01')\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A challenge file of a small trained autoencoder (reaches at least one threshold)."""
    folder = tmp_path_factory.mktemp("trained")
    torch.manual_seed(0)
    m = models.build("ae", image_size=16, channels=1, hidden=64, latent_dim=8)
    x, _ = data.load("digits", "train", 16)
    train.fit(train.AutoencoderTask(m, lr=3e-3), x, 15, batch_size=64, progress=False)
    return save_challenge(m, "01", folder)


def test_every_graded_lab_has_a_challenge_with_distinct_columns():
    chs = [find(nn) for nn in GRADED_LABS]
    assert all(chs), [nn for nn, c in zip(GRADED_LABS, chs, strict=True) if c is None]
    assert all(c.cid.startswith("c_") and list(c.thresholds) == sorted(c.thresholds, reverse=not c.higher_is_better)
               for c in chs)
    assert len({c.cid for c in chs}) == len(chs)
    assert gc.challenge_ids("99_fixture") == []  # a lab without one adds no column


def test_round_trip_and_scores(trained):
    model = load_artefact(CH, trained.read_bytes())
    assert isinstance(model, models.MLPAutoencoder) and not model.training
    assert challenges.check_challenge("01", trained) >= 1
    (trained.parent / "u").mkdir(exist_ok=True)
    untrained = save_challenge(models.build("ae", image_size=16, channels=1), "01", trained.parent / "u")
    assert challenges.check_challenge("01", untrained) == 0  # an untrained model reaches no threshold


def _payload(**change) -> bytes:
    m = models.build("ae", image_size=16, channels=1, hidden=8, latent_dim=2)
    p = {"format": challenges.ARTEFACT_FORMAT, "lab": "01", "model": "ae",
         "config": dataclasses.asdict(m.config), "state_dict": m.state_dict(), **change}
    buf = io.BytesIO()
    torch.save(p, buf)
    return buf.getvalue()


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("make, words", [
    (lambda: b"not a torch file", "weights_only=True"),
    (lambda: pickle.dumps({"model": _Evil()}), "weights_only=True"),
    (lambda: _payload(model="dcgan"), "takes ae, conv_ae"),
    (lambda: _payload(config={"image_size": 28, "channels": 1}), "image_size=16"),
    (lambda: _payload(config={"image_size": 16, "hidden": 10**6}), "budget"),
    (lambda: _payload(state_dict={}), "missing"),
    (lambda: _payload(state_dict={k: torch.full_like(v, float("nan")) for k, v in
                                  models.build("ae", image_size=16, hidden=8, latent_dim=2).state_dict().items()}),
     "NaN"),
    (lambda: b"x" * (challenges.MAX_ARTEFACT_BYTES + 1), "limit"),
])
def test_bad_files_are_refused_with_a_message(make, words):
    with pytest.raises(ChallengeError, match=words):
        load_artefact(CH, make())


def test_a_link_is_not_read(tmp_path, trained):
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "a.challenge_01.pt").symlink_to(trained)
    got, problem = gc.read_submitted(CH, tmp_path / "a.ipynb")
    assert got is None and "link" in problem


@pytest.fixture(scope="module")
def batch(tmp_path_factory, trained):
    base = tmp_path_factory.mktemp("chal")
    os.chmod(base, 0o700)
    lab = write_nb(base / "labs" / "01_fixture.ipynb", lab_cells())
    subs = base / "subs"
    ok = lab_cells(DOUBLE_OK, KL_OK)
    write_nb(subs / "handed.ipynb", ok)
    (subs / "handed.challenge_01.pt").write_bytes(trained.read_bytes())
    write_nb(subs / "evil.ipynb", ok)
    (subs / "evil.challenge_01.pt").write_bytes(pickle.dumps({"model": _Evil()}))
    write_nb(subs / "cell.ipynb", [*ok, (TRAIN_CELL, ["challenge"])])
    write_nb(subs / "crash.ipynb", [*ok, ("import os\nos._exit(3)\n", ["challenge"])])
    write_nb(subs / "folder" / "01_fixture.ipynb", ok)
    (subs / "folder" / "challenge_01.pt").write_bytes(trained.read_bytes())
    write_nb(subs / "none.ipynb", ok)
    spec = dataclasses.replace(fixture_spec(), lab="01_fixture")
    out = base / "out"
    grade(spec, lab, subs, out, seed=3, limits=Limits(timeout=30, step_timeout=8, challenge_timeout=20),
          workers=2, progress=False)
    return read_book(out), (out / "gradebook.csv").read_text()


def test_challenge_column_in_gradebook(batch):
    book, csv = batch
    assert "c_recon" in csv.splitlines()[0].split(",")
    for s in book.values():  # the code items are never touched by the challenge
        assert s["items"]["double"]["passed"] and s["items"]["kl_divergence"]["passed"], s


@pytest.mark.parametrize("student", ["handed", "cell", "folder"])
def test_good_files_score(batch, student):
    c = batch[0][student]["items"]["c_recon"]
    assert c["points"] >= 1, c["messages"]


@pytest.mark.parametrize("student, words", [
    ("evil", "weights_only=True"), ("crash", "no challenge_01.pt"), ("none", "no challenge_01.pt")])
def test_bad_or_missing_files_score_zero_with_a_message(batch, student, words):
    c = batch[0][student]["items"]["c_recon"]
    assert c["points"] == 0 and any(words in m for m in c["messages"]), c["messages"]


def test_a_batch_that_breaks_its_worker_costs_only_the_file_that_broke_it(trained):
    """Several files share a measuring worker; one that kills it is measured alone, the rest keep their score."""
    good = trained.read_bytes()
    killer = b"KILL" + good  # the stand-in worker below dies on this one
    calls: list[int] = []

    class FakeSandbox:  # plays the measuring worker: measures in-process, dies on a KILL file
        def run(self, job, inputs, extra_cpu=0.0):
            from genlab.grading.sandbox import WorkerResult
            n = job["count"]
            calls.append(n)
            wr, per_file = WorkerResult(), {}
            wr.status = {"challenge": per_file}
            for i in range(n):
                raw = inputs[f"{i}/artefact"].numpy().tobytes()
                if raw.startswith(b"KILL"):
                    wr.returncode = -9  # died here: nothing more is reported
                    return wr
                d = {k.split("/", 2)[2]: v for k, v in inputs.items() if k.startswith(f"{i}/data/")}
                wr.results[f"challenge/{i}/value"] = torch.tensor([challenges.evaluate_bytes(CH, raw, d)],
                                                                  dtype=torch.float64)
                per_file[str(i)] = {"error": None, "cpu_s": 0.1}
            wr.status["done"] = True
            return wr

    runner = gc.ChallengeRunner.__new__(gc.ChallengeRunner)
    runner.ch, runner.limits, runner.sandbox = CH, Limits(), FakeSandbox()
    got = runner.measure_many([(good, 1), (killer, 2), (good, 3), (good, 4)])
    assert calls == [4, 1, 1, 1]  # the batch, then each file it did not reach, alone
    assert [v is not None for v, _, _ in got] == [True, False, True, True], got
    assert "stopped without a result" in got[1][1]
    # the same seed draws the same held-back data, alone or in a batch
    assert got[0][0] == runner.measure_many([(good, 1)])[0][0]


def test_challenge_timeout_zero_runs_no_challenge_cell(tmp_path):
    """`genlab grade --challenge-timeout 0`: handed-in files only; a challenge cell is not run, and the message says so."""
    os.chmod(tmp_path, 0o700)
    lab = write_nb(tmp_path / "labs" / "01_fixture.ipynb", lab_cells())
    subs = tmp_path / "subs"
    write_nb(subs / "cell.ipynb", [*lab_cells(DOUBLE_OK, KL_OK), ("open('ran', 'w').write('x')\n" + TRAIN_CELL, ["challenge"])])
    spec = dataclasses.replace(fixture_spec(), lab="01_fixture")
    (r,) = grade(spec, lab, subs, tmp_path / "out", seed=3,
                 limits=Limits(timeout=30, step_timeout=8, challenge_timeout=0), workers=1, progress=False)
    c = r.items["c_recon"]
    assert c.points == 0 and any("--challenge-timeout 0" in m for m in c.messages), c.messages
    assert r.items["double"].passed  # the items are graded all the same


def test_cli_refuses_a_negative_challenge_timeout(capsys):
    from genlab.cli import main
    assert main(["grade", "02", "subs", "--out", "o", "--challenge-timeout", "-1"]) == 2
    assert "--challenge-timeout must be 0 or more" in capsys.readouterr().err
