"""What every image model's config starts with: the image side and the number of channels.

Each family's config dataclass extends :class:`ImageConfig` with its own sizes, so
``image_size`` and ``channels`` come first everywhere (``genlab train`` fills them from the data).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ImageConfig"]


@dataclass
class ImageConfig:
    """``image_size`` (height = width, pixels) and ``channels`` (1 or 3) of an image model."""

    image_size: int = 16
    channels: int = 1

    @property
    def n_pixels(self) -> int:
        """``C * H * W``: length of a flattened image."""
        return self.channels * self.image_size * self.image_size
