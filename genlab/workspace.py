"""``genlab workspace``: the student's own copies of the notebooks, apart from the repository.

The repository's notebooks are releases: ``genlab build`` writes them and the tests
compare them with their sources, so a student typing (or JupyterLab autosaving) in
them would dirty the checkout and lose answers at the next build. As nbgrader keeps
a release apart from a submission, this command copies the lecture and lab
notebooks into a git-ignored folder (default ``work/``) where students type:

* a notebook missing from the workspace is copied (new labs appear);
* a copy nobody edited (its hash is the one recorded when it was copied) is
  replaced by a newer release;
* a copy a student edited is **never** written: a newer release goes beside it as
  ``NN_name.release-<hash>.ipynb`` and is reported, so the student can compare.

The manifest ``work/.genlab-workspace.json`` records the hash of every copy as
written. The copies carry no jupytext pairing (metadata stripped, and a
``jupytext.toml`` in the workspace pairs nothing), so saving a copy never writes
a ``.py`` file, and never a tracked one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_DIR", "MANIFEST", "RELEASE_DIRS", "Report", "release_copy", "sync"]

#: The workspace folder (relative to the repository root) that `make lab` opens.
DEFAULT_DIR = "work"
#: What was copied, with the hash of each copy as written.
MANIFEST = ".genlab-workspace.json"
#: Folders of the repository whose ``NN_name.ipynb`` notebooks are released to students.
RELEASE_DIRS = ("course", "labs")
#: Written into the workspace so jupytext (which reads the nearest config file) pairs nothing.
JUPYTEXT_CONFIG = ('# genlab workspace: student copies are plain notebooks, never paired with .py files.\n'
                   'formats = "ipynb"\n')


@dataclass
class Report:
    """What one ``sync`` did, each list holding paths relative to the workspace."""

    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # edited by the student, no newer release
    side_by_side: list[tuple[str, str]] = field(default_factory=list)  # (student file, new release)

    def lines(self) -> list[str]:
        out = [f"copied {p}" for p in self.copied] + [f"updated {p} (you had not edited it)" for p in self.updated]
        for mine, new in self.side_by_side:
            out.append(f"kept {mine} (you edited it); the newer release is beside it: {new}")
        return out


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def release_copy(text: str) -> str:
    """The workspace copy of a release notebook: its JSON without jupytext pairing metadata."""
    nb = json.loads(text)
    nb.get("metadata", {}).pop("jupytext", None)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def releases(root: Path) -> list[Path]:
    """The release notebooks of a course checkout: course/NN_*.ipynb and labs/NN_*.ipynb."""
    found: list[Path] = []
    for d in RELEASE_DIRS:
        found += sorted((root / d).glob("[0-9][0-9]_*.ipynb"))
    return found


def _write_new(path: Path, text: str, *, replace: bool = False) -> None:
    """Write ``text`` to ``path`` atomically; unless ``replace``, fail if the file appeared meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails with FileExistsError instead of overwriting
            except FileExistsError:
                raise
            except OSError:  # no hard links (Google Drive's FUSE): check, then rename
                if path.exists():
                    raise FileExistsError(path) from None
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_manifest(dest: Path) -> dict[str, str]:
    path = dest / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.get("copies", {}).items()}
    except (ValueError, AttributeError):
        # A damaged manifest only means every existing copy is treated as edited: safe.
        return {}


def sync(root: Path, dest: Path) -> Report:
    """Bring the workspace ``dest`` up to date with the release notebooks under ``root``.

    Never writes over a file a student edited (see the module docstring for the rule).

    Args:
        root: the course checkout (holding course/ and labs/) or any folder laid out like it.
        dest: the workspace folder (created if missing).

    Returns:
        A :class:`Report` of what was copied, updated or written beside an edited copy.
    """
    root, dest = Path(root), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    config = dest / "jupytext.toml"
    if not config.exists():
        _write_new(config, JUPYTEXT_CONFIG)
    from .course import holds_work

    manifest = _load_manifest(dest)
    report = Report()
    for src in releases(root):
        rel = f"{src.parent.name}/{src.name}"
        # A lab in the checkout that someone edited (answers typed before workspaces existed) is
        # copied like a release, but not recorded: its copy then counts as the student's own.
        pristine = src.parent.name != "labs" or not holds_work(src)
        text = release_copy(src.read_text(encoding="utf-8"))
        new = _sha(text)
        target = dest / rel
        if not target.exists():
            _write_new(target, text)
            report.copied.append(rel)
            if pristine:
                manifest[rel] = new
            continue
        have = _sha(target.read_text(encoding="utf-8", errors="replace"))
        if have == new:
            report.unchanged.append(rel)
            if pristine:
                manifest[rel] = new
        elif manifest.get(rel) == have:  # untouched since we wrote it: nothing of the student's
            _write_new(target, text, replace=True)
            report.updated.append(rel)
            if pristine:
                manifest[rel] = new
            else:
                manifest.pop(rel, None)
        elif manifest.get(rel) == new:  # the student's edits, and no newer release since the copy
            report.kept.append(rel)
        else:
            side = target.with_name(f"{target.stem}.release-{new[:8]}{target.suffix}")
            side_rel = f"{src.parent.name}/{side.name}"
            if not side.exists():
                _write_new(side, text)
            report.side_by_side.append((rel, side_rel))
    _write_new(dest / MANIFEST, json.dumps({"copies": dict(sorted(manifest.items()))}, indent=1) + "\n",
               replace=True)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``genlab workspace``."""
    parser.add_argument("dir", nargs="?", type=Path, default=None,
                        help=f"the workspace folder (default: {DEFAULT_DIR}/ in the course checkout)")
    parser.add_argument("--root", type=Path, default=None,
                        help="course checkout holding course/ and labs/ (default: found from cwd)")


def run(args: argparse.Namespace) -> int:
    """Run ``genlab workspace``; 0 on success, 2 when no course checkout is found."""
    from .course import find_root
    from .errors import BuildError

    try:
        root = find_root(args.root)
    except BuildError as exc:
        print(f"genlab workspace: error: {exc}", file=sys.stderr)
        return 2
    dest = args.dir if args.dir is not None else root / DEFAULT_DIR
    report = sync(root, dest)
    for line in report.lines():
        print(f"  {line}")
    edited = len(report.kept) + len(report.side_by_side)
    total = len(report.copied) + len(report.updated) + len(report.unchanged) + edited
    print(f"genlab workspace: {dest} holds your copies of {total} notebooks "
          f"({len(report.copied)} new, {len(report.updated)} updated, {edited} kept as you edited them). "
          "Open and save them there; the repository's notebooks stay untouched.")
    return 0
