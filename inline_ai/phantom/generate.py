"""The phantom's Python API: one subject, one view, one sequence -> a ``LandmarkCase``.

``generate_case`` is a plain module-level function of plain arguments, so it can be sent to
worker processes (``multiprocessing.Pool.starmap`` / ``concurrent.futures``) as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inline_ai.dataset import LandmarkCase
from inline_ai.landmarks import SEQUENCES, VIEWS, landmark_names
from inline_ai.phantom import acquisition, contrast, groundtruth, texture
from inline_ai.phantom.anatomy import (
    Subject,
    draw_subject,
    with_dark_epicardium,
    with_lean_epicardium,
    with_rv_junction,
)
from inline_ai.phantom.motion import heart_state
from inline_ai.phantom.planning import ImagePlane, PlanningSettings, plan_long_axis, plan_sax_stack
from inline_ai.phantom.render import plane_heart_points, render_image, sub_plane_offsets
from inline_ai.phantom.scene import Textures, render_torso

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


@dataclass
class _PlaneSetup:
    """What stays fixed for a plane over the cardiac phases."""

    index: int
    plane: ImagePlane
    textures: Textures
    shading: np.ndarray
    torso: np.ndarray
    where: list
    noise_level: np.ndarray


def _resolve_planning(planning: PlanningSettings | dict | None) -> PlanningSettings:
    """Planning settings from a dataclass, a dict of its fields (YAML configs) or the defaults."""
    if isinstance(planning, dict):
        known = set(PlanningSettings.__dataclass_fields__)
        unknown = set(planning) - known
        if unknown:
            raise ValueError(f"unknown planning settings {sorted(unknown)}; known: {sorted(known)}")
        return PlanningSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in planning.items()})
    return planning or PlanningSettings()


def _setup_plane(subject: Subject, index: int, plane: ImagePlane, sequence: str, values: dict[str, float],
                 acq: acquisition.AcquisitionSettings, samples: int, rng: np.random.Generator) -> _PlaneSetup:
    """Textures, coil shading / banding, the torso image and the heart sampling points of a plane."""
    grain = acquisition.smooth_field(plane.shape, rng, rng.uniform(0.02, 0.08), cell=3)
    blood = acquisition.smooth_field(plane.shape, rng, rng.uniform(0.04, 0.2), cell=12) * grain
    tissue = texture.band_limited_texture(plane.shape, rng, rng.uniform(0.04, 0.15))
    pixel_mm = float(plane.pixel_spacing[0])
    vessels = acquisition.vessel_field(plane.shape, rng, pixel_mm, int(rng.integers(20, 90)))
    clutter = texture.clutter_field(plane.shape, rng, pixel_mm, int(rng.integers(0, 12)), values)
    bowel = texture.bowel_field(plane.shape, rng, pixel_mm)
    textures = Textures(blood=blood.ravel(), tissue=tissue.ravel(), vessels=vessels.ravel(),
                        clutter_coverage=clutter.coverage.ravel(), clutter_value=clutter.value.ravel(),
                        bowel_loops=bowel.loops.ravel(), bowel_lumen=bowel.lumen.ravel(),
                        bowel_content=bowel.content.ravel())
    if sequence == "t1":  # maps are quantitative: no receive shading, no banding
        shading = np.ones(plane.shape, dtype=np.float32)
    else:
        shading = acquisition.coil_sensitivity(plane, acq, subject.torso.body_radii, int(rng.integers(2**31)))
        shading *= acquisition.banding(plane.shape, acq, float(plane.pixel_spacing[0]))
    torso = render_torso(subject, plane.points().reshape(-1, 3), values, float(np.mean(plane.pixel_spacing)),
                         textures)
    where = [plane_heart_points(subject, plane, offset) for offset in sub_plane_offsets(plane, samples)]
    return _PlaneSetup(index=index, plane=plane, textures=textures, shading=shading, torso=torso, where=where,
                       noise_level=acquisition.noise_map(plane.shape, acq, rng))


def generate_case(view: str, sequence: str, subject_seed: int, phases: int | str = 1, *,
                  image_seed: int = 0, variant: str | None = None, field_strength_t: float | None = None,
                  through_plane_samples: int | None = None,
                  planning: PlanningSettings | dict | None = None, contrast_jitter: float = 0.0,
                  rv_junction: bool = False, lean_epicardium: bool = False,
                  dark_epicardium: bool = False) -> LandmarkCase:
    """Render one synthetic series with exact landmarks.

    view: ``sax`` (a whole stack, base first), ``ch2``, ``ch3`` or ``ch4``; sequence: ``cine``,
    ``lge`` or ``t1``; subject_seed: the subject (anatomy, motion); phases: frames over the R-R
    interval (cine; frame 0 = ED) or ``"ed_es"`` for exactly ED and ES; image_seed: varies
    planning, contrast, noise for the same subject; planning: ``PlanningSettings`` or a dict of
    its fields (e.g. ``{"mirror_probability": 0.0}`` for the standard SAX display only);
    contrast_jitter: largest log-SD of a random factor per tissue (``contrast.jitter_contrast``;
    0 = physical contrast only, and the same output as without it); rv_junction: the RV free wall
    folds onto the LV with tapering tips and trabeculae near the insertions (``with_rv_junction``;
    off = the same output as before it existed); lean_epicardium: little epicardial fat over the LV
    and in the creases beside the RV insertions, as in ACDC (``with_lean_epicardium``; off = the same
    output as before it existed); dark_epicardium: tissue about as dark as myocardium lying on the LV wall
    (``with_dark_epicardium``; off = the same output as before it existed). Images
    are ordered phase-major (all slices of a phase, then the next). Landmarks are (row, col)
    pixels, NaN where absent.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {VIEWS}")
    if sequence not in SEQUENCES:
        raise ValueError(f"unknown sequence {sequence!r}; expected one of {SEQUENCES}")
    subject = draw_subject(subject_seed, variant)
    if rv_junction:
        subject = with_rv_junction(subject)
    if lean_epicardium:
        subject = with_lean_epicardium(subject)
    if dark_epicardium:
        subject = with_dark_epicardium(subject)
    heart = subject.heart
    times = cardiac_times(sequence, phases, heart.es_time)
    rng = np.random.default_rng([int(subject_seed), int(image_seed), VIEWS.index(view), SEQUENCES.index(sequence)])
    settings = _resolve_planning(planning)
    if view == "sax":
        planes, plan_info = plan_sax_stack(subject, rng, settings)
    else:
        plane, plan_info = plan_long_axis(subject, view, rng, settings)
        planes = [plane]
    samples = through_plane_samples if through_plane_samples is not None else (3 if view == "sax" else 1)
    seq = contrast.draw_sequence(sequence, rng, field_strength_t)
    values = contrast.tissue_values(seq, rng)
    if sequence == "cine":  # inflow of unsaturated blood: bSSFP blood is often brighter than its steady state
        values["blood"] *= float(rng.uniform(1.1, 1.5))
    if sequence != "t1":  # bSSFP RV blood is about as bright as the LV's (slower flow: sometimes darker)
        values["rv_blood"] = values["blood"] * float(rng.uniform(0.7, 0.95))
    if contrast_jitter > 0:  # own stream: the rest of the case stays the same as without jitter
        jitter_rng = np.random.default_rng([int(subject_seed), int(image_seed), VIEWS.index(view), 7919])
        values = contrast.jitter_contrast(values, jitter_rng, contrast_jitter)
    acq = acquisition.draw_acquisition(sequence, rng)
    gain = 1.0 if sequence == "t1" else float(rng.uniform(600, 3000)) / max(abs(values["blood"]), 1e-3)
    reference = {"cine": values["blood"], "lge": max(abs(values["blood"]), abs(values["scar"]), 1e-3),
                 "t1": values["myocardium"]}[sequence]
    # many exports (ACDC among them) window the image so that the brightest ~0.2-1.5% saturates
    saturated_percentile = float(rng.uniform(98.5, 99.8)) if sequence == "cine" and rng.uniform() < 0.5 else None
    setups = [_setup_plane(subject, k, plane, sequence, values, acq, samples, rng) for k, plane in enumerate(planes)]
    images, masks, points, rows = [], [], [], []
    for phase_number, time in enumerate(times):
        state = heart_state(heart, time)
        for setup in setups:
            clean, labels = render_image(subject, state, setup.plane, setup.torso, setup.where, values,
                                         setup.textures)
            noisy = acquisition.acquire(clean * setup.shading, acq, rng, reference, signed=(sequence != "cine"),
                                        noise_level=setup.noise_level)
            if sequence == "t1" or (sequence == "lge" and not seq.lge_magnitude):
                noisy = np.clip(noisy, 0.0, None)  # maps are >= 0; PSIR shown with negatives black
            if saturated_percentile is not None:
                noisy = np.minimum(noisy, np.percentile(noisy, saturated_percentile))
            images.append((noisy * gain).astype(np.float32))
            masks.append(labels)
            if view == "sax":
                points.append(groundtruth.sax_landmarks(labels, subject, setup.plane))
            else:
                points.append(groundtruth.lax_landmarks(labels, subject, state, setup.plane, view))
            plane = setup.plane
            rows.append((setup.index, phase_number, time, state.lv_length,
                         np.concatenate([plane.centre, plane.read_dir, plane.phase_dir, plane.slice_dir])))
    landmarks = np.stack(points).astype(np.float32)
    slice_idx, phase_idx, time_list, lengths, geometry = zip(*rows, strict=True)
    phase_labels = _phase_names(times, heart.es_time, len(times))
    extra = _series_extra(subject, seq, planes[0], plan_info, view, sequence, np.asarray(lengths, dtype=np.float32),
                          time_list, phase_idx, np.stack(geometry).astype(np.float32), subject_seed)
    if view != "sax":
        mid = landmarks[:, :2].mean(axis=1)
        spacing = np.asarray(planes[0].pixel_spacing, dtype=np.float32)
        extra["lv_length_image_mm"] = np.hypot(*((landmarks[:, 2] - mid) * spacing).T).astype(np.float32)
    return LandmarkCase(
        image=np.stack(images), pixel_spacing=np.asarray(planes[0].pixel_spacing, dtype=np.float32),
        landmarks=landmarks, landmark_names=landmark_names(view), view=view, sequence=sequence,
        spacing_is_nominal=False, mask=np.stack(masks).astype(np.uint8),
        phase=np.asarray([phase_labels[p] for p in phase_idx]), slice_index=np.asarray(slice_idx, dtype=np.int16),
        case_id=f"phantom_s{int(subject_seed):05d}_{view}_{sequence}_i{int(image_seed)}", extra=extra,
    )


