"""Sub-pixel points, presence thresholds and confidences from heat maps."""

import numpy as np
import pytest

from inline_ai.points import extract_points

CHANNELS = ("background", "a", "b")


def heat_maps(centres, shape=(48, 40), sigma=2.0, peak=0.9):
    """Probability-like maps [N, 3, H, W]: one Gaussian blob per landmark (None = no blob)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    maps = np.zeros((len(centres), 3, *shape), dtype=np.float32)
    for n, pair in enumerate(centres):
        for k, centre in enumerate(pair):
            if centre is not None:
                maps[n, 1 + k] = peak * np.exp(-0.5 * ((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / sigma**2)
    maps[:, 0] = 1.0 - maps[:, 1:].sum(axis=1)
    return maps


def test_sub_pixel_centroid_of_the_blob():
    truth = [((10.3, 12.6), (30.75, 20.2)), ((25.5, 5.0), (40.1, 33.9))]
    points, confidence = extract_points(heat_maps(truth), CHANNELS, ("a", "b"), 0.5)
    assert points.shape == (2, 2, 2) and confidence.shape == (2, 2)
    np.testing.assert_allclose(points, np.array(truth), atol=0.05)
    assert confidence.min() > 0.8


def test_second_blob_elsewhere_does_not_pull_the_point():
    maps = heat_maps([((20.2, 20.4), None)])
    maps[0, 1] += heat_maps([((40.0, 5.0), None)], peak=0.6)[0, 1]
    points, _ = extract_points(maps, CHANNELS, ("a",), 0.5)
    np.testing.assert_allclose(points[0, 0], (20.2, 20.4), atol=0.05)


def test_landmark_below_its_threshold_is_absent_with_its_confidence():
    maps = heat_maps([((10.0, 10.0), (30.0, 30.0))])
    maps[0, 2] *= 0.2  # b peaks at 0.18
    points, confidence = extract_points(maps, CHANNELS, ("a", "b"), {"a": 0.5, "b": 0.3})
    assert np.isfinite(points[0, 0]).all()
    assert np.isnan(points[0, 1]).all()
    assert confidence[0, 1] == pytest.approx(0.18, abs=0.01)
    points, _ = extract_points(maps, CHANNELS, ("a", "b"), {"a": 0.5, "b": 0.1})
    assert np.isfinite(points[0, 1]).all()


def test_blob_at_the_border_stays_inside_the_image():
    points, _ = extract_points(heat_maps([((0.0, 39.0), (47.0, 0.0))]), CHANNELS, ("a", "b"), 0.5)
    assert (points[0, :, 0] >= 0).all() and (points[0, :, 0] <= 47).all()
    assert (points[0, :, 1] >= 0).all() and (points[0, :, 1] <= 39).all()
    np.testing.assert_allclose(points[0], [(0.0, 39.0), (47.0, 0.0)], atol=1.0)


def test_order_follows_the_requested_names():
    truth = [((10.0, 12.0), (30.0, 20.0))]
    points, _ = extract_points(heat_maps(truth), CHANNELS, ("b", "a"), 0.5)
    np.testing.assert_allclose(points[0], [(30.0, 20.0), (10.0, 12.0)], atol=0.05)


def test_bad_input_is_a_clear_error():
    maps = heat_maps([((10.0, 10.0), None)])
    with pytest.raises(ValueError, match="not among"):
        extract_points(maps, CHANNELS, ("apex",), 0.5)
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        extract_points(maps[0], CHANNELS, ("a",), 0.5)
    with pytest.raises(ValueError, match="channel names"):
        extract_points(maps, CHANNELS[:2], ("a",), 0.5)
    with pytest.raises(ValueError, match="no threshold"):
        extract_points(maps, CHANNELS, ("a",), {"b": 0.5})
