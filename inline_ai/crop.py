"""Axis crops for a refinement model: the view rotated so that the heart always faces the same way.

A first model finds three landmarks on the whole image: a pair and a tip. A refinement model then
looks again, at finer pixels, at a crop centred halfway between the pair's midpoint and the tip and
rotated so that the axis (pair midpoint -> tip) runs down the crop's rows. Two kinds:

- ``lv_axis`` (long axis): the mitral hinge points and the apex; the LV points straight down.
- ``sax_axis`` (short axis): the two RV insertion points and the LV centre; the RV sits on top.

Points are ``(row, col)`` with pixel centres at integers, as everywhere else. :class:`AxisCrop` maps
points both ways exactly and samples the image in one interpolation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

CROP_KINDS = ("", "lv_axis", "sax_axis")  # "" = the whole image (no crop)
CROP_LANDMARKS: dict[str, tuple[str, str, str]] = {  # (pair, pair, tip) of each crop kind
    "lv_axis": ("mv_anterior", "mv_inferior", "apex"),
    "sax_axis": ("anterior_rv_insertion", "inferior_rv_insertion", "lv_centre"),
}


@dataclass(frozen=True)
class AxisCrop:
    """A rotated, rescaled crop: ``original = centre + matrix @ (model - model_centre)``."""

    centre: np.ndarray  # [2] original (row, col) at the crop's centre
    matrix: np.ndarray  # [2, 2] original pixels per model pixel, rotation included
    model_shape: tuple[int, int]

    @property
    def model_centre(self) -> np.ndarray:
        return (np.asarray(self.model_shape, dtype=np.float64) - 1.0) / 2.0

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Crop ``(row, col)`` points ``[..., 2]`` -> original points (NaN stays NaN)."""
        points = np.asarray(points, dtype=np.float64)
        return self.centre + (points - self.model_centre) @ self.matrix.T

    def to_model(self, points: np.ndarray) -> np.ndarray:
        """Original ``(row, col)`` points ``[..., 2]`` -> crop points (NaN stays NaN)."""
        points = np.asarray(points, dtype=np.float64)
        return self.model_centre + (points - self.centre) @ np.linalg.inv(self.matrix).T

    def sample(self, pixels: np.ndarray, order: int = 1) -> np.ndarray:
        """The crop of a 2D image (float32; zeros outside it), anti-aliased when pixels grow."""
        pixels = np.asarray(pixels, dtype=np.float32)
        if pixels.ndim != 2:
            raise ValueError(f"a crop is taken from a 2D image, got shape {pixels.shape}")
        steps = np.linalg.norm(self.matrix, axis=0)  # original pixels per model pixel along each crop axis
        sigma = max(0.0, (float(steps.max()) - 1.0) / 2.0)
        source = ndimage.gaussian_filter(pixels, sigma, mode="nearest") if sigma > 0 else pixels
        offset = self.centre - self.matrix @ self.model_centre
        out = ndimage.affine_transform(source, self.matrix, offset=offset, output_shape=self.model_shape,
                                       order=order, mode="constant", cval=0.0, prefilter=order > 1)
        return out.astype(np.float32, copy=False)

    def bounds(self, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        """``(row0, col0, row1, col1)``: the part of an original image of ``shape`` that the crop covers."""
        corners = self.to_original(np.array([[r, c] for r in (-0.5, self.model_shape[0] - 0.5)
                                             for c in (-0.5, self.model_shape[1] - 0.5)]))
        low = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, shape)
        high = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 1, 0, shape)
        return int(low[0]), int(low[1]), int(high[0]), int(high[1])

    def paste(self, values: np.ndarray, shape: tuple[int, int], fill: float = 0.0,
              origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        """A crop-grid array ``[h, w]`` (e.g. a class probability) resampled onto original pixels: a ``shape``
        window whose first pixel is original ``origin`` (bilinear; ``fill`` where the crop does not reach)."""
        values = np.asarray(values, dtype=np.float32)
        if values.shape != self.model_shape:
            raise ValueError(f"expected a {self.model_shape} crop-grid array, got {values.shape}")
        inverse = np.linalg.inv(self.matrix)
        offset = self.model_centre - inverse @ (self.centre - np.asarray(origin, dtype=np.float64))
        return ndimage.affine_transform(values, inverse, offset=offset, output_shape=tuple(int(v) for v in shape),
                                        order=1, mode="constant", cval=float(fill), prefilter=False)


def axis_crop(points: np.ndarray, spacing: Sequence[float], pixel_size_mm: float,
              shape: tuple[int, int]) -> AxisCrop:
    """The crop around ``points`` ``[3, 2]`` (pair, pair, tip; original ``(row, col)``), e.g.
    (mv_anterior, mv_inferior, apex) as in :data:`CROP_LANDMARKS`.

    ``spacing`` is the original ``(row_mm, col_mm)``; crop pixels are ``pixel_size_mm`` square. The
    crop's rows run from the pair's midpoint towards the tip, its columns keep the handedness of the
    image (a rotation, never a mirror). Raises ``ValueError`` for missing or coincident points.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (3, 2) or not np.isfinite(points).all():
        raise ValueError(f"an axis crop needs three points (a pair and a tip), got {points.tolist()}")
    spacing = np.asarray(spacing, dtype=np.float64)
    if spacing.shape != (2,) or (spacing <= 0).any() or pixel_size_mm <= 0:
        raise ValueError(f"spacing and pixel size must be positive, got {spacing.tolist()} and {pixel_size_mm}")
    pair_mid = points[:2].mean(axis=0)
    axis_mm = (points[2] - pair_mid) * spacing
    length = float(np.linalg.norm(axis_mm))
    if length < 1e-6:
        raise ValueError("the tip coincides with the pair's midpoint: no axis")
    down = axis_mm / length
    across = np.array([-down[1], down[0]])  # det [down across] = +1: a rotation
    rotation = np.stack([down, across], axis=1)  # crop (row, col) direction -> original direction, in mm
    matrix = (rotation * float(pixel_size_mm)) / spacing[:, None]
    centre = (pair_mid + points[2]) / 2.0
    return AxisCrop(centre=centre, matrix=matrix, model_shape=(int(shape[0]), int(shape[1])))
