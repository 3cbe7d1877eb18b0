"""Evaluate the subject's anatomy on an image plane: tissue values composited with partial volume.

Structures are painted back to front (torso, organs, pericardial fat, heart walls, blood pools);
each one's soft occupancy (from its signed distance, one pixel wide) blends its value over what
is below, which models in-plane partial volume. The hard label map (README codes: 1 RV cavity,
2 LV myocardium, 3 LV cavity) is taken at the pixel centres of the plane itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inline_ai.mask_landmarks import LABEL_LV_CAVITY, LABEL_LV_MYOCARDIUM, LABEL_RV_CAVITY
from inline_ai.phantom import shapes
from inline_ai.phantom.anatomy import Subject, Torso, draw_organs
from inline_ai.phantom.motion import HeartState

HEART_RADIUS_MM = 110.0  # everything of the heart lies within this distance of its centre
AORTA_DIRECTION = np.array([0.15, 0.55, 0.82]) / np.linalg.norm([0.15, 0.55, 0.82])
ANTEROSEPTAL = np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0)
PULMONARY_DIRECTION = np.array([-0.39, 0.80, 0.46]) / np.linalg.norm([-0.39, 0.80, 0.46])


@dataclass
class Textures:
    """Multiplicative smooth fields on the image grid (1 = no change), flattened like the points."""

    blood: np.ndarray
    tissue: np.ndarray
    vessels: np.ndarray | None = None  # 0..1 coverage of small pulmonary vessels in the lungs
    clutter_coverage: np.ndarray | None = None  # 0..1 coverage of fat / bowel / vessel blobs
    clutter_value: np.ndarray | None = None  # their values
    bowel_loops: np.ndarray | None = None  # 0..1 coverage of bowel loops (walls and lumens)
    bowel_lumen: np.ndarray | None = None  # 0..1 coverage of their lumens
    bowel_content: np.ndarray | None = None  # lumen content, fraction of the fluid signal (0 = gas)


class _Painter:
    """Front-to-back compositing of tissue values on a set of points."""

    def __init__(self, count: int, edge_mm: float) -> None:
        self.image = np.zeros(count, dtype=np.float32)
        self.edge_mm = edge_mm

    def paint(self, distance: np.ndarray, value: float | np.ndarray, index: np.ndarray | slice = slice(None),
              ) -> None:
        alpha = shapes.occupancy(distance, self.edge_mm)
        current = self.image[index]
        self.image[index] = current + alpha * (value - current)


def heart_geometry(subject: Subject, state: HeartState, xh: np.ndarray, yh: np.ndarray, zh: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """Signed distances (mm) of the heart's parts at heart-frame points."""
    length = state.lv_length
    ez = state.ellipsoid_z
    theta = np.arctan2(yh, xh)
    h2, h3, p2, p3 = subject.heart.lv_harmonics
    # non-circular LV cross-sections, fading out towards the base so the annulus stays exact
    fade = np.clip((length - zh) / 15.0, 0.0, 1.0)
    wobble = (h2 * np.cos(2 * theta + p2) + h3 * np.cos(3 * theta + p3)) * fade
    d_epi = shapes.ellipsoid(xh, yh, zh - ez, state.epi_radii) - wobble * state.epi_radii[0]
    d_endo = shapes.ellipsoid(xh, yh, zh - ez, state.endo_radii) - wobble * state.endo_radii[0]
    above_base = zh - length
    lv_epi = np.maximum(d_epi, above_base)
    lv_cavity = np.maximum(d_endo, above_base)
    rx, ry, rz = state.rv_centre
    g2, g3, q2, q3 = subject.heart.rv_harmonics
    rv_theta = np.arctan2(yh - ry, xh - rx)
    d_rv = shapes.ellipsoid(xh - rx, yh - ry, zh - rz, state.rv_radii) - state.rv_radii[1] * (
        g2 * np.cos(2 * rv_theta + q2) + g3 * np.cos(3 * rv_theta + q3))
    above_tricuspid = zh - state.tricuspid_z
    taper = subject.heart.rv_taper_mm
    if taper > 0:  # the free wall folds onto the LV: its tips taper along the septum
        # a fillet between the RV and the LV surface moved out by ``lift``, so that it runs only
        # rv_taper_reach_mm beyond the ellipsoid's own crossing, (sqrt(taper) - sqrt(lift))^2
        lift = (np.sqrt(taper) - np.sqrt(min(subject.heart.rv_taper_reach_mm, taper))) ** 2
        fillet = shapes.smooth_union(d_rv, lv_epi + lift, taper)
        d_rv = np.maximum(fillet, d_rv - lv_epi - taper)  # the fillet and the RV, not the LV
    rv_cavity = np.maximum(np.maximum(d_rv, -lv_epi), above_tricuspid)
    rv_outer = np.maximum(d_rv - subject.heart.rv_wall, above_tricuspid)
    lx, ly, lz = state.la_centre
    d_la = shapes.ellipsoid(xh - lx, yh - ly, zh - lz, subject.heart.la_radii)
    ax, ay, az = state.ra_centre
    d_ra = shapes.ellipsoid(xh - ax, yh - ay, zh - az, subject.heart.ra_radii)
    ao_start, ao_end = aorta_segment(subject, state)
    d_ao = shapes.capsule((xh, yh, zh), ao_start, ao_end, subject.heart.aorta_radius)
    pa_start = np.array([0.5 * rx, ry + 0.9 * state.rv_radii[1], state.tricuspid_z - 8.0], dtype=np.float32)
    d_pa = shapes.capsule((xh, yh, zh), pa_start, (pa_start + 55.0 * PULMONARY_DIRECTION).astype(np.float32),
                          subject.heart.pulmonary_radius)
    return {
        "pulmonary": np.maximum(d_pa, -lv_epi),
        "lv_epi": lv_epi, "lv_cavity": lv_cavity, "lv_endo": d_endo, "rv_cavity": rv_cavity,
        "rv_outer": rv_outer, "la": np.maximum(d_la, -above_base), "ra": np.maximum(d_ra, -above_tricuspid),
        "aorta": d_ao,
    }


