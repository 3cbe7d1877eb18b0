"""scripts/rvi_error_frame.py: signed errors in the truth's polar frame have the documented signs."""

from __future__ import annotations

import numpy as np
import pytest


def _polar(radius: float, degrees: float) -> np.ndarray:
    """A point (row, col) around an LV centre at (50, 50)."""
    angle = np.radians(degrees)
    return np.array([50 + radius * np.sin(angle), 50 + radius * np.cos(angle)])


def test_longer_arc_and_outward_ends_are_positive(load_script):
    frame_errors = load_script("rvi_error_frame").frame_errors
    truth = np.stack([_polar(20, 60), _polar(20, 180), [50.0, 50.0]])  # RV arc 60..180 deg, middle 120
    found = np.stack([_polar(20, 50), _polar(23, 180), [np.nan, np.nan]])  # anterior 10 deg farther round
    rows = frame_errors(truth, found, np.array([1.5, 1.5]))
    (end0, along0, radial0), (end1, along1, radial1) = rows
    assert (end0, end1) == (0, 1)
    assert along0 == pytest.approx(np.radians(10) * 30.0) and radial0 == pytest.approx(0.0, abs=1e-9)
    assert along1 == pytest.approx(0.0, abs=1e-9) and radial1 == pytest.approx(4.5)


def test_shorter_arc_is_negative_and_missing_truth_gives_nothing(load_script):
    frame_errors = load_script("rvi_error_frame").frame_errors
    truth = np.stack([_polar(20, -150), _polar(20, 150), [50.0, 50.0]])  # the short arc crosses 180 deg
    found = np.stack([_polar(20, -160), _polar(20, 150), [50.0, 50.0]])  # anterior 10 deg towards the middle
    (_, along, _), _ = frame_errors(truth, found, np.ones(2))
    assert along == pytest.approx(-np.radians(10) * 20.0)
    truth[2] = np.nan
    assert frame_errors(truth, found, np.ones(2)) == []
