"""The training notebooks run end to end on MNIST and CIFAR-10 files in their real on-disk formats.

tests/fakedata.py writes tiny MNIST IDX files and CIFAR-10 pickle batches into a
temporary ``GENLAB_DATA``; each notebook then executes in fast mode with
``GENLAB_DATASET`` set, so the whole path from the dataset switch through the
models to the plots runs on 28x28 gray and 32x32 colour images. No download:
torchvision reads the files it finds. The kernel gets one extra first cell that
makes torchvision accept the tiny CIFAR files (their md5 cannot match the
official archive's), the same test-only patch as tests/unit/test_data.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.fakedata import CIFAR_MD5_PATCH, write_all

ROOT = Path(__file__).resolve().parents[2]

#: Run in CI on both datasets (about 20 s of CPU each on digits-sized fake data; the bulk is the
#: notebooks' own fast-mode work, which their digits run under nbval already pays).
CORE = ["course/02_vae", "course/04_gans_on_images", "course/05_restoration", "solutions/02_vae"]
#: The other training notebooks: run only with GENLAB_ALL_DATASET_NOTEBOOKS=1 (they add several
#: CPU minutes; every one of them passed on both datasets when this file was written).
EXTRA = ["course/01_autoencoders", "course/06_crnn", "solutions/01_autoencoders",
         "solutions/04_gans_on_images", "solutions/05_restoration", "solutions/06_crnn"]
NOTEBOOKS = CORE + EXTRA
DATASETS = ["mnist", "cifar10"]
ALL = os.environ.get("GENLAB_ALL_DATASET_NOTEBOOKS", "").strip() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def data_home(tmp_path_factory) -> Path:
    # 160 training and 80 test images per dataset: enough for every slice the notebooks take
    return write_all(tmp_path_factory.mktemp("genlab-data"), n_train=160, n_test=80)


def _text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o.get("text", ""))
            elif "data" in o and "text/plain" in o["data"]:
                out.append(o["data"]["text/plain"])
    return "\n".join(out)


@pytest.mark.notebook
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", NOTEBOOKS, ids=[n.replace("/", "-") for n in NOTEBOOKS])
def test_notebook_runs_on_real_format_data(name, dataset, data_home, tmp_path, monkeypatch):
    if name in EXTRA and not ALL:
        pytest.skip("set GENLAB_ALL_DATASET_NOTEBOOKS=1 to run every training notebook on this dataset")
    nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(CIFAR_MD5_PATCH))
    # the kernel inherits this process's environment
    monkeypatch.setenv("GENLAB_FAST", "1")
    monkeypatch.setenv("GENLAB_DATASET", dataset)
    monkeypatch.setenv("GENLAB_DATA", str(data_home))
    monkeypatch.setenv("GENLAB_DEVICE", "cpu")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = _text(nb)
    assert f"dataset: {dataset} (" in text, f"{name} does not name the dataset {dataset!r} in its outputs"
    assert os.environ["GENLAB_DATASET"] == dataset