def aorta_segment(subject: Subject, state: HeartState) -> tuple[np.ndarray, np.ndarray]:
    """Start (inside the LVOT, below the base) and end of the aortic root centre line, heart frame."""
    offset = 0.55 * state.annulus_radii[0] * ANTEROSEPTAL
    start = np.array([offset[0], offset[1], state.lv_length - 12.0], dtype=np.float32)
    end = (start + 60.0 * AORTA_DIRECTION).astype(np.float32)
    return start, end


def _trabeculae(subject: Subject, state: HeartState, xh: np.ndarray, yh: np.ndarray, zh: np.ndarray
                ) -> np.ndarray:
    """Depth (mm) by which trabeculae protrude into the LV cavity, deeper towards the apex: ridges
    around the circumference plus rounded bumps (a 3D pattern), so the endocardium is irregular."""
    rng = np.random.default_rng(subject.heart.trabeculation_seed)
    theta = np.arctan2(yh, xh)
    k = rng.integers(7, 15, size=2)
    phase = rng.uniform(0, 2 * np.pi, size=6)
    ridges = np.clip(np.sin(k[0] * theta + 0.15 * zh + phase[0]) * np.sin(k[1] * theta - 0.11 * zh + phase[1])
                     + 0.5 * np.sin(0.4 * zh + 3 * theta + phase[2]), 0.0, None)
    period = rng.uniform(7.0, 12.0, size=3)
    blobs = (np.sin(2 * np.pi * xh / period[0] + phase[3]) * np.sin(2 * np.pi * yh / period[1] + phase[4])
             * np.sin(2 * np.pi * zh / period[2] + phase[5]))
    bumps = np.clip(3.0 * (blobs - 0.15), 0.0, 1.0)
    taper = 1.0 + np.clip(1.0 - zh / max(state.lv_length, 1.0), 0.0, 1.0)
    return subject.heart.trabeculation_mm * taper * (0.5 * ridges + 1.3 * bumps)


def _lv_islands(subject: Subject, state: HeartState, lv_cavity: np.ndarray, xh: np.ndarray, yh: np.ndarray,
                zh: np.ndarray) -> np.ndarray:
    """Signed distance to small muscle islands (trabeculae cut across) within a few mm of the
    LV endocardium, more of them towards the apex."""
    rng = np.random.default_rng(subject.heart.trabeculation_seed + 4)
    period = rng.uniform(8.0, 14.0, size=3)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    pattern = (np.sin(2 * np.pi * xh / period[0] + phase[0]) * np.sin(2 * np.pi * yh / period[1] + phase[1])
               * np.sin(2 * np.pi * zh / period[2] + phase[2]))
    spots = (rng.uniform(0.05, 0.3) - pattern) * 5.0
    apical = np.clip(1.0 - zh / max(state.lv_length, 1.0), 0.0, 1.0)
    depth = rng.uniform(1.5, 4.0) * (1.0 + 1.5 * apical)
    return np.maximum(np.maximum(spots, lv_cavity), -lv_cavity - depth)


