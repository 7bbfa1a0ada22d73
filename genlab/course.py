"""Build the course: every .ipynb from its py:percent source, and labs/ from solutions/.

The py:percent files are the source of truth (they diff well and review well);
Colab and GitHub open only ``.ipynb``, so the build writes those beside them
with empty outputs. Labs are generated from solutions:

* code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes
  ``raise NotImplementedError(<hint>)``; the hint is the text of a
  ``# HINT: ...`` line directly after ``### BEGIN SOLUTION`` (if any);
* Markdown between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``
  is removed, markers included;
* a code block holding only ``answer("qN", value)`` lines (a concept question's
  answers) keeps its calls with ``...`` for each value.

Every notebook's first cell is the setup cell (tag ``setup``); the build
writes it from one template so the Colab install URL lives in one place
(``genlab.config.REPO_URL``).

``genlab build --check`` writes nothing and exits 1 listing each file that
differs from what the build would write, or a check below that fails.

**Student work is never overwritten.** Every lab notebook the build writes
carries a stamp in its metadata (``genlab.cells``: a hash of its cells' types and
sources, outputs excluded). Before writing a lab, the build compares the lab on
disk (``.ipynb`` and its ``.py`` twin) with its stamp; a lab whose cells changed
since the build wrote it holds someone's answers, and the build refuses: it writes
nothing, names the file and exits 1 (``--force``, for maintainers, overwrites). A
lab written before stamps existed counts as untouched when each of its exercise
cells still holds the ``raise NotImplementedError`` stub. Running cells (outputs)
is not editing.

**Marked copies.** A solution cell that starts with one or more lines
``# Same as genlab.<module>.<function>`` must define that function with the same
code as each library object named (``# Same as genlab.<module>.<function> as <name>``
when the cell's function is called ``<name>``, e.g. a private ``_ref_`` reference; the
names aside, the code must be the same). "The same" means equal once normalised: both
parsed with ``ast``, docstrings and type annotations dropped, then unparsed, so
comments, blank lines, quoting, line wrapping and type hints (the library has them,
a notebook cell need not) do not count; names, defaults and every statement do.
``--check`` fails when they differ, naming the solution's line and the library's.
The marker lines are left out of the student's lab (they point at the answer).

**Where a library function was developed.** A docstring in genlab/ that says
"Developed in course/NN_name" (or labs/, solutions/) must name a notebook that
exists; ``--check`` fails otherwise.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib
import inspect
import json
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
ANSWER_LINE = re.compile(r"""^\s*answer\(\s*(["']q\d+["'])\s*,.*\)\s*(#.*)?$""")
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
    repository first, and on Colab copies the notebooks into the student's
    workspace (``genlab.colab.workspace``; offline it says so and goes on). ``genlab.session.start()`` then reports the device and
    mode and, on Colab, enables the custom widget manager.
    """
    return (
        "# Setup: on Colab this installs genlab and copies the notebooks to your workspace; "
        "locally it changes nothing.\n"
        "try:\n"
        "    import genlab\n"
        "except ImportError:\n"
        f'    %pip install -q "genlab @ git+{REPO_URL}@{REPO_BRANCH}"\n'
        "    import genlab\n"
        "    genlab.colab.workspace()  # on Colab: your own copies (on Drive when mounted); elsewhere nothing\n"
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
            body = [b for b in lines[i + 1:j] if b.strip()]
            if body and all(ANSWER_LINE.match(b) for b in body):  # concept questions: keep the calls
                out += [f"{indent}answer({ANSWER_LINE.match(b).group(1)}, ...)" for b in body]
                i = j + 1
                continue
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f"{indent}raise NotImplementedError({hint!r})")
            i = j + 1
            continue
        if SAME_AS.match(line.strip()):  # names where the answer lives: for the solution only
            i += 1
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

STAMP_KEY = "genlab"


def cells_digest(cells: list) -> str:
    """The hash that says whether a notebook's cells were edited: types and sources, not outputs."""
    data = [[c["cell_type"], c["source"] if isinstance(c["source"], str) else "".join(c["source"])]
            for c in cells]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]


def to_ipynb(text: str, stamp: bool = False) -> str:
    """Convert py:percent text to .ipynb JSON with empty outputs and stable cell ids.

    With ``stamp`` (labs) the metadata records :func:`cells_digest` of the cells, so a
    later build can tell an untouched lab from one holding a student's answers.
    """
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
    if stamp:
        nb.metadata[STAMP_KEY] = {"cells": cells_digest(nb.cells)}
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
            outputs.append(Output(lab.with_suffix(".ipynb"), to_ipynb(lab_text, stamp=True), rel))
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


def release_notebooks(src: Path, root: Path) -> tuple[str, str]:
    """The solution and lab notebooks (.ipynb text) that the build writes from ``solutions/NN_x.py``.

    ``genlab grade --self-check`` grades these, not the working copies in labs/.
    """
    rel = src.resolve().relative_to(root.resolve())
    text = normalise_source(src.read_text(encoding="utf-8"), rel)
    return to_ipynb(text), to_ipynb(make_lab(text, rel), stamp=True)


def _stub_only(cells: list) -> bool:
    """Unstamped labs: untouched when every exercise cell still raises the stub's NotImplementedError."""
    for c in cells:
        tags = c.get("metadata", {}).get("tags", [])
        source = c["source"] if isinstance(c["source"], str) else "".join(c["source"])
        if c["cell_type"] == "code" and "exercise" in tags and "raise NotImplementedError(" not in source:
            return False
    return True


def holds_work(path: Path) -> bool:
    """True when the lab file at ``path`` (``.ipynb`` or its ``.py`` twin) was edited since the build wrote it."""
    ipynb = path.with_suffix(".ipynb")
    stamp = None
    if ipynb.is_file():
        try:
            stamp = json.loads(ipynb.read_text(encoding="utf-8")).get("metadata", {}).get(STAMP_KEY, {})
            stamp = stamp.get("cells") if isinstance(stamp, dict) else None
        except ValueError:
            return True  # not even JSON: someone's half-saved notebook, keep it
    try:
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        else:
            import jupytext

            cells = [dict(c) for c in jupytext.reads(path.read_text(encoding="utf-8"), fmt="py:percent").cells]
    except Exception:
        return True
    if stamp is None:
        return not _stub_only(cells)
    return cells_digest(cells) != stamp


#: ``# Same as genlab.a.b.f`` or ``# Same as genlab.a.b._ref_f as f`` (the cell's function has another name).
SAME_AS = re.compile(r"^#\s*Same as\s+(genlab(?:\.\w+)+)(?:\s+as\s+(\w+))?\s*$")


def _normalised(node: ast.AST) -> str:
    """A function's code without its docstrings, annotations, comments or layout (see the module docstring)."""
    node = ast.parse(ast.unparse(node))  # a copy
    for n in ast.walk(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n.returns = None
        elif isinstance(n, ast.arg):
            n.annotation = None
        body = getattr(n, "body", None)
        if (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            n.body = body[1:] or [ast.Pass()]
    return ast.unparse(node)


def _library_def(dotted: str) -> tuple[ast.AST, str] | None:
    """The definition of ``genlab.a.b.name`` parsed from its source, and ``file:line`` (None if not found).

    A name a module re-exports (``genlab.train.fit``) is looked up where it is defined; a
    function that only delegates to the library's and says so with ``__wrapped__`` (lab
    07's ``autocast_settings``) is looked up as the function it wraps.
    """
    module_name, _, name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        obj = getattr(module, name)
        if callable(obj) and hasattr(obj, "__wrapped__"):
            obj = inspect.unwrap(obj)
            name = getattr(obj, "__name__", name)
        home = importlib.import_module(getattr(obj, "__module__", module_name) or module_name)
    except (ImportError, AttributeError):
        return None
    if not getattr(home, "__file__", None):
        return None
    path = Path(home.__file__)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    node = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                 and n.name == name), None)
    return None if node is None else (node, f"{path.parent.name}/{path.name}:{node.lineno}")


def _renamed(node: ast.AST, name: str) -> ast.AST:
    """A copy of a definition under another name (``Same as ... as f``: only the names may differ)."""
    copy = ast.parse(ast.unparse(node)).body[0]
    copy.name = name  # type: ignore[attr-defined]
    return copy


def same_as_problems(root: Path) -> list[str]:
    """Solution cells marked ``# Same as genlab.x.f`` whose ``f`` differs from the library's."""
    problems: list[str] = []
    for src in sorted((root / "solutions").glob("[0-9][0-9]_*.py")):
        rel = src.relative_to(root)
        lines = src.read_text(encoding="utf-8").splitlines()
        for no, line in enumerate(lines, 1):
            m = SAME_AS.match(line.strip())
            if not m:
                continue
            dotted, alias = m.group(1), m.group(2)
            stop = next((i for i in range(no, len(lines)) if lines[i].startswith("# %%")), len(lines))
            cell = "\n".join(l for l in lines[no:stop] if CODE_BEGIN not in l and CODE_END not in l)
            name = alias or dotted.rpartition(".")[2]  # the function's name in the cell
            try:
                tree = ast.parse(cell)
            except SyntaxError as exc:
                problems.append(f"{rel}:{no}: the cell marked 'Same as {dotted}' does not parse ({exc.msg}).")
                continue
            mine = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                 ast.ClassDef)) and n.name == name), None)
            theirs = _library_def(dotted)
            if mine is None:
                problems.append(f"{rel}:{no}: marked 'Same as {dotted}' but the cell defines no {name}.")
            elif theirs is None:
                problems.append(f"{rel}:{no}: marked 'Same as {dotted}' but the library has no such function.")
            elif _normalised(_renamed(mine, getattr(theirs[0], "name", name))) != _normalised(theirs[0]):
                problems.append(f"{rel}:{no}: {name} differs from {dotted} ({theirs[1]}) (docstrings, "
                                "type hints, comments and layout aside); change one to match the other.")
    return problems


