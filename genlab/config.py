"""Course-wide settings read from the environment, in one place.

``GENLAB_FAST=1`` shrinks data and epochs so every notebook runs in seconds
(CI runs the notebooks this way). Full mode is the default: it is what
students run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
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


@contextlib.contextmanager
def environment(changes: Mapping[str, str | None], restore: Iterable[str] = ()) -> Iterator[None]:
    """Set (a string) or unset (``None``) environment variables for a block, then put them back.

    Each variable of ``changes``, and each named in ``restore`` (ones the block sets itself),
    leaves the block as it came in: with its old value, or unset.
    """
    def put(values: Mapping[str, str | None]) -> None:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    saved = {k: os.environ.get(k) for k in [*changes, *restore]}
    try:
        put(changes)
        yield
    finally:
        put(saved)


def colab_install_url() -> str:
    """The pip requirement that installs genlab on Colab."""
    return f"git+{REPO_URL}@{REPO_BRANCH}"