def _series_extra(subject: Subject, seq: contrast.SequenceParameters, plane: ImagePlane, plan_info: dict,
                  view: str, sequence: str, lengths: np.ndarray, times: Sequence[float], phase_idx: Sequence[int],
                  geometry: np.ndarray, subject_seed: int) -> dict[str, np.ndarray]:
    """The npz extra keys: exact LV lengths, timing, plane geometry and what was drawn."""
    heart = subject.heart
    return {
        "lv_length_mm": lengths,
        "longitudinal_shortening_pct": (100.0 * (heart.lv_length_ed - lengths) / heart.lv_length_ed
                                        ).astype(np.float32),
        "drawn_shortening_pct": np.asarray(100.0 * heart.shortening, dtype=np.float32),
        "es_time": np.asarray(heart.es_time, dtype=np.float32),
        "rr_interval_ms": np.asarray(rr_interval_ms(subject_seed), dtype=np.float32),
        "cardiac_time": np.asarray(times, dtype=np.float32),
        "phase_index": np.asarray(phase_idx, dtype=np.int16),
        "position": geometry[:, 0:3], "read_dir": geometry[:, 3:6],
        "phase_dir": geometry[:, 6:9], "slice_dir": geometry[:, 9:12],
        "slice_thickness_mm": np.asarray(plane.thickness, dtype=np.float32),
        "field_strength_t": np.asarray(seq.field_strength_t, dtype=np.float32),
        "flip_angle_deg": np.asarray(seq.flip_angle_deg, dtype=np.float32),
        "repetition_time_ms": np.asarray(seq.repetition_time_ms, dtype=np.float32),
        "inversion_time_ms": np.asarray(seq.inversion_time_ms, dtype=np.float32),
        "mirrored": np.asarray(bool(plan_info["mirrored"])),
        "variant": np.asarray(subject.variant),
        "series_description": np.asarray(f"{SERIES_NAMES[sequence]} {VIEW_NAMES[view]}"),
        "has_scar": np.asarray(sequence == "lge" and heart.scar is not None),
        "post_contrast": np.asarray(sequence == "lge" or (sequence == "t1" and seq.post_contrast)),
    }
