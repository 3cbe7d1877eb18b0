"""Image intensity normalisation shared by inference and training (the cards' ``percentile_99.5``)."""

from __future__ import annotations

import numpy as np

from inline_ai.geometry import GridTransform, to_model_grid

NORMALISATION_PERCENTILE = 99.5
NORMALISED_MAX = 2.0


class BlankImageError(ValueError):
    """An image that cannot be normalised: its 99.5th percentile is not positive."""


def normalise(pixels: np.ndarray) -> np.ndarray:
    """Divide by the image's 99.5th percentile and clip to [0, 2] (the cards' ``percentile_99.5``).

    Raises :class:`BlankImageError` (a ``ValueError``) for an image whose percentile is not positive.
    """
    pixels = np.asarray(pixels, dtype=np.float32)
    scale = float(np.percentile(pixels, NORMALISATION_PERCENTILE))
    if not np.isfinite(scale) or scale <= 0:
        raise BlankImageError(f"cannot normalise an image whose {NORMALISATION_PERCENTILE}th percentile is {scale}")
    return np.clip(pixels / scale, 0.0, NORMALISED_MAX)


def normalise_or_blank(pixels: np.ndarray) -> np.ndarray:
    """A neighbour normalised like the image; a blank neighbour stays zero instead of failing the image."""
    try:
        return normalise(pixels)
    except BlankImageError:
        return np.zeros(np.shape(pixels), dtype=np.float32)


def normalised_grid(pixels: np.ndarray, spacing: tuple[float, float], pixel_size_mm: float,
                    input_size: tuple[int, int]) -> tuple[np.ndarray, GridTransform]:
    """:func:`normalise` then :func:`inline_ai.geometry.to_model_grid`: a whole-image model's input."""
    return to_model_grid(normalise(pixels), spacing, pixel_size_mm, input_size)
