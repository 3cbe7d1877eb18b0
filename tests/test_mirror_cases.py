"""scripts/mirror_cases.py: a mirrored case keeps each landmark on the pixel it marked."""

from __future__ import annotations

import numpy as np


def test_points_follow_their_pixels_and_absent_points_stay_absent(load_script):
    mirror_case = load_script("mirror_cases").mirror_case
    image = np.zeros((2, 6, 9), np.uint16)
    image[0, 2, 1] = 100  # a landmark's pixel
    mask = (image > 0).astype(np.uint8)
    points = np.array([[[2.0, 1.0], [np.nan, np.nan]], [[4.5, 7.25], [0.0, 0.0]]], np.float32)
    case = {"image": image, "mask": mask, "landmarks": points, "view": np.array("sax")}
    mirrored = mirror_case(case)
    row, col = mirrored["landmarks"][0, 0]
    assert mirrored["image"][0, int(row), int(col)] == 100 and mirrored["mask"][0, int(row), int(col)] == 1
    np.testing.assert_allclose(mirrored["landmarks"][1], [[4.5, 0.75], [0.0, 8.0]])
    assert np.isnan(mirrored["landmarks"][0, 1]).all()
    twice = mirror_case(mirrored)
    np.testing.assert_array_equal(twice["image"], image)
    np.testing.assert_allclose(twice["landmarks"], points)
    assert case["landmarks"] is points and np.isfinite(points[0, 0]).all()  # the input is left as it was
