"""The ``genlab`` command: doctor, build, workspace, train, grade (benchmarks: ``python -m bench``
from a checkout).

Each subcommand lives in the module that owns its work; the module exposes
``add_arguments(parser)`` and ``run(args) -> int``. This file only wires them,
and imports only the module of the subcommand being run (``genlab --help``
imports none, so it answers without loading torch).
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("genlab.doctor", "check the environment and say how to fix what is missing"),
    "build": ("genlab.course", "write every .ipynb and labs/ from the py:percent sources"),
    "workspace": ("genlab.workspace", "copy the lecture and lab notebooks into your own folder (work/)"),
    "train": ("genlab.train.cli", "train a model family on a dataset, with checkpoints"),
    "grade": ("genlab.grading.cli", "grade a folder of lab submissions in a sandbox"),
}


def _chosen(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is one), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def _parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genlab", description="genlab course tools")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _chosen(sys.argv[1:] if argv is None else argv)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name != chosen:
            continue  # its module is imported only when it runs
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            p.set_defaults(_missing=module_name)
            continue
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "_missing", None):
        print(f"genlab {args.command}: not available in this version ({args._missing} is missing).",
              file=sys.stderr)
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
