"""Long-axis apex from an LV segmentation: the rule that made the phantom's apex labels.

``inline_ai.phantom.groundtruth`` puts the apex at the point of the LV (myocardium or cavity) farthest
from the mitral hinge midpoint. On a rounded apical cap that point is poorly determined sideways, and a
heat-map model spreads its guess along the cap; a model that segments the LV instead lets the rule
itself pick the point. Here the rule reads class probabilities ``[4, h, w]`` (``MASK_CLASSES`` order) on
a crop grid, below a pixel: the LV is where myocardium + cavity probability is at least one half (its
largest 4-connected region), and around its farthest pixel the edge is found again below a pixel along a
fan of rays from the hinge midpoint (the LV probability interpolated bilinearly, the level crossing
interpolated linearly). The apex is on the edge in the middle direction of the rays that reach within
:data:`TOP_BAND_PX` of the farthest crossing: the farthest crossing itself would wander along a flat cap
with every wiggle of the edge.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from inline_ai.mask_landmarks import LABEL_LV_CAVITY, LABEL_LV_MYOCARDIUM

LV_LEVEL = 0.5  # LV probability (myocardium + cavity) at the LV's edge
RAY_HALF_WIDTH_PX = 10.0  # rays are cast through this many pixels either side of the farthest pixel
RAY_STEP_PX = 0.2  # ray spacing at the farthest pixel, and the step along each ray
RAY_DEPTH_PX = 6.0  # each ray is searched from this far inside the farthest pixel's distance...
RAY_BEYOND_PX = 2.0  # ...to this far beyond it
TOP_BAND_PX = 0.1  # rays whose edge comes this close to the farthest one make the top of the cap
MIN_LV_PIXELS = 20  # fewer: no LV in the crop


def lv_probability(probabilities: np.ndarray) -> np.ndarray:
    """LV (myocardium + cavity) probability ``[h, w]`` from class probabilities ``[L, h, w]``."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.ndim != 3 or probabilities.shape[0] <= LABEL_LV_CAVITY:
        raise ValueError(f"expected [L, h, w] class probabilities, L > {LABEL_LV_CAVITY}; got {probabilities.shape}")
    return probabilities[LABEL_LV_MYOCARDIUM] + probabilities[LABEL_LV_CAVITY]


def farthest_lv_point(probabilities: np.ndarray, reference: np.ndarray) -> np.ndarray | None:
    """``(row, col)`` on the probabilities' grid of the LV point farthest from ``reference`` (the hinge
    midpoint, same grid; square pixels); None when the LV has fewer than :data:`MIN_LV_PIXELS` pixels."""
    reference = np.asarray(reference, dtype=np.float64)
    if reference.shape != (2,) or not np.isfinite(reference).all():
        raise ValueError(f"the reference is one finite (row, col) point, got {reference.tolist()}")
    lv = lv_probability(probabilities)
    regions, count = ndimage.label(lv >= LV_LEVEL)
    if count == 0:
        return None
    sizes = np.bincount(regions.ravel())[1:]
    if sizes.max() < MIN_LV_PIXELS:
        return None
    offsets = np.argwhere(regions == 1 + int(np.argmax(sizes))) - reference
    best = offsets[int(np.argmax(np.linalg.norm(offsets, axis=1)))]
    reach = float(np.linalg.norm(best))
    if reach <= RAY_HALF_WIDTH_PX:  # the reference sits at the LV's edge: no cap to read
        return reference + best
    angles = np.arctan2(best[1], best[0]) + np.arange(-RAY_HALF_WIDTH_PX, RAY_HALF_WIDTH_PX + 1e-9, RAY_STEP_PX) / reach
    lengths = reach + np.arange(-RAY_DEPTH_PX, RAY_BEYOND_PX + 1e-9, RAY_STEP_PX)
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # [A, 2]
    samples = reference + lengths[None, :, None] * directions[:, None, :]  # [A, T, 2]
    values = ndimage.map_coordinates(lv, samples.reshape(-1, 2).T, order=1, mode="constant", cval=0.0)
    values = values.reshape(len(angles), len(lengths)) - LV_LEVEL
    leaving = (values[:, :-1] >= 0.0) & (values[:, 1:] < 0.0)  # the ray leaves the LV between t and t + 1
    found = leaving.any(axis=1)
    if not found.any():
        return reference + best
    rays = np.flatnonzero(found)
    last = leaving.shape[1] - 1 - np.argmax(leaving[rays, ::-1], axis=1)  # the last exit of each ray
    before, after = values[rays, last], values[rays, last + 1]
    edges = np.full(len(angles), -np.inf)
    edges[rays] = lengths[last] + before / (before - after) * RAY_STEP_PX
    # the cap is flat: the farthest crossing itself wanders with every wiggle of the edge; the middle of the
    # rays that reach within TOP_BAND_PX of it does not
    angle = float(angles[edges >= edges.max() - TOP_BAND_PX].mean())
    length = float(np.interp(angle, angles[found], edges[found]))
    return reference + length * np.array([np.cos(angle), np.sin(angle)])
