"""Cardiac motion: the heart's shape at a time point of the R-R interval.

ED is time 0. The LV apex stays still; the mitral annulus descends so that the LV length falls
by the subject's longitudinal shortening at ES; the wall thickens and the cavities shrink; the
tricuspid annulus descends by the TAPSE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inline_ai.phantom.anatomy import Heart


def contraction(time: float, es_time: float) -> float:
    """Contraction state 0 (ED) .. 1 (ES) at a time fraction of the R-R interval (periodic)."""
    t = float(time) % 1.0
    if t <= es_time:
        return 0.5 * (1.0 - np.cos(np.pi * t / es_time))
    rapid_end = es_time + 0.22
    if t <= rapid_end:  # rapid filling: 1 -> 0.2
        return 0.2 + 0.8 * 0.5 * (1.0 + np.cos(np.pi * (t - es_time) / 0.22))
    kick_start = 0.82
    if t <= kick_start:  # diastasis: 0.2 -> 0.15
        return 0.2 - 0.05 * (t - rapid_end) / max(kick_start - rapid_end, 1e-6)
    return 0.15 * 0.5 * (1.0 + np.cos(np.pi * (t - kick_start) / (1.0 - kick_start)))  # atrial kick


@dataclass(frozen=True)
class HeartState:
    """Heart-frame dimensions (mm) at one time point."""

    time: float
    contraction: float
    lv_length: float  # epicardial apex (z = 0) to the mitral annulus centre (z = lv_length)
    endo_radii: tuple[float, float, float]  # cavity ellipsoid semi-axes
    epi_radii: tuple[float, float, float]
    ellipsoid_z: float  # common centre of the LV ellipsoids on the axis
    wall: float
    annulus_radii: tuple[float, float]  # mitral annulus ellipse in the base plane
    rv_centre: tuple[float, float, float]
    rv_radii: tuple[float, float, float]
    tricuspid_z: float
    la_centre: tuple[float, float, float]
    ra_centre: tuple[float, float, float]


def heart_state(heart: Heart, time: float) -> HeartState:
    """The heart's dimensions at ``time`` (fraction of R-R, 0 = ED)."""
    c = contraction(time, heart.es_time)
    length = heart.lv_length_ed * (1.0 - heart.shortening * c)
    wall = heart.wall_ed * (1.0 + heart.thickening * c)
    apex_wall = wall * heart.apex_wall_ratio
    es_ratio = np.sqrt((1.0 - heart.ejection_fraction) / (1.0 - heart.shortening))
    radius_x = heart.lv_radius_ed * (1.0 - (1.0 - es_ratio) * c)
    radius_y = radius_x * heart.lv_ellipticity
    beta = heart.base_beta
    endo_z = (length - apex_wall) / (1.0 + beta)
    centre_z = apex_wall + endo_z
    endo = (radius_x, radius_y, endo_z)
    epi = (radius_x + wall, radius_y + wall, endo_z + apex_wall)
    base_factor = np.sqrt(max(1.0 - beta**2, 0.05))
    annulus = (radius_x * base_factor, radius_y * base_factor)
    epi_radius_ed = heart.lv_radius_ed + heart.wall_ed
    shrink = 1.0 - heart.rv_shrink * c
    rv_apex_z = heart.rv_apex_fraction * heart.lv_length_ed
    tricuspid_z = heart.lv_length_ed - heart.tricuspid_offset - heart.tapse * c
    rv_half_z = max((tricuspid_z - rv_apex_z) / 1.3, 5.0)
    rv_centre = (heart.rv_offset[0] * epi_radius_ed, heart.rv_offset[1] * epi_radius_ed, rv_apex_z + rv_half_z)
    rv_radii = (heart.rv_size[0] * epi_radius_ed * shrink, heart.rv_size[1] * epi_radius_ed * shrink,
                rv_half_z)
    la = heart.la_radii
    la_centre = (-0.2 * annulus[0], -0.3 * annulus[1], length + 0.55 * la[2])
    ra = heart.ra_radii
    ra_centre = (rv_centre[0] + 0.1 * ra[0], rv_centre[1] - 0.3 * ra[1], tricuspid_z + 0.55 * ra[2])
    return HeartState(time=float(time), contraction=float(c), lv_length=float(length), endo_radii=endo,
                      epi_radii=epi, ellipsoid_z=float(centre_z), wall=float(wall), annulus_radii=annulus,
                      rv_centre=rv_centre, rv_radii=rv_radii, tricuspid_z=float(tricuspid_z),
                      la_centre=la_centre, ra_centre=ra_centre)
