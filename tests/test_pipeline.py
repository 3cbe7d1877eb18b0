"""End to end through SeriesAnalyser with the analytic spot model: points, measures, outputs,
bad input and automatic model choice."""

import json
import time

import ismrmrd
import numpy as np
import pytest
from model_factory import make_spot_series, make_test_model

from inline_ai.annotate import AI_SERIES_FACTOR
from inline_ai.measures import arvi_angle_deg, distance_mm
from inline_ai.mrd_files import get_meta, make_image
from inline_ai.pipeline import SUMMARY_META_KEY, AnalysisSettings, SeriesAnalyser
from inline_ai.report import report_series_index


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    make_test_model(directory, name="lax_cine", view_family="lax")
    make_test_model(directory, name="sax_cine", view_family="sax", input_size=(112, 120), pixel_size_mm=1.8)
    return directory


def analyse(models, series, **settings):
    settings.setdefault("model", str(models / "lax_cine.json"))
    return SeriesAnalyser(AnalysisSettings(**settings)).analyse(series.images, series.header_xml)


def found_points(result):
    names = list(result.summary["phases"][0]["landmarks"])
    return np.array([[(np.nan, np.nan) if p["landmarks"][n] is None else (p["landmarks"][n]["row"],
                      p["landmarks"][n]["col"]) for n in names] for p in result.summary["phases"]])


@pytest.mark.parametrize("shape,spacing", [((208, 256), (1.4, 1.3)), ((191, 233), (1.62, 1.17))])
def test_long_axis_points_lengths_and_shortening(models, shape, spacing):
    series = make_spot_series(view_family="lax", phases=12, shape=shape, pixel_spacing=spacing)
    result = analyse(models, series)
    assert result.error is None
    assert np.abs(found_points(result) - series.points).max() < 0.5
    lengths = np.array([p["lv_length_mm"] for p in result.summary["phases"]])
    shortening = np.array([p["shortening_pct"] for p in result.summary["phases"]])
    np.testing.assert_allclose(lengths, series.lv_length_mm, atol=0.5)
    np.testing.assert_allclose(shortening, series.shortening_pct, atol=0.7)
    summary = result.summary
    assert summary["ed_phase"] == 0 and summary["es_phase"] == int(np.argmin(series.lv_length_mm))
    assert summary["lv_length_ed_mm"] == pytest.approx(series.lv_length_mm[0], abs=0.5)
    assert summary["longitudinal_shortening_pct"] == pytest.approx(series.shortening_pct.max(), abs=0.7)
    assert summary["model"] == "lax_cine" and summary["view"] == "ch4"
    first = summary["phases"][0]["landmarks"]["apex"]
    assert first["x_mm"] == pytest.approx(first["col"] * spacing[1], abs=1e-2)
    assert first["y_mm"] == pytest.approx(first["row"] * spacing[0], abs=1e-2)


def test_short_axis_points_and_arvi_angle(models):
    series = make_spot_series(view_family="sax", phases=6, pixel_spacing=(1.5, 1.2))
    result = analyse(models, series, model=str(models / "sax_cine.json"))
    assert result.error is None
    assert np.abs(found_points(result) - series.points).max() < 0.5
    expected = arvi_angle_deg(series.points[:, 2], series.points[:, 0], series.pixel_spacing)
    angles = np.array([p["arvi_angle_deg"] for p in result.summary["phases"]])
    np.testing.assert_allclose(angles, expected, atol=1.5)
    assert result.summary["arvi_angle_deg"] == pytest.approx(expected[0], abs=1.5)
    sectors = result.summary["aha_sectors"]
    assert len(sectors) == 6 and sectors[0]["start_deg"] == pytest.approx(expected[0], abs=1.5)
    assert sectors[0]["name"] == "anteroseptal"


def test_missed_landmark_is_filled_from_neighbouring_phases(models):
    series = make_spot_series(view_family="lax", phases=10)
    points = series.points.copy()
    points[4, 2] = np.nan  # no apex spot in phase 4
    gapped = make_spot_series(points, view_family="lax")
    result = analyse(models, gapped)
    apex = result.summary["phases"][4]["landmarks"]["apex"]
    assert apex["filled"] is True and apex["confidence"] == 0.0
    assert abs(apex["row"] - series.points[4, 2, 0]) < 0.5 and abs(apex["col"] - series.points[4, 2, 1]) < 0.5
    unfilled = analyse(models, gapped, fill_missing=False)
    assert unfilled.summary["phases"][4]["landmarks"]["apex"] is None
    assert unfilled.summary["phases"][4]["lv_length_mm"] is None


def test_single_image_has_landmarks_but_no_shortening(models):
    series = make_spot_series(view_family="lax", phases=1)
    result = analyse(models, series)
    assert result.error is None
    phase = result.summary["phases"][0]
    assert phase["lv_length_mm"] == pytest.approx(series.lv_length_mm[0], abs=0.5)
    assert phase["shortening_pct"] is None and result.summary["longitudinal_shortening_pct"] is None
    assert result.report_image is not None


