"""Per-subject anatomy: a parametric biventricular heart placed in a torso, drawn from a seed.

Heart frame (mm): origin at the epicardial LV apex, ``z`` along the LV long axis towards the base,
``x`` from the LV towards the RV (septal direction), ``y = z x x`` towards the LV anterior wall.
``Subject.heart_axes`` holds these three unit vectors as columns in patient coordinates
(ISMRMRD / DICOM LPS: +x patient left, +y posterior, +z superior).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

VARIANTS: tuple[str, ...] = ("normal", "dilated", "hypertrophic", "small_rv", "large_rv")
# ACDC's mix (20 % each of normal, DCM, HCM, infarct, abnormal RV; infarcted LVs are mostly dilated)
VARIANT_WEIGHTS: tuple[float, ...] = (0.25, 0.3, 0.2, 0.08, 0.17)
TWIST_BIAS_DEG = 28.0


@dataclass(frozen=True)
class Scar:
    """An LGE scar in the LV wall: angular sector, long-axis extent (fractions of L) and depth."""

    angle_deg: float  # centre of the sector, around the LV axis from +x towards +y
    width_deg: float
    z_from: float  # fraction of the LV length, 0 = apex
    z_to: float
    transmurality: float  # 0..1 of the wall from the endocardium


@dataclass(frozen=True)
class Heart:
    """Heart shape at end-diastole and how it moves (all lengths mm)."""

    lv_length_ed: float  # epicardial apex to mitral annulus centre
    shortening: float  # longitudinal shortening ED -> ES, fraction
    es_time: float  # ES as fraction of the R-R interval
    lv_radius_ed: float  # endocardial semi-axis along x at the equator
    lv_ellipticity: float  # semi-axis y / semi-axis x
    wall_ed: float
    apex_wall_ratio: float
    thickening: float  # fractional wall thickening ED -> ES
    ejection_fraction: float
    base_beta: float  # base plane beyond the LV equator, fraction of the long semi-axis
    rv_offset: tuple[float, float]  # RV ellipsoid centre (x, y) in units of the LV epicardial radius
    rv_size: tuple[float, float]  # RV semi-axes (x, y) in units of the LV epicardial radius
    rv_apex_fraction: float  # RV apex height as fraction of the LV length
    rv_wall: float
    tapse: float  # tricuspid annular systolic excursion (mm)
    rv_shrink: float  # fractional RV radius reduction at ES
    tricuspid_offset: float  # tricuspid plane below the mitral plane at ED (mm)
    la_radii: tuple[float, float, float]
    ra_radii: tuple[float, float, float]
    aorta_radius: float
    papillary_angles_deg: tuple[float, float]
    papillary_radius: float
    trabeculation_mm: float
    trabeculation_seed: int
    fat_thickness: float
    fat_groove: float
    scar: Scar | None = None
    lv_harmonics: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # cos 2θ, cos 3θ amplitudes, phases
    rv_harmonics: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    pulmonary_radius: float = 12.0
    groove_fill_mm: float = 10.0  # how far fat fills the creases between chambers
    rv_taper_mm: float = 0.0  # RV free wall's fold onto the LV: fillet radius (0 = the ellipsoid's own crossing)
    rv_taper_reach_mm: float = 0.0  # how far (distance from the ellipsoid) the tapering tips run along the LV
    rv_trabeculae_clearance_mm: float | None = None  # how far RV trabeculae stay off the septum (None: 2 / 3-6)
    lv_fat_scale: float | None = None  # epicardial fat over the LV as a share of the rest's (None: all the same)
    lv_dark_band_mm: float = 0.0  # tissue about as dark as myocardium on the LV wall, up to this thick (0 = none)
    lv_dark_band_level: float = 1.0  # that band's signal as a share of the myocardium's


@dataclass(frozen=True)
class Organs:
    """Organ-shaped surroundings (patient coordinates relative to the body centre, mm)."""

    liver_wobble: tuple[float, float, float, float]  # amplitude (mm), spatial frequency (1/mm), two phases
    stomach_centre: tuple[float, float, float]  # z relative to the diaphragm dome
    stomach_radii: tuple[float, float, float]
    stomach_air: float  # fraction of the stomach's anterior-posterior depth filled with air (supine: anterior)
    bowel_share: float  # how much of the abdomen outside the liver and stomach the bowel loops fill
    abdomen_fat: float  # 0 = lean (muscle-like abdomen), 1 = bright mesenteric fat
    aorta: tuple[float, float, float]  # descending aorta: x, y offset from the spine, radius
    aorta_signal: float  # x blood (bright inflow > 1, dark flow void < 0.5)
    ivc: tuple[float, float, float]  # x, y offset from the spine, radius
    vertebra_radii: tuple[float, float]
    breast: tuple[float, float, float, float]  # semi-axes (lateral, depth, vertical) and x offset; depth 0 = none
    lung_vessel_signal: float  # pulmonary vessels: fraction of the blood signal
    spleen_radii: tuple[float, float, float] = (35.0, 50.0, 55.0)
    dome_lift: float = 0.0  # diaphragm raised under the heart (mm): the heart rests on the liver


@dataclass(frozen=True)
class Torso:
    """Body outline and organs (patient coordinates, mm)."""

    body_radii: tuple[float, float]  # (left-right, anterior-posterior) semi-axes
    body_centre_y: float
    subcutaneous_fat: float
    chest_wall: float
    lung_radii: tuple[float, float, float]
    lung_centre_x: float
    diaphragm_z: float  # top of the liver dome
    liver_radii: tuple[float, float, float]
    spine_y: float
    stomach_radius: float
    outline_harmonics: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # 2nd, 3rd amplitude, phases
    rib_spacing: float = 30.0
    rib_width: float = 11.0
    organs: Organs | None = None  # abdominal organs, great vessels, breasts (None: the round-3 torso)


@dataclass(frozen=True)
class Subject:
    """Everything geometric about one synthetic subject."""

    seed: int
    variant: str
    heart: Heart
    torso: Torso
    heart_axes: np.ndarray = field(repr=False)  # [3, 3], columns x_h, y_h, z_h in patient coords
    apex_position: np.ndarray = field(repr=False)  # [3] patient coords of the epicardial apex

    def to_heart(self, points: np.ndarray) -> np.ndarray:
        """Patient coordinates ``[..., 3]`` to heart-frame coordinates."""
        return (points - self.apex_position) @ self.heart_axes

    def to_patient(self, points: np.ndarray) -> np.ndarray:
        """Heart-frame coordinates ``[..., 3]`` to patient coordinates."""
        return points @ self.heart_axes.T + self.apex_position


def _rotation(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotation matrix about a unit axis (Rodrigues)."""
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1 - np.cos(angle_rad)) * (k @ k)


