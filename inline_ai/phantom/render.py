"""Render one plane: the heart painted over the plane's torso image, sampled on sub-planes across
the slice thickness (through-plane partial volume), plus the hard label map."""

from __future__ import annotations

import numpy as np

from inline_ai.phantom.anatomy import Subject
from inline_ai.phantom.motion import HeartState
from inline_ai.phantom.planning import ImagePlane
from inline_ai.phantom.scene import HEART_RADIUS_MM, HeartPoints, Textures, heart_points, paint_heart


def sub_plane_offsets(plane: ImagePlane, samples: int) -> list[float]:
    """Offsets (mm) across the slice thickness at which the plane is sampled (through-plane PV)."""
    samples = max(int(samples), 1) | 1  # odd, so that the plane itself is the middle sample
    return list((np.arange(samples) - (samples - 1) / 2.0) * plane.thickness / samples)


def plane_heart_points(subject: Subject, plane: ImagePlane, offset_mm: float) -> HeartPoints:
    """Heart-frame coordinates of the plane's pixels near the heart (only a box around it is converted)."""
    centre = subject.to_patient(np.array([0.0, 0.0, 0.55 * subject.heart.lv_length_ed]))
    normal = plane.slice_dir
    origin = plane.centre + offset_mm * normal
    distance = float((centre - origin) @ normal)
    rows, cols = plane.shape
    if abs(distance) >= HEART_RADIUS_MM:
        return heart_points(subject, np.zeros((0, 3), dtype=np.float32), index=np.zeros(0, dtype=np.int64))
    reach = np.sqrt(HEART_RADIUS_MM**2 - distance**2)
    row0, col0 = plane.to_pixels(centre)
    dy, dx = plane.pixel_spacing
    r_lo, r_hi = max(int(np.floor(row0 - reach / dy)), 0), min(int(np.ceil(row0 + reach / dy)) + 1, rows)
    c_lo, c_hi = max(int(np.floor(col0 - reach / dx)), 0), min(int(np.ceil(col0 + reach / dx)) + 1, cols)
    if r_lo >= r_hi or c_lo >= c_hi:
        return heart_points(subject, np.zeros((0, 3), dtype=np.float32), index=np.zeros(0, dtype=np.int64))
    r = np.arange(r_lo, r_hi)
    c = np.arange(c_lo, c_hi)
    points = (origin[None, None, :] + ((c - (cols - 1) / 2.0) * dx)[None, :, None] * plane.read_dir[None, None, :]
              + ((r - (rows - 1) / 2.0) * dy)[:, None, None] * plane.phase_dir[None, None, :])
    index = (r[:, None] * cols + c[None, :]).ravel()
    return heart_points(subject, points.reshape(-1, 3).astype(np.float32), index=index)


def render_image(subject: Subject, state: HeartState, plane: ImagePlane, torso: np.ndarray, where: list[HeartPoints],
                 values: dict[str, float], textures: Textures) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free image (the heart over the plane's torso image, sampled on the sub-planes of
    ``where`` across the slice thickness: partial volume in and through the plane) and labels.
    The middle entry of ``where`` is the plane itself and gives the label map."""
    edge = float(np.mean(plane.pixel_spacing))
    total = np.zeros(torso.shape, dtype=np.float32)
    labels = None
    middle = len(where) // 2
    for k, points in enumerate(where):
        image, found = paint_heart(subject, state, points, torso, values, edge, textures, want_labels=k == middle)
        total += image
        labels = found if found is not None else labels
    return (total / len(where)).reshape(plane.shape), labels.reshape(plane.shape)
