"""Build the course website: execute every lecture, lab and solution, render them with MkDocs.

``make site`` (fast mode) or ``make site FULL=1`` (full mode, what GitHub Pages publishes)
runs ``python -m genlab.site``. It

1. executes each notebook of course/, labs/ and solutions/ with nbclient in its own folder
   (labs are allowed to raise: their exercises are unimplemented by design);
2. replaces interactive widget outputs by their static fallback (a widget needs a live
   kernel, a static page has none);
3. writes the executed copies, an index page with the course map, and a generated
   ``mkdocs.yml`` into ``build/site-src/`` and runs ``mkdocs build`` (mkdocs-material with
   mkdocs-jupyter) into ``site/``.

Nothing in the repository's notebooks changes: the executed copies live in ``build/``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .config import environment
from .course import _title_and_summary

FOLDERS = ("course", "labs", "solutions")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
KIND = {"course": "lecture", "labs": "lab", "solutions": "solution"}


def notebooks(root: Path) -> list[Path]:
    """Every notebook the site shows: course/, labs/ and solutions/ ``NN_name.ipynb``."""
    return [p for d in FOLDERS for p in sorted((root / d).glob("[0-9][0-9]_*.ipynb"))]


def _static_outputs(nb) -> None:
    """Drop widget views (no kernel on a static page); keep their image or text fallback."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data and WIDGET_MIME in data:
                data.pop(WIDGET_MIME)
                if set(data) <= {"text/plain"}:
                    data["text/plain"] = "(interactive widget: run the notebook in Jupyter to use it)"
        cell.metadata.pop("widgets", None)
    nb.metadata.pop("widgets", None)


def execute(path: Path, dest: Path, full: bool, timeout: int = 1800) -> tuple[float, int]:
    """Execute one notebook into ``dest``; return (seconds, error outputs)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    is_lab = path.parent.name == "labs"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=is_lab,
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    client.execute()
    _static_outputs(nb)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    errors = sum(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    return time.perf_counter() - t0, errors


def index_page(root: Path, full: bool, docs: Path | None = None) -> str:
    """The site's home page: the course map with a link per staged lecture, lab and solution."""
    docs = docs or root
    rows = ["| # | lecture | lab (you implement) | solution |", "|---|---|---|---|"]
    nums = sorted({p.name[:2] for p in notebooks(docs)})
    for num in nums:
        cells = []
        for folder in FOLDERS:
            found = sorted((docs / folder).glob(f"{num}_*.ipynb"))
            if not found:
                cells.append("")
                continue
            src = root / folder / f"{found[0].stem}.py"
            title = _title_and_summary(src.read_text(encoding="utf-8"))[0] if src.exists() else found[0].stem
            cells.append(f"[{title or found[0].stem}]({folder}/{found[0].stem}.ipynb)")
        rows.append(f"| {num} | " + " | ".join(cells) + " |")
    mode = "full mode (what the course's figures quote)" if full else "fast mode (small data, one epoch: the figures show the pipeline, not the results)"
    return ("# genlab: deep generative models and image restoration\n\n"
            "Every page below is a notebook of the course, executed when the site was built, "
            f"in {mode}. Labs show their exercises unimplemented, so their checks fail by design; "
            "the solutions show the same notebooks solved. Interactive widgets need a live kernel: "
            "open the notebook in Jupyter or Colab to use them.\n\n" + "\n".join(rows) + "\n")


def mkdocs_config(docs: Path, site_dir: Path) -> str:
    """A mkdocs.yml for the staged notebooks in ``docs`` (generated so the nav follows the course)."""
    nav = ["  - Course map: index.md"]
    for folder in FOLDERS:
        items = [f"      - \"{p.stem}\": {folder}/{p.name}" for p in sorted((docs / folder).glob("[0-9][0-9]_*.ipynb"))]
        if items:
            nav.append(f"  - {KIND[folder].capitalize()}s:")
            nav += items
    return f"""site_name: genlab course
site_description: Deep generative models and image restoration in PyTorch, notebook by notebook
docs_dir: docs
site_dir: {site_dir}
use_directory_urls: false
theme:
  name: material
  features: [navigation.sections]
plugins:
  - search
  - mkdocs-jupyter:
      execute: false
      include_source: true
      ignore_h1_titles: true
      allow_errors: true
markdown_extensions:
  - tables
  - pymdownx.arithmatex:
      generic: true
nav:
""" + "\n".join(nav) + "\n"


def build(root: Path, full: bool = False, only: list[str] | None = None, out: Path | None = None,
          stage: Path | None = None) -> int:
    """Execute, stage and render the site into ``out`` (default ``root/site``); return the number of failures.

    ``only`` keeps the notebooks whose path contains one of its strings (a partial site, for tests).
    """
    out = out or root / "site"
    stage = stage or root / "build" / "site-src"
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "docs").mkdir(parents=True)
    failed = 0
    with environment({"GENLAB_FAST": None if full else "1",
                      "MPLBACKEND": "module://matplotlib_inline.backend_inline"}):
        for path in notebooks(root):
            rel = path.relative_to(root)
            if only and not any(o in str(rel) for o in only):
                continue
            try:
                seconds, errors = execute(path, stage / "docs" / rel, full)
                print(f"{rel}: executed in {seconds:.1f} s" + (f" ({errors} error outputs)" if errors else ""))
            except Exception as exc:  # one broken notebook should not hide the others
                failed += 1
                print(f"{rel}: FAILED: {type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}")
    (stage / "docs" / "index.md").write_text(index_page(root, full, stage / "docs"), encoding="utf-8")
    for extra in ("painter.png", "bench_samples_gan.png", "bench_samples_dcgan.png"):
        if (root / "docs" / extra).exists():
            shutil.copy(root / "docs" / extra, stage / "docs" / extra)
    (stage / "mkdocs.yml").write_text(mkdocs_config(stage / "docs", out), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--quiet", "-f", str(stage / "mkdocs.yml")],
                         cwd=stage)
    return failed + (out.returncode != 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genlab.site", description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="execute in full mode (default: fast mode)")
    parser.add_argument("--only", nargs="*", help="build only notebooks whose path contains one of these")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: ROOT/site)")
    args = parser.parse_args(argv)
    out = (args.out or args.root / "site").resolve()
    failed = build(args.root.resolve(), full=args.full, only=args.only, out=out)
    print(f"site: {out / 'index.html'}" + (f" ({failed} failure(s))" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
