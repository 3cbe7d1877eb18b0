"""Consistency over the phases of a series: fill missed landmarks, optional temporal smoothing."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, shortest_path

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


WRONG_SIDE_DEG = 90.0  # the RV's direction from the LV centre varies along a stack by <= 59 deg in the labels


def stack_graph(neighbours: np.ndarray) -> csr_matrix:
    """The slice-neighbour links of ``neighbours`` ``[N, 2]`` (``-1`` = none) as a sparse ``N x N`` graph."""
    neighbours = np.asarray(neighbours)
    rows, sides = np.nonzero(neighbours >= 0)
    count = neighbours.shape[0]
    return csr_matrix((np.ones(rows.size), (rows, neighbours[rows, sides])), shape=(count, count))


def stack_groups(neighbours: np.ndarray) -> list[np.ndarray]:
    """The stacks among ``N`` images: the groups linked by ``neighbours`` ``[N, 2]`` (``-1`` = none), each as
    sorted image indices."""
    _, labels = connected_components(stack_graph(neighbours), directed=False)
    return [np.flatnonzero(labels == label) for label in np.unique(labels)]


def rv_directions(points: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """``[N]`` the RV's direction (radians, row/col in mm) from the LV centre to the midpoint of the two RV
    insertion points; NaN where any of the three is absent. ``points`` ``[N, 3, 2]`` in SAX landmark order."""
    points = np.asarray(points, dtype=np.float64)
    vector = ((points[:, 0] + points[:, 1]) / 2.0 - points[:, 2]) * np.asarray(spacing, dtype=np.float64)
    return np.arctan2(vector[:, 0], vector[:, 1])


def sax_stack_arrays(points: np.ndarray, neighbours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``points`` ``[N, 3, 2]`` (SAX landmark order) as float and ``neighbours`` ``[N, 2]`` as an array, checked."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (3, 2):
        raise ValueError(f"points must be [N, 3, 2] in SAX landmark order, got shape {points.shape}")
    neighbours = np.asarray(neighbours)
    if neighbours.shape != (points.shape[0], 2):
        raise ValueError(f"neighbours must be [{points.shape[0]}, 2], got {neighbours.shape}")
    return points, neighbours


def drop_wrong_side_rv(points: np.ndarray, neighbours: np.ndarray, spacing: np.ndarray | None = None,
                       max_deg: float = WRONG_SIDE_DEG) -> tuple[np.ndarray, np.ndarray]:
    """Drop RV insertion points that put the RV on the wrong side of the LV for their stack.

    Along a stack the RV lies on one side of the LV: in the expert labels (ACDC, 1,114 images with all three
    landmarks) its direction from the LV centre stays within 59 deg of the stack's medoid direction. A slice
    whose two insertion points turn the RV more than ``max_deg`` away from the medoid of its stack (stacks of
    at least three such slices, linked by ``neighbours`` ``[N, 2]`` as :func:`fill_stack_gaps`) has found
    something else beside the LV (another cavity, the stomach): both points become absent, and the stack gap
    fill may then take its neighbours' mean. ``points`` ``[N, 3, 2]`` in SAX landmark order (anterior RVI,
    inferior RVI, LV centre), ``spacing`` ``(row_mm, col_mm)`` or ``[N, 2]`` (default isotropic). Returns ``(points,
    dropped [N])``."""
    points, neighbours = sax_stack_arrays(points, neighbours)
    directions = rv_directions(points, np.ones(2) if spacing is None else spacing)
    dropped = np.zeros(points.shape[0], dtype=bool)
    for group in stack_groups(neighbours):
        known = group[np.isfinite(directions[group])]
        if known.size < 3:
            continue
        angles = directions[known]
        apart = np.abs((angles[:, None] - angles[None, :] + np.pi) % (2 * np.pi) - np.pi)
        medoid = angles[int(np.argmin(apart.sum(axis=1)))]
        off = np.degrees(np.abs((angles - medoid + np.pi) % (2 * np.pi) - np.pi))
        dropped[known[off > max_deg]] = True
    result = points.copy()
    result[dropped, :2] = np.nan
    return result, dropped


FAR_LV_CENTRE_MM = 45.0  # training labels: a slice's LV centre lies <= 29.6 mm from its stack's others' median


def drop_far_lv_centres(points: np.ndarray, neighbours: np.ndarray, spacing: np.ndarray | None = None,
                        max_mm: float = FAR_LV_CENTRE_MM) -> tuple[np.ndarray, np.ndarray]:
    """Drop LV centres that lie far from the rest of their stack.

    Along a short-axis stack the LV centre moves little: in the expert labels of ACDC's 68 training patients
    (1,174 slices of stacks with at least three centres) a slice's centre lies at most 29.6 mm (median 3.0 mm)
    from the median of its stack's other centres. A centre more than ``max_mm`` from that median (stacks of at
    least three centres, linked by ``neighbours`` ``[N, 2]`` as :func:`fill_stack_gaps`) was read off something
    else: it becomes absent, and the stack gap fill may then take its neighbours' mean. ``points`` ``[N, 3, 2]``
    in SAX landmark order (anterior RVI, inferior RVI, LV centre), ``spacing`` ``(row_mm, col_mm)`` or ``[N, 2]``
    (default isotropic). Returns ``(points, dropped [N])``."""
    points, neighbours = sax_stack_arrays(points, neighbours)
    centres = points[:, 2] * np.broadcast_to(np.ones(2) if spacing is None else spacing, (points.shape[0], 2))
    dropped = np.zeros(points.shape[0], dtype=bool)
    for group in stack_groups(neighbours):
        known = group[np.isfinite(centres[group]).all(axis=1)]
        if known.size < 3:
            continue
        for index in known:
            others = centres[known[known != index]]
            dropped[index] = np.linalg.norm(centres[index] - np.median(others, axis=0)) > max_mm
    result = points.copy()
    result[dropped, 2] = np.nan
    return result, dropped


def nearest_stack_donors(wanted: np.ndarray, usable: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """``[N]`` for each ``wanted`` image the nearest other ``usable`` one of its stack, in steps along
    ``neighbours`` ``[N, 2]`` (ties: the lower index); ``-1`` where there is none or the image is not wanted."""
    donors = np.full(np.shape(neighbours)[0], -1)
    starts = np.flatnonzero(wanted)
    if starts.size == 0:
        return donors
    steps = shortest_path(stack_graph(neighbours), directed=False, unweighted=True, indices=starts)
    steps[:, ~np.asarray(usable, dtype=bool)] = np.inf
    steps[np.arange(starts.size), starts] = np.inf
    reachable = np.isfinite(steps).any(axis=1)
    donors[starts[reachable]] = np.argmin(steps[reachable], axis=1)
    return donors
