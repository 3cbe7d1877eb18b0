"""Filling landmarks missed in some phases, and temporal smoothing."""

import numpy as np
import pytest

from inline_ai.consistency import fill_missing, fill_stack_gaps, smooth_over_phases
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
