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
