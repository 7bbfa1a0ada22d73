"""Notebooks for grading: find the released lab, validate a submission, assemble the program.

The program the worker runs is, in the released lab's order, its ``setup`` and
``support`` cells and, in place of each of its ``exercise`` cells, the
submission's exercise cell that defines the same items. Training, plot and
check cells never run, and nothing but exercise cells is taken from the
submission, so edited or deleted scaffolding cannot change a grade.
"""

from __future__ import annotations

import ast
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NotALabError

#: Submissions larger than this are refused without parsing them.
MAX_NOTEBOOK_BYTES = 20 * 2**20


@dataclass
class Cell:
    """A code cell: its source (magics stripped), tags and position."""

    source: str
    tags: tuple[str, ...]
    index: int

    @property
    def defines(self) -> set[str]:
        """Top-level names the cell defines (functions, classes, assignments, imports)."""
        return defined_names(self.source)


@dataclass
class Program:
    """What a worker executes: cells with their role, and per-item notes from assembly."""

    cells: list[dict] = field(default_factory=list)  # {"source", "role", "label"}
    missing: dict[str, str] = field(default_factory=dict)  # item -> why it has no cell
    warnings: list[str] = field(default_factory=list)
    exercise_sources: dict[str, str] = field(default_factory=dict)  # item -> submitted cell source


def repo_root() -> Path:
    """The checkout that holds ``labs/`` and ``solutions/`` (genlab's parent folder)."""
    return Path(__file__).resolve().parents[2]


def lab_number(lab: str) -> str:
    """``"02_vae"``, ``"02"``, ``"lab02"``, ``"2"`` -> ``"02"``."""
    m = re.search(r"(\d+)", lab)
    if not m:
        raise NotALabError(f"lab {lab!r} has no number: name it like '02_vae' or '02'.")
    return f"{int(m.group(1)):02d}"


def find_lab(lab: str, root: Path | None = None, folder: str = "labs") -> Path | None:
    """The notebook ``<root>/<folder>/NN_*.ipynb`` of a lab, or None when it does not exist (yet)."""
    root = root or repo_root()
    nn = lab_number(lab)
    hits = sorted((root / folder).glob(f"{nn}_*.ipynb"))
    if len(hits) > 1 and "_" in lab:  # several notebooks share the number: take the named one
        named = [h for h in hits if h.stem == lab]
        hits = named or hits
    return hits[0] if hits else None


def file_problem(mode: int) -> str | None:
    """Why a file of ``mode`` (from ``lstat``) is not a submission, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = [(stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")]
    kind = next((what for test, what in kinds if test(mode)), "not a regular file")
    return f"it is {kind}, not a regular notebook file (submit the .ipynb file itself)"


def read_regular_file(path: Path, limit: int) -> bytes:
    """Read at most ``limit`` bytes of ``path``, which must be a regular file and not a link.

    Opened with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO cannot block, a link is
    refused), checked with ``fstat`` on the open descriptor (no race with a
    rename), and read with a bound (``/dev/zero`` cannot stream forever).

    Raises:
        NotALabError: saying what the file is instead, or that it is too large.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        try:
            why = file_problem(os.lstat(path).st_mode)
        except OSError:
            why = None
        raise NotALabError(f"cannot read {path.name}: {why or exc.strerror}") from None
    try:
        st = os.fstat(fd)
        why = file_problem(st.st_mode)
        if why:
            raise NotALabError(f"{path.name} is not graded: {why}")
        if st.st_size > limit:
            raise NotALabError(f"{path.name} is {st.st_size / 2**20:.0f} MB; a lab notebook is well under "
                               f"{limit // 2**20} MB. Clear the outputs and resubmit.")
        chunks, got = [], 0
        while got <= limit:
            b = os.read(fd, min(1 << 20, limit + 1 - got))
            if not b:
                break
            chunks.append(b)
            got += len(b)
        if got > limit:
            raise NotALabError(f"{path.name} is over {limit // 2**20} MB. Clear the outputs and resubmit.")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_notebook(path: Path) -> dict:
    """Parse and validate a notebook file (JSON, nbformat 4, a list of cells).

    Raises:
        NotALabError: with a message that says what is wrong with the file.
    """
    data = read_regular_file(path, MAX_NOTEBOOK_BYTES)
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotALabError(f"{path.name} is not a notebook: it is not valid JSON ({exc}). "
                           "Download the notebook as .ipynb (File > Download) and resubmit.") from None
    if not isinstance(nb, dict):
        raise NotALabError(f"{path.name} is not a notebook: the JSON is a {type(nb).__name__}, not an object.")
    if nb.get("nbformat") != 4:
        raise NotALabError(f"{path.name} is not an nbformat 4 notebook (nbformat = {nb.get('nbformat')!r}). "
                           "Open it in a current Jupyter and save it again.")
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise NotALabError(f"{path.name} has no list of cells.")
    return nb


def code_cells(nb: dict) -> list[Cell]:
    """The code cells of a parsed notebook, with tags and magics stripped."""
    out = []
    for i, c in enumerate(nb.get("cells", [])):
        if not isinstance(c, dict) or c.get("cell_type") != "code":
            continue
        src = c.get("source", "")
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        if not isinstance(src, str):
            src = ""
        meta = c.get("metadata") if isinstance(c.get("metadata"), dict) else {}
        tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
        out.append(Cell(strip_magics(src), tuple(t for t in tags if isinstance(t, str)), i))
    return out


_CELL_MAGICS_KEEP_BODY = {"time", "timeit", "capture", "prun"}


