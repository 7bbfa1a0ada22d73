"""``python -m bench``: run the benchmarks and print a table (see :mod:`bench.suite`)."""

from .suite import main

raise SystemExit(main())