def test_ai_images_report_and_meta(models):
    series = make_spot_series(view_family="lax", phases=4, series_index=7, dtype=np.uint16)
    before = [image.data.copy() for image in series.images]
    result = analyse(models, series)
    for image, data in zip(series.images, before, strict=True):
        np.testing.assert_array_equal(image.data, data)  # originals untouched
    assert len(result.ai_images) == 4
    ai = result.ai_images[2]
    assert ai.image_series_index == 7 * AI_SERIES_FACTOR and ai.phase == 2
    assert ai.data.dtype == np.uint16 and ai.data.shape == series.images[2].data.shape
    apex = np.rint(series.points[2, 2]).astype(int)
    assert ai.data[0, 0, apex[0], apex[1]] == ai.data.max()  # marker burnt in
    assert not np.array_equal(ai.data, series.images[2].data)
    meta = get_meta(ai)
    assert "AI" in meta["GADGETRON_ImageProcessingHistory"]
    assert meta["SequenceDescription"] == "CINE_4CH_AI" and meta["GADGETRON_SeqDescription"].endswith("_AI")
    assert meta["AI_Model"] == "lax_cine" and meta["AI_Status"] == "ok"
    assert [float(v) for v in meta["AI_apex"]] == pytest.approx(series.points[2, 2], abs=0.5)
    assert float(meta["AI_LV_length_mm"]) == pytest.approx(series.lv_length_mm[2], abs=0.5)
    assert "AI_shortening_pct" in meta and "AI_apex_confidence" in meta and "AI_apex_mm" in meta
    assert any("LV" in text for text in meta["GADGETRON_ImageComment"])
    report = result.report_image
    assert report.image_series_index == report_series_index(7) != ai.image_series_index
    assert report.data.dtype == np.uint16 and report.data.max() > report.data.min()
    summary = json.loads(get_meta(report)[SUMMARY_META_KEY])
    assert summary["es_phase"] == result.summary["es_phase"] and len(summary["phases"]) == 4


def test_summary_is_strict_json_with_timings(models):
    result = analyse(models, make_spot_series(view_family="lax", phases=3))
    text = json.dumps(result.summary, allow_nan=False)
    assert json.loads(text)["image_series_index"] == 1
    for stage in ("resample", "inference", "points", "measures", "annotate"):
        assert result.summary["timings_s"][stage] >= 0


def test_thirty_phase_series_is_fast_apart_from_inference(models):
    series = make_spot_series(view_family="lax", phases=30, shape=(208, 256))
    analyse(models, series)  # warm the model cache
    cpu_started = time.process_time()  # CPU time: robust to other jobs sharing the cores
    result = analyse(models, series)
    cpu_seconds = time.process_time() - cpu_started
    assert len(result.ai_images) == 30 and result.report_image is not None
    assert cpu_seconds < 1.0  # the analytic model's inference is a few ms of it


def bad(kind):
    pixels = np.full((32, 40), 100.0, np.float32)
    if kind == "nan":
        pixels[3, 4] = np.nan
    if kind == "zero":
        pixels[:] = 0
    if kind == "complex":
        pixels = pixels.astype(np.complex64)
    image = make_image(pixels, pixel_spacing_mm=(1.5, 1.5), meta={"SequenceDescription": "CINE_4CH"})
    if kind == "no_fov":
        image.field_of_view[:] = (0.0, 0.0, 8.0)
    if kind in ("channels", "3d"):
        shape = (2, 1, 32, 40) if kind == "channels" else (1, 3, 32, 40)
        image = ismrmrd.Image.from_array(np.ones(shape, np.float32))
        image.field_of_view[:] = (60.0, 48.0, 8.0)
    return image


@pytest.mark.parametrize("kind,reason", [("nan", "NaN"), ("zero", "zero"), ("complex", "complex"),
                                         ("no_fov", "field of view"), ("channels", "channels"),
                                         ("3d", "3D")])
def test_bad_input_returns_a_reason(models, kind, reason):
    result = SeriesAnalyser(AnalysisSettings(model=str(models / "lax_cine.json"))).analyse([bad(kind)], None)
    assert result.error is not None and reason in result.error
    assert result.summary["error"] == result.error
    if kind in ("nan", "zero", "no_fov"):  # a copy can still carry the reason
        meta = get_meta(result.ai_images[0])
        assert reason in meta["AI_Status"] and "AI" in meta["GADGETRON_ImageProcessingHistory"]
        assert json.loads(meta[SUMMARY_META_KEY])["error"] == result.error
    if kind in ("channels", "3d", "complex"):
        assert result.ai_images == []


def test_empty_series_and_missing_model(models, tmp_path, monkeypatch):
    assert "no images" in SeriesAnalyser().analyse([], None).error
    monkeypatch.setenv("INLINE_AI_MODELS", str(tmp_path))
    series = make_spot_series(view_family="lax", phases=2)
    result = SeriesAnalyser(AnalysisSettings(model="nowhere")).analyse(series.images, series.header_xml)
    assert "nowhere" in result.error and len(result.ai_images) == 2


