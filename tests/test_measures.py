"""LV length, shortening, ES phase; A-RVI angle and AHA sectors."""

import numpy as np
import pytest

from inline_ai.landmarks import LAX_LANDMARKS
from inline_ai.measures import (
    aha_sectors,
    arvi_angle_deg,
    long_axis_measures,
    lv_length_mm,
    patient_direction,
    sector_boundaries_deg,
    slice_levels,
)


def lax_points(lengths_px):
    """Valve points at row 100 (cols 80, 120), apex straight above at 100 - length."""
    return np.array([[(100.0, 80.0), (100.0, 120.0), (100.0 - length, 100.0)] for length in lengths_px])


def test_lv_length_uses_anisotropic_spacing():
    # 30 rows and 40 columns between apex and valve midpoint
    length = lv_length_mm(np.array([10.0, 0.0]), np.array([10.0, 20.0]), np.array([40.0, 50.0]), (2.0, 0.5))
    assert float(length) == pytest.approx(np.hypot(30 * 2.0, 40 * 0.5))


def test_shortening_es_and_global_shortening():
    lengths_px = [50, 48, 44, 40, 42, 47]
    result = long_axis_measures(lax_points(lengths_px), LAX_LANDMARKS, (1.5, 1.0))
    np.testing.assert_allclose(result.lv_length_mm, np.array(lengths_px) * 1.5)
    assert result.ed_phase == 0 and result.es_phase == 3
    assert result.lv_length_ed_mm == pytest.approx(75.0)
    np.testing.assert_allclose(result.shortening_pct, 100 * (50 - np.array(lengths_px)) / 50)
    assert result.longitudinal_shortening_pct == pytest.approx(20.0)


def test_ed_phase_can_be_given():
    result = long_axis_measures(lax_points([45, 50, 40]), LAX_LANDMARKS, (1.0, 1.0), ed_phase=1)
    assert result.ed_phase == 1 and result.shortening_pct[1] == pytest.approx(0.0)
    assert result.longitudinal_shortening_pct == pytest.approx(20.0)
    with pytest.raises(ValueError, match="ED phase"):
        long_axis_measures(lax_points([45, 50]), LAX_LANDMARKS, (1.0, 1.0), ed_phase=5)


def test_single_image_has_length_but_no_shortening():
    result = long_axis_measures(lax_points([50]), LAX_LANDMARKS, (1.2, 1.2))
    assert result.lv_length_mm[0] == pytest.approx(60.0)
    assert result.shortening_pct is None and result.es_phase is None
    assert result.longitudinal_shortening_pct is None


def test_missing_landmark_gives_nan_length_and_es_skips_it():
    points = lax_points([50, 40, 45])
    points[1, 2] = np.nan  # apex absent in the shortest phase
    result = long_axis_measures(points, LAX_LANDMARKS, (1.0, 1.0))
    assert np.isnan(result.lv_length_mm[1])
    assert result.es_phase == 2
    assert result.longitudinal_shortening_pct == pytest.approx(10.0)


def test_missing_ed_length_gives_no_shortening():
    points = lax_points([50, 40])
    points[0, 0] = np.nan
    result = long_axis_measures(points, LAX_LANDMARKS, (1.0, 1.0))
    assert result.shortening_pct is None and result.longitudinal_shortening_pct is None


def test_long_axis_needs_its_landmarks():
    with pytest.raises(ValueError, match="apex"):
        long_axis_measures(np.zeros((2, 2, 2)), ("mv_anterior", "mv_inferior"), (1.0, 1.0))


@pytest.mark.parametrize("delta,expected", [
    ((0.0, 10.0), 0.0),  # to the right
    ((-10.0, 0.0), 90.0),  # up on display (decreasing row)
    ((0.0, -10.0), 180.0),
    ((10.0, 0.0), 270.0),
    ((-10.0, -10.0), 135.0),
])
def test_arvi_angle_convention(delta, expected):
    centre = np.array([50.0, 50.0])
    assert float(arvi_angle_deg(centre, centre + delta, (1.0, 1.0))) == pytest.approx(expected)


def test_arvi_angle_uses_millimetres_not_pixels():
    # 10 rows up and 10 columns left, but rows are twice as long: steeper than 135 degrees
    angle = float(arvi_angle_deg(np.array([50.0, 50.0]), np.array([40.0, 40.0]), (2.0, 1.0)))
    assert angle == pytest.approx(180.0 - np.degrees(np.arctan(2.0)))


