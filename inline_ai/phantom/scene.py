"""Evaluate the subject's anatomy on an image plane: tissue values composited with partial volume.

Structures are painted back to front (torso, organs, pericardial fat, heart walls, blood pools);
each one's soft occupancy (from its signed distance, one pixel wide) blends its value over what
is below, which models in-plane partial volume. The hard label map (README codes: 1 RV cavity,
2 LV myocardium, 3 LV cavity) is taken at the pixel centres of the plane itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inline_ai.phantom import shapes
from inline_ai.phantom.anatomy import Subject
from inline_ai.phantom.motion import HeartState

LABEL_RV_CAVITY, LABEL_LV_MYOCARDIUM, LABEL_LV_CAVITY = 1, 2, 3
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
    """Depth (mm) by which trabeculae protrude into the LV cavity, deeper towards the apex."""
    rng = np.random.default_rng(subject.heart.trabeculation_seed)
    theta = np.arctan2(yh, xh)
    k = rng.integers(7, 15, size=2)
    phase = rng.uniform(0, 2 * np.pi, size=4)
    pattern = (np.sin(k[0] * theta + 0.15 * zh + phase[0]) * np.sin(k[1] * theta - 0.11 * zh + phase[1])
               + 0.5 * np.sin(0.4 * zh + 3 * theta + phase[2]))
    taper = 1.0 + np.clip(1.0 - zh / max(state.lv_length, 1.0), 0.0, 1.0)
    return subject.heart.trabeculation_mm * taper * np.clip(pattern, 0.0, None)


def _rv_trabeculae(subject: Subject, state: HeartState, rv_cavity: np.ndarray, xh: np.ndarray, yh: np.ndarray,
                   zh: np.ndarray) -> np.ndarray:
    """Signed distance to the RV's coarse trabeculae (muscle islands within a few mm of its wall)
    and the moderator band (a muscle bundle from the septum across the cavity to the free wall)."""
    rng = np.random.default_rng(subject.heart.trabeculation_seed + 2)
    period = rng.uniform(7.0, 12.0, size=3)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    pattern = (np.sin(2 * np.pi * xh / period[0] + phase[0]) * np.sin(2 * np.pi * yh / period[1] + phase[1])
               * np.sin(2 * np.pi * zh / period[2] + phase[2]))
    spots = (rng.uniform(0.25, 0.55) - pattern) * 4.0  # ~mm outside the islands
    depth = rng.uniform(3.0, 8.0)
    trabeculae = np.maximum(np.maximum(spots, rv_cavity), -rv_cavity - depth)
    band_z = rng.uniform(0.2, 0.45) * state.lv_length
    rx, ry, _ = state.rv_centre
    start = np.array([state.epi_radii[0] - 2.0, ry, band_z], dtype=np.float32)
    end = np.array([rx + state.rv_radii[0] + 2.0, ry + rng.uniform(-0.3, 0.3) * state.rv_radii[1],
                    band_z - rng.uniform(0.0, 12.0)], dtype=np.float32)
    band = np.maximum(shapes.capsule((xh, yh, zh), start, end, rng.uniform(1.5, 3.0)), rv_cavity)
    return np.minimum(trabeculae, band)


def _papillary(subject: Subject, state: HeartState, xh: np.ndarray, yh: np.ndarray, zh: np.ndarray
               ) -> np.ndarray:
    """Signed distance to the two papillary muscles (inside the LV cavity, attached to the wall)."""
    radius = subject.heart.papillary_radius * (1.0 + 0.4 * state.contraction)
    distance = None
    for angle in np.deg2rad(subject.heart.papillary_angles_deg):
        reach = state.endo_radii[0] - 0.6 * radius
        cx, cy = reach * np.cos(angle), reach * np.sin(angle) * subject.heart.lv_ellipticity
        d = shapes.ellipsoid(xh - cx, yh - cy, zh - 0.42 * state.lv_length, (radius, radius, 0.25 * state.lv_length))
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


def render_torso(subject: Subject, points: np.ndarray, values: dict[str, float], edge_mm: float,
                 textures: Textures | None = None) -> np.ndarray:
    """Composited values of everything but the heart at patient points ``[N, 3]`` (still over time)."""
    count = points.shape[0]
    painter = _Painter(count, edge_mm)
    tissue_tex = textures.tissue if textures is not None else 1.0
    blood_tex = textures.blood if textures is not None else 1.0
    torso = subject.torso
    x, y, z = points[:, 0], points[:, 1] - torso.body_centre_y, points[:, 2]
    rx, ry = torso.body_radii
    angle = np.arctan2(y / ry, x / rx)
    harmonics = torso.outline_harmonics
    outline = 0.5 * (rx + ry) * (harmonics[0] * np.cos(2 * angle + harmonics[2])
                                 + harmonics[1] * np.cos(3 * angle + harmonics[3]))
    painter.paint(shapes.ellipse(x, y, (rx, ry)) - outline, values["fat"] * tissue_tex)
    fat = torso.subcutaneous_fat
    muscle_outer = shapes.ellipse(x, y, (rx - fat, ry - fat)) - outline
    painter.paint(muscle_outer, values["muscle"] * tissue_tex)
    # chest-wall muscle layers: thin bright fat planes between the muscles
    for depth in (0.3, 0.65):
        layer = np.abs(muscle_outer + depth * torso.chest_wall) - 0.8
        painter.paint(layer, 0.8 * values["fat"] * tissue_tex)
    # thoracic cavity: lung (with small vessels) above the diaphragm dome, abdomen below
    wall = fat + torso.chest_wall
    cavity = shapes.ellipse(x, y + 12.0, (rx - wall - 12.0, ry - wall - 18.0)) - outline
    # ribs: bands in the inner chest wall, tilted down anteriorly, ~30 mm apart (cortex dark, marrow grey)
    spacing = torso.rib_spacing
    tilted = z + 0.45 * y + 5.0 * np.sin(x / 45.0)
    rib = np.abs(np.mod(tilted, spacing) - 0.5 * spacing) - torso.rib_width / 2.0
    in_wall = np.maximum(np.maximum(muscle_outer + 0.4 * torso.chest_wall, -cavity - 3.0), rib)
    painter.paint(in_wall, 0.7 * values["muscle"])
    painter.paint(in_wall + 1.5, 0.35 * values["marrow"] * tissue_tex)
    dome = torso.diaphragm_z + 25.0 - 0.0012 * (x + 30.0) ** 2 - 0.002 * (y + 10.0) ** 2
    below = dome - z
    lung = values["lung"]
    if textures is not None and textures.vessels is not None:
        lung = lung + textures.vessels * (0.6 * values["blood"] - lung)
    painter.paint(np.maximum(cavity, below), lung)
    abdomen = values["muscle"] * 1.3 + 0.2 * values["fat"]
    painter.paint(np.maximum(cavity, -below), abdomen * tissue_tex)
    lx, ly, lz = torso.liver_radii
    liver = values["liver"] * tissue_tex
    if textures is not None and textures.vessels is not None:  # hepatic vessels
        liver = liver + 0.5 * textures.vessels * (values["blood"] - liver)
    painter.paint(np.maximum(shapes.ellipsoid(x + 35.0, y - 5.0, z - (dome - lz + 5.0), (lx, ly, lz)), -below + 3.0),
                  liver)
    painter.paint(np.maximum(shapes.ellipsoid(x - 75.0, y + 10.0, z - (dome - 45.0),
                                              (torso.stomach_radius,) * 3), -below + 3.0),
                  values["stomach"] * tissue_tex)
    if textures is not None and textures.clutter_coverage is not None:
        # fat lobules, bowel loops and vessels everywhere in the body but mostly outside the lungs
        lung_region = np.maximum(cavity, below)
        inside = shapes.occupancy(shapes.ellipse(x, y, (rx, ry)) - outline + 2.0, edge_mm)
        allowed = inside * (0.15 + 0.85 * shapes.occupancy(-lung_region, edge_mm))
        alpha = textures.clutter_coverage * allowed
        painter.image += alpha * (textures.clutter_value * tissue_tex - painter.image)
    # superior mediastinum: fat around the great vessels above the heart
    base = subject.to_patient(np.array([0.0, 0.0, subject.heart.lv_length_ed + 25.0]))
    painter.paint(shapes.ellipsoid(x - base[0], y + torso.body_centre_y - base[1], z - base[2] - 30.0,
                                   (35.0, 40.0, 55.0)), 0.8 * values["fat"] * tissue_tex)
    spine_y = torso.spine_y
    painter.paint(shapes.ellipse(x, y - spine_y, (19.0, 16.0)), values["marrow"] * tissue_tex)
    painter.paint(shapes.ellipse(x, y - spine_y - 26.0, (8.0, 7.0)), values["csf"])
    painter.paint(shapes.ellipse(x - 24.0, y - spine_y + 24.0, (12.0, 12.0)), values["blood"] * blood_tex)
    painter.paint(shapes.ellipse(x, y + ry - wall + 4.0, (16.0, 6.0)), values["marrow"])
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
    painter.paint(outer - (subject.heart.fat_thickness * patchy + groove) - envelope_mm * lobes,
                  envelope_rng.uniform(0.3, 0.75) * values["fat"] * tex_t)
    painter.paint(outer - (subject.heart.fat_thickness * patchy + groove), values["fat"] * tex_t)
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
    painter.paint(geo["rv_cavity"] + 0.5 * trabeculae, rv_blood)
    painter.paint(geo["pulmonary"], rv_blood)
    inside_rv = np.flatnonzero(geo["rv_cavity"] < edge_mm)  # trabeculae only matter inside the RV
    if inside_rv.size:
        rv_muscle = _rv_trabeculae(subject, state, geo["rv_cavity"][inside_rv], xh[inside_rv], yh[inside_rv],
                                   zh[inside_rv])
        painter.paint(rv_muscle, 0.9 * (myo[inside_rv] if np.ndim(myo) else myo), inside_rv)
    painter.paint(geo["lv_cavity"] + trabeculae, blood)
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