@pytest.mark.parametrize("description,expected", [("CINE_SAX", "sax_cine"), ("cine 4CH", "lax_cine"),
                                                  ("T1_MOLLI_SA", "sax_cine")])
def test_auto_model_by_description(models, monkeypatch, description, expected):
    monkeypatch.setenv("INLINE_AI_MODELS", str(models))
    family = "sax" if expected == "sax_cine" else "lax"
    series = make_spot_series(view_family=family, phases=2, series_description=description)
    result = SeriesAnalyser(AnalysisSettings(model="auto")).analyse(series.images, series.header_xml)
    assert result.error is None
    assert result.summary["model"] == expected
    assert get_meta(result.ai_images[0])["AI_Model"] == expected


def test_auto_model_by_orientation_then_default(models, monkeypatch):
    monkeypatch.setenv("INLINE_AI_MODELS", str(models))
    series = make_spot_series(view_family="sax", phases=2, series_description="cine_retro")
    oblique = np.array([0.6, -0.55, -0.58])  # double oblique: a short-axis slice normal
    for image in series.images:
        image.slice_dir[:] = oblique / np.linalg.norm(oblique)
    result = SeriesAnalyser(AnalysisSettings(model="auto")).analyse(series.images, None)
    assert result.summary["model"] == "sax_cine" and "orientation" in result.summary["model_choice"]
    for image in series.images:
        image.slice_dir[:] = (1.0, 0.0, 0.0)  # sagittal: undecided
    result = SeriesAnalyser(AnalysisSettings(model="auto", default_model="lax_cine")).analyse(series.images, None)
    assert result.summary["model"] == "lax_cine" and "default" in result.summary["model_choice"]


def test_ai_outputs_survive_serialisation(models):
    result = analyse(models, make_spot_series(view_family="lax", phases=2))
    for image in (result.ai_images[0], result.report_image):
        copy = ismrmrd.Image.from_bytes(image.to_bytes())
        np.testing.assert_array_equal(copy.data, image.data)
        assert get_meta(copy) == get_meta(image)
        assert copy.image_series_index == image.image_series_index


def test_real_short_axis_images_go_through(models):
    """Real ACDC images through the whole pipeline (the analytic model: checks plumbing, not accuracy)."""
    from inline_ai.dataset import list_cases, load_case
    from inline_ai.paths import shared_data_dir

    folder = shared_data_dir() / "acdc_sax_cine"
    if not folder.is_dir():
        pytest.skip(f"real data not available at {folder}")
    case = load_case(list_cases(folder)[0])
    images = [make_image(pixels, pixel_spacing_mm=tuple(case.pixel_spacing), slice=n, image_index=n,
                         meta={"SequenceDescription": "cine_sax"}) for n, pixels in enumerate(case.image)]
    result = SeriesAnalyser(AnalysisSettings(model=str(models / "sax_cine.json"))).analyse(images, None)
    assert result.error is None, result.error
    assert len(result.ai_images) == len(images) and result.report_image is not None
    assert [p["slice"] for p in result.summary["phases"]] == list(range(len(images)))
    json.dumps(result.summary, allow_nan=False)
    assert result.ai_images[0].data.dtype == images[0].data.dtype


def test_bad_sax_sectors_value_is_a_clear_reason_not_a_crash(models):
    series = make_spot_series(view_family="sax", phases=3)
    result = analyse(models, series, model=str(models / "sax_cine.json"), sax_sectors="5")
    assert result.error == "analysis failed: ValueError: sax_sectors must be auto, 6 or 4, got '5'"
    assert len(result.ai_images) == 3  # unannotated copies carry the reason


def test_a_refined_model_goes_end_to_end_and_a_broken_refiner_fails_safely(tmp_path):
    make_test_model(tmp_path, name="lax_refine", input_size=(144, 112), pixel_size_mm=1.0, threshold=0.05,
                    crop="lv_axis")
    make_test_model(tmp_path, name="lax_two_stage", pixel_size_mm=3.0, refine_with="lax_refine.json")
    series = make_spot_series(view_family="lax", phases=4)
    result = analyse(tmp_path, series, model=str(tmp_path / "lax_two_stage.json"))
    assert result.error is None and result.summary["refined_by"] == "lax_refine"
    assert "refine" in result.summary["timings_s"]
    assert distance_mm(found_points(result), series.points, series.pixel_spacing).max() < 0.3
    (tmp_path / "lax_refine.onnx").write_bytes(b"not a model")
    from inline_ai.runtime import clear_model_cache

    clear_model_cache()
    result = analyse(tmp_path, series, model=str(tmp_path / "lax_two_stage.json"))
    assert result.error is not None and "sha256" in result.error
    assert len(result.ai_images) == len(series.images)  # unannotated copies carry the reason
    assert "sha256" in get_meta(result.ai_images[0])["AI_Status"]
