"""Pixel spacing from headers, resampling to the model grid and exact point mapping."""

import numpy as np
import pytest
from scipy import ndimage

from inline_ai.geometry import GridTransform, grid_transform, spacing_from_image, to_model_grid
from inline_ai.mrd_files import make_image


def spot(shape, centre, sigma_px):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-0.5 * (((rows - centre[0]) / sigma_px[0]) ** 2 + ((cols - centre[1]) / sigma_px[1]) ** 2))


def test_spacing_from_image_is_row_then_column_and_anisotropic():
    image = make_image(np.ones((208, 256), np.float32), pixel_spacing_mm=(1.5, 1.25))
    assert spacing_from_image(image) == pytest.approx((1.5, 1.25))
    assert spacing_from_image(image.getHead()) == pytest.approx((1.5, 1.25))


def test_spacing_without_field_of_view_is_a_clear_error():
    image = make_image(np.ones((8, 8), np.float32), pixel_spacing_mm=(1.0, 1.0))
    image.field_of_view[:] = (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="field of view"):
        spacing_from_image(image)


@pytest.mark.parametrize("shape,spacing,size", [
    ((207, 255), (1.37, 1.21), (128, 128)),  # odd sizes, anisotropic, downsampling + crop
    ((77, 91), (2.9, 3.3), (128, 96)),  # upsampling + padding, odd model height
    ((256, 208), (2.0, 2.0), (128, 128)),  # same pixel size: pure crop
])
def test_round_trip_of_points_is_exact(shape, spacing, size):
    transform = grid_transform(shape, spacing, 2.0, size)
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 1, (50, 2)) * (np.asarray(shape) - 1)
    back = transform.to_original(transform.to_model(points))
    assert np.abs(back - points).max() < 0.05
    assert np.abs(back - points).max() < 1e-9  # in fact exact up to float rounding
    assert np.isnan(transform.to_model(np.array([np.nan, 3.0]))).any()


def test_image_centre_maps_to_model_centre():
    transform = grid_transform((207, 255), (1.3, 1.1), 2.0, (128, 96))
    assert transform.to_model(np.array([103.0, 127.0])) == pytest.approx([63.5, 47.5])
    assert isinstance(transform, GridTransform)


@pytest.mark.parametrize("shape,spacing,size,point", [
    ((207, 255), (1.37, 1.21), (128, 128), (60.3, 170.8)),
    ((77, 91), (2.9, 3.3), (128, 96), (30.6, 41.2)),
    ((201, 199), (0.9, 0.75), (160, 160), (120.2, 77.7)),
])
def test_spot_lands_where_the_transform_says(shape, spacing, size, point):
    """Resampled pixels and mapped points agree: the spot's centroid is at to_model(point)."""
    sigma_mm = 4.0
    image = spot(shape, point, (sigma_mm / spacing[0], sigma_mm / spacing[1])).astype(np.float32)
    model, transform = to_model_grid(image, spacing, 2.0, size)
    assert model.shape == size and model.dtype == np.float32
    expected = transform.to_model(np.asarray(point))
    found = np.asarray(ndimage.center_of_mass(np.clip(model - 0.02, 0, None)))
    assert np.abs(found - expected).max() < 0.1


def test_anti_aliasing_damps_a_pattern_finer_than_the_model_pixel():
    cols = np.arange(300)
    stripes = np.tile(((cols // 3) % 2).astype(np.float32), (300, 1))  # 3 mm period at 0.5 mm pixels
    with_aa, _ = to_model_grid(stripes, (0.5, 0.5), 2.0, (64, 64), anti_alias=True)
    without, _ = to_model_grid(stripes, (0.5, 0.5), 2.0, (64, 64), anti_alias=False)
    centre = (slice(16, 48), slice(16, 48))
    assert with_aa[centre].std() < 0.5 * without[centre].std()
    assert with_aa[centre].mean() == pytest.approx(0.5, abs=0.05)


def test_padding_is_zero_and_content_is_centred():
    image = np.ones((40, 60), np.float32)
    model, _ = to_model_grid(image, (2.0, 2.0), 2.0, (64, 64))
    assert model[0, 0] == 0 and model[32, 32] == pytest.approx(1.0)
    assert model[12:52, 2:62].min() == pytest.approx(1.0)
    assert model[:11].max() == 0 and model[53:].max() == 0


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="2D"):
        to_model_grid(np.ones((2, 8, 8)), (1.0, 1.0), 2.0, (16, 16))
    with pytest.raises(ValueError, match="pixel spacing"):
        to_model_grid(np.ones((8, 8)), (0.0, 1.0), 2.0, (16, 16))
    with pytest.raises(ValueError, match="order"):
        to_model_grid(np.ones((8, 8)), (1.0, 1.0), 2.0, (16, 16), order=2)
