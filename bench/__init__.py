"""The course's benchmarks, run from a checkout (they are not part of the installed ``genlab``).

``python -m bench [--quick] [--only NAME ...] [--json FILE]`` (or ``make bench``) runs
:mod:`bench.suite`; ``python -m bench.grading`` times the grader alone;
``python bench/gpu_check.py`` exercises the GPU paths on a CUDA machine.
"""