def strip_magics(source: str) -> str:
    """Turn IPython syntax into plain Python: ``%line`` and ``!shell`` lines become ``pass``.

    A cell magic (``%%bash``...) makes the whole cell inert, except timing and
    capture magics whose body is Python.
    """
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        name = lines[0].lstrip()[2:].split(maxsplit=1)[0] if lines[0].strip() != "%%" else ""
        if name not in _CELL_MAGICS_KEEP_BODY:
            return ""
        lines = lines[1:]
    out = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}pass  # magic stripped by the grader")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def defined_names(source: str) -> set[str]:
    """Top-level names bound by ``def``, ``class``, assignment or import; empty if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.add(n.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names.add((a.asname or a.name).split(".")[0])
    return names


def lab_items_by_cell(lab_cells: list[Cell], items: list[str]) -> list[tuple[Cell, list[str]]]:
    """Pair each ``exercise`` cell of the released lab with the graded items it defines."""
    out = []
    for c in lab_cells:
        if "exercise" in c.tags:
            out.append((c, [i for i in items if i in c.defines]))
    return out


def assemble(lab_cells: list[Cell], submission_cells: list[Cell], items: list[str]) -> Program:
    """Build the program: lab ``setup``/``support`` cells + the submission's exercise cells.

    A lab exercise cell is replaced by the *last* submitted exercise cell that
    defines one of its items (what running the notebook top to bottom would
    leave defined). If the submission has the same number of exercise cells
    and one does not parse, it is matched by position, so its syntax error is
    reported on the right items.
    """
    prog = Program()
    sub_ex = [c for c in submission_cells if "exercise" in c.tags]
    lab_ex = lab_items_by_cell(lab_cells, items)
    seen_items: dict[str, int] = {}
    for c in sub_ex:
        for name in c.defines & set(items):
            seen_items[name] = seen_items.get(name, 0) + 1
    for name, n in sorted(seen_items.items()):
        if n > 1:
            prog.warnings.append(f"{name} is defined in {n} exercise cells; the last one was graded.")
    position = {id(c): k for k, (c, _) in enumerate(lab_ex)}
    for cell in lab_cells:
        if "exercise" in cell.tags:
            its_items = lab_ex[position[id(cell)]][1]
            # Match on every name the lab's cell defines (graded or not: an ungraded helper
            # class in an exercise cell still runs, later exercises may use it).
            wanted = set(its_items) or cell.defines
            chosen = None
            for c in sub_ex:
                if c.defines & wanted:
                    chosen = c
            if chosen is None and len(sub_ex) == len(lab_ex):
                candidate = sub_ex[position[id(cell)]]
                if not candidate.defines:  # does not parse (or defines nothing): match by position
                    chosen = candidate
            if chosen is None:
                for name in its_items:
                    prog.missing[name] = ("no exercise cell defining it was found in the submission "
                                          "(deleted, or its 'exercise' tag removed)")
                continue
            for name in its_items:
                prog.exercise_sources[name] = chosen.source
            prog.cells.append({"source": chosen.source, "role": "exercise",
                               "label": f"exercise cell {chosen.index} ({', '.join(its_items) or 'no items'})"})
        elif "support" in cell.tags or "setup" in cell.tags:
            role = "setup" if "setup" in cell.tags else "support"
            prog.cells.append({"source": cell.source, "role": role, "label": f"lab {role} cell {cell.index}"})
    return prog


# --------------------------------------------------------------------------- static reference detection

def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def uses_reference(sources: list[str], item: str, forbidden: list[tuple[str, str]]) -> str | None:
    """Does the submitted definition of ``item`` use the genlab reference? Returns the evidence or None.

    Looks, in every exercise cell, for imports of a forbidden ``module.name``
    (``from genlab.losses import kl_divergence as k``), of its module
    (``import genlab.losses as L``, ``from genlab import losses``), and then for
    a use of those names, of ``genlab.losses.kl_divergence`` or of
    ``getattr(<module>, "kl_divergence")`` inside the definition of ``item``
    (its ``def``/``class``, an assignment to it, or an import bound to its name).
    """
    trees = []
    for s in sources:
        try:
            trees.append(ast.parse(s))
        except (SyntaxError, ValueError):
            continue
    ref_aliases: dict[str, str] = {}  # local name -> "module.name"
    mod_aliases: dict[str, str] = {"genlab": "genlab"}  # local name -> module path
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    local = a.asname or a.name
                    if any(full == f"{m}.{n}" for m, n in forbidden):
                        ref_aliases[local] = full
                        if local == item:
                            return f"`from {node.module} import {a.name}` binds the reference to {item}"
                    if any(full == m for m, _ in forbidden):
                        mod_aliases[local] = full
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        mod_aliases[a.asname] = a.name
    targets = {f"{m}.{n}" for m, n in forbidden}

    def hit(n: ast.AST) -> str | None:
        if isinstance(n, ast.Name) and n.id in ref_aliases:
            return f"uses {n.id} (= {ref_aliases[n.id]})"
        if isinstance(n, ast.Attribute):
            d = _dotted(n)
            if d:
                head, _, rest = d.partition(".")
                full = f"{mod_aliases.get(head, head)}.{rest}" if rest else mod_aliases.get(head, head)
                if full in targets:
                    return f"uses {d} (= {full})"
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "getattr" and len(n.args) >= 2:
            obj, attr = _dotted(n.args[0]), n.args[1]
            if obj and isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                head, _, rest = obj.partition(".")
                full = f"{mod_aliases.get(head, head)}" + (f".{rest}" if rest else "")
                if f"{full}.{attr.value}" in targets:
                    return f"uses getattr({obj}, {attr.value!r})"
        return None

    for tree in trees:
        for node in tree.body:
            scope = None
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == item:
                scope = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                tgts = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == item for t in tgts):
                    scope = node
            if scope is None:
                continue
            for n in ast.walk(scope):
                why = hit(n)
                if why:
                    return f"the definition of {item} {why}"
    return None
