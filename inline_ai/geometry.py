"""Pixel geometry: spacing from ISMRMRD headers and the original <-> model grid mapping.

Points are ``(row, col)`` float pixel coordinates with pixel centres at integers. The model grid
is the original image resampled to ``pixel_size_mm`` and centred on it: the centre of the original
image, ``((H - 1) / 2, (W - 1) / 2)``, maps to the centre of the model grid, and one model pixel
spans ``pixel_size_mm / spacing`` original pixels along each axis. Resampling and centred
pad/crop are a single interpolation, so points map exactly with :class:`GridTransform`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


def spacing_from_image(image: object) -> tuple[float, float]:
    """Pixel spacing ``(row_mm, col_mm)`` = ``(fov_y / matrix_y, fov_x / matrix_x)`` of an image header.

    Accepts an ``ismrmrd.Image`` or ``ismrmrd.ImageHeader`` (anything with ``field_of_view`` and
    ``matrix_size``). Raises ``ValueError`` when the field of view or matrix is missing or zero.
    """
    fov = [float(v) for v in image.field_of_view]  # type: ignore[attr-defined]
    matrix = [int(v) for v in image.matrix_size]  # type: ignore[attr-defined]
    if matrix[0] <= 0 or matrix[1] <= 0:
        raise ValueError(f"image header has no matrix size (matrix_size={matrix})")
    if not (np.isfinite(fov[0]) and np.isfinite(fov[1])) or fov[0] <= 0 or fov[1] <= 0:
        raise ValueError(f"image header has no field of view (field_of_view={fov[:2]} mm); "
                         "pixel spacing is unknown")
    return fov[1] / matrix[1], fov[0] / matrix[0]


@dataclass(frozen=True)
class GridTransform:
    """Maps points between an original image grid and the model grid (both ways, exact)."""

    original_shape: tuple[int, int]
    model_shape: tuple[int, int]
    step: tuple[float, float]  # original pixels per model pixel, (rows, cols)

    @property
    def original_centre(self) -> np.ndarray:
        return (np.asarray(self.original_shape, dtype=np.float64) - 1.0) / 2.0

    @property
    def model_centre(self) -> np.ndarray:
        return (np.asarray(self.model_shape, dtype=np.float64) - 1.0) / 2.0

    def to_model(self, points: np.ndarray) -> np.ndarray:
        """Original ``(row, col)`` points ``[..., 2]`` -> model-grid points (NaN stays NaN)."""
        points = np.asarray(points, dtype=np.float64)
        return self.model_centre + (points - self.original_centre) / np.asarray(self.step)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Model-grid ``(row, col)`` points ``[..., 2]`` -> original points (NaN stays NaN)."""
        points = np.asarray(points, dtype=np.float64)
        return self.original_centre + (points - self.model_centre) * np.asarray(self.step)


def grid_transform(original_shape: tuple[int, int], spacing: tuple[float, float],
                   pixel_size_mm: float, input_size: tuple[int, int]) -> GridTransform:
    """The :class:`GridTransform` for an image of ``original_shape`` with ``spacing`` (row_mm, col_mm)."""
    if pixel_size_mm <= 0:
        raise ValueError(f"model pixel size must be positive, got {pixel_size_mm}")
    if len(spacing) != 2 or min(float(s) for s in spacing) <= 0:
        raise ValueError(f"pixel spacing must be two positive values (row_mm, col_mm), got {spacing}")
    step = (float(pixel_size_mm) / float(spacing[0]), float(pixel_size_mm) / float(spacing[1]))
    return GridTransform((int(original_shape[0]), int(original_shape[1])),
                         (int(input_size[0]), int(input_size[1])), step)


def to_model_grid(
    pixels: np.ndarray,
    spacing: tuple[float, float],
    pixel_size_mm: float,
    input_size: tuple[int, int],
    order: int = 1,
    anti_alias: bool = True,
) -> tuple[np.ndarray, GridTransform]:
    """Resample a 2D image to ``pixel_size_mm`` and centre it in ``input_size`` (zero padding).

    When the model pixel is larger than the original pixel along an axis, the image is first
    smoothed along that axis with a Gaussian of sigma ``(step - 1) / 2`` original pixels to avoid
    aliasing. Returns ``(model_pixels float32 [H, W], transform)``.
    """
    pixels = np.asarray(pixels)
    if pixels.ndim != 2:
        raise ValueError(f"to_model_grid expects a 2D image, got shape {pixels.shape}")
    if order not in (0, 1, 3):
        raise ValueError(f"interpolation order must be 0, 1 or 3, got {order}")
    transform = grid_transform(pixels.shape, spacing, pixel_size_mm, input_size)
    source = pixels.astype(np.float32, copy=False)
    sigma = [max(0.0, (s - 1.0) / 2.0) for s in transform.step]
    if anti_alias and max(sigma) > 0:
        source = ndimage.gaussian_filter(source, sigma=sigma, mode="nearest")
    step = np.asarray(transform.step)
    # original = original_centre + (model - model_centre) * step = step * model + offset
    offset = transform.original_centre - transform.model_centre * step
    model = ndimage.affine_transform(source, step, offset=offset, output_shape=transform.model_shape,
                                     order=order, mode="constant", cval=0.0, prefilter=order > 1)
    return model.astype(np.float32, copy=False), transform
