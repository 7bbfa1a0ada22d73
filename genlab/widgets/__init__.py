"""Interactive widgets for the notebooks (design: COURSE_DESIGN.md section 6, docs/widgets.md).

- :class:`MaskPainter` -- paint a hole on an image, see models and the biharmonic baseline fill it.
- :class:`LatentExplorer` -- sliders over a VAE/GAN latent code, decoded live; interpolation.
- :class:`TrainingDashboard` -- a ``genlab.train.fit`` callback with live loss curves and samples.
"""

from __future__ import annotations

from .dashboard import TrainingDashboard
from .latent import LatentExplorer, slerp
from .painter import PRESETS, MaskPainter, preset_mask, resolve_backend

__all__ = ["PRESETS", "LatentExplorer", "MaskPainter", "TrainingDashboard", "preset_mask",
           "resolve_backend", "slerp"]
