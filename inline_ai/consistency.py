"""Consistency over the phases of a series: fill missed landmarks, optional temporal smoothing."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

DEFAULT_MIN_PRESENT_FRACTION = 0.5


def fill_missing(points: np.ndarray, cyclic: bool = True,
                 min_present_fraction: float = DEFAULT_MIN_PRESENT_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Fill landmarks absent in some phases by linear interpolation between neighbouring phases.

    ``points`` is ``[P, K, 2]`` (NaN = absent). ``cyclic`` treats the phases as a heartbeat loop
    (cine: the last phase neighbours the first); otherwise the ends take the nearest detected
    phase. A landmark is filled only when it was found in at least ``min_present_fraction`` of the
    phases (one that is mostly absent is taken as truly absent). Returns ``(filled points,
    filled mask [P, K])``.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"points must be [P, K, 2], got shape {points.shape}")
    phases = points.shape[0]
    result = points.copy()
    filled = np.zeros(points.shape[:2], dtype=bool)
    if phases < 2:
        return result, filled
    index = np.arange(phases, dtype=np.float64)
    for k in range(points.shape[1]):
        present = np.isfinite(points[:, k]).all(axis=-1)
        if present.all() or present.sum() < max(1, int(np.ceil(min_present_fraction * phases))):
            continue
        missing = ~present
        for axis in range(2):
            result[missing, k, axis] = np.interp(index[missing], index[present], points[present, k, axis],
                                                 period=phases if cyclic else None)
        filled[missing, k] = True
    return result, filled


def smooth_over_phases(points: np.ndarray, sigma_phases: float = 1.0, cyclic: bool = True) -> np.ndarray:
    """Gaussian smoothing of each landmark's track over phases (NaN tracks left untouched)."""
    points = np.asarray(points, dtype=np.float64)
    if sigma_phases <= 0 or points.shape[0] < 3:
        return points.copy()
    result = points.copy()
    mode = "wrap" if cyclic else "nearest"
    for k in range(points.shape[1]):
        if np.isfinite(points[:, k]).all():
            result[:, k] = gaussian_filter1d(points[:, k], sigma_phases, axis=0, mode=mode)
    return result


def fill_stack_gaps(points: np.ndarray, neighbours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill a short-axis landmark missing on one slice between two slices that have it.

    Along a stack (same phase) the LV cavity and the RV's contact with the septum are contiguous: in the
    expert labels (ACDC, all 1,134 interior slices) no landmark is ever absent between two slices that have
    it. ``points`` ``[N, K, 2]`` (NaN = absent) are detections on one in-plane grid, ``neighbours`` ``[N, 2]``
    each image's previous and next slice among them (``-1`` = none; :func:`inline_ai.context.neighbour_indices`).
    A gap takes the mean of its two neighbours' points (the first model's own weak peak there was measured
    worse: docs/training.md); neighbours are judged on the unfilled points. Returns ``(points, filled [N, K])``.
    """
    points = np.asarray(points, dtype=np.float64)
    neighbours = np.asarray(neighbours)
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"points must be [N, K, 2], got shape {points.shape}")
    if neighbours.shape != (points.shape[0], 2):
        raise ValueError(f"neighbours must be [{points.shape[0]}, 2], got {neighbours.shape}")
    present = np.isfinite(points).all(axis=-1)
    inner = (neighbours >= 0).all(axis=1)
    before, after = np.where(inner, neighbours[:, 0], 0), np.where(inner, neighbours[:, 1], 0)
    filled = inner[:, None] & ~present & present[before] & present[after]
    result = points.copy()
    result[filled] = ((points[before] + points[after]) / 2.0)[filled]
    return result, filled
