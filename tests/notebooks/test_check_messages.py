"""A failing check, executed in a real kernel, reads like a message (issue 15, section 5).

Lab 02 as a student has it: its setup and support cells, then three exercise cells with
a wrong implementation each, each followed by the lab's own check cell. The notebook runs
in an ipykernel through nbclient; each check cell's error output must show the message
(expected, got, the pointer to the hint ladder) with a plain-text verdict, and neither a
traceback through genlab's files nor a line of genlab's code.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]

WRONG = {
    # a wrong value (the KL's sign)
    "kl_divergence": "def kl_divergence(mu, logvar):\n    return -0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(1)\n",
    # a crash inside the student's own code
    "elbo_loss": "def elbo_loss(x, x_logits, mu, logvar):\n    return x_logits.view(3, -1, 7).sum()\n",
    # noise made on the CPU (fails the meta-device case after the probes pass)
    "reparameterize": ("import torch\n\ndef reparameterize(mu, logvar):\n"
                       "    return mu + (0.5 * logvar).exp() * torch.randn(mu.shape, dtype=mu.dtype)\n"),
}


def _student_notebook() -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "labs" / "02_vae.ipynb", as_version=4)
    cells, pending = [], None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        if "setup" in tags or "support" in tags:
            cells.append(cell)
        elif "exercise" in tags:
            pending = next((n for n in WRONG if f"def {n}(" in cell.source), None)
            if pending:
                cells.append(nbformat.v4.new_code_cell(WRONG[pending], metadata={"tags": ["exercise"]}))
        elif pending and f"check_{pending}(" in cell.source:
            cells.append(nbformat.v4.new_code_cell(cell.source, metadata={"tags": [f"check-{pending}"]}))
            pending = None
    nb.cells = cells
    return nb


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    nb = _student_notebook()
    assert sum(1 for c in nb.cells if any(t.startswith("check-") for t in c.metadata["tags"])) == len(WRONG)
    env_before = os.environ.get("GENLAB_FAST")
    os.environ["GENLAB_FAST"] = "1"
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(ROOT / "labs")}}).execute()
    finally:
        if env_before is None:
            os.environ.pop("GENLAB_FAST", None)
        else:
            os.environ["GENLAB_FAST"] = env_before
    return nb


def _error_text(nb, item: str) -> tuple[dict, str]:
    cell = next(c for c in nb.cells if f"check-{item}" in c.metadata["tags"])
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert len(errors) == 1, cell.outputs
    return errors[0], "\n".join(errors[0].traceback)


@pytest.mark.notebook
@pytest.mark.parametrize("item", sorted(WRONG))
def test_a_failing_check_shows_its_message_and_no_genlab_frames(executed, item):
    err, text = _error_text(executed, item)
    assert err.ename == "CheckFailed"
    assert f"FAIL {item}" in text  # the plain-text verdict beside the symbol
    assert f'genlab.hint("{item}"' in text
    assert "genlab/" not in text and "site-packages" not in text and "Traceback" not in text
    assert "File " not in text and "line " not in text.lower().replace("outline", "")
    # no line of genlab's code (its functions' bodies) is quoted
    for banned in ("def ", "return ", "losses.py", "import "):
        assert banned not in text, (banned, text)


@pytest.mark.notebook
def test_the_messages_say_expected_and_got(executed):
    _, kl = _error_text(executed, "kl_divergence")
    assert "expected:" in kl and "got:" in kl
    _, elbo = _error_text(executed, "elbo_loss")
    assert "your function raised RuntimeError" in elbo
    _, rep = _error_text(executed, "reparameterize")
    assert "device" in rep
