"""scripts/presence_operating_points.py: the rule's limits change inside the context only."""

from __future__ import annotations

import numpy as np

from inline_ai.mask_landmarks import mask_landmarks


def _heart(rv_pixels: int) -> np.ndarray:
    """LV cavity disc, myocardial ring, and an RV block of ``rv_pixels`` pixels against the ring's left side."""
    rows, cols = np.mgrid[:64, :64]
    radius = np.hypot(rows - 32, cols - 32)
    mask = np.where(radius < 8, 3, np.where(radius < 12, 2, 0)).astype(np.uint8)
    free = np.argwhere((mask == 0) & (radius < 14) & (cols < 32))
    take = free[np.argsort(np.abs(free[:, 0] - 32), kind="stable")[:rv_pixels]]
    mask[take[:, 0], take[:, 1]] = 1
    return mask


def test_rule_limits_apply_inside_and_are_restored(load_script):
    module = load_script("presence_operating_points")
    heart = _heart(35)
    assert mask_landmarks(heart).rv_ends is not None  # 35 >= the labels' 30 pixels
    with module.rule_limits(40, 20.0):
        assert mask_landmarks(heart).rv_ends is None
        assert mask_landmarks(heart).lv_centre is not None
    assert mask_landmarks(heart).rv_ends is not None
    with module.rule_limits(30, 359.0):  # no arc is that wide
        assert mask_landmarks(heart).rv_ends is None