def _rv_trabeculae(subject: Subject, state: HeartState, rv_cavity: np.ndarray, lv_epi: np.ndarray,
                   xh: np.ndarray, yh: np.ndarray, zh: np.ndarray) -> np.ndarray:
    """Signed distance to the RV's trabeculae (muscle islands within a few mm of its free wall,
    reaching deeper towards the apex, kept off the septum so the RV-LV junction stays sharp) and
    the moderator band (a muscle bundle from the septum across the cavity to the free wall)."""
    rng = np.random.default_rng(subject.heart.trabeculation_seed + 2)
    period = rng.uniform(8.0, 14.0, size=3)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    pattern = (np.sin(2 * np.pi * xh / period[0] + phase[0]) * np.sin(2 * np.pi * yh / period[1] + phase[1])
               * np.sin(2 * np.pi * zh / period[2] + phase[2]))
    spots = (rng.uniform(0.05, 0.35) - pattern) * 5.0  # ~mm outside the islands
    apical = np.clip(1.0 - zh / max(state.lv_length, 1.0), 0.0, 1.0)
    depth = rng.uniform(2.0, 5.0) * (1.0 + apical)
    clearance = rng.uniform(3.0, 6.0)
    if subject.heart.rv_trabeculae_clearance_mm is not None:
        clearance = subject.heart.rv_trabeculae_clearance_mm
    off_septum = clearance - lv_epi
    trabeculae = np.maximum(np.maximum(np.maximum(spots, rv_cavity), -rv_cavity - depth), off_septum)
    band_z = rng.uniform(0.2, 0.45) * state.lv_length
    rx, ry, _ = state.rv_centre
    start = np.array([state.epi_radii[0] - 2.0, ry, band_z], dtype=np.float32)
    end = np.array([rx + state.rv_radii[0] + 2.0, ry + rng.uniform(-0.3, 0.3) * state.rv_radii[1],
                    band_z - rng.uniform(0.0, 12.0)], dtype=np.float32)
    band = np.maximum(shapes.capsule((xh, yh, zh), start, end, rng.uniform(1.5, 3.0)), rv_cavity)
    return np.minimum(trabeculae, band)


def _papillary(subject: Subject, state: HeartState, xh: np.ndarray, yh: np.ndarray, zh: np.ndarray
               ) -> np.ndarray:
    """Signed distance to the two papillary muscles: columns in the LV cavity whose outer side is
    merged with the wall (at the local endocardial radius of their mid height)."""
    radius = subject.heart.papillary_radius * (1.0 + 0.4 * state.contraction)
    height = 0.42 * state.lv_length
    along = (height - state.ellipsoid_z) / max(state.endo_radii[2], 1e-3)
    local = np.sqrt(max(1.0 - along * along, 0.2))
    distance = None
    for angle in np.deg2rad(subject.heart.papillary_angles_deg):
        reach = state.endo_radii[0] * local - 0.5 * radius
        cx, cy = reach * np.cos(angle), reach * np.sin(angle) * subject.heart.lv_ellipticity
        d = shapes.ellipsoid(xh - cx, yh - cy, zh - height, (radius, radius, 0.25 * state.lv_length))
        distance = d if distance is None else np.minimum(distance, d)
    return distance


def tricuspid_radii(state: HeartState) -> tuple[float, float]:
    """Radii of the RV ellipsoid's section at the tricuspid plane (the tricuspid annulus)."""
    rz = state.rv_radii[2]
    factor = np.sqrt(max(1.0 - ((state.tricuspid_z - state.rv_centre[2]) / rz) ** 2, 0.05))
    return 0.8 * state.rv_radii[0] * factor, 0.8 * state.rv_radii[1] * factor


def mitral_opening_deg(state: HeartState, es_time: float) -> float:
    """Leaflet angle from the long axis: ~80 deg closed (systole), ~20 deg open (diastole)."""
    t = state.time % 1.0
    if t <= es_time + 0.04:
        return 80.0
    filling = min((t - es_time - 0.04) / 0.06, 1.0)
    return 80.0 - 60.0 * filling


def _leaflets(xh: np.ndarray, yh: np.ndarray, zh: np.ndarray, centre: tuple[float, float],
              radii: tuple[float, float], plane_z: float, opening_deg: float) -> np.ndarray:
    """Signed distance to valve leaflets: a thin cone shell hanging from an elliptic annulus ring
    (centre and radii in the heart x-y plane at height ``plane_z``) towards the apex."""
    r1, r2 = radii
    mean_radius = 0.5 * (r1 + r2)
    # radial coordinate with the annulus at mean_radius
    rho = np.sqrt(((xh - centre[0]) / r1) ** 2 + ((yh - centre[1]) / r2) ** 2) * mean_radius
    angle = np.deg2rad(opening_deg)
    length = 0.75 * mean_radius
    # segment in the (rho, z) half-plane from the annulus to the leaflet tips
    a_rho, a_z = mean_radius, plane_z
    b_rho, b_z = mean_radius - length * np.sin(angle), plane_z - length * np.cos(angle)
    vr, vz = b_rho - a_rho, b_z - a_z
    h = np.clip(((rho - a_rho) * vr + (zh - a_z) * vz) / (vr * vr + vz * vz), 0.0, 1.0)
    return np.hypot(rho - a_rho - h * vr, zh - a_z - h * vz) - 1.0