DEVELOPED_IN = re.compile(r"\b(course|labs|solutions)/(\d\d_[a-z0-9_]+)")


def developed_in_problems(root: Path) -> list[str]:
    """"Developed in course/NN_name" (or labs/, solutions/) docstrings in genlab/ naming no notebook."""
    problems: list[str] = []
    package = root / "genlab"
    if not package.is_dir():
        return problems
    for py in sorted(package.rglob("*.py")):
        text = py.read_text(encoding="utf-8")
        for m in re.finditer(r"Developed in[^\n]*(?:\n[^\n]*){0,1}", text):
            for folder, name in DEVELOPED_IN.findall(m.group(0)):
                if not (root / folder / f"{name}.py").is_file():
                    line = text.count("\n", 0, m.start()) + 1
                    problems.append(f"{py.relative_to(root)}:{line}: 'Developed in {folder}/{name}' "
                                    f"names a notebook that does not exist ({folder}/{name}.py).")
    return problems


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


KEEP_WORK = ("To keep the answers, run `genlab workspace` first: it copies labs/, answers included, into "
             "work/labs/ (git-ignored), where students work from now on. Once work/labs/{name} holds them, "
             "`genlab build --force` rewrites labs/ (maintainers: --force discards edits in labs/).")


def build(root: Path, check: bool = False, out=None, force: bool = False) -> int:
    """Write (or, with ``check``, compare) every generated file. Returns the exit code.

    Refuses (exit 1, nothing written) to overwrite a lab notebook edited since the build
    wrote it, unless ``force``; see the module docstring.
    """
    out = out or sys.stdout
    root = root.resolve()
    outputs, stale = plan(root)  # plan everything first: a BuildError writes nothing
    differ = [o for o in outputs if not o.path.exists() or o.path.read_text(encoding="utf-8") != o.text]
    edited = [o.path for o in differ
              if o.path.parent == root / LAB_DIR and o.path.exists() and holds_work(o.path)]
    edited += [p for p in stale if p.parent == root / LAB_DIR and holds_work(p)]
    if check:
        for o in differ:
            state = "missing" if not o.path.exists() else "out of date"
            why = f"source: {o.source}" if o.source else "the course map"
            if o.path in edited:
                why += "; it holds edits, which `genlab build` will not overwrite"
            print(f"{o.path.relative_to(root)}: {state} ({why})", file=out)
        for p in stale:
            print(f"{p.relative_to(root)}: generated file without a source (would be removed)", file=out)
        problems = same_as_problems(root) + developed_in_problems(root)
        for p in problems:
            print(p, file=out)
        if differ or stale or problems:
            advice = ("Run `genlab build` and commit the result." if not edited else
                      "Copy the edited labs out of labs/ with `genlab workspace` (answers included, into "
                      "work/labs/) before building: `genlab build` refuses to overwrite a lab holding edits.")
            print(f"genlab build --check: {len(differ) + len(stale)} file(s) differ from what "
                  f"`genlab build` would write, {len(problems)} check(s) failed. "
                  + (advice if differ or stale else "Fix the lines above."), file=out)
            return 1
        print(f"genlab build --check: all {len(outputs)} generated files are up to date.", file=out)
        return 0
    if edited and not force:
        for p in edited:
            print(f"genlab build: {p.relative_to(root)} has been edited since `genlab build` wrote it "
                  "(someone's answers?); nothing was written.", file=sys.stderr)
        print("genlab build: " + KEEP_WORK.format(name=edited[0].name), file=sys.stderr)
        return 1
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
    parser.add_argument("--force", action="store_true",
                        help="for maintainers: overwrite lab notebooks even when they hold edits")


def run(args: argparse.Namespace) -> int:
    try:
        return build(find_root(args.root), check=args.check, force=getattr(args, "force", False))
    except BuildError as exc:
        print(f"genlab build: error: {exc}", file=sys.stderr)
        return 2
