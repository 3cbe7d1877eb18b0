"""Filling landmarks missed in some phases, and temporal smoothing."""

import numpy as np
import pytest

from inline_ai.consistency import (
    drop_far_lv_centres,
    drop_wrong_side_rv,
    fill_missing,
    fill_stack_gaps,
    nearest_stack_donors,
    rv_directions,
    smooth_over_phases,
    stack_groups,
)
from inline_ai.context import neighbour_indices


def track(phases=8):
    """One landmark moving along a circle over the heartbeat, a second one fixed."""
    t = 2 * np.pi * np.arange(phases) / phases
    moving = np.stack([50 + 5 * np.sin(t), 60 + 5 * np.cos(t)], axis=1)
    fixed = np.tile([20.0, 30.0], (phases, 1))
    return np.stack([moving, fixed], axis=1)


def test_gap_is_interpolated_and_marked():
    points = track()
    missing = points.copy()
    missing[3, 0] = np.nan
    filled, mask = fill_missing(missing, cyclic=True)
    np.testing.assert_allclose(filled[3, 0], (points[2, 0] + points[4, 0]) / 2)
    assert mask[3, 0] and mask.sum() == 1
    np.testing.assert_array_equal(filled[~mask], points[~mask])


def test_cyclic_fill_wraps_round_the_heartbeat():
    points = track()
    missing = points.copy()
    missing[0, 0] = np.nan
    cyclic, _ = fill_missing(missing, cyclic=True)
    np.testing.assert_allclose(cyclic[0, 0], (points[7, 0] + points[1, 0]) / 2)
    open_ended, _ = fill_missing(missing, cyclic=False)
    np.testing.assert_allclose(open_ended[0, 0], points[1, 0])  # nearest detected phase


def test_mostly_absent_landmark_is_left_absent():
    points = track()
    points[:6, 1] = np.nan  # found in 2 of 8 phases
    filled, mask = fill_missing(points, min_present_fraction=0.5)
    assert np.isnan(filled[:6, 1]).all() and not mask[:, 1].any()


def test_single_phase_is_unchanged():
    points = np.array([[[np.nan, np.nan], [1.0, 2.0]]])
    filled, mask = fill_missing(points)
    assert np.isnan(filled[0, 0]).all() and not mask.any()


def test_bad_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\[P, K, 2\]"):
        fill_missing(np.zeros((4, 2)))


def test_smoothing_reduces_jitter_and_keeps_the_mean():
    rng = np.random.default_rng(1)
    points = track(30)
    noisy = points + rng.normal(0, 1.0, points.shape)
    smooth = smooth_over_phases(noisy, sigma_phases=1.5, cyclic=True)
    assert np.abs(smooth - points).mean() < np.abs(noisy - points).mean()
    np.testing.assert_allclose(smooth.mean(axis=0), noisy.mean(axis=0), atol=1e-9)  # wrap keeps the mean


def test_smoothing_leaves_tracks_with_gaps_alone():
    points = track()
    points[2, 1] = np.nan
    smooth = smooth_over_phases(points, sigma_phases=1.0)
    assert np.isnan(smooth[2, 1]).all()
    np.testing.assert_array_equal(smooth[:, 1][~np.isnan(smooth[:, 1, 0])], points[:, 1][~np.isnan(points[:, 1, 0])])


def stack_points(present: str) -> np.ndarray:
    """One landmark over a stack (one phase): slice k at (10 + k, 20 + 2k), absent where ``present`` has '.'."""
    points = np.array([[[10.0 + k, 20.0 + 2 * k]] for k in range(len(present))])
    points[[c == "." for c in present]] = np.nan
    return points


def test_stack_gap_between_two_slices_is_filled_with_their_mean():
    points = stack_points("##.##")
    filled_points, filled = fill_stack_gaps(points, neighbour_indices([0] * 5, range(5)))
    assert filled[:, 0].tolist() == [False, False, True, False, False]
    np.testing.assert_allclose(filled_points[2, 0], [12.0, 24.0])
    np.testing.assert_array_equal(filled_points[[0, 1, 3, 4]], points[[0, 1, 3, 4]])


