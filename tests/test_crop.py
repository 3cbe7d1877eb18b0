"""Axis crops (inline_ai.crop): exact point mapping, orientation, sampling, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from inline_ai.crop import axis_crop

SPACING = (1.4, 1.1)


def tilted_points(angle_deg: float, centre=(100.0, 120.0)) -> np.ndarray:
    """Valve points and apex (row, col) of an 80 mm LV whose axis is tilted by ``angle_deg``."""
    angle = np.deg2rad(angle_deg)
    down = np.array([np.cos(angle), np.sin(angle)])  # valve -> apex, in mm
    across = np.array([-down[1], down[0]])
    mm = np.stack([-40 * down + 23 * across, -40 * down - 23 * across, 40 * down])
    return np.asarray(centre) + mm / np.asarray(SPACING)


@pytest.mark.parametrize("angle", [0.0, 35.0, 160.0, -100.0])
def test_crop_puts_the_apex_below_the_valve_on_the_centre_column(angle):
    points = tilted_points(angle)
    crop = axis_crop(points, SPACING, 1.0, (144, 112))
    mapped = crop.to_model(points)
    centre = crop.model_centre
    valve_mid = mapped[:2].mean(axis=0)
    np.testing.assert_allclose(mapped[2], centre + [40.0, 0.0], atol=1e-9)  # 40 mm below the centre
    np.testing.assert_allclose(valve_mid, centre - [40.0, 0.0], atol=1e-9)
    # a rotation, not a mirror: the point 23 mm to the "across" side stays on that side
    np.testing.assert_allclose(mapped[0] - valve_mid, [0.0, 23.0], atol=1e-9)
    np.testing.assert_allclose(crop.to_original(mapped), points, atol=1e-9)


def test_crop_pixels_are_the_asked_size_in_mm():
    points = tilted_points(20.0)
    crop = axis_crop(points, SPACING, 0.75, (96, 96))
    mapped = crop.to_model(points)
    original_mm = np.linalg.norm((points[0] - points[2]) * SPACING)
    assert np.linalg.norm(mapped[0] - mapped[2]) * 0.75 == pytest.approx(original_mm)


def test_sample_moves_a_bright_spot_to_its_mapped_point():
    points = tilted_points(50.0)
    rows, cols = np.mgrid[0:220, 0:260].astype(float)
    spot = points[1]
    image = np.exp(-0.5 * (((rows - spot[0]) * SPACING[0]) ** 2 + ((cols - spot[1]) * SPACING[1]) ** 2) / 4.0)
    crop = axis_crop(points, SPACING, 1.0, (144, 112))
    sampled = crop.sample(image)
    assert sampled.shape == (144, 112) and sampled.dtype == np.float32
    peak = np.unravel_index(np.argmax(sampled), sampled.shape)
    np.testing.assert_allclose(peak, crop.to_model(spot), atol=0.71)
    assert sampled[0, 0] == 0.0  # outside the original image: zero


def test_coarser_crop_is_smoothed_not_aliased():
    checker = (np.indices((200, 200)).sum(axis=0) % 2).astype(np.float32)  # 1-pixel checkerboard
    points = tilted_points(0.0, centre=(100.0, 100.0))
    crop = axis_crop(points, (1.0, 1.0), 3.0, (32, 32))
    inner = crop.sample(checker)[8:24, 8:24]
    assert inner.std() < 0.1 and inner.mean() == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize("bad", [np.full((3, 2), np.nan), np.zeros((2, 2)), np.array([[0, 0], [0, 2], [0, 1.0]])])
def test_bad_points_raise(bad):
    with pytest.raises(ValueError):
        axis_crop(bad, SPACING, 1.0, (64, 64))


def test_bad_spacing_raises():
    with pytest.raises(ValueError, match="positive"):
        axis_crop(tilted_points(0.0), (0.0, 1.0), 1.0, (64, 64))


def test_paste_brings_crop_values_back_onto_the_original_window():
    shape = (200, 240)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    smooth = (np.sin(rows / 9.0) + np.cos(cols / 11.0)).astype(np.float32)  # varies slowly: bilinear is near exact
    crop = axis_crop(tilted_points(25.0), (1.4, 1.4), 1.0, (96, 80))
    row0, col0, row1, col1 = crop.bounds(shape)
    inside = crop.to_model(np.stack([rows, cols], axis=-1).astype(float))
    covered = ((inside >= 1) & (inside <= np.array(crop.model_shape) - 2)).all(axis=-1)
    on_rows, on_cols = np.nonzero(covered)
    assert on_rows.min() >= row0 and on_rows.max() < row1 and on_cols.min() >= col0 and on_cols.max() < col1
    assert (row1 - row0) * (col1 - col0) < 0.5 * shape[0] * shape[1]  # a window, not the whole image
    pasted = crop.paste(crop.sample(smooth), (row1 - row0, col1 - col0), fill=-9.0, origin=(row0, col0))
    window_covered = covered[row0:row1, col0:col1]
    np.testing.assert_allclose(pasted[window_covered], smooth[row0:row1, col0:col1][window_covered], atol=0.02)
    assert (pasted[~((inside >= -1) & (inside <= np.array(crop.model_shape))).all(axis=-1)[row0:row1, col0:col1]]
            == -9.0).all()
    with pytest.raises(ValueError, match="crop-grid array"):
        crop.paste(smooth, shape)
