"""Build the course: every .ipynb from its py:percent source, and labs/ from solutions/.

The py:percent files are the source of truth (they diff well and review well);
Colab and GitHub open only ``.ipynb``, so the build writes those beside them
with empty outputs. Labs are generated from solutions:

* code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes
  ``raise NotImplementedError(<hint>)``; the hint is the text of a
  ``# HINT: ...`` line directly after ``### BEGIN SOLUTION`` (if any);
* Markdown between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``
  is removed, markers included.

Every notebook's first cell is the setup cell (tag ``setup``); the build
writes it from one template so the Colab install URL lives in one place
(``genlab.config.REPO_URL``).

``genlab build --check`` writes nothing and exits 1 listing each file that
differs from what the build would write.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import REPO_BRANCH, REPO_URL
from .errors import BuildError

SOURCE_DIRS = ("course", "solutions")
LAB_DIR = "labs"
NOTEBOOK_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.py$")

CODE_BEGIN = "### BEGIN SOLUTION"
CODE_END = "### END SOLUTION"
MD_BEGIN = "<!-- BEGIN SOLUTION -->"
MD_END = "<!-- END SOLUTION -->"
HINT_PREFIX = "# HINT:"
DEFAULT_HINT = "Replace this line with your solution."

HEADER = """\
# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""

SETUP_MARK = '# %% tags=["setup"]'


def setup_cell_body() -> str:
    """The body of every notebook's first code cell (tag ``setup``).

    Locally genlab is installed (``make lab``) and the cell only imports it. On
    Colab (or any kernel without genlab) it installs genlab from the course
    repository first. ``genlab.session.start()`` then reports the device and
    mode and, on Colab, enables the custom widget manager.
    """
    return (
        "# Setup: on Colab this installs genlab from the course repository; locally it changes nothing.\n"
        "try:\n"
        "    import genlab\n"
        "except ImportError:\n"
        f'    %pip install -q "genlab @ git+{REPO_URL}@{REPO_BRANCH}"\n'
        "    import genlab\n"
    )


def _setup_cell_py() -> list[str]:
    """The setup cell as py:percent lines (magics commented, as jupytext writes them)."""
    lines = [SETUP_MARK]
    for line in setup_cell_body().splitlines():
        stripped = line.lstrip()
        if stripped.startswith("%"):
            indent = line[: len(line) - len(stripped)]
            line = f"{indent}# {stripped}"
        lines.append(line)
    return lines


@dataclass
class Output:
    """One file the build writes: its path and its exact text."""

    path: Path
    text: str
    source: Path | None = None


# --------------------------------------------------------------------------------------------
# Source normalisation and lab generation (text level, so errors can name file and line).
# --------------------------------------------------------------------------------------------

def normalise_source(text: str, path: Path) -> str:
    """Return the source with the standard header and the setup cell from the template.

    Raises BuildError when the file has no setup cell.
    """
    lines = text.splitlines()
    # Drop an existing header block.
    if lines and lines[0] == "# ---":
        try:
            end = lines.index("# ---", 1)
        except ValueError:
            raise BuildError(f"{path}:1: the jupytext header starting with '# ---' is not closed.") from None
        lines = lines[end + 1:]
    while lines and not lines[0].strip():
        lines.pop(0)
    # Replace the setup cell with the template.
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith(SETUP_MARK))
    except StopIteration:
        raise BuildError(f"{path}: no setup cell. Every notebook starts its code with a cell "
                         f"marked {SETUP_MARK!r} (the build fills in its body).") from None
    stop = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("# %%")), len(lines))
    body = _setup_cell_py() + [""]
    lines = lines[:start] + body + lines[stop:]
    return HEADER + "\n" + "\n".join(lines).rstrip("\n") + "\n"


def _check_markers(lines: list[str], path: Path) -> None:
    """Fail on unbalanced or nested solution markers, naming file and line."""
    open_at: tuple[str, int] | None = None
    for no, line in enumerate(lines, 1):
        for begin, end, kind in ((CODE_BEGIN, CODE_END, "code"), (MD_BEGIN, MD_END, "markdown")):
            if begin in line:
                if open_at is not None:
                    raise BuildError(f"{path}:{no}: {begin!r} inside the solution block opened at line "
                                     f"{open_at[1]}; solution blocks cannot be nested.")
                open_at = (kind, no)
            elif end in line:
                if open_at is None:
                    raise BuildError(f"{path}:{no}: {end!r} without a matching {begin!r} before it.")
                if open_at[0] != kind:
                    raise BuildError(f"{path}:{no}: {end!r} closes the {open_at[0]} block opened at "
                                     f"line {open_at[1]}.")
                open_at = None
        if open_at is not None and line.startswith("# %%") and open_at[1] != no:
            raise BuildError(f"{path}:{open_at[1]}: solution block is not closed before the next cell "
                             f"(line {no}).")
    if open_at is not None:
        raise BuildError(f"{path}:{open_at[1]}: solution block is never closed.")


