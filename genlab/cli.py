"""The ``genlab`` command: doctor, build, train, grade (benchmarks: ``python -m bench`` from a checkout).

Each subcommand lives in the module that owns its work; the module exposes
``add_arguments(parser)`` and ``run(args) -> int``. This file only wires them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("genlab.doctor", "check the environment and say how to fix what is missing"),
    "build": ("genlab.course", "write every .ipynb and labs/ from the py:percent sources"),
    "train": ("genlab.train.cli", "train a model family on a dataset, with checkpoints"),
    "grade": ("genlab.grading.cli", "grade a folder of lab submissions in a sandbox"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genlab", description="genlab course tools")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
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
    parser = _parser()
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