def _heart_axes(rng: np.random.Generator) -> np.ndarray:
    """LV long axis pointing from apex (left, anterior, inferior) to base, with subject variation."""
    azimuth = np.deg2rad(rng.uniform(35, 55))  # long axis angle from the sagittal plane
    elevation = np.deg2rad(rng.uniform(30, 50))  # apex below the axial plane
    to_apex = np.array([np.cos(elevation) * np.sin(azimuth), -np.cos(elevation) * np.cos(azimuth),
                        -np.sin(elevation)])
    z_axis = -to_apex
    right_anterior = np.array([-1.0, -1.0, 0.0])
    x_axis = right_anterior - (right_anterior @ z_axis) * z_axis
    x_axis /= np.linalg.norm(x_axis)
    # the septum faces right-anterior and somewhat inferior (the RV rests on the diaphragm): turn the
    # horizontal septal direction down by TWIST_BIAS_DEG (ACDC's mean RV direction) +- 35 deg
    anterior_wall = np.cross(z_axis, x_axis)  # y before the twist: towards the anterior / superior wall
    angle = np.deg2rad(TWIST_BIAS_DEG + rng.uniform(-35, 35))
    x_axis = np.cos(angle) * x_axis - np.sin(angle) * anterior_wall
    y_axis = np.cross(z_axis, x_axis)
    return np.stack([x_axis, y_axis, z_axis], axis=1)


