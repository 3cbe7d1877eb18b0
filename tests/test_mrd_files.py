"""ISMRMRD header and image file helpers."""

from pathlib import Path

import numpy as np
import pytest

from inline_ai.mrd_files import (
    HeaderSpec,
    get_meta,
    make_header,
    make_image,
    parse_header,
    pixel_array,
    read_images,
    write_images,
)


def test_header_announces_phases_slices_and_geometry() -> None:
    xml = make_header(HeaderSpec(matrix=(208, 256), fov_mm=(312.0, 384.0, 8.0), phases=30, slices=2,
                                 series_description="CINE 4CH", field_strength_t=3.0))
    header = parse_header(xml)
    encoding = header.encoding[0]
    assert encoding.encodingLimits.phase.maximum == 29
    assert encoding.encodingLimits.slice.maximum == 1
    assert (encoding.reconSpace.matrixSize.x, encoding.reconSpace.matrixSize.y) == (208, 256)
    assert header.measurementInformation.seriesDescription == "CINE 4CH"
    assert header.acquisitionSystemInformation.systemFieldStrength_T == pytest.approx(3.0)


def test_image_geometry_counters_and_meta() -> None:
    pixels = np.arange(35, dtype=np.float32).reshape(5, 7)
    image = make_image(pixels, pixel_spacing_mm=(2.0, 1.5), phase=3, slice=1, series_index=4,
                       read_dir=(0, 1, 0), phase_dir=(0, 0, -1), meta={"a": [1, 2], "b": "x"})
    assert tuple(image.matrix_size[:2]) == (7, 5)
    assert image.field_of_view[0] == pytest.approx(7 * 1.5) and image.field_of_view[1] == pytest.approx(10.0)
    np.testing.assert_allclose(image.slice_dir[:], np.cross([0, 1, 0], [0, 0, -1]))
    assert (image.phase, image.slice, image.image_series_index) == (3, 1, 4)
    np.testing.assert_array_equal(pixel_array(image), pixels)
    assert get_meta(image) == {"a": ["1", "2"], "b": "x"}
    with pytest.raises(ValueError, match="2D"):
        make_image(np.zeros((2, 3, 4)), pixel_spacing_mm=(1, 1))


def test_file_round_trip(tmp_path: Path) -> None:
    xml = make_header(HeaderSpec(matrix=(6, 4), fov_mm=(6.0, 4.0, 8.0), phases=3))
    images = [make_image(np.full((4, 6), p, np.float32), pixel_spacing_mm=(1, 1), phase=p) for p in range(3)]
    header, groups = read_images(write_images(tmp_path / "x.h5", xml, {"image_1": images}))
    assert parse_header(header).encoding[0].encodingLimits.phase.maximum == 2
    assert [im.phase for im in groups["image_1"]] == [0, 1, 2]
    for written, read in zip(images, groups["image_1"], strict=True):
        assert written.to_bytes() == read.to_bytes()


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        read_images(tmp_path / "none.h5")