def test_stack_ends_and_wider_gaps_stay_absent():
    for present in (".###.", "#..##", "#.#.#"):
        points = stack_points(present)
        filled_points, filled = fill_stack_gaps(points, neighbour_indices([0] * 5, range(5)))
        expected = [present[k - 1] == "#" and present[k + 1] == "#" and present[k] == "." if 0 < k < 4 else False
                    for k in range(5)]
        assert filled[:, 0].tolist() == expected, present
    # "#.#.#": both gaps filled from the detected slices; a filled slice never fills another


def test_stack_gaps_follow_the_neighbour_table_not_the_image_order():
    points = stack_points("##.##")[[4, 2, 0, 3, 1]]  # shuffled; two phases would be two stacks
    table = neighbour_indices([0] * 5, [4, 2, 0, 3, 1])
    filled_points, filled = fill_stack_gaps(points, table)
    assert filled[:, 0].tolist() == [False, True, False, False, False]
    np.testing.assert_allclose(filled_points[1, 0], [12.0, 24.0])
    with pytest.raises(ValueError, match="neighbours"):
        fill_stack_gaps(points, table[:4])


def sax_stack(rv_degrees, radius=20.0, centre=(60.0, 60.0)):
    """``[N, 3, 2]`` SAX points (anterior RVI, inferior RVI, LV centre) with the RV turned to each direction
    (degrees, row/col); None = no RV insertions on that slice."""
    out = np.full((len(rv_degrees), 3, 2), np.nan)
    for n, degrees in enumerate(rv_degrees):
        out[n, 2] = centre
        if degrees is None:
            continue
        for k, spread in enumerate((-50.0, 50.0)):
            angle = np.radians(degrees + spread)
            out[n, k] = (centre[0] + radius * np.sin(angle), centre[1] + radius * np.cos(angle))
    return out


def test_rv_direction_points_from_the_lv_centre_to_the_middle_of_the_insertions():
    directions = np.degrees(rv_directions(sax_stack([150.0, -30.0, None]), (1.5, 1.5)))
    np.testing.assert_allclose(directions[:2], [150.0, -30.0], atol=1e-9)
    assert np.isnan(directions[2])


def test_an_rv_on_the_wrong_side_of_its_stack_is_dropped_then_filled_from_its_neighbours():
    points = sax_stack([160.0, 150.0, -20.0, 140.0, 135.0])  # slice 2 turned the RV round the LV
    table = neighbour_indices([0] * 5, range(5))
    checked, dropped = drop_wrong_side_rv(points, table)
    assert dropped.tolist() == [False, False, True, False, False]
    assert np.isnan(checked[2, :2]).all() and np.isfinite(checked[2, 2]).all()  # the LV centre stays
    np.testing.assert_array_equal(checked[[0, 1, 3, 4]], points[[0, 1, 3, 4]])
    filled, _ = fill_stack_gaps(checked, table)
    np.testing.assert_allclose(filled[2, :2], (points[1, :2] + points[3, :2]) / 2)


def test_a_stack_turning_within_the_labels_spread_keeps_every_point():
    points = sax_stack([170.0, 150.0, 130.0, 110.0, 95.0, None])  # 75 deg from base to apex, one slice without
    checked, dropped = drop_wrong_side_rv(points, neighbour_indices([0] * 6, range(6)))
    assert not dropped.any()
    np.testing.assert_array_equal(checked, points)


