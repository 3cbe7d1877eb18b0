"""Exact conversion between DICOM image-plane geometry and ISMRMRD image geometry.

Both standards use the LPS patient coordinate system (x to the patient's left, y posterior,
z superior), in millimetres, so no axis flips are needed; only the reference point differs:

- DICOM ``ImagePositionPatient`` (IPP) is the centre of the first transmitted pixel (row 0, col 0).
- ISMRMRD ``position`` is the centre of the image: the midpoint of the field of view, i.e.
  ``(cols - 1) / 2`` pixel steps along ``read_dir`` and ``(rows - 1) / 2`` steps along
  ``phase_dir`` from the first pixel centre.

DICOM ``ImageOrientationPatient`` holds the row direction (the direction of increasing column
index, = ISMRMRD ``read_dir``) and then the column direction (increasing row index, = ISMRMRD
``phase_dir``). DICOM ``PixelSpacing`` is (row spacing, column spacing): the distance between
adjacent rows, then between adjacent columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ismrmrd
import numpy as np


@dataclass(frozen=True)
class PlaneGeometry:
    """The geometry of one 2D image in patient (LPS) coordinates, in mm."""

    first_pixel_mm: np.ndarray  # centre of pixel (row 0, col 0): DICOM IPP
    row_dir: np.ndarray  # unit vector of increasing column index (ISMRMRD read_dir)
    col_dir: np.ndarray  # unit vector of increasing row index (ISMRMRD phase_dir)
    spacing_mm: tuple[float, float]  # (between rows, between columns)
    shape: tuple[int, int]  # (rows, cols)

    @property
    def normal(self) -> np.ndarray:
        """Unit slice normal, ``row_dir x col_dir`` (ISMRMRD slice_dir)."""
        return np.cross(self.row_dir, self.col_dir)

    @property
    def centre_mm(self) -> np.ndarray:
        """Centre of the image (ISMRMRD position)."""
        rows, cols = self.shape
        return (self.first_pixel_mm
                + (cols - 1) / 2.0 * self.spacing_mm[1] * self.row_dir
                + (rows - 1) / 2.0 * self.spacing_mm[0] * self.col_dir)

    def to_patient(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Patient coordinates ``[..., 3]`` of ``(row, col)`` pixel coordinates ``[..., 2]``."""
        points = np.asarray(points, dtype=float)
        return (self.first_pixel_mm
                + points[..., 1:2] * self.spacing_mm[1] * self.row_dir
                + points[..., 0:1] * self.spacing_mm[0] * self.col_dir)

    def corners_mm(self) -> np.ndarray:
        """Patient coordinates of the centres of the four corner pixels, ``[4, 3]``."""
        rows, cols = self.shape
        return self.to_patient([[0, 0], [0, cols - 1], [rows - 1, 0], [rows - 1, cols - 1]])


def from_dicom(position: Sequence[float], orientation: Sequence[float], pixel_spacing: Sequence[float],
               rows: int, cols: int) -> PlaneGeometry:
    """Geometry from DICOM ImagePositionPatient, ImageOrientationPatient, PixelSpacing, Rows, Columns."""
    orientation = np.asarray(orientation, dtype=float)
    return PlaneGeometry(first_pixel_mm=np.asarray(position, dtype=float),
                         row_dir=_unit(orientation[:3]), col_dir=_unit(orientation[3:6]),
                         spacing_mm=(float(pixel_spacing[0]), float(pixel_spacing[1])),
                         shape=(int(rows), int(cols)))


def from_ismrmrd(image: ismrmrd.Image) -> PlaneGeometry:
    """Geometry of a 2D ``ismrmrd.Image`` from its header (position, directions, FOV, matrix)."""
    cols, rows = int(image.matrix_size[0]), int(image.matrix_size[1])
    if cols <= 0 or rows <= 0:
        raise ValueError(f"image has an empty matrix {cols}x{rows}")
    spacing = (float(image.field_of_view[1]) / rows, float(image.field_of_view[0]) / cols)
    if spacing[0] <= 0 or spacing[1] <= 0:
        raise ValueError(f"image has no field of view ({list(image.field_of_view)}), pixel spacing unknown")
    row_dir = _unit(np.asarray(image.read_dir, dtype=float))
    col_dir = _unit(np.asarray(image.phase_dir, dtype=float))
    centre = np.asarray(image.position, dtype=float)
    first = centre - (cols - 1) / 2.0 * spacing[1] * row_dir - (rows - 1) / 2.0 * spacing[0] * col_dir
    return PlaneGeometry(first_pixel_mm=first, row_dir=row_dir, col_dir=col_dir, spacing_mm=spacing,
                         shape=(rows, cols))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError(f"direction vector {list(vector)} has no length")
    return np.asarray(vector, dtype=float) / norm
