"""``python -m genlab.train_cli``: kept so older commands (and torchrun lines) still run; see :mod:`genlab.train.cli`."""

from __future__ import annotations

from .train.cli import (
    FAMILIES,
    PRESETS,
    WEIGHTS_FORMAT,
    add_arguments,
    export_weights,
    main,
    make_task,
    run,
)

__all__ = ["FAMILIES", "PRESETS", "WEIGHTS_FORMAT", "add_arguments", "export_weights", "main", "make_task", "run"]

if __name__ == "__main__":
    raise SystemExit(main())