def _scar_mask(subject: Subject, state: HeartState, xh: np.ndarray, yh: np.ndarray, zh: np.ndarray,
               d_endo: np.ndarray) -> np.ndarray:
    """Signed-distance-like field of the scar (negative inside) within the LV wall."""
    scar = subject.heart.scar
    if scar is None:
        return np.full(xh.shape, 1e3, dtype=np.float32)
    theta = np.degrees(np.arctan2(yh, xh))
    delta = np.abs((theta - scar.angle_deg + 180.0) % 360.0 - 180.0)
    angular = (delta - scar.width_deg / 2.0) * np.deg2rad(1.0) * state.endo_radii[0]
    lo, hi = scar.z_from * state.lv_length, scar.z_to * state.lv_length
    along = np.maximum(lo - zh, zh - hi)
    depth = d_endo - scar.transmurality * state.wall - 0.5
    return np.maximum(np.maximum(angular, along), depth)


@dataclass
class _TorsoFrame:
    """Patient coordinates of the points relative to the body centre, and the main regions."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    outline: np.ndarray  # body outline correction (mm) of the elliptic cross-section
    cavity: np.ndarray  # signed distance to the thoracic / abdominal cavity
    below: np.ndarray  # > 0 below the diaphragm dome (mm)
    muscle_outer: np.ndarray  # signed distance to the inner border of the subcutaneous fat

    def subset(self, index: np.ndarray) -> _TorsoFrame:
        """The same frame at the points ``index`` only."""
        return _TorsoFrame(**{name: value[index] for name, value in self.__dict__.items()})


def _pick(field: np.ndarray | float | None, index: np.ndarray) -> np.ndarray | float | None:
    """``field[index]`` for per-point arrays; scalars and None unchanged."""
    return field[index] if isinstance(field, np.ndarray) and field.ndim == 1 else field


def _paint_where(painter: _Painter, keep: np.ndarray, paint: Callable[[_Painter, np.ndarray], None]) -> None:
    """Run ``paint(sub_painter, index)`` on the points where ``keep`` holds (faster for local organs)."""
    index = np.flatnonzero(keep)
    if index.size == 0:
        return
    sub = _Painter(index.size, painter.edge_mm)
    sub.image = painter.image[index]
    paint(sub, index)
    painter.image[index] = sub.image


def _torso_frame(torso: Torso, points: np.ndarray) -> _TorsoFrame:
    """Body-centred coordinates, body outline, cavity and diaphragm dome at the points."""
    x, y, z = points[:, 0], points[:, 1] - torso.body_centre_y, points[:, 2]
    rx, ry = torso.body_radii
    angle = np.arctan2(y / ry, x / rx)
    harmonics = torso.outline_harmonics
    outline = 0.5 * (rx + ry) * (harmonics[0] * np.cos(2 * angle + harmonics[2])
                                 + harmonics[1] * np.cos(3 * angle + harmonics[3]))
    fat = torso.subcutaneous_fat
    wall = fat + torso.chest_wall
    cavity = shapes.ellipse(x, y + 12.0, (rx - wall - 12.0, ry - wall - 18.0)) - outline
    dome = (torso.diaphragm_z + 25.0 - 0.0012 * (x + 30.0) ** 2 - 0.002 * (y + 10.0) ** 2
            + torso.organs.dome_lift + 0.6 * _wobble(x, y, 0.0 * z, torso.organs.liver_wobble))
    return _TorsoFrame(x=x, y=y, z=z, outline=outline, cavity=cavity, below=dome - z,
                       muscle_outer=shapes.ellipse(x, y, (rx - fat, ry - fat)) - outline)


def _paint_body_wall(painter: _Painter, torso: Torso, frame: _TorsoFrame, values: dict[str, float],
                     tissue_tex: np.ndarray | float) -> None:
    """Subcutaneous fat, breasts, chest-wall muscle layers and ribs."""
    x, y, z = frame.x, frame.y, frame.z
    painter.paint(shapes.ellipse(x, y, torso.body_radii) - frame.outline, values["fat"] * tissue_tex)
    painter.paint(frame.muscle_outer, values["muscle"] * tissue_tex)
    for depth in (0.3, 0.65):  # chest-wall muscle layers: thin bright fat planes between the muscles
        layer = np.abs(frame.muscle_outer + depth * torso.chest_wall) - 0.8
        painter.paint(layer, 0.8 * values["fat"] * tissue_tex)
    organs = torso.organs
    lateral, depth, vertical, offset = organs.breast
    if depth > 1.0:  # breasts: fat with glandular strands over the anterior chest wall
        front = -torso.body_radii[1] + 0.35 * depth
        centre_z = torso.diaphragm_z + 35.0
        near = (y < front + depth + 2.0) & (np.abs(z - centre_z) < vertical + 2.0)

        def breasts(sub: _Painter, index: np.ndarray) -> None:
            local = frame.subset(index)
            value = values["fat"] * (0.55 + 0.4 * _pick(tissue_tex, index))
            for side in (-1.0, 1.0):
                breast = shapes.ellipsoid(local.x - side * offset, local.y - front, local.z - centre_z,
                                          (lateral, depth, vertical))
                sub.paint(np.maximum(breast, -local.muscle_outer), value)

        _paint_where(painter, near, breasts)
    spacing = torso.rib_spacing  # ribs: bands tilted down anteriorly, ~30 mm apart (cortex dark, marrow grey)
    tilted = z + 0.45 * y + 5.0 * np.sin(x / 45.0)
    rib = np.abs(np.mod(tilted, spacing) - 0.5 * spacing) - torso.rib_width / 2.0
    in_wall = np.maximum(np.maximum(frame.muscle_outer + 0.4 * torso.chest_wall, -frame.cavity - 3.0), rib)
    painter.paint(in_wall, 0.7 * values["muscle"])
    painter.paint(in_wall + 1.5, 0.35 * values["marrow"] * tissue_tex)


def _wobble(x: np.ndarray, y: np.ndarray, z: np.ndarray, wobble: tuple[float, float, float, float]) -> np.ndarray:
    """A smooth low-order bump field (mm) that makes ellipsoidal organs irregular."""
    amplitude, frequency, p1, p2 = wobble
    return amplitude * (np.sin(frequency * x + p1) * np.sin(frequency * (y + z) + p2)
                        + 0.5 * np.sin(1.7 * frequency * (z - x) + p2))


def _paint_abdomen(painter: _Painter, torso: Torso, frame: _TorsoFrame, values: dict[str, float],
                   tissue_tex: np.ndarray | float, textures: Textures | None) -> None:
    """Below the diaphragm (evaluated only there): see :func:`_paint_abdominal_organs`."""

    def organs(sub: _Painter, index: np.ndarray) -> None:
        local_textures = None
        if textures is not None:
            local_textures = Textures(**{name: _pick(value, index) for name, value in textures.__dict__.items()})
        _paint_abdominal_organs(sub, torso, frame.subset(index), values, _pick(tissue_tex, index), local_textures)

    _paint_where(painter, frame.below > -20.0, organs)


def _paint_abdominal_organs(painter: _Painter, torso: Torso, frame: _TorsoFrame, values: dict[str, float],
                            tissue_tex: np.ndarray | float, textures: Textures | None) -> None:
    """Mesenteric fat with bowel loops, spleen, liver, stomach (with an air-fluid level: the
    patient lies supine, so gas sits anteriorly) and the IVC."""
    x, y, z, below = frame.x, frame.y, frame.z, frame.below
    organs = torso.organs
    abdomen_region = np.maximum(frame.cavity, -below)
    lean = values["muscle"] * 1.3 + 0.2 * values["fat"]
    painter.paint(abdomen_region, (lean + organs.abdomen_fat * (0.8 * values["fat"] - lean)) * tissue_tex)
    if textures is not None and textures.bowel_loops is not None:
        reach = torso.body_radii[0] * (1.0 - 2.0 * organs.bowel_share)  # loops on the patient's left side
        allowed = shapes.occupancy(np.maximum(abdomen_region + 2.0, reach - x), painter.edge_mm)
        loops = textures.bowel_loops * allowed
        painter.image += loops * (0.9 * values["muscle"] * tissue_tex - painter.image)
        lumen = textures.bowel_lumen * allowed
        painter.image += lumen * (0.8 * textures.bowel_content * values["stomach"] - painter.image)
    dome_top = torso.diaphragm_z + 25.0 + organs.dome_lift
    bump = _wobble(x, y, z, organs.liver_wobble)
    spleen = shapes.ellipsoid(x - 0.5 * torso.body_radii[0], y - 0.3 * torso.body_radii[1], z - dome_top + 45.0,
                              organs.spleen_radii) - 0.5 * bump
    painter.paint(np.maximum(spleen, -below + 3.0), 1.15 * values["liver"] * tissue_tex)
    lx, ly, lz = torso.liver_radii
    liver = values["liver"] * tissue_tex
    if textures is not None and textures.vessels is not None:  # hepatic vessels
        liver = liver + 0.5 * textures.vessels * (values["blood"] - liver)
    dome = below + z  # the dome height over each point
    liver_shape = shapes.ellipsoid(x + 55.0, y - 5.0, z - (dome - lz + 5.0), (lx, ly, lz)) - bump
    painter.paint(np.maximum(liver_shape, -below + 3.0), liver)
    sx, sy, sz = organs.stomach_centre
    stomach = np.maximum(shapes.ellipsoid(x - sx, y - sy, z - dome_top - sz, organs.stomach_radii) - 0.4 * bump,
                         -below + 3.0)
    painter.paint(stomach, values["muscle"] * tissue_tex)  # wall
    painter.paint(stomach + 3.0, values["stomach"] * tissue_tex)
    if organs.stomach_air > 0:
        level = sy - organs.stomach_radii[1] + 2.0 * organs.stomach_air * organs.stomach_radii[1]
        painter.paint(np.maximum(stomach + 3.0, y - level), values["air"])
    ivc_x, ivc_y, ivc_r = organs.ivc
    ivc = shapes.ellipse(x - ivc_x, y - torso.spine_y - ivc_y, (ivc_r, 0.8 * ivc_r))
    painter.paint(np.maximum(ivc, -below - 15.0), values["blood"])


def _paint_spine_and_aorta(painter: _Painter, torso: Torso, frame: _TorsoFrame, values: dict[str, float],
                           tissue_tex: np.ndarray | float, blood_tex: np.ndarray | float) -> None:
    """Vertebral body (dark cortex, marrow), spinal canal, descending aorta and sternum."""
    organs = torso.organs
    vx, vy = organs.vertebra_radii
    ax, ay, ar = organs.aorta

    def spine(sub: _Painter, index: np.ndarray) -> None:
        x, y = frame.x[index], frame.y[index] - torso.spine_y
        sub.paint(shapes.ellipse(x, y, (vx + 1.5, vy + 1.5)), 0.15 * values["muscle"])
        sub.paint(shapes.ellipse(x, y, (vx, vy)), values["marrow"] * _pick(tissue_tex, index))
        sub.paint(shapes.ellipse(x, y - vy - 10.0, (8.0, 7.0)), values["csf"])
        sub.paint(shapes.ellipse(x - ax, y - ay, (ar + 1.5, ar + 1.5)), 0.5 * values["muscle"])
        sub.paint(shapes.ellipse(x - ax, y - ay, (ar, ar)), organs.aorta_signal * values["blood"]
                  * _pick(blood_tex, index))

    near = (np.abs(frame.x) < 60.0) & (np.abs(frame.y - torso.spine_y) < 60.0)
    _paint_where(painter, near, spine)
    wall = torso.subcutaneous_fat + torso.chest_wall
    painter.paint(shapes.ellipse(frame.x, frame.y + torso.body_radii[1] - wall + 4.0, (16.0, 6.0)), values["marrow"])


def render_torso(subject: Subject, points: np.ndarray, values: dict[str, float], edge_mm: float,
                 textures: Textures | None = None) -> np.ndarray:
    """Composited values of everything but the heart at patient points ``[N, 3]`` (still over time)."""
    painter = _Painter(points.shape[0], edge_mm)
    tissue_tex = textures.tissue if textures is not None else 1.0
    blood_tex = textures.blood if textures is not None else 1.0
    torso = subject.torso
    if torso.organs is None:
        torso = Torso(**{**torso.__dict__, "organs": draw_organs(subject.seed)})
    frame = _torso_frame(torso, points)
    _paint_body_wall(painter, torso, frame, values, tissue_tex)
    # thoracic cavity: lung (with faint vessels) above the diaphragm dome, abdomen below
    lung = values["lung"]
    if textures is not None and textures.vessels is not None:
        lung = lung + textures.vessels * (torso.organs.lung_vessel_signal * values["blood"] - lung)
    painter.paint(np.maximum(frame.cavity, frame.below), lung)
    _paint_abdomen(painter, torso, frame, values, tissue_tex, textures)
    x, y, z = frame.x, frame.y, frame.z
    if textures is not None and textures.clutter_coverage is not None:
        # a few fat lobules and vessels in the body, rarely in the lungs
        lung_region = np.maximum(frame.cavity, frame.below)
        inside = shapes.occupancy(shapes.ellipse(x, y, torso.body_radii) - frame.outline + 2.0, edge_mm)
        allowed = inside * (0.05 + 0.95 * shapes.occupancy(-lung_region, edge_mm))
        alpha = textures.clutter_coverage * allowed
        painter.image += alpha * (textures.clutter_value * tissue_tex - painter.image)
    # superior mediastinum: fat around the great vessels above the heart
    base = subject.to_patient(np.array([0.0, 0.0, subject.heart.lv_length_ed + 25.0]))
    painter.paint(shapes.ellipsoid(x - base[0], y + torso.body_centre_y - base[1], z - base[2] - 30.0,
                                   (35.0, 40.0, 55.0)), 0.8 * values["fat"] * tissue_tex)
    _paint_spine_and_aorta(painter, torso, frame, values, tissue_tex, blood_tex)
    return painter.image


@dataclass
class HeartPoints:
    """Heart-frame coordinates of the points near the heart (``index`` into the plane's points)."""

    index: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray


def heart_points(subject: Subject, points: np.ndarray, radius_mm: float = HEART_RADIUS_MM,
                 index: np.ndarray | None = None) -> HeartPoints:
    """Select the points within ``radius_mm`` of the heart and convert them to the heart frame.

    ``index`` gives each point's position in the flattened image (default: 0..N-1)."""
    local = subject.to_heart(points).astype(np.float32)
    centre_z = np.float32(0.55 * subject.heart.lv_length_ed)
    dist_sq = local[:, 0] ** 2 + local[:, 1] ** 2 + (local[:, 2] - centre_z) ** 2
    keep = np.flatnonzero(dist_sq < radius_mm**2)
    near = keep if index is None else np.asarray(index)[keep]
    return HeartPoints(index=near, x=np.ascontiguousarray(local[keep, 0]), y=np.ascontiguousarray(local[keep, 1]),
                       z=np.ascontiguousarray(local[keep, 2]))


def lv_wall_share(geo: dict[str, np.ndarray], state: HeartState, zh: np.ndarray) -> np.ndarray:
    """0-1 weight of how much a point near the heart lies over the LV wall: 1 well away from the RV and
    below the atrioventricular groove, blending to 0 within about 5 mm of the RV and 5-15 mm of the valve plane."""
    near_lv = np.clip(0.5 + (geo["rv_outer"] - geo["lv_epi"]) / 10.0, 0.0, 1.0)
    return near_lv * np.clip((state.lv_length - 5.0 - zh) / 10.0, 0.0, 1.0)


def _paint_dark_band(painter: _Painter, subject: Subject, lv_epi: np.ndarray, wall_share: np.ndarray,
                     theta: np.ndarray, zh: np.ndarray, myo: np.ndarray | float) -> None:
    """Tissue about as dark as myocardium on the LV wall (``Heart.lv_dark_band_mm``), its thickness varying
    round the LV and along it and weighted by ``wall_share`` (:func:`lv_wall_share`), so that where it lies the
    wall's outer edge shows by shape, not contrast."""
    heart = subject.heart
    phases = np.random.default_rng(heart.trabeculation_seed + 5).uniform(0, 2 * np.pi, size=2)
    varying = np.clip(0.6 + 0.7 * np.sin(2 * theta + phases[0]) * np.cos(0.05 * zh + phases[1]), 0.0, 1.0)
    thickness = heart.lv_dark_band_mm * varying * wall_share
    painter.paint(lv_epi - thickness, heart.lv_dark_band_level * myo)


def paint_heart(subject: Subject, state: HeartState, where: HeartPoints, background: np.ndarray,
                values: dict[str, float], edge_mm: float, textures: Textures | None = None,
                want_labels: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Paint the heart at ``state`` over ``background`` (a torso image); hard labels when asked."""
    count = background.shape[0]
    tissue_tex = textures.tissue if textures is not None else 1.0
    blood_tex = textures.blood if textures is not None else 1.0
    labels = np.zeros(count, dtype=np.uint8) if want_labels else None
    near, xh, yh, zh = where.index, where.x, where.y, where.z
    image = background.astype(np.float32, copy=True)
    if near.size == 0:
        return image, labels
    painter = _Painter(near.size, edge_mm)  # paints the points near the heart only, scattered back at the end
    painter.image = image[near]
    geo = heart_geometry(subject, state, xh, yh, zh)
    tex_t = tissue_tex[near] if textures is not None else 1.0
    tex_b = blood_tex[near] if textures is not None else 1.0
    myo = values["myocardium"] * tex_t
    blood = values["blood"] * tex_b
    # fat fills the interventricular and atrioventricular grooves: a smooth union closes the creases
    crease = subject.heart.groove_fill_mm
    ventricles = shapes.smooth_union(geo["lv_epi"], geo["rv_outer"], crease)
    outer = shapes.smooth_union(ventricles, np.minimum(geo["la"] - 2.0, geo["ra"] - 2.0), crease)
    outer = np.minimum(np.minimum(outer, geo["aorta"] - 2.0), geo["pulmonary"] - 2.0)
    groove = subject.heart.fat_groove * (np.exp(-(((zh - state.lv_length) / 10.0) ** 2))
                                         + 0.6 * np.exp(-(((zh - state.tricuspid_z) / 10.0) ** 2)))
    phases = np.random.default_rng(subject.heart.trabeculation_seed + 1).uniform(0, 2 * np.pi, size=3)
    theta = np.arctan2(yh, xh)
    patchy = np.clip(0.5 + np.sin(2 * theta + phases[0]) * np.sin(0.05 * zh + phases[1])
                     + 0.6 * np.sin(3 * theta + 0.03 * zh + phases[2]), 0.0, None)
    # mediastinal / pericardial fat: a patchy, dimmer envelope up to ~1 cm around the heart
    envelope_rng = np.random.default_rng(subject.heart.trabeculation_seed + 3)
    envelope_mm, envelope_phase = envelope_rng.uniform(0.0, 10.0), envelope_rng.uniform(0, 2 * np.pi, size=2)
    lobes = np.clip(np.sin(3 * theta + envelope_phase[0]) * np.cos(0.07 * zh + envelope_phase[1]) + 0.3, 0.0, None)
    layer, envelope = subject.heart.fat_thickness * patchy, envelope_mm * lobes
    heart = subject.heart
    over_lv = lv_wall_share(geo, state, zh) if heart.lv_fat_scale is not None or heart.lv_dark_band_mm > 0.0 else None
    if heart.lv_fat_scale is not None:  # lean over the LV, blending to full over the RV and atria
        lean = 1.0 - over_lv * (1.0 - heart.lv_fat_scale)  # the AV groove keeps its fat
        layer = layer * lean  # the dimmer envelope stays: ACDC's 4-9 mm band is no darker than its 1-4 mm
    painter.paint(outer - (layer + groove) - envelope, envelope_rng.uniform(0.3, 0.75) * values["fat"] * tex_t)
    painter.paint(outer - (layer + groove), values["fat"] * tex_t)
    if heart.lv_dark_band_mm > 0.0:  # dark tissue on the LV wall, away from the RV and the AV groove
        _paint_dark_band(painter, subject, geo["lv_epi"], over_lv, theta, zh, myo)
    painter.paint(np.minimum(geo["la"] - 2.0, geo["ra"] - 2.0), myo)
    painter.paint(geo["aorta"] - 2.0, myo)
    painter.paint(geo["rv_outer"], myo)
    painter.paint(geo["pulmonary"] - 2.0, myo)
    painter.paint(geo["lv_epi"], myo)
    painter.paint(geo["la"], blood)
    painter.paint(geo["ra"], blood)
    cavities = np.flatnonzero(np.minimum(geo["rv_cavity"], geo["lv_cavity"]) < edge_mm)  # elsewhere no effect
    trabeculae = np.zeros_like(xh)
    trabeculae[cavities] = _trabeculae(subject, state, xh[cavities], yh[cavities], zh[cavities])
    rv_blood = values.get("rv_blood", values["blood"]) * tex_b
    clearance = subject.heart.rv_trabeculae_clearance_mm
    clearance = 2.0 if clearance is None else clearance  # by default the RV-septum junction stays sharp
    off_septum = np.clip((geo["lv_epi"] - clearance) / 4.0, 0.0, 1.0)
    painter.paint(geo["rv_cavity"] + 0.5 * trabeculae * off_septum, rv_blood)
    painter.paint(geo["pulmonary"], rv_blood)
    inside_rv = np.flatnonzero(geo["rv_cavity"] < edge_mm)  # trabeculae only matter inside the RV
    if inside_rv.size:
        rv_muscle = _rv_trabeculae(subject, state, geo["rv_cavity"][inside_rv], geo["lv_epi"][inside_rv],
                                   xh[inside_rv], yh[inside_rv], zh[inside_rv])
        painter.paint(rv_muscle, 0.9 * (myo[inside_rv] if np.ndim(myo) else myo), inside_rv)
    painter.paint(geo["lv_cavity"] + trabeculae, blood)
    inside_lv = np.flatnonzero(geo["lv_cavity"] < edge_mm)
    if inside_lv.size:
        islands = _lv_islands(subject, state, geo["lv_cavity"][inside_lv], xh[inside_lv], yh[inside_lv],
                              zh[inside_lv])
        painter.paint(islands, 0.95 * (myo[inside_lv] if np.ndim(myo) else myo), inside_lv)
    painter.paint(_papillary(subject, state, xh, yh, zh), myo)
    opening = mitral_opening_deg(state, subject.heart.es_time)
    mitral = _leaflets(xh, yh, zh, (0.0, 0.0), state.annulus_radii, state.lv_length, opening)
    painter.paint(np.maximum(mitral, geo["aorta"] + 1.0), 0.8 * myo)
    tricuspid = _leaflets(xh, yh, zh, state.rv_centre[:2], tricuspid_radii(state), state.tricuspid_z, opening)
    painter.paint(np.maximum(tricuspid, np.maximum(geo["rv_cavity"], state.tricuspid_z - 30.0 - zh)), 0.8 * myo)
    aorta_lumen = geo["aorta"]
    painter.paint(aorta_lumen, blood)
    if subject.heart.scar is not None:
        scar = _scar_mask(subject, state, xh, yh, zh, geo["lv_endo"])
        scar = np.maximum(np.maximum(scar, geo["lv_epi"]), -geo["lv_cavity"])
        painter.paint(scar, values["scar"] * tex_t)
    if labels is not None:
        local = np.zeros(near.size, dtype=np.uint8)
        local[geo["rv_cavity"] < 0] = LABEL_RV_CAVITY
        local[(geo["lv_epi"] < 0) & (aorta_lumen >= 0)] = LABEL_LV_MYOCARDIUM
        local[(geo["lv_cavity"] < 0) | ((aorta_lumen < 0) & (zh < state.lv_length))] = LABEL_LV_CAVITY
        labels[near] = local
    image[near] = painter.image
    return image, labels
