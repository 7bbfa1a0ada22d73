"""Suite-wide settings: notebooks run in fast mode with a non-interactive plot backend.

nbval executes every notebook in course/ and solutions/ (the README's test command
passes those folders); labs are executed by tests/notebooks/test_labs.py instead,
because their exercises are meant to raise NotImplementedError.
"""

import os

os.environ.setdefault("GENLAB_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

collect_ignore_glob = ["labs/*", "tests/**/*.ipynb", ".venv/*", "bench/*.ipynb", "docs/*"]
