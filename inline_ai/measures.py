"""Measures from landmarks: LV length and longitudinal shortening (long axis); A-RVI angle and AHA
sector boundaries (short axis).

Distances use the anisotropic pixel spacing ``(row_mm, col_mm)``: a point ``(row, col)`` sits at
``(x_mm, y_mm) = (col * col_mm, row * row_mm)`` in the image plane.

A-RVI angle (short axis): the direction of the line from the LV centre to the anterior RV insertion
point, in degrees in [0, 360), measured in the image plane in millimetres, counter-clockwise as the
image is displayed (rows downwards, columns to the right) from the image's +x axis (the column /
readout direction, 3 o'clock): 0 = towards the right edge, 90 = towards the top edge (decreasing
row), 180 = left, 270 = bottom. ``patient_direction`` gives the same line as a unit vector in the
scanner's patient coordinates (from the image header's ``read_dir`` and ``phase_dir``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BASAL_MID_SECTORS: tuple[str, ...] = ("anteroseptal", "inferoseptal", "inferior", "inferolateral",
                                      "anterolateral", "anterior")
APICAL_SECTORS: tuple[str, ...] = ("septal", "inferior", "lateral", "anterior")
# Where the LV apex points from the base, in patient coordinates (LPS: +x left, +y posterior, +z
# superior): to the patient's left, anterior and inferior. Only its sign along a SAX normal is used.
APEX_DIRECTION_LPS = np.array([1.0, -1.0, -1.0]) / np.sqrt(3.0)
AHA_LEVELS: tuple[str, ...] = ("basal", "mid", "apical")


def distance_mm(a: np.ndarray, b: np.ndarray, spacing: Sequence[float] | np.ndarray) -> np.ndarray:
    """Distance (mm) between (row, col) points ``a`` and ``b`` (``[..., 2]``), ``spacing`` broadcast
    against them; NaN where either point is absent."""
    delta = (np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) * np.asarray(spacing, float)
    return np.sqrt((delta**2).sum(axis=-1))


def lv_length_mm(mv_anterior: np.ndarray, mv_inferior: np.ndarray, apex: np.ndarray,
                 spacing: Sequence[float]) -> np.ndarray:
    """Distance (mm) from the apex to the midpoint of the two valve points; ``[P, 2]`` -> ``[P]``.

    NaN where any of the three points is absent.
    """
    midpoint = (np.asarray(mv_anterior, dtype=np.float64) + np.asarray(mv_inferior, dtype=np.float64)) / 2
    return distance_mm(apex, midpoint, spacing)


@dataclass
class LongAxisMeasures:
    """LV length over the phases of one long-axis series."""

    lv_length_mm: np.ndarray  # [P], NaN where not measurable
    shortening_pct: np.ndarray | None  # [P], None for a single image
    ed_phase: int | None
    es_phase: int | None
    lv_length_ed_mm: float | None
    longitudinal_shortening_pct: float | None  # 100 (L_ED - L_ES) / L_ED


def long_axis_measures(points: np.ndarray, names: Sequence[str], spacing: Sequence[float],
                       ed_phase: int | None = None) -> LongAxisMeasures:
    """LV length per phase, shortening vs ED (first phase unless ``ed_phase``), ES = shortest phase.

    ``points`` is ``[P, K, 2]`` with landmark ``names``. With a single phase there is a length but
    no shortening, ED or ES. When ED has no length, shortening is not computed.
    """
    points = np.asarray(points, dtype=np.float64)
    names = list(names)
    for required in ("mv_anterior", "mv_inferior", "apex"):
        if required not in names:
            raise ValueError(f"long-axis measures need landmark {required!r}; got {names}")
    lengths = lv_length_mm(points[:, names.index("mv_anterior")], points[:, names.index("mv_inferior")],
                           points[:, names.index("apex")], spacing)
    phases = len(lengths)
    if phases < 2:
        return LongAxisMeasures(lengths, None, None, None, None, None)
    ed = 0 if ed_phase is None else int(ed_phase)
    if not 0 <= ed < phases:
        raise ValueError(f"ED phase {ed} outside the series' {phases} phases")
    ed_length = float(lengths[ed])
    if not np.isfinite(ed_length) or ed_length <= 0:
        return LongAxisMeasures(lengths, None, ed, None, None, None)
    shortening = 100.0 * (ed_length - lengths) / ed_length
    es = int(np.nanargmin(lengths)) if np.isfinite(lengths).any() else None
    global_shortening = float(shortening[es]) if es is not None else None
    return LongAxisMeasures(lengths, shortening, ed, es, ed_length, global_shortening)


def arvi_angle_deg(lv_centre: np.ndarray, anterior_rvi: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Angle of LV centre -> anterior RVI (degrees, [0, 360), convention in the module docstring).

    Works on single points ``[2]`` or arrays ``[..., 2]``; NaN where a point is absent.
    """
    delta = (np.asarray(anterior_rvi, dtype=np.float64) - np.asarray(lv_centre, dtype=np.float64))
    delta = delta * np.asarray(spacing, dtype=np.float64)
    angle = np.degrees(np.arctan2(-delta[..., 0], delta[..., 1]))
    return np.mod(angle, 360.0)


