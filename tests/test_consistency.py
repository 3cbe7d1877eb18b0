"""Filling landmarks missed in some phases, and temporal smoothing."""

import numpy as np
import pytest

from inline_ai.consistency import fill_missing, smooth_over_phases


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