def draw_subject(seed: int, variant: str | None = None) -> Subject:
    """A random but physiologically plausible subject; the same seed always gives the same one."""
    rng = np.random.default_rng([int(seed), 7919])
    if variant is None:
        variant = str(rng.choice(VARIANTS, p=VARIANT_WEIGHTS))
    elif variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    u = rng.uniform
    lv_radius = u(24, 32)
    wall = u(6, 10.5)
    ef = u(0.45, 0.70)
    thickening = u(0.3, 0.65)
    length = u(75, 102)
    shortening = u(0.12, 0.24)
    if variant == "dilated":
        lv_radius, wall, ef = u(30, 39), u(6, 10), u(0.12, 0.4)
        thickening = u(0.1, 0.35)
        length, shortening = u(90, 105), u(0.08, 0.14)
    elif variant == "hypertrophic":  # thick walls around a small cavity (ACDC's HCM)
        lv_radius, wall, ef = u(16, 26), u(11, 17), u(0.60, 0.78)
        length, shortening = u(70, 90), u(0.10, 0.2)
    # ACDC hearts (80 % pathological, older patients) are larger than textbook normals
    size = u(0.95, 1.12)
    lv_radius, length = lv_radius * size, length * size
    rv_scale = {"small_rv": u(0.7, 0.85), "large_rv": u(1.2, 1.45)}.get(variant, u(0.9, 1.1))
    rv_centre, rv_thickness = u(0.5, 0.75), u(0.5, 0.95)
    heart = Heart(
        lv_length_ed=length, shortening=shortening, es_time=u(0.3, 0.4),
        lv_radius_ed=lv_radius, lv_ellipticity=u(0.9, 1.1), wall_ed=wall,
        apex_wall_ratio=u(0.55, 0.8), thickening=thickening, ejection_fraction=ef,
        base_beta=u(0.25, 0.5),
        rv_offset=(rv_centre, u(0.0, 0.2)),
        rv_size=(1.0 - rv_centre + rv_thickness * rv_scale, u(0.77, 0.92) * (0.85 + 0.15 * rv_scale)),
        rv_apex_fraction=u(0.03, 0.2), rv_wall=u(1.0, 3.0), tapse=u(14, 25), rv_shrink=u(0.12, 0.25),
        tricuspid_offset=u(2, 7),
        la_radii=(u(20, 27), u(18, 24), u(24, 32)), ra_radii=(u(20, 27), u(18, 25), u(24, 32)),
        aorta_radius=u(11, 15),
        papillary_angles_deg=(u(-150, -120), u(-240, -210)),
        papillary_radius=u(5.0, 8.5),
        trabeculation_mm=u(1.2, 3.5), trabeculation_seed=int(rng.integers(2**31)),
        fat_thickness=u(1.0, 4.5), fat_groove=u(3, 10),
        lv_harmonics=(u(-0.06, 0.06), u(-0.03, 0.03), u(0, 2 * np.pi), u(0, 2 * np.pi)),
        rv_harmonics=(u(-0.1, 0.1), u(-0.06, 0.06), u(0, 2 * np.pi), u(0, 2 * np.pi)),
        pulmonary_radius=u(10, 14), groove_fill_mm=u(4, 20),
    )
    torso = Torso(
        body_radii=(u(160, 215), u(105, 145)), body_centre_y=u(-5, 5),
        subcutaneous_fat=u(5, 32), chest_wall=u(8, 16),
        lung_radii=(u(55, 75), u(70, 90), u(110, 140)), lung_centre_x=u(70, 95),
        diaphragm_z=0.0, liver_radii=(u(90, 125), u(80, 105), u(110, 140)),
        spine_y=u(40, 60), stomach_radius=u(30, 50),
        outline_harmonics=(u(-0.06, 0.06), u(-0.04, 0.04), u(0, 2 * np.pi), u(0, 2 * np.pi)),
        rib_spacing=u(26, 36), rib_width=u(9, 14),
    )
    axes = _heart_axes(rng)
    apex = np.array([u(45, 75), 0.0, u(-50, -30)])
    # the RV free wall lies just behind the anterior chest wall (a few mm of fat between)
    epi = lv_radius + wall
    rv_reach = (heart.rv_offset[0] + heart.rv_size[0]) * epi
    extent = [axes @ np.array([sx, sy, sz]) for sx in (-epi, 0.0, rv_reach) for sy in (-epi, 0.0, epi)
              for sz in (0.3 * length, 0.6 * length, 0.9 * length)]
    most_anterior = min(p[1] for p in extent)
    chest_inner = torso.body_centre_y - (torso.body_radii[1] - torso.subcutaneous_fat - torso.chest_wall - 6.0)
    apex[1] = chest_inner + u(3.0, 12.0) - most_anterior
    # the diaphragm (liver dome) sits just below the heart's lowest point
    lowest = min((apex + axes @ np.array([sx * (lv_radius + wall), sy * (lv_radius + wall), sz * length]))[2]
                 for sx in (-1, 0, 1) for sy in (-1, 0, 1) for sz in (0.0, 0.5))
    torso = Torso(**{**torso.__dict__, "diaphragm_z": float(lowest + u(-8, 2))})
    if rng.uniform() < 0.5:  # an LGE scar for half of the subjects (used only by LGE)
        z0 = u(0.05, 0.7)
        scar = Scar(angle_deg=u(0, 360), width_deg=u(40, 120), z_from=z0, z_to=min(z0 + u(0.2, 0.5), 0.98),
                    transmurality=u(0.25, 1.0))
        heart = Heart(**{**heart.__dict__, "scar": scar})
    torso = Torso(**{**torso.__dict__, "organs": draw_organs(seed)})
    return Subject(seed=int(seed), variant=variant, heart=heart, torso=torso, heart_axes=axes,
                   apex_position=apex)