def make_lab(text: str, path: Path) -> str:
    """Turn a solution source (py:percent text) into the student lab's source text."""
    lines = text.splitlines()
    _check_markers(lines, path)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if CODE_BEGIN in line:
            indent = line[: len(line) - len(line.lstrip())]
            hint = DEFAULT_HINT
            j = i + 1
            if j < len(lines) and lines[j].strip().startswith(HINT_PREFIX):
                hint = lines[j].strip()[len(HINT_PREFIX):].strip() or DEFAULT_HINT
            while CODE_END not in lines[j]:
                j += 1
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f"{indent}raise NotImplementedError({hint!r})")
            i = j + 1
            continue
        if MD_BEGIN in line:
            j = i
            while MD_END not in lines[j]:
                j += 1
            i = j + 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out).rstrip("\n") + "\n"


# --------------------------------------------------------------------------------------------
# py:percent -> ipynb
# --------------------------------------------------------------------------------------------

def to_ipynb(text: str) -> str:
    """Convert py:percent text to .ipynb JSON with empty outputs and stable cell ids."""
    import jupytext
    import nbformat

    nb = jupytext.reads(text, fmt="py:percent")
    seen: dict[str, int] = {}
    for cell in nb.cells:
        cell.metadata.pop("lines_to_next_cell", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        # Stable ids: a hash of the cell's type and source (plus a counter for repeats),
        # so rebuilding an unchanged notebook changes nothing.
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        seen[digest] = seen.get(digest, 0) + 1
        cell.id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
    nb.metadata.pop("jupytext", None)
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python",
                                          "name": "python3"})
    nb.metadata["language_info"] = {"name": "python"}
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


# --------------------------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------------------------

def sources(root: Path) -> list[Path]:
    """All notebook sources: course/NN_name.py and solutions/NN_name.py."""
    found: list[Path] = []
    for d in SOURCE_DIRS:
        folder = root / d
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if NOTEBOOK_NAME.match(p.name))
    return found


def plan(root: Path) -> tuple[list[Output], list[Path]]:
    """Everything the build would write, and generated files that have no source any more."""
    outputs: list[Output] = []
    quoted: dict[str, str] = {}
    for src in sources(root):
        rel = src.relative_to(root)
        original = src.read_text(encoding="utf-8")
        quoted[str(rel)] = original
        _check_markers(original.splitlines(), rel)  # line numbers of the file as written
        text = normalise_source(original, rel)
        outputs.append(Output(src, text, rel))
        outputs.append(Output(src.with_suffix(".ipynb"), to_ipynb(text), rel))
        if src.parent.name == "solutions":
            lab_text = make_lab(text, rel)
            lab = root / LAB_DIR / src.name
            outputs.append(Output(lab, lab_text, rel))
            outputs.append(Output(lab.with_suffix(".ipynb"), to_ipynb(lab_text), rel))
    # Quoted figures (``3.01<!--r:KEY-->``) must match docs/results.json; see genlab/results.py.
    # A copy of the sources without docs/ (a test's temporary tree) checks against genlab's own registry.
    from .results import check_sources

    registry = root / "docs" / "results.json"
    check_sources(quoted, registry if registry.exists() else None)
    readme = readme_with_map(root)
    if readme is not None:
        outputs.append(readme)
    wanted = {o.path for o in outputs}
    stale: list[Path] = []
    for d in (*SOURCE_DIRS, LAB_DIR):
        folder = root / d
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            generated = p.suffix == ".ipynb" or (d == LAB_DIR and p.suffix == ".py")
            if generated and NOTEBOOK_NAME.match(p.with_suffix(".py").name) and p not in wanted:
                stale.append(p)
    return outputs, sorted(stale)


MAP_START = "<!-- COURSE MAP START (written by `genlab build`) -->"
MAP_END = "<!-- COURSE MAP END -->"


