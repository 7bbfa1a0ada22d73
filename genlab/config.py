"""Course-wide settings read from the environment, in one place.

``GENLAB_FAST=1`` shrinks data and epochs so every notebook runs in seconds
(CI runs the notebooks this way). Full mode is the default: it is what
students run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: Where the course lives; the Colab setup cell installs genlab from here.
REPO_URL = "https://github.com/genlab-course/genlab"
#: The branch that Colab installs from and that "Open in Colab" links point at.
REPO_BRANCH = "main"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


#: True when the course runs in fast mode (``GENLAB_FAST=1``).
FAST: bool = _truthy(os.environ.get("GENLAB_FAST"))


def is_fast() -> bool:
    """Read ``GENLAB_FAST`` now (tests flip it at run time; notebooks use ``FAST``)."""
    return _truthy(os.environ.get("GENLAB_FAST"))


def fast_or(fast: T, full: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise.

    Example: ``epochs = fast_or(1, 20)``.
    """
    return fast if is_fast() else full


def data_home() -> Path:
    """Folder for downloaded datasets (torchvision's MNIST, CIFAR-10, ...).

    ``GENLAB_DATA`` overrides it; the default is ``~/.genlab-data``.
    """
    return Path(os.environ.get("GENLAB_DATA", Path.home() / ".genlab-data")).expanduser()


def colab_install_url() -> str:
    """The pip requirement that installs genlab on Colab."""
    return f"git+{REPO_URL}@{REPO_BRANCH}"
