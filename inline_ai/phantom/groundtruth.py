"""Exact landmarks, as the data README defines them.

SAX: the README's mask rule applied to the rendered label map (LV centre = cavity centroid; RV
insertion points = ends of the RV-cavity / LV-myocardium contact arc on the myocardial side;
anterior = the point lying more towards the heart's anterior wall in the patient).
Long axis: mitral hinge points where the plane cuts the 3D annulus ring; epicardial apex = the
LV epicardium point in the image farthest from the hinge midpoint (refined below a pixel).
"""

from __future__ import annotations

import numpy as np

from inline_ai.mask_landmarks import LABEL_LV_CAVITY, LABEL_LV_MYOCARDIUM, mask_landmarks
from inline_ai.phantom.anatomy import Subject
from inline_ai.phantom.motion import HeartState
from inline_ai.phantom.planning import ImagePlane
from inline_ai.phantom.scene import heart_geometry

# heart-frame direction of the first point of each long-axis pair (README: ch2 anterior,
# ch3 anteroseptal, ch4 anterolateral)
FIRST_HINGE_DIRECTION = {
    "ch2": np.array([0.0, 1.0, 0.0]),
    "ch3": np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0),
    "ch4": np.array([-1.0, 0.0, 0.0]),
}


def sax_landmarks(mask: np.ndarray, subject: Subject, plane: ImagePlane) -> np.ndarray:
    """``[3, 2]`` (anterior RVI, inferior RVI, LV centre) in (row, col), NaN where absent."""
    out = np.full((3, 2), np.nan, dtype=np.float32)
    found = mask_landmarks(mask, reach=1)  # the phantom's label maps leave no gaps
    if found.lv_centre is None:
        return out
    out[2] = found.lv_centre
    if found.rv_ends is None:
        return out
    ends = found.rv_ends
    patient = plane.centre + ((ends[:, 1:2] - (plane.shape[1] - 1) / 2.0) * plane.pixel_spacing[1] * plane.read_dir
                              + (ends[:, 0:1] - (plane.shape[0] - 1) / 2.0) * plane.pixel_spacing[0]
                              * plane.phase_dir)
    anterior_score = subject.to_heart(patient)[:, 1]
    first = 0 if anterior_score[0] >= anterior_score[1] else 1
    out[0], out[1] = ends[first], ends[1 - first]
    return out


def mitral_hinges(subject: Subject, state: HeartState, plane: ImagePlane, view: str) -> np.ndarray:
    """``[2, 2]`` hinge points (first, second of the view's pair) where the plane cuts the annulus."""
    out = np.full((2, 2), np.nan, dtype=np.float32)
    normal = subject.heart_axes.T @ plane.slice_dir
    origin = subject.to_heart(plane.centre)
    r1, r2 = state.annulus_radii
    ring_centre = np.array([0.0, 0.0, state.lv_length])
    a, b = r1 * normal[0], r2 * normal[1]
    c = float(normal @ (ring_centre - origin))
    amplitude = np.hypot(a, b)
    if amplitude < 1e-9 or abs(c) >= amplitude:
        return out
    base_angle = np.arctan2(b, a)
    spread = np.arccos(-c / amplitude)
    phis = np.array([base_angle + spread, base_angle - spread])
    ring = np.stack([r1 * np.cos(phis), r2 * np.sin(phis), np.full(2, state.lv_length)], axis=1)
    score = ring @ FIRST_HINGE_DIRECTION[view]
    if score[1] > score[0]:
        ring = ring[::-1]
    pixels = plane.to_pixels(subject.to_patient(ring))
    rows, cols = plane.shape
    for k in range(2):
        r, col = pixels[k]
        if -0.5 <= r <= rows - 0.5 and -0.5 <= col <= cols - 0.5:
            out[k] = pixels[k]
    return out


def _lv_inside(subject: Subject, state: HeartState, plane: ImagePlane, pixels: np.ndarray) -> np.ndarray:
    """Whether (row, col) points of the plane lie inside the LV epicardium (below the base)."""
    rows, cols = plane.shape
    rel = ((pixels[:, 1:2] - (cols - 1) / 2.0) * plane.pixel_spacing[1] * plane.read_dir
           + (pixels[:, 0:1] - (rows - 1) / 2.0) * plane.pixel_spacing[0] * plane.phase_dir)
    heart = subject.to_heart(plane.centre + rel).astype(np.float32)
    geo = heart_geometry(subject, state, heart[:, 0], heart[:, 1], heart[:, 2])
    return geo["lv_epi"] < 0


def epicardial_apex(mask: np.ndarray, reference: np.ndarray, subject: Subject, state: HeartState,
                    plane: ImagePlane) -> np.ndarray:
    """The LV (myocardium or cavity) point farthest from ``reference`` (row, col), sub-pixel."""
    lv = np.argwhere((mask == LABEL_LV_MYOCARDIUM) | (mask == LABEL_LV_CAVITY)).astype(float)
    if len(lv) == 0 or not np.all(np.isfinite(reference)):
        return np.full(2, np.nan, dtype=np.float32)
    spacing = np.asarray(plane.pixel_spacing)
    distance = np.hypot(*((lv - reference) * spacing).T)
    best = lv[int(np.argmax(distance))]
    rows, cols = mask.shape
    if best[0] in (0, rows - 1) or best[1] in (0, cols - 1):
        return np.full(2, np.nan, dtype=np.float32)  # the LV runs out of the image: apex not in it
    refined = farthest_lv_point(best, reference, subject, state, plane, half_px=1.5, step_px=0.1)
    return (best if refined is None else refined).astype(np.float32)


def farthest_lv_point(centre: np.ndarray, reference: np.ndarray, subject: Subject, state: HeartState,
                      plane: ImagePlane, half_px: float, step_px: float) -> np.ndarray | None:
    """Of a square grid of (row, col) points around ``centre`` (half-width ``half_px``, spacing ``step_px``), the one
    inside the LV epicardium (exact geometry) farthest from ``reference``; None when none is inside."""
    axis = slice(-half_px, half_px + step_px / 10, step_px)
    candidates = centre + np.mgrid[axis, axis].reshape(2, -1).T
    candidates = candidates[_lv_inside(subject, state, plane, candidates)]
    if len(candidates) == 0:
        return None
    distance = np.hypot(*((candidates - reference) * np.asarray(plane.pixel_spacing)).T)
    return candidates[int(np.argmax(distance))]


def lax_landmarks(mask: np.ndarray, subject: Subject, state: HeartState, plane: ImagePlane, view: str
                  ) -> np.ndarray:
    """``[3, 2]`` (mv_anterior, mv_inferior, apex) in (row, col), NaN where absent."""
    out = np.full((3, 2), np.nan, dtype=np.float32)
    out[:2] = mitral_hinges(subject, state, plane, view)
    if np.all(np.isfinite(out[:2])):
        reference = out[:2].mean(axis=0)
    else:
        reference = plane.to_pixels(subject.to_patient(np.array([0.0, 0.0, state.lv_length])))
    out[2] = epicardial_apex(mask, reference, subject, state, plane)
    return out
