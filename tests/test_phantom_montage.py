"""The docs montage tool writes small, non-blank PNGs."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pytest

from inline_ai.phantom.montage import make_montage


def test_montage_png_is_small_and_shows_images(tmp_path):
    path = make_montage("ch2", "t1", tmp_path, first_seed=3)
    assert path.name == "phantom_ch2_t1.png" and path.stat().st_size < 300_000
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and float(np.std(pixels[..., :3])) > 0.05


def test_calibration_measures_known_rings():
    from inline_ai.dataset import LandmarkCase
    from inline_ai.phantom.calibrate import mid_slice_measures, presence

    rows, cols = np.mgrid[0:80, 0:80]
    radius = np.hypot(rows - 40, cols - 40)
    mask = np.zeros((80, 80), dtype=np.uint8)
    mask[radius < 20] = 2
    mask[radius < 12] = 3  # cavity radius 12 px, wall 8 px, at 1.5 mm pixels
    nan = np.full((3, 2), np.nan, dtype=np.float32)
    points = nan.copy()
    points[2] = (40, 40)
    case = LandmarkCase(image=np.ones((3, 80, 80), np.float32), pixel_spacing=np.array([1.5, 1.5], np.float32),
                        landmarks=np.stack([nan, points, nan]), landmark_names=("a", "b", "c"), view="sax",
                        sequence="cine", mask=np.stack([np.zeros_like(mask), mask, np.zeros_like(mask)]))
    measures = mid_slice_measures(case, range(3))
    assert measures["cavity_diameter_mm"] == pytest.approx(36.0, rel=0.03)
    assert measures["wall_mm"] == pytest.approx(12.0, rel=0.06)
    assert measures["slices_with_lv"] == 1 and np.isnan(measures["rv_arc_deg"])
    assert presence([case]) == (pytest.approx(1 / 3), 0.0)


def test_insertion_distances_use_complete_images_only():
    from inline_ai.dataset import LandmarkCase
    from inline_ai.phantom.calibrate import insertion_distances

    complete = np.array([[10.0, 40.0], [40.0, 10.0], [40.0, 40.0]], dtype=np.float32)  # 30 px to each RVI
    partial = complete.copy()
    partial[1] = np.nan
    case = LandmarkCase(image=np.ones((2, 60, 60), np.float32), pixel_spacing=np.array([2.0, 2.0], np.float32),
                        landmarks=np.stack([complete, partial]), landmark_names=("a", "b", "c"), view="sax",
                        sequence="cine")
    found = insertion_distances([case])
    np.testing.assert_allclose(found["lv centre -> ant. RVI mm"], [60.0])
    np.testing.assert_allclose(found["RVI -> RVI mm"], [60.0 * np.sqrt(2.0)], rtol=1e-5)
    assert found["all three landmarks"][0] == pytest.approx(0.5)
