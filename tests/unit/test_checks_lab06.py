"""Lab 06 checks: the reshapes and the CRNN forward, on the solution and on classic mistakes."""

from pathlib import Path

import pytest
import torch

from genlab.checks import CheckFailed
from genlab.checks.lab06 import check_crnn, check_rows_to_sequences, check_sequences_to_rows
from genlab.models import crnn as ref

ROOT = Path(__file__).resolve().parents[2]


def _solution_namespace():
    """Execute the solution's exercise cells only (no training), like the autograder does."""
    src = (ROOT / "solutions" / "06_crnn.py").read_text()
    cells = src.split("# %%")
    code = "import torch\nfrom torch import nn\n" + "\n".join(
        c.split("\n", 1)[1] for c in cells if c.startswith(' tags=["exercise"]'))
    ns: dict = {}
    exec(compile(code, "solutions/06_crnn.py", "exec"), ns)
    return ns


SOL = _solution_namespace()


def test_lab06_checks_pass_on_references(capsys):
    assert check_rows_to_sequences(ref.rows_to_sequences)
    assert check_sequences_to_rows(ref.sequences_to_rows)
    assert check_rows_to_sequences(SOL["rows_to_sequences"])
    assert check_sequences_to_rows(SOL["sequences_to_rows"])
    assert check_crnn(SOL["CRNN"])
    assert capsys.readouterr().out.count("all checks passed") == 5


def _variant(forward):
    class Wrong(SOL["CRNN"]):
        pass
    Wrong.forward = forward
    return Wrong


def _no_composite(self, x_masked, mask):
    b = x_masked.shape[0]
    feat = self.encoder(torch.cat([x_masked, mask], 1))
    out, _ = self.row_rnn(ref.rows_to_sequences(feat))
    feat = feat + ref.sequences_to_rows(self.row_proj(out), b, feat.shape[2])
    out, _ = self.col_rnn(ref.cols_to_sequences(feat))
    feat = feat + ref.sequences_to_cols(self.col_proj(out), b, feat.shape[3])
    return torch.sigmoid(self.decoder(feat))


def _no_sigmoid(self, x_masked, mask):
    x_hat = torch.logit(_no_composite(self, x_masked, mask).clamp(1e-6, 1 - 1e-6)) * 3
    return mask * x_hat + (1 - mask) * x_masked


def _rows_only(self, x_masked, mask):
    b = x_masked.shape[0]
    feat = self.encoder(torch.cat([x_masked, mask], 1))
    out, _ = self.row_rnn(ref.rows_to_sequences(feat))
    feat = feat + ref.sequences_to_rows(self.row_proj(out), b, feat.shape[2])
    x_hat = torch.sigmoid(self.decoder(feat))
    return mask * x_hat + (1 - mask) * x_masked


def _view_bug(self, x_masked, mask):
    b = x_masked.shape[0]
    feat = self.encoder(torch.cat([x_masked, mask], 1))
    _, f, h, w = feat.shape
    out, _ = self.row_rnn(feat.reshape(b * h, w, f))          # the classic view bug
    feat = feat + self.row_proj(out).reshape(b, f, h, w)
    out, _ = self.col_rnn(feat.reshape(b * w, h, f))
    feat = feat + self.col_proj(out).reshape(b, f, h, w)
    x_hat = torch.sigmoid(self.decoder(feat))
    return mask * x_hat + (1 - mask) * x_masked


def _no_residual(self, x_masked, mask):
    b = x_masked.shape[0]
    feat = self.encoder(torch.cat([x_masked, mask], 1))
    out, _ = self.row_rnn(ref.rows_to_sequences(feat))
    feat = ref.sequences_to_rows(self.row_proj(out), b, feat.shape[2])
    out, _ = self.col_rnn(ref.cols_to_sequences(feat))
    feat = ref.sequences_to_cols(self.col_proj(out), b, feat.shape[3])
    x_hat = torch.sigmoid(self.decoder(feat))
    return mask * x_hat + (1 - mask) * x_masked


@pytest.mark.parametrize("forward, words", [
    (_no_composite, "composite"),
    (_no_sigmoid, "sigmoid"),
    (_rows_only, "BOTH sweeps"),
    (_view_bug, "batch|docstring"),
    (_no_residual, "docstring"),
])
def test_crnn_catches_mistakes(forward, words):
    with pytest.raises(CheckFailed, match=words):
        check_crnn(_variant(forward))


def test_unimplemented_forward_is_reported():
    def todo(self, x_masked, mask):
        raise NotImplementedError
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check_crnn(_variant(todo))


def test_stretch_column_sweep(capsys):
    from genlab.checks.lab06 import check_cols_to_sequences, check_sequences_to_cols

    assert check_cols_to_sequences(SOL["cols_to_sequences"])
    assert check_sequences_to_cols(SOL["sequences_to_cols"])
    assert check_cols_to_sequences(ref.cols_to_sequences)
    assert capsys.readouterr().out.count("all checks passed") == 3
    with pytest.raises(CheckFailed, match="these are the rows"):
        check_cols_to_sequences(ref.rows_to_sequences)
    feat = torch.randn(2, 3, 4, 5)
    seq = SOL["cols_to_sequences"](feat)
    assert torch.equal(seq[1 * 5 + 2, 3], feat[1, :, 3, 2])
    assert torch.equal(SOL["sequences_to_cols"](seq, 2, 5), feat)