def _title_and_summary(text: str) -> tuple[str, str]:
    """A notebook's title (its first ``# `` heading) and one-line summary (its first ``> `` line)."""
    title, summary, in_quote = "", [], False
    for line in text.splitlines():
        if line.startswith("# %%") and title:
            break
        body = line[2:] if line.startswith("# ") else ""
        if not title and body.startswith("# "):
            title = body[2:].strip()
        elif title and not summary and body.startswith("> "):
            summary, in_quote = [body[2:].strip()], True
        elif in_quote:
            if not body.strip():
                break
            summary.append(body.removeprefix(">").strip())  # a quote continued on the next line
    return title, " ".join(summary)


def colab_url(path: str) -> str:
    """The "Open in Colab" address of a notebook of the course repository."""
    slug = REPO_URL.removeprefix("https://github.com/").rstrip("/")
    return f"https://colab.research.google.com/github/{slug}/blob/{REPO_BRANCH}/{path}"


def course_map(root: Path) -> str:
    """The README's course map: one row per number, lecture and lab, with Colab links."""
    rows = ["| # | lecture | lab: you implement |", "|---|---|---|"]
    numbers = sorted({p.name[:2] for d in SOURCE_DIRS for p in (root / d).glob("[0-9][0-9]_*.py")})
    for num in numbers:
        cells = []
        for folder, nb_dir in (("course", "course"), ("solutions", LAB_DIR)):
            found = sorted((root / folder).glob(f"{num}_*.py"))
            if not found:
                cells.append("")
                continue
            src = found[0]
            title, summary = _title_and_summary(src.read_text(encoding="utf-8"))
            rel = f"{nb_dir}/{src.stem}.ipynb"
            colab = f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(rel)})"
            text = f"[{title or src.stem}]({rel}) {colab}"
            cells.append(f"{text}<br>{summary}" if summary else text)
        rows.append(f"| {num} | {cells[0]} | {cells[1]} |")
    return "\n".join(rows)


def readme_with_map(root: Path) -> Output | None:
    """README.md with the course map between its markers refreshed (None when it has no markers)."""
    readme = root / "README.md"
    if not readme.exists():
        return None
    text = readme.read_text(encoding="utf-8")
    if MAP_START not in text or MAP_END not in text:
        return None
    head, rest = text.split(MAP_START, 1)
    _, tail = rest.split(MAP_END, 1)
    return Output(readme, f"{head}{MAP_START}\n{course_map(root)}\n{MAP_END}{tail}", None)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build(root: Path, check: bool = False, out=None) -> int:
    """Write (or, with ``check``, compare) every generated file. Returns the exit code."""
    out = out or sys.stdout
    root = root.resolve()
    outputs, stale = plan(root)  # plan everything first: a BuildError writes nothing
    differ = [o for o in outputs if not o.path.exists() or o.path.read_text(encoding="utf-8") != o.text]
    if check:
        for o in differ:
            state = "missing" if not o.path.exists() else "out of date"
            why = f"source: {o.source}" if o.source else "the course map"
            print(f"{o.path.relative_to(root)}: {state} ({why})", file=out)
        for p in stale:
            print(f"{p.relative_to(root)}: generated file without a source (would be removed)", file=out)
        if differ or stale:
            print(f"genlab build --check: {len(differ) + len(stale)} file(s) differ from what "
                  "`genlab build` would write. Run `genlab build` and commit the result.", file=out)
            return 1
        print(f"genlab build --check: all {len(outputs)} generated files are up to date.", file=out)
        return 0
    for o in differ:
        _write_atomic(o.path, o.text)
        print(f"wrote {o.path.relative_to(root)}", file=out)
    for p in stale:
        p.unlink()
        print(f"removed {p.relative_to(root)}", file=out)
    print(f"genlab build: {len(outputs)} files, {len(differ)} written, {len(stale)} removed.", file=out)
    return 0


def find_root(start: Path | None = None) -> Path:
    """The course repository root: the nearest folder above ``start`` holding course/ and solutions/."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "course").is_dir() and (d / "solutions").is_dir():
            return d
    raise BuildError(f"no course repository found at or above {here}: expected folders course/ and "
                     "solutions/. Run `genlab build` from the repository (or pass --root).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 listing every file that differs")
    parser.add_argument("--root", type=Path, default=None, help="repository root (default: found from cwd)")


def run(args: argparse.Namespace) -> int:
    try:
        return build(find_root(args.root), check=args.check)
    except BuildError as exc:
        print(f"genlab build: error: {exc}", file=sys.stderr)
        return 2
