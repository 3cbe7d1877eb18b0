"""Landmark points from probability heat maps.

Per image and landmark: the landmark is absent when its peak probability is below its threshold;
otherwise its sub-pixel point is the probability-weighted centroid of the connected blob around
the peak, within a square window of half-width ``ceil(2 * sigma)`` pixels, where the blob is the
peak's connected component of probabilities >= ``blob_fraction`` x peak. Confidence is the peak
probability (reported for absent landmarks too, so a caller can see how close they came).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage

DEFAULT_SIGMA_PX = 2.0
DEFAULT_BLOB_FRACTION = 0.25


def extract_points(
    probabilities: np.ndarray,
    channels: Sequence[str],
    landmark_names: Sequence[str],
    thresholds: Mapping[str, float] | float,
    sigma_px: float = DEFAULT_SIGMA_PX,
    blob_fraction: float = DEFAULT_BLOB_FRACTION,
) -> tuple[np.ndarray, np.ndarray]:
    """Points ``[N, K, 2]`` (row, col on the heat-map grid, NaN = absent) and confidences ``[N, K]``.

    ``probabilities`` is ``[N, C, H, W]`` with channel names ``channels``; ``landmark_names`` picks
    and orders the K landmarks; ``thresholds`` is one value or a value per landmark name.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 4:
        raise ValueError(f"probabilities must be [N, C, H, W], got shape {probabilities.shape}")
    if probabilities.shape[1] != len(channels):
        raise ValueError(f"{probabilities.shape[1]} probability channels but {len(channels)} channel names")
    missing = [name for name in landmark_names if name not in channels]
    if missing:
        raise ValueError(f"landmarks {missing} are not among the model channels {list(channels)}")
    count, _, height, width = probabilities.shape
    names = list(landmark_names)
    index = [list(channels).index(name) for name in names]
    maps = probabilities[:, index]  # [N, K, H, W]
    flat_peak = maps.reshape(count, len(names), -1).argmax(axis=-1)
    peak_rows, peak_cols = np.unravel_index(flat_peak, (height, width))
    confidence = np.take_along_axis(maps.reshape(count, len(names), -1), flat_peak[..., None], -1)[..., 0]
    limits = np.array([_threshold(thresholds, name) for name in names], dtype=np.float32)
    present = confidence >= limits[None, :]
    points = np.full((count, len(names), 2), np.nan, dtype=np.float64)
    radius = max(1, int(np.ceil(2.0 * sigma_px)))
    for n, k in zip(*np.nonzero(present), strict=True):
        points[n, k] = _blob_centroid(maps[n, k], int(peak_rows[n, k]), int(peak_cols[n, k]),
                                      radius, blob_fraction)
    return points, confidence.astype(np.float32)


def _threshold(thresholds: Mapping[str, float] | float, name: str) -> float:
    if isinstance(thresholds, Mapping):
        if name not in thresholds:
            raise ValueError(f"no threshold given for landmark {name!r}")
        return float(thresholds[name])
    return float(thresholds)


def _blob_centroid(heat: np.ndarray, row: int, col: int, radius: int, fraction: float) -> np.ndarray:
    """Probability-weighted centroid of the peak's connected blob inside the window."""
    r0, r1 = max(0, row - radius), min(heat.shape[0], row + radius + 1)
    c0, c1 = max(0, col - radius), min(heat.shape[1], col + radius + 1)
    window = heat[r0:r1, c0:c1]
    labels, _ = ndimage.label(window >= fraction * heat[row, col])
    weights = np.where(labels == labels[row - r0, col - c0], window, 0.0).astype(np.float64)
    total = weights.sum()
    rows, cols = np.mgrid[r0:r1, c0:c1]
    return np.array([(weights * rows).sum() / total, (weights * cols).sum() / total])