def test_wrong_side_check_needs_three_slices_and_keeps_stacks_apart():
    points = sax_stack([150.0, -30.0])  # two slices: no majority to judge by
    assert not drop_wrong_side_rv(points, neighbour_indices([0, 0], [0, 1]))[1].any()
    # two phases of three slices each; in phase 1 the RV points the other way throughout (e.g. another display)
    points = sax_stack([150.0, 140.0, -30.0, -30.0, -40.0, -35.0])
    table = neighbour_indices([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2])
    assert [g.tolist() for g in stack_groups(table)] == [[0, 1, 2], [3, 4, 5]]
    assert drop_wrong_side_rv(points, table)[1].tolist() == [False, False, True, False, False, False]
    with pytest.raises(ValueError, match="SAX landmark order"):
        drop_wrong_side_rv(points[:, :2], table)


def lv_track(centres_px) -> np.ndarray:
    """``[N, 3, 2]`` SAX points: insertions 20 px above and beside each LV centre (row, col in pixels)."""
    centres = np.asarray(centres_px, dtype=np.float64)
    return np.stack([centres + (-20.0, -10.0), centres + (-20.0, 10.0), centres], axis=1)


def test_an_lv_centre_far_from_its_stack_is_dropped_then_filled_from_its_neighbours():
    points = lv_track([(100, 100), (101, 102), (130, 140), (102, 104), (103, 105)])  # slice 2: 50 px = 75 mm off
    table = neighbour_indices([0] * 5, range(5))
    checked, dropped = drop_far_lv_centres(points, table, (1.5, 1.5))
    assert dropped.tolist() == [False, False, True, False, False]
    assert np.isnan(checked[2, 2]).all() and np.isfinite(checked[2, :2]).all()  # the insertions stay
    np.testing.assert_array_equal(checked[[0, 1, 3, 4]], points[[0, 1, 3, 4]])
    filled, _ = fill_stack_gaps(checked, table)
    np.testing.assert_allclose(filled[2, 2], (points[1, 2] + points[3, 2]) / 2)


def test_lv_centre_check_measures_in_mm_and_keeps_the_labels_spread():
    points = lv_track([(100, 100), (101, 101), (102, 102), (100, 130)])  # slice 3: 30 px from the others' median
    table = neighbour_indices([0] * 4, range(4))
    assert not drop_far_lv_centres(points, table, (1.0, 1.0))[1].any()  # 30 mm: within the labels' 29.6 mm
    assert drop_far_lv_centres(points, table, (2.0, 2.0))[1].tolist() == [False, False, False, True]  # 60 mm
    assert drop_far_lv_centres(points, table, np.tile((2.0, 2.0), (4, 1)))[1][3]


def test_lv_centre_check_needs_three_centres_and_keeps_stacks_apart():
    two = lv_track([(100, 100), (100, 200)])
    assert not drop_far_lv_centres(two, neighbour_indices([0, 0], [0, 1]))[1].any()
    points = lv_track([(100, 100), (101, 100), (160, 100), (160, 101), (161, 100), (160, 102)])
    points[3, 2] = np.nan  # an absent centre is neither judged nor counted
    table = neighbour_indices([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2])
    assert drop_far_lv_centres(points, table)[1].tolist() == [False, False, True, False, False, False]
    with pytest.raises(ValueError, match="neighbours must be"):
        drop_far_lv_centres(points, table[:5])


def test_nearest_donor_is_counted_in_steps_along_the_stack_not_in_image_order():
    table = neighbour_indices([0] * 5 + [1] * 2, [4, 0, 3, 1, 2, 0, 1])  # images out of slice order; a second phase
    usable = np.array([True, True, False, False, False, True, True])
    wanted = np.array([False, False, True, True, False, False, False])
    donors = nearest_stack_donors(wanted, usable, table)
    # image 2 is slice 3: slice 4 (image 0) is one step away; image 3 is slice 1: slice 0 (image 1) one step
    assert donors.tolist() == [-1, -1, 0, 1, -1, -1, -1]
    lonely = nearest_stack_donors(np.array([True, False]), np.array([True, False]), neighbour_indices([0, 0], [0, 1]))
    assert lonely.tolist() == [-1, -1]  # the only usable image is itself
