"""``genlab grade``: grade a folder of lab submissions in a sandbox, or self-check a lab."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from ..errors import NotALabError
from .notebook import find_lab, lab_number, repo_root
from .sandbox import DEFAULT_MEMORY_MB, SANDBOX_KINDS, Limits, SandboxUnavailable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``genlab grade``."""
    parser.add_argument("lab", help="the lab to grade, e.g. 02_vae (or 02)")
    parser.add_argument("submissions", nargs="?", type=Path,
                        help="folder of submitted notebooks: <student>.ipynb or <student>/.../<lab>.ipynb")
    parser.add_argument("--out", type=Path, help="output folder: gradebook.csv, gradebook.json, feedback/")
    parser.add_argument("--workers", type=int, default=max(1, min(os.cpu_count() or 1, 8)),
                        help="submissions graded in parallel (default: CPU count, at most 8)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="wall-clock seconds per submission (default 60)")
    parser.add_argument("--memory", type=int, default=DEFAULT_MEMORY_MB,
                        help=f"address-space limit per worker in MB (default {DEFAULT_MEMORY_MB}; "
                             "torch alone reserves about 3.5 GB)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the test inputs (default: a fresh random seed, recorded in gradebook.json)")
    parser.add_argument("--self-check", action="store_true",
                        help="grade the solution (full marks expected) and the untouched lab (zero expected)")
    parser.add_argument("--root", type=Path, default=None,
                        help="course checkout holding labs/ and solutions/ (default: this genlab's checkout)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--sandbox", choices=SANDBOX_KINDS, default="bwrap",
                        help="isolation of the workers: bwrap (bubblewrap, the default; grading refuses to "
                             "start without it) or none (NO isolation: only for trusted notebooks; recorded "
                             "in gradebook.json)")
    parser.add_argument("--challenge-timeout", type=float, default=Limits.challenge_timeout,
                        help="CPU seconds for a submission's challenge cells when no challenge file is handed "
                             f"in (default {Limits.challenge_timeout:g}); 0: never run them, only handed-in files count")
    parser.add_argument("--seed-file", type=Path, default=None,
                        help="read the seed from this file instead of --seed (keeps it off the command line)")


def run(args: argparse.Namespace) -> int:
    """Run ``genlab grade``; returns the exit code (0 ok, 1 failed check or no submissions, 2 usage)."""
    from ..exercises import load_spec
    from .grader import grade, self_check

    root = args.root or repo_root()
    try:
        nn = lab_number(args.lab)
        spec = load_spec(args.lab)
    except NotALabError as exc:
        print(f"genlab grade: {exc}", file=sys.stderr)
        return 2
    ct = getattr(args, "challenge_timeout", Limits.challenge_timeout)
    if not ct >= 0:  # also refuses NaN
        print(f"genlab grade: --challenge-timeout must be 0 or more seconds, not {ct:g}", file=sys.stderr)
        return 2
    limits = Limits(timeout=args.timeout, memory_mb=args.memory, challenge_timeout=ct)
    sandbox = getattr(args, "sandbox", "bwrap")
    if getattr(args, "seed_file", None) is not None:
        try:
            args.seed = int(args.seed_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError) as exc:
            print(f"genlab grade: --seed-file {args.seed_file}: expected a file holding one integer ({exc})",
                  file=sys.stderr)
            return 2
    if sandbox == "none":
        print("genlab grade: WARNING: --sandbox none: submitted code runs WITHOUT isolation, as this user; "
              "use it only for notebooks you trust", file=sys.stderr)
    lab_nb = find_lab(args.lab, root, "labs")
    if args.self_check:
        sources = sorted((root / "solutions").glob(f"{nn}_*.py"))
        sol_src = next((p for p in sources if p.stem == args.lab), sources[0] if sources else None)
        if sol_src is None:
            print(f"genlab grade --self-check {args.lab}: lab {nn} ({spec.lab}) does not exist yet: "
                  f"solutions/{nn}_*.py not found under {root}. Write solutions/{spec.lab}.py and "
                  "run `genlab build`.", file=sys.stderr)
            return 1
        # Grade the notebooks as `genlab build` writes them from the source, never the working
        # copies: labs/ may hold a student's answers, and those must neither fail nor fake the check.
        from ..course import release_notebooks

        sol_text, lab_text = release_notebooks(sol_src, root)
        with tempfile.TemporaryDirectory(prefix="genlab-release-") as d:
            name = sol_src.with_suffix(".ipynb").name
            sol_tmp, lab_tmp = Path(d) / "solutions" / name, Path(d) / "labs" / name
            for path, text in ((sol_tmp, sol_text), (lab_tmp, lab_text)):
                path.parent.mkdir()
                path.write_text(text, encoding="utf-8")
            try:
                ok, lines, _ = self_check(spec, lab_tmp, sol_tmp, seed=0 if args.seed is None else args.seed,
                                          limits=limits, workers=min(2, args.workers), sandbox=sandbox)
            except SandboxUnavailable as exc:
                print(f"genlab grade: {exc}", file=sys.stderr)
                return 2
        print("\n".join(lines))
        return 0 if ok else 1
    if args.submissions is None or args.out is None:
        print("genlab grade: give SUBMISSIONS and --out OUT (or --self-check).", file=sys.stderr)
        return 2
    if lab_nb is None:
        print(f"genlab grade: the released lab labs/{nn}_*.ipynb does not exist yet under {root}; "
              "run `genlab build` first.", file=sys.stderr)
        return 2
    if not args.submissions.is_dir():
        print(f"genlab grade: {args.submissions} is not a folder of submissions.", file=sys.stderr)
        return 2
    try:
        results = grade(spec, lab_nb, args.submissions, args.out, seed=args.seed, limits=limits,
                        workers=args.workers, progress=not args.no_progress, sandbox=sandbox)
    except SandboxUnavailable as exc:
        print(f"genlab grade: {exc}\n(or pass --sandbox none to grade WITHOUT isolation, for trusted "
              "notebooks only)", file=sys.stderr)
        return 2
    except NotALabError as exc:  # the released lab itself is broken
        print(f"genlab grade: {lab_nb}: {exc}", file=sys.stderr)
        return 2
    _summary(spec, results, args.out)
    return 0 if results else 1


def _median(values: list[float]) -> float:
    """The median of a non-empty list: the middle value, or the mean of the two middle ones."""
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def _summary(spec, results, out: Path) -> None:
    n = len(results)
    if not n:
        print(f"no submissions found; an empty gradebook was written to {out}")
        return
    totals = sorted(r.total for r in results)
    median = _median(totals)
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    from .questions import max_points  # code items + concept questions
    full = sum(t == max_points(spec) for t in totals)
    print(f"graded {n} submission(s) of lab {spec.lab}: mean {sum(totals) / n:.2f} / {max_points(spec):g}, "
          f"median {median:g}, full marks {full}")
    print("status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    for item in spec.items:
        passed = sum(r.items[item.name].passed for r in results if item.name in r.items)
        print(f"  {item.name:<24} passed by {passed}/{n}")
    print(f"gradebook: {out / 'gradebook.csv'}, {out / 'gradebook.json'}; feedback: {out / 'feedback'}/")
