"""The phantom's Python API: one subject, one view, one sequence -> a ``LandmarkCase``.

``generate_case`` is a plain module-level function of plain arguments, so it can be sent to
worker processes (``multiprocessing.Pool.starmap`` / ``concurrent.futures``) as is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inline_ai.dataset import LandmarkCase
from inline_ai.landmarks import SEQUENCES, VIEWS, landmark_names
from inline_ai.phantom import acquisition, contrast, groundtruth
from inline_ai.phantom.anatomy import draw_subject
from inline_ai.phantom.motion import heart_state
from inline_ai.phantom.planning import ImagePlane, PlanningSettings, plan_long_axis, plan_sax_stack
from inline_ai.phantom.scene import (
    HEART_RADIUS_MM,
    HeartPoints,
    Textures,
    heart_points,
    paint_heart,
    render_torso,
)

SERIES_NAMES = {"cine": "CINE", "lge": "LGE PSIR", "t1": "T1 MAP"}
VIEW_NAMES = {"sax": "SAX", "ch2": "2CH", "ch3": "3CH", "ch4": "4CH"}
DIASTOLE_TIME = 0.75  # single-frame sequences (LGE, T1 maps) are triggered in mid-diastole


def rr_interval_ms(subject_seed: int) -> float:
    """The subject's R-R interval (heart rate 55-95 bpm), from its own stream of the seed."""
    return 60000.0 / float(np.random.default_rng([int(subject_seed), 31]).uniform(55.0, 95.0))


def cardiac_times(sequence: str, phases: int | str, es_time: float) -> list[float]:
    """Time points (fractions of R-R, 0 = ED) for ``phases`` = count or ``"ed_es"``."""
    if phases == "ed_es":
        return [0.0, es_time]
    count = int(phases)
    if count < 1:
        raise ValueError(f"phases must be >= 1 or 'ed_es', got {phases!r}")
    if sequence != "cine" and count == 1:
        return [DIASTOLE_TIME]
    return [k / count for k in range(count)]


def _phase_names(times: Sequence[float], es_time: float, count: int) -> list[str]:
    """'ED' for time 0, 'ES' for the frame nearest the ES time, '' otherwise."""
    names = ["ED" if t == 0.0 else "" for t in times]
    if len(times) > 1:
        nearest = int(np.argmin([abs(t - es_time) for t in times]))
        if abs(times[nearest] - es_time) <= 0.5 / max(count, 1) + 1e-9:
            names[nearest] = "ES"
    return names


def _sub_plane_offsets(plane: ImagePlane, samples: int) -> list[float]:
    """Offsets (mm) across the slice thickness at which the plane is sampled (through-plane PV)."""
    samples = max(int(samples), 1) | 1  # odd, so that the plane itself is the middle sample
    return list((np.arange(samples) - (samples - 1) / 2.0) * plane.thickness / samples)


def plane_heart_points(subject, plane: ImagePlane, offset_mm: float) -> HeartPoints:
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


