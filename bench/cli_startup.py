"""How long the `genlab` command takes to answer: `--help` and `doctor` (issue 17 asks < 1 s and < 5 s).

    python bench/cli_startup.py          # from the repository root, with the course's venv

Each command runs 3 times in a fresh interpreter; the best wall time is printed. A benchmark,
not a test: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import subprocess
import sys
import time


def wall(args: list[str]) -> float:
    """Seconds one `python -m genlab ARGS` takes, start to exit."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, check=False)
    return time.perf_counter() - t0


if __name__ == "__main__":
    for args in (["--help"], ["doctor", "--quiet"]):
        print(f"genlab {' '.join(args):<16} {min(wall(args) for _ in range(3)):6.2f} s (best of 3)")
