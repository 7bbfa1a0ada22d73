"""No executed notebook shows a figure twice or a stray ``<matplotlib...>`` / ``<Figure size ...>`` repr.

Labs are checked where tests/notebooks/test_labs.py already executes them; here a handful of
lectures and solutions that draw with genlab.plot and matplotlib run once more in fast mode.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nboutputs import display_problems

ROOT = Path(__file__).resolve().parents[2]
INLINE = "module://matplotlib_inline.backend_inline"
NOTEBOOKS = ["course/02_vae.ipynb", "course/04_gans_on_images.ipynb", "course/05_restoration.ipynb",
             "course/06_crnn.ipynb", "solutions/05_restoration.ipynb", "solutions/06_crnn.ipynb"]


def test_the_checker_catches_both_faults():
    nb = nbformat.v4.new_notebook()
    png = {"image/png": "iVBOR", "text/plain": "<Figure size 640x480 with 1 Axes>"}
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure ...>"}),
        nbformat.v4.new_output("execute_result", data=png, execution_count=1)]),
        nbformat.v4.new_code_cell("ax.legend()", outputs=[nbformat.v4.new_output(
            "execute_result", data={"text/plain": "<matplotlib.legend.Legend at 0x7f00aa>"}, execution_count=2)])]
    problems = display_problems(nb)
    assert any("twice" in p for p in problems) and any("Legend" in p for p in problems)
    once = nbformat.v4.new_notebook()
    once.cells = [nbformat.v4.new_code_cell("plot", outputs=[nbformat.v4.new_output("display_data", data=png)])]
    assert display_problems(once) == []


def test_plot_helpers_do_not_display_their_figure_again():
    import matplotlib

    matplotlib.use("Agg")
    import torch

    from genlab import plot

    drawn = plot.show_grid(torch.rand(4, 1, 8, 8))
    assert hasattr(drawn, "_ipython_display_") and not hasattr(drawn, "_repr_png_")
    assert drawn.figure.axes and callable(drawn.savefig)


@pytest.mark.notebook
@pytest.mark.parametrize("rel", NOTEBOOKS)
def test_no_duplicate_figures_or_stray_reprs(rel, tmp_path):
    nb = nbformat.read(ROOT / rel, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str((ROOT / rel).parent)}})
    before = {k: os.environ.get(k) for k in ("GENLAB_FAST", "MPLBACKEND")}
    # The inline backend, as in Jupyter (the suite's Agg would hide the figures we count).
    os.environ.update(GENLAB_FAST="1", MPLBACKEND=INLINE)
    try:
        client.execute()
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert not (problems := display_problems(nb)), f"{rel}:\n" + "\n".join(problems)