def test_patient_direction_follows_the_image_orientation():
    direction = patient_direction(np.array([50.0, 50.0]), np.array([40.0, 50.0]), (1.0, 1.0),
                                  read_dir=(1.0, 0.0, 0.0), phase_dir=(0.0, 0.0, -1.0))
    np.testing.assert_allclose(direction, [0.0, 0.0, 1.0])  # up on display = -phase_dir


def test_six_sectors_start_at_the_anterior_rvi_and_turn_towards_the_septum():
    centre = np.array([50.0, 50.0])
    anterior = centre + (-10.0, -10.0)  # 135 deg: standard display, RV on the left
    inferior = centre + (10.0, -10.0)  # 225 deg
    sectors = aha_sectors(centre, anterior, (1.0, 1.0), inferior)
    assert [s.name for s in sectors][:2] == ["anteroseptal", "inferoseptal"]
    assert sector_boundaries_deg(sectors) == pytest.approx([135, 195, 255, 315, 15, 75])
    # mirrored image (anterior RVI below): sectors go the other way round
    mirrored = aha_sectors(centre, inferior, (1.0, 1.0), anterior)
    assert sector_boundaries_deg(mirrored) == pytest.approx([225, 165, 105, 45, 345, 285])


def test_four_apical_sectors_and_absent_points():
    centre = np.array([50.0, 50.0])
    sectors = aha_sectors(centre, centre + (-10.0, 0.0), (1.0, 1.0), count=4)
    assert [s.name for s in sectors] == ["septal", "inferior", "lateral", "anterior"]
    assert sector_boundaries_deg(sectors) == pytest.approx([90, 180, 270, 0])
    assert aha_sectors(centre, np.array([np.nan, np.nan]), (1.0, 1.0)) == []
    with pytest.raises(ValueError, match="6 .* or 4"):
        aha_sectors(centre, centre + 1, (1.0, 1.0), count=5)


def stack_geometry(slices: int, spacing_mm: float = 10.0, towards_apex: bool = True):
    normal = np.array([1.0, -1.0, -1.0]) / np.sqrt(3.0)  # base to apex: left, anterior, inferior
    positions = np.arange(slices)[:, None] * spacing_mm * normal + np.array([20.0, -5.0, 40.0])
    slice_dirs = np.tile(normal if towards_apex else -normal, (slices, 1))
    return positions, slice_dirs


@pytest.mark.parametrize("towards_apex", [True, False])
def test_slice_levels_split_the_lv_extent_into_thirds_whichever_way_the_normal_points(towards_apex):
    positions, slice_dirs = stack_geometry(8, towards_apex=towards_apex)
    lv_present = np.array([False, True, True, True, True, True, True, False])  # above the valve, beyond the apex
    levels = slice_levels(positions, slice_dirs, lv_present)
    assert levels == [None, "basal", "basal", "mid", "mid", "apical", "apical", None]
    shuffled = np.random.default_rng(1).permutation(8)
    assert slice_levels(positions[shuffled], slice_dirs[shuffled], lv_present[shuffled]) == \
        [levels[i] for i in shuffled]


def test_slice_levels_unknown_for_oblique_normals_and_short_stacks():
    positions, _ = stack_geometry(6)
    sideways = np.tile(np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0), (6, 1))  # perpendicular to the apex direction
    sideways_positions = np.arange(6)[:, None] * 10.0 * sideways
    assert slice_levels(sideways_positions, sideways, np.ones(6, bool)) == [None] * 6
    positions, slice_dirs = stack_geometry(2)
    assert slice_levels(positions, slice_dirs, np.ones(2, bool)) == [None, None]


@pytest.mark.parametrize("seed", [3, 8, 21])
def test_slice_levels_follow_base_to_apex_on_phantom_stacks(seed):
    """The anatomical prior holds for the phantom's randomised heart orientations and both handednesses:
    levels never go back up the stack (slices are stored base first)."""
    from inline_ai.phantom.generate import generate_case

    case = generate_case("sax", "cine", seed, phases=1, image_seed=seed)
    extra = case.extra
    lv_present = np.isfinite(case.landmarks[:, case.landmark_names.index("lv_centre")]).all(-1)
    levels = slice_levels(extra["position"], extra["slice_dir"], lv_present)
    rank = [{"basal": 0, "mid": 1, "apical": 2}[level] for level in levels if level is not None]
    assert list(case.slice_index) == sorted(case.slice_index)  # one phase: the stack as stored, base first
    assert rank == sorted(rank) and set(rank) == {0, 1, 2}