def patient_direction(lv_centre: np.ndarray, anterior_rvi: np.ndarray, spacing: Sequence[float],
                      read_dir: Sequence[float], phase_dir: Sequence[float]) -> np.ndarray:
    """Unit vector (patient coordinates) from the LV centre to the anterior RVI; NaN when absent."""
    delta = (np.asarray(anterior_rvi, dtype=np.float64) - np.asarray(lv_centre, dtype=np.float64))
    delta = delta * np.asarray(spacing, dtype=np.float64)
    vector = delta[..., 1:2] * np.asarray(read_dir, float) + delta[..., 0:1] * np.asarray(phase_dir, float)
    norm = np.linalg.norm(vector, axis=-1, keepdims=True)
    return vector / np.where(norm > 0, norm, np.nan)


@dataclass(frozen=True)
class Sector:
    """One AHA sector of a short-axis slice: from ``start_deg`` to ``end_deg`` going ``direction``."""

    name: str
    start_deg: float
    end_deg: float


def aha_sectors(lv_centre: np.ndarray, anterior_rvi: np.ndarray, spacing: Sequence[float],
                inferior_rvi: np.ndarray | None = None, count: int = 6) -> list[Sector]:
    """AHA sectors of a SAX slice (6 basal/mid or 4 apical), starting at the anterior RV insertion.

    The first boundary is the A-RVI angle; boundaries follow every 360/count degrees, going from
    the anterior RVI towards the septum, i.e. the way that reaches the inferior RVI soonest (or
    counter-clockwise on display, the standard SAX display, when the inferior RVI is absent).
    Sector names in that order: 6 -> anteroseptal, inferoseptal, inferior, inferolateral,
    anterolateral, anterior; 4 -> septal, inferior, lateral, anterior. Angles follow
    :func:`arvi_angle_deg`; ``end_deg`` may exceed 360 (it is ``start_deg`` +/- the sector width).
    Empty list when the LV centre or anterior RVI is absent.
    """
    if count not in (4, 6):
        raise ValueError(f"AHA sectors per slice are 6 (basal, mid) or 4 (apical), got {count}")
    start = float(arvi_angle_deg(lv_centre, anterior_rvi, spacing))
    if not np.isfinite(start):
        return []
    sign = 1.0
    if inferior_rvi is not None:
        inferior = float(arvi_angle_deg(lv_centre, inferior_rvi, spacing))
        if np.isfinite(inferior):
            sign = 1.0 if np.mod(inferior - start, 360.0) <= 180.0 else -1.0
    width = 360.0 / count
    names = BASAL_MID_SECTORS if count == 6 else APICAL_SECTORS
    return [Sector(name, start + sign * width * i, start + sign * width * (i + 1))
            for i, name in enumerate(names)]


def sector_boundaries_deg(sectors: Sequence[Sector]) -> list[float]:
    """The sector start angles folded into [0, 360)."""
    return [float(np.mod(s.start_deg, 360.0)) for s in sectors]


def slice_levels(positions: np.ndarray, slice_dirs: np.ndarray, lv_present: np.ndarray,
                 min_slices: int = 3, min_alignment: float = 0.25) -> list[str | None]:
    """AHA level (``basal``, ``mid``, ``apical``) of every image of a short-axis stack, or None.

    The stack's normal is turned to point from base to apex (towards the patient's left, anterior,
    inferior: :data:`APEX_DIRECTION_LPS`). The LV extent is the span along it of the images where
    the LV centre was found (``lv_present``); its thirds are the basal, mid and apical levels (the
    AHA rule, with the LV cavity standing in for the annulus-to-apex length). None for images
    outside that span, and for all images when fewer than ``min_slices`` slice locations show the
    LV or the normal is too oblique to the body axes to tell base from apex (``|cos| < min_alignment``).
    """
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    lv_present = np.asarray(lv_present, dtype=bool).reshape(-1)
    unknown: list[str | None] = [None] * len(positions)
    normal = np.asarray(slice_dirs, dtype=np.float64).reshape(-1, 3).mean(axis=0)
    norm = np.linalg.norm(normal)
    if len(positions) == 0 or not np.isfinite(norm) or norm == 0:
        return unknown
    normal /= norm
    alignment = float(normal @ APEX_DIRECTION_LPS)
    if abs(alignment) < min_alignment:
        return unknown
    depth = positions @ (normal * np.sign(alignment))  # mm, growing towards the apex
    lv_depths = depth[lv_present]
    if len(np.unique(np.round(lv_depths, 1))) < min_slices:
        return unknown
    base, apex = float(lv_depths.min()), float(lv_depths.max())
    fraction = (depth - base) / (apex - base)
    return [None if not 0.0 <= f <= 1.0 else AHA_LEVELS[min(int(f * 3.0), 2)] for f in fraction]
