"""The MRD v2 stream adapter: items pass unchanged, AI images follow, landmarks are right."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from model_factory import make_spot_series, make_test_model

from inline_ai.pipeline import AnalysisSettings

mrd = pytest.importorskip("mrd", reason="mrd-python is not installed (pip install mrd-python)")
from inline_ai_gadgets import mrd2  # noqa: E402 - needs mrd


def to_mrd2_stream(series) -> bytes:
    """The spot series as an MRD v2 stream: a header announcing the phases, then the images."""
    rows, cols = series.images[0].data.shape[-2:]
    fov = series.images[0].field_of_view
    space = mrd.EncodingSpaceType(matrix_size=mrd.MatrixSizeType(x=cols, y=rows, z=1),
                                  field_of_view_mm=mrd.FieldOfViewMm(x=float(fov[0]), y=float(fov[1]), z=8.0))
    limits = mrd.EncodingLimitsType(phase=mrd.LimitType(minimum=0, maximum=len(series.images) - 1, center=0))
    header = mrd.Header(encoding=[mrd.EncodingType(encoded_space=space, recon_space=space, encoding_limits=limits)],
                        measurement_information=mrd.MeasurementInformationType(series_description="CINE_4CH"))
    buffer = io.BytesIO()
    writer = mrd.BinaryMrdWriter(buffer)
    writer.write_header(header)
    writer.write_data([mrd2.image_to_mrd2(image) for image in series.images])
    writer.close()
    return buffer.getvalue()


def test_image_conversion_round_trip():
    series = make_spot_series(phases=1)
    original = series.images[0]
    back = mrd2.image_from_mrd2(mrd2.image_to_mrd2(original).value)
    np.testing.assert_array_equal(back.data, original.data)
    for name in ("field_of_view", "position", "read_dir", "phase_dir", "slice_dir"):
        np.testing.assert_allclose(getattr(back, name), getattr(original, name), err_msg=name)
    assert (back.phase, back.slice, back.image_series_index) == (original.phase, original.slice, 1)
    assert back.attribute_string and "CINE_4CH" in back.attribute_string


def test_stream_keeps_every_item_and_adds_ai_images(tmp_path):
    model = make_test_model(tmp_path, name="test_lax")
    series = make_spot_series(phases=5)
    source = io.BytesIO(to_mrd2_stream(series))
    output = io.BytesIO()
    written = mrd2.process_stream(source, output, AnalysisSettings(model=str(model)))
    assert written == 6  # five annotated copies and the report
    reader = mrd.BinaryMrdReader(io.BytesIO(output.getvalue()))
    assert reader.read_header().encoding[0].encoding_limits.phase.maximum == 4
    items = [item.value for item in reader.read_data()]
    originals, ai = items[:5], items[5:]
    for got, sent in zip(originals, series.images, strict=True):
        np.testing.assert_array_equal(got.data, sent.data)
        assert got.head.image_series_index == 1
    assert {image.head.image_series_index for image in ai[:5]} == {100}
    key = "InlineAI.Summary"
    summaries = [json.loads(image.meta[key][0].value) for image in ai if key in image.meta]
    summary = summaries[-1]  # on the first AI copy and again on the report
    assert {s["image_series_index"] for s in summaries} == {1}
    got = np.array([[[p["landmarks"][n]["row"], p["landmarks"][n]["col"]] for n in series.landmark_names]
                    for p in summary["phases"]])
    np.testing.assert_allclose(got, series.points, atol=0.5)


@pytest.mark.parametrize("cut", [0, 40, -100])
def test_empty_or_truncated_input_is_one_clear_line_and_keeps_what_was_read(tmp_path, capsys, cut):
    stream = to_mrd2_stream(make_spot_series(phases=3))
    source, output = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(stream[:cut])
    assert mrd2.main(["--input", str(source), "--output", str(output), "--set", "enabled=false"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("mrd2: ") and "empty or truncated" in error
    if cut < 0:  # broke off inside the last image: the two complete ones went through
        with open(output, "rb") as written:
            reader = mrd.BinaryMrdReader(written)
            reader.read_header()
            assert len(list(reader.read_data())) == 2