def render_image(subject, state, plane: ImagePlane, torso: np.ndarray, where: list[HeartPoints],
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


def generate_case(view: str, sequence: str, subject_seed: int, phases: int | str = 1, *,
                  image_seed: int = 0, variant: str | None = None, field_strength_t: float | None = None,
                  through_plane_samples: int | None = None,
                  planning: PlanningSettings | dict | None = None) -> LandmarkCase:
    """Render one synthetic series with exact landmarks.

    view: ``sax`` (a whole stack, base first), ``ch2``, ``ch3`` or ``ch4``; sequence: ``cine``,
    ``lge`` or ``t1``; subject_seed: the subject (anatomy, motion); phases: frames over the R-R
    interval (cine; frame 0 = ED) or ``"ed_es"`` for exactly ED and ES; image_seed: varies
    planning, contrast, noise for the same subject; planning: ``PlanningSettings`` or a dict of
    its fields (e.g. ``{"mirror_probability": 0.0}`` for the standard SAX display only). Images
    are ordered phase-major (all slices of a phase, then the next). Landmarks are (row, col)
    pixels, NaN where absent.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {VIEWS}")
    if sequence not in SEQUENCES:
        raise ValueError(f"unknown sequence {sequence!r}; expected one of {SEQUENCES}")
    subject = draw_subject(subject_seed, variant)
    rng = np.random.default_rng([int(subject_seed), int(image_seed), VIEWS.index(view), SEQUENCES.index(sequence)])
    if isinstance(planning, dict):  # e.g. from a YAML training config
        known = set(PlanningSettings.__dataclass_fields__)
        unknown = set(planning) - known
        if unknown:
            raise ValueError(f"unknown planning settings {sorted(unknown)}; known: {sorted(known)}")
        planning = PlanningSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in planning.items()})
    settings = planning or PlanningSettings()
    if view == "sax":
        planes, plan_info = plan_sax_stack(subject, rng, settings)
    else:
        plane, plan_info = plan_long_axis(subject, view, rng, settings)
        planes = [plane]
    samples = through_plane_samples if through_plane_samples is not None else (3 if view == "sax" else 1)
    seq = contrast.draw_sequence(sequence, rng, field_strength_t)
    values = contrast.tissue_values(seq, rng)
    if sequence != "t1":  # slower, through-plane flow and coil distance: RV blood often darker
        values["rv_blood"] = values["blood"] * float(rng.uniform(0.65, 1.0))
    acq = acquisition.draw_acquisition(sequence, rng)
    heart = subject.heart
    times = cardiac_times(sequence, phases, heart.es_time)
    count_phases = len(times)
    gain = 1.0 if sequence == "t1" else float(rng.uniform(600, 3000)) / values["blood"]
    reference = {"cine": values["blood"], "lge": max(abs(values["blood"]), abs(values["scar"]), 1e-3),
                 "t1": values["myocardium"]}[sequence]
    # many exports (ACDC among them) window the image so that the brightest ~1% saturates
    ceiling = np.inf
    if sequence == "cine" and rng.uniform() < 0.5:
        ceiling = float(rng.uniform(0.7, 1.0)) * values["fat"]
    per_plane = []
    for index, plane in enumerate(planes):
        grain = acquisition.smooth_field(plane.shape, rng, rng.uniform(0.02, 0.08), cell=3)
        textures = Textures(blood=(acquisition.smooth_field(plane.shape, rng, rng.uniform(0.04, 0.2), cell=12)
                                   * grain).ravel(),
                            tissue=(acquisition.smooth_field(plane.shape, rng, rng.uniform(0.02, 0.08))
                                    * grain).ravel(),
                            vessels=acquisition.vessel_field(plane.shape, rng, float(plane.pixel_spacing[0]),
                                                             int(rng.integers(20, 90))).ravel())
        if sequence == "t1":
            shading = np.ones(plane.shape, dtype=np.float32)
        else:
            shading = acquisition.coil_sensitivity(plane, acq, subject.torso.body_radii, int(rng.integers(2**31)))
            shading *= acquisition.banding(plane.shape, acq, float(plane.pixel_spacing[0]))
        torso = render_torso(subject, plane.points().reshape(-1, 3), values, float(np.mean(plane.pixel_spacing)),
                             textures)
        where = [plane_heart_points(subject, plane, offset) for offset in _sub_plane_offsets(plane, samples)]
        per_plane.append((index, plane, textures, shading, torso, where))
    images, masks, points, lengths, slice_idx, phase_idx, time_list, geometry = [], [], [], [], [], [], [], []
    names = landmark_names(view)
    for phase_number, time in enumerate(times):
        state = heart_state(heart, time)
        for index, plane, textures, shading, torso, where in per_plane:
            clean, labels = render_image(subject, state, plane, torso, where, values, textures)
            noisy = acquisition.acquire(clean * shading, acq, rng, reference, signed=(sequence != "cine"))
            if sequence == "t1":
                noisy = np.clip(noisy, 0.0, None)
            elif sequence == "lge" and not seq.lge_magnitude:
                noisy = np.clip(noisy, 0.0, None)  # PSIR displayed with negative values black
            images.append((np.minimum(noisy, ceiling) * gain).astype(np.float32))
            masks.append(labels)
            if view == "sax":
                points.append(groundtruth.sax_landmarks(labels, subject, plane))
            else:
                points.append(groundtruth.lax_landmarks(labels, subject, state, plane, view))
            lengths.append(state.lv_length)
            slice_idx.append(index)
            phase_idx.append(phase_number)
            time_list.append(time)
            geometry.append(np.concatenate([plane.centre, plane.read_dir, plane.phase_dir, plane.slice_dir]))
    landmarks = np.stack(points).astype(np.float32)
    phase_labels = _phase_names(times, heart.es_time, count_phases)
    geometry_arr = np.stack(geometry).astype(np.float32)
    lengths_arr = np.asarray(lengths, dtype=np.float32)
    extra: dict[str, np.ndarray] = {
        "lv_length_mm": lengths_arr,
        "longitudinal_shortening_pct": (100.0 * (heart.lv_length_ed - lengths_arr) / heart.lv_length_ed
                                        ).astype(np.float32),
        "drawn_shortening_pct": np.asarray(100.0 * heart.shortening, dtype=np.float32),
        "es_time": np.asarray(heart.es_time, dtype=np.float32),
        "rr_interval_ms": np.asarray(rr_interval_ms(subject_seed), dtype=np.float32),
        "cardiac_time": np.asarray(time_list, dtype=np.float32),
        "phase_index": np.asarray(phase_idx, dtype=np.int16),
        "position": geometry_arr[:, 0:3], "read_dir": geometry_arr[:, 3:6],
        "phase_dir": geometry_arr[:, 6:9], "slice_dir": geometry_arr[:, 9:12],
        "slice_thickness_mm": np.asarray(planes[0].thickness, dtype=np.float32),
        "field_strength_t": np.asarray(seq.field_strength_t, dtype=np.float32),
        "mirrored": np.asarray(bool(plan_info["mirrored"])),
        "variant": np.asarray(subject.variant),
        "series_description": np.asarray(f"{SERIES_NAMES[sequence]} {VIEW_NAMES[view]}"),
        "has_scar": np.asarray(sequence == "lge" and heart.scar is not None),
        "post_contrast": np.asarray(sequence == "lge" or (sequence == "t1" and seq.post_contrast)),
    }
    if view != "sax":
        mid = landmarks[:, :2].mean(axis=1)
        spacing = np.asarray(planes[0].pixel_spacing, dtype=np.float32)
        extra["lv_length_image_mm"] = np.hypot(*((landmarks[:, 2] - mid) * spacing).T).astype(np.float32)
    return LandmarkCase(
        image=np.stack(images), pixel_spacing=np.asarray(planes[0].pixel_spacing, dtype=np.float32),
        landmarks=landmarks, landmark_names=names, view=view, sequence=sequence, spacing_is_nominal=False,
        mask=np.stack(masks).astype(np.uint8),
        phase=np.asarray([phase_labels[p] for p in phase_idx]), slice_index=np.asarray(slice_idx, dtype=np.int16),
        case_id=f"phantom_s{int(subject_seed):05d}_{view}_{sequence}_i{int(image_seed)}", extra=extra,
    )