def with_rv_junction(subject: Subject) -> Subject:
    """The same subject with an RV-LV junction as in real (often diseased) hearts: the free wall
    folds onto the LV along a fillet, so the crescent's tips taper along the septum, and RV
    trabeculae may reach the septum near the insertions. Drawn from the seed's own stream, so
    the rest of the subject is unchanged."""
    rng = np.random.default_rng([subject.seed, 7919, 3])
    taper, reach, clearance = (float(v) for v in (rng.uniform(4.0, 20.0), rng.uniform(0.1, 1.5), rng.uniform(0.0, 3.0)))
    heart = replace(subject.heart, rv_taper_mm=taper, rv_taper_reach_mm=reach, rv_trabeculae_clearance_mm=clearance)
    return replace(subject, heart=heart)


def with_lean_epicardium(subject: Subject) -> Subject:
    """The same subject with epicardial fat as ACDC shows it around the LV: little over the LV wall
    and in the creases beside the RV insertions (the band 0.75-4 mm outside the LV is a median 0.32 of
    the LV blood's signal in ACDC, 0.86 in the phantom, 0.53 with this: ``calibrate``). Fat over the RV, in
    the atrioventricular groove and around the atria stays. Drawn from the seed's own stream."""
    rng = np.random.default_rng([subject.seed, 7919, 4])
    scale, crease = float(rng.uniform(0.0, 0.2)), float(rng.uniform(1.0, 6.0))
    heart = replace(subject.heart, lv_fat_scale=scale, groove_fill_mm=min(crease, subject.heart.groove_fill_mm))
    return replace(subject, heart=heart)


def with_dark_epicardium(subject: Subject) -> Subject:
    """The same subject with tissue about as dark as myocardium lying on the LV wall (pericardium, lung and
    liver at partial volume), 1-8 mm thick at most and 0.6-1.3 times the myocardium's signal, away from the RV
    and the atrioventricular groove: in ACDC the band just outside the LV is about as dark as the wall, so the
    wall's outer edge shows by its shape more than by its contrast. Drawn from the seed's own stream."""
    rng = np.random.default_rng([subject.seed, 7919, 5])
    thickness, level = float(rng.uniform(1.0, 8.0)), float(rng.uniform(0.6, 1.3))
    return replace(subject, heart=replace(subject.heart, lv_dark_band_mm=thickness, lv_dark_band_level=level))


def draw_organs(seed: int) -> Organs:
    """The subject's organ-shaped surroundings, from their own stream of the seed."""
    rng = np.random.default_rng([int(seed), 7919, 2])
    u = rng.uniform
    female = u() < 0.45
    breast_depth = u(25.0, 55.0) if female else u(0.0, 12.0)
    return Organs(
        liver_wobble=(u(4.0, 14.0), u(1.0 / 60.0, 1.0 / 30.0), u(0, 2 * np.pi), u(0, 2 * np.pi)),
        stomach_centre=(u(55.0, 95.0), u(-40.0, 10.0), u(-70.0, -25.0)),
        stomach_radii=(u(28.0, 50.0), u(25.0, 45.0), u(30.0, 55.0)),
        stomach_air=u(0.0, 0.6) if u() < 0.6 else 0.0,
        bowel_share=u(0.3, 0.8), abdomen_fat=u(0.0, 1.0),
        aorta=(u(15.0, 30.0), u(-30.0, -18.0), u(9.0, 14.0)),
        aorta_signal=u(1.0, 1.5) if u() < 0.6 else u(0.1, 0.5),
        ivc=(u(-35.0, -15.0), u(-45.0, -30.0), u(8.0, 14.0)),
        vertebra_radii=(u(16.0, 22.0), u(13.0, 18.0)),
        breast=(u(45.0, 75.0), breast_depth, u(45.0, 70.0), u(45.0, 90.0)),
        lung_vessel_signal=u(0.25, 0.6), spleen_radii=(u(25.0, 40.0), u(40.0, 60.0), u(40.0, 65.0)),
        dome_lift=u(10.0, 35.0),
    )
