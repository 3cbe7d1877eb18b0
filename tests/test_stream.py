"""StreamProcessor: immediate unchanged forwarding, series grouping, completion, image arrays."""

import json
import logging

import numpy as np
import pytest
from gadgetron.types.image_array import ImageArray
from model_factory import make_spot_series, make_test_model

from inline_ai.annotate import AI_SERIES_FACTOR
from inline_ai.detector import LandmarkDetector
from inline_ai.mrd_files import HeaderSpec, get_meta, make_header
from inline_ai.pipeline import AnalysisSettings, SeriesAnalyser
from inline_ai.report import report_series_index
from inline_ai.stream import StreamProcessor, expected_phases


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    return AnalysisSettings(model=str(make_test_model(directory, name="lax_cine")))


class Recorder:
    def __init__(self):
        self.sent = []

    def __call__(self, item):
        self.sent.append(item)

    def series(self):
        return [getattr(item, "image_series_index", None) for item in self.sent]


def test_originals_are_forwarded_at_once_and_unchanged(settings):
    series = make_spot_series(phases=4)
    raw = [image.to_bytes() for image in series.images]
    out = Recorder()
    processor = StreamProcessor(settings, out, header=series.header_xml)
    for n, image in enumerate(series.images[:3]):
        processor.on_image(image)
        assert out.sent[-1] is image and len(out.sent) == n + 1  # nothing else yet
    processor.on_image(series.images[3])  # phase count reached: analysis runs now
    assert out.sent[3] is series.images[3]
    assert out.series() == [1] * 4 + [AI_SERIES_FACTOR] * 4 + [report_series_index(1)]
    assert [image.to_bytes() for image in series.images] == raw  # never mutated
    processor.close()
    assert len(out.sent) == 9 and len(processor.summaries) == 1
    assert processor.summaries[0]["es_phase"] == int(np.argmin(series.lv_length_mm))


def test_phase_count_comes_from_the_header(settings):
    series = make_spot_series(phases=5)
    assert expected_phases(series.header_xml) == 5 and expected_phases(None) is None
    processor = StreamProcessor(settings, Recorder())
    processor.on_header(series.header_xml.encode())
    assert processor.phases_expected == 5


def test_shuffled_phases_are_ordered(settings):
    series = make_spot_series(phases=6)
    out = Recorder()
    processor = StreamProcessor(settings, out, header=series.header_xml)
    for index in (3, 0, 5, 1, 4, 2):
        processor.on_image(series.images[index])
    ai = [item for item in out.sent if getattr(item, "image_series_index", 0) == AI_SERIES_FACTOR]
    assert [image.phase for image in ai] == list(range(6))
    phases = processor.summaries[0]["phases"]
    np.testing.assert_allclose([p["lv_length_mm"] for p in phases], series.lv_length_mm, atol=0.5)


def test_new_series_index_or_close_completes_a_series_without_phase_count(settings):
    first = make_spot_series(phases=3, series_index=2)
    second = make_spot_series(phases=3, series_index=3)
    out = Recorder()
    processor = StreamProcessor(settings, out)  # no header: phase count unknown
    for image in first.images:
        processor.on_image(image)
    assert out.series() == [2, 2, 2]
    processor.on_image(second.images[0])  # a new series starts: series 2 is complete
    assert out.series()[:3] == [2, 2, 2] and out.series()[3] == 3
    assert out.series()[4:] == [200, 200, 200, report_series_index(2)]
    for image in second.images[1:]:
        processor.on_image(image)
    processor.close()
    assert out.series()[-4:] == [300, 300, 300, report_series_index(3)]
    assert [s["image_series_index"] for s in processor.summaries] == [2, 3]


@pytest.mark.parametrize("announce_slices", [True, False])
def test_slices_of_one_series_are_analysed_separately_with_one_series_report(tmp_path_factory, announce_slices):
    model = make_test_model(tmp_path_factory.mktemp("sax"), name="sax_cine", view_family="sax")
    slice0 = make_spot_series(view_family="sax", phases=3, slice=0)
    slice1 = make_spot_series(view_family="sax", phases=3, slice=1)
    header = make_header(HeaderSpec(matrix=(256, 208), fov_mm=(332.8, 291.2, 8.0), phases=3,
                                    slices=2 if announce_slices else 1))
    out = Recorder()
    processor = StreamProcessor(AnalysisSettings(model=str(model)), out, header=header)
    if not announce_slices:
        processor.slices_expected = None  # as with a header that does not say
    for a, b in zip(slice0.images, slice1.images, strict=True):
        processor.on_image(a)
        processor.on_image(b)
    # announced: the report follows the last slice at once; else more slices may come until close
    assert (report_series_index(1) in out.series()) == announce_slices
    processor.close()
    assert sorted(s["slice"] for s in processor.summaries) == [0, 1]
    ai_slices = [image.slice for image in out.sent if image.image_series_index == 100]
    assert sorted(ai_slices) == [0, 0, 0, 1, 1, 1]
    reports = [image for image in out.sent if image.image_series_index == report_series_index(1)]
    assert len(reports) == 1
    per_slice = json.loads(get_meta(reports[0])["InlineAI.SeriesReport"])
    assert [entry["slice"] for entry in per_slice] == [0, 1]
    angles = [s["arvi_angle_deg"] for s in sorted(processor.summaries, key=lambda s: s["slice"])]
    assert [entry["arvi_angle_deg"] for entry in per_slice] == pytest.approx(angles)


def test_ai_images_fed_back_are_only_forwarded(settings):
    series = make_spot_series(phases=2)
    first = Recorder()
    processor = StreamProcessor(settings, first, header=series.header_xml)
    for image in series.images:
        processor.on_image(image)
    ai_images = [item for item in first.sent if item.image_series_index == AI_SERIES_FACTOR]
    again = Recorder()
    loop = StreamProcessor(settings, again, header=series.header_xml)
    for image in ai_images:
        loop.on_image(image)
    loop.close()
    assert again.sent == ai_images and loop.summaries == []


def test_disabled_only_forwards(settings):
    series = make_spot_series(phases=2)
    out = Recorder()
    processor = StreamProcessor(AnalysisSettings(enabled=False), out, header=series.header_xml)
    for image in series.images:
        processor.on_image(image)
    processor.close()
    assert out.sent == series.images


class Exploding(SeriesAnalyser):
    def analyse(self, images, header=None, make_report=None):
        raise RuntimeError("boom")


def test_analysis_exception_is_caught_logged_and_reported(settings, caplog):
    series = make_spot_series(phases=2)
    out = Recorder()
    processor = StreamProcessor(settings, out, logging.getLogger("test"), header=series.header_xml,
                                analyser=Exploding(settings))
    with caplog.at_level(logging.ERROR):
        for image in series.images:
            processor.on_image(image)
    assert out.sent == series.images  # originals went out before the failure
    assert "boom" in processor.summaries[0]["error"]
    assert "boom" in caplog.text


def test_bad_series_reason_reaches_the_ai_meta(settings):
    series = make_spot_series(phases=2)
    for image in series.images:
        image.field_of_view[:] = (0.0, 0.0, 8.0)
    out = Recorder()
    processor = StreamProcessor(settings, out, header=series.header_xml)
    for image in series.images:
        processor.on_image(image)
    ai = [item for item in out.sent if item.image_series_index == AI_SERIES_FACTOR]
    assert len(ai) == 2 and "field of view" in get_meta(ai[0])["AI_Status"]
    assert "field of view" in processor.summaries[0]["error"]


def image_array(series_list):
    """A Gadgetron-style image array: data [RO, E1, 1, 1, N, S=1, LOC], headers [N, 1, LOC]."""
    phases = len(series_list[0].images)
    first = series_list[0].images[0].data[0, 0]
    data = np.zeros((first.shape[1], first.shape[0], 1, 1, phases, 1, len(series_list)), np.complex64)
    headers = np.empty((phases, 1, len(series_list)), dtype=object)
    meta = [""] * (phases * len(series_list))
    for loc, series in enumerate(series_list):
        for n, image in enumerate(series.images):
            data[:, :, 0, 0, n, 0, loc] = image.data[0, 0].T * np.exp(1j * 0.7)  # complex, same magnitude
            headers[n, 0, loc] = image.getHead()
            meta[n + phases * loc] = image.attribute_string
    return ImageArray(data=data, headers=headers, meta=meta)


def test_image_array_is_forwarded_and_each_slice_analysed(settings):
    slices = [make_spot_series(phases=4, slice=0), make_spot_series(phases=4, slice=1, pixel_spacing=(1.3, 1.3))]
    array = image_array(slices)
    data_before = array.data.copy()
    out = Recorder()
    processor = StreamProcessor(settings, out, header=slices[0].header_xml)
    processor.on_image_array(array)
    assert out.sent[0] is array
    np.testing.assert_array_equal(array.data, data_before)
    assert len(processor.summaries) == 2 and all(s.get("error") is None for s in processor.summaries)
    for summary, series in zip(processor.summaries, slices, strict=True):
        lengths = [p["lv_length_mm"] for p in summary["phases"]]
        np.testing.assert_allclose(lengths, series.lv_length_mm, atol=0.5)
    ai = [item for item in out.sent[1:] if item.image_series_index == AI_SERIES_FACTOR]
    assert len(ai) == 8 and ai[0].data.dtype == np.float32


def test_multi_channel_image_array_is_reported_not_raised(settings):
    array = ImageArray(data=np.ones((8, 8, 1, 2, 1, 1, 1), np.complex64),
                       headers=np.empty((1, 1, 1), dtype=object), meta=[""])
    out = Recorder()
    processor = StreamProcessor(settings, out)
    processor.on_image_array(array)
    assert out.sent == [array] and "channels" in processor.summaries[0]["error"]


def sax_stack(slices: int, phases: int = 2, gap: tuple[int, int] | None = None, shift_mm: dict | None = None):
    """Spot-model SAX slices along a base-to-apex normal; the last slice is beyond the LV (no LV centre).
    ``gap`` (slice, landmark) leaves that landmark out of a slice; ``shift_mm`` {slice: mm} moves a slice's
    centre along the read direction (another in-plane grid)."""
    normal = np.array([1.0, -1.0, -1.0]) / np.sqrt(3.0)
    read = np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0)
    phase_dir = np.cross(normal, read)
    stack = []
    for k in range(slices):
        points = make_spot_series(view_family="sax", phases=phases).points.copy()
        if k == slices - 1:
            points[:, 2] = np.nan
        if gap is not None and gap[0] == k:
            points[:, gap[1]] = np.nan
        series = make_spot_series(points, view_family="sax", slice=k)
        for image in series.images:
            image.position = tuple(k * 10.0 * normal + (shift_mm or {}).get(k, 0.0) * read)
            image.read_dir, image.phase_dir, image.slice_dir = tuple(read), tuple(phase_dir), tuple(normal)
        stack.append(series)
    return stack


def run_stack(model, stack, sax_sectors="auto"):
    phases = len(stack[0].images)
    header = make_header(HeaderSpec(matrix=(256, 208), fov_mm=(332.8, 291.2, 8.0), phases=phases,
                                    slices=len(stack)))
    out = Recorder()
    processor = StreamProcessor(AnalysisSettings(model=str(model), sax_sectors=sax_sectors), out, header=header)
    for series in stack:
        for image in series.images:
            processor.on_image(image)
    processor.close()
    return processor, out


def test_short_axis_stack_waits_for_all_slices_and_draws_four_sectors_on_apical_slices(tmp_path_factory):
    model = make_test_model(tmp_path_factory.mktemp("sax"), name="sax_cine", view_family="sax")
    stack = sax_stack(8)
    processor, out = run_stack(model, stack)
    levels = {s["slice"]: s["aha_level"] for s in processor.summaries}
    assert levels == {0: "basal", 1: "basal", 2: "basal", 3: "mid", 4: "mid", 5: "apical", 6: "apical", 7: None}
    for summary in processor.summaries:
        assert len(summary["aha_sectors"]) == (4 if summary["aha_level"] == "apical" else
                                               0 if summary["aha_level"] is None else 6)
    originals = [n for n, item in enumerate(out.sent) if item.image_series_index == 1]
    ai = [item for item in out.sent if item.image_series_index == 1 * AI_SERIES_FACTOR]
    assert len(ai) == 16 and out.sent.index(ai[0]) > originals[-1]  # held until the stack was complete
    assert {get_meta(image).get("AI_AHA_level") for image in ai if image.slice == 6} == {"apical"}
    assert {get_meta(image).get("AI_AHA_level") for image in ai if image.slice == 0} == {"basal"}
    assert all("AI_AHA_level" not in get_meta(image) for image in ai if image.slice == 7)  # beyond the LV
    report = next(item for item in out.sent if item.image_series_index == report_series_index(1))
    per_slice = json.loads(get_meta(report)["InlineAI.SeriesReport"])
    assert [entry["aha_level"] for entry in per_slice] == [levels[k] for k in range(8)]
    # the sector lines were redrawn on apical slices only: compare with a fixed six-sector run
    _, fixed = run_stack(model, sax_stack(8), sax_sectors="6")
    fixed_ai = {(i.slice, i.phase): i for i in fixed.sent if i.image_series_index == AI_SERIES_FACTOR}
    for image in ai:
        same = np.array_equal(image.data, fixed_ai[(image.slice, image.phase)].data)
        assert same == (levels[image.slice] != "apical"), (image.slice, image.phase)


def test_a_landmark_missed_on_one_slice_of_a_stack_is_filled_from_the_slices_around_it(tmp_path_factory):
    model = make_test_model(tmp_path_factory.mktemp("gap"), name="sax_cine", view_family="sax")
    processor, out = run_stack(model, sax_stack(5, gap=(2, 0)), sax_sectors="6")  # any sector mode
    by_slice = {s["slice"]: s for s in processor.summaries}
    for phase in range(2):
        filled = by_slice[2]["phases"][phase]["landmarks"]["anterior_rv_insertion"]
        around = [by_slice[k]["phases"][phase]["landmarks"]["anterior_rv_insertion"] for k in (1, 3)]
        assert filled["filled_from"] == "slices" and filled["confidence"] == 0.0
        assert filled["row"] == pytest.approx((around[0]["row"] + around[1]["row"]) / 2, abs=1e-3)
        assert filled["col"] == pytest.approx((around[0]["col"] + around[1]["col"]) / 2, abs=1e-3)
        assert by_slice[2]["phases"][phase]["arvi_angle_deg"] is not None
    assert by_slice[2]["arvi_angle_deg"] is not None and len(by_slice[2]["aha_sectors"]) == 6
    ai = [i for i in out.sent if i.image_series_index == AI_SERIES_FACTOR and i.slice == 2]
    assert len(ai) == 2 and all(str(get_meta(i)["AI_anterior_rv_insertion_filled"]) == "1" for i in ai)
    report = next(item for item in out.sent if item.image_series_index == report_series_index(1))
    assert json.loads(get_meta(report)["InlineAI.SeriesReport"])[2]["arvi_angle_deg"] is not None
    # the same gap next to a slice on another in-plane grid stays a gap: its (row, col) is elsewhere
    processor, _ = run_stack(model, sax_stack(5, gap=(2, 0), shift_mm={3: 6.0}))
    by_slice = {s["slice"]: s for s in processor.summaries}
    assert [by_slice[2]["phases"][p]["landmarks"]["anterior_rv_insertion"] for p in range(2)] == [None, None]


def test_rv_insertions_on_the_wrong_side_of_the_lv_for_the_stack_are_dropped_then_filled(tmp_path_factory):
    model = make_test_model(tmp_path_factory.mktemp("side"), name="sax_cine", view_family="sax")
    analyser = SeriesAnalyser(AnalysisSettings(model=str(model), sax_sectors="6"))
    results = [analyser.analyse(series.images) for series in sax_stack(5)]
    names = ("anterior_rv_insertion", "inferior_rv_insertion")
    before = json.loads(json.dumps([r.summary for r in results]))
    for entry in results[2].summary["phases"]:  # slice 2 found "the RV" on the far side of the LV
        lv = entry["landmarks"]["lv_centre"]
        for name in names:
            point = entry["landmarks"][name]
            point["row"], point["col"] = 2 * lv["row"] - point["row"], 2 * lv["col"] - point["col"]
    assert analyser.fill_stack_gaps(results) == 4  # two insertions x two phases, from slices 1 and 3
    for phase, entry in enumerate(results[2].summary["phases"]):
        assert entry["rv_insertions_checked"] == "dropped"
        for name in names:
            around = [before[k]["phases"][phase]["landmarks"][name] for k in (1, 3)]
            assert entry["landmarks"][name]["filled_from"] == "slices"
            assert entry["landmarks"][name]["row"] == pytest.approx((around[0]["row"] + around[1]["row"]) / 2, abs=1e-3)
        assert entry["arvi_angle_deg"] == pytest.approx(before[2]["phases"][phase]["arvi_angle_deg"], abs=3.0)
    assert all(str(get_meta(image)["AI_anterior_rv_insertion_filled"]) == "1" for image in results[2].ai_images)
    for k in (0, 1, 3, 4):  # the other slices keep their points
        assert "rv_insertions_checked" not in results[k].summary["phases"][0]
        assert results[k].summary["phases"][0]["landmarks"] == before[k]["phases"][0]["landmarks"]


def test_the_stack_check_s_readings_and_drops_reach_the_summaries(tmp_path_factory, monkeypatch):
    model = make_test_model(tmp_path_factory.mktemp("side2"), name="sax_cine", view_family="sax")
    analyser = SeriesAnalyser(AnalysisSettings(model=str(model), sax_sectors="6"))
    results = [analyser.analyse(series.images) for series in sax_stack(5)]
    before = json.loads(json.dumps([r.summary for r in results]))

    def checked(self, images, spacings, points, neighbours):  # slice 2 read again 3 px lower, slice 0 dropped
        assert len(images) == len(points) == 10 and neighbours.shape == (10, 2)
        out = np.array(points, copy=True)
        out[4:6, :2, 0] += 3.0
        out[0:2, :2] = np.nan
        return out

    monkeypatch.setattr(LandmarkDetector, "check_stack_sides", checked)
    assert analyser.fill_stack_gaps(results) == 0
    for phase in range(2):
        again, gone = results[2].summary["phases"][phase], results[0].summary["phases"][phase]
        assert again["rv_insertions_checked"] == "read_again" and gone["rv_insertions_checked"] == "dropped"
        old = before[2]["phases"][phase]["landmarks"]["anterior_rv_insertion"]
        assert again["landmarks"]["anterior_rv_insertion"]["row"] == pytest.approx(old["row"] + 3.0, abs=1e-3)
        assert not again["landmarks"]["anterior_rv_insertion"]["filled"]
        assert gone["landmarks"]["anterior_rv_insertion"] is None and gone["landmarks"]["lv_centre"] is not None
        assert gone["arvi_angle_deg"] is None
    assert "rv_insertions_checked" not in results[1].summary["phases"][0]


def test_an_lv_centre_far_from_the_stack_is_dropped_then_filled_and_the_entry_says_so(tmp_path_factory):
    model = make_test_model(tmp_path_factory.mktemp("lvfar"), name="sax_cine", view_family="sax")
    analyser = SeriesAnalyser(AnalysisSettings(model=str(model), sax_sectors="6"))
    results = [analyser.analyse(series.images) for series in sax_stack(7)]
    before = json.loads(json.dumps([r.summary for r in results]))
    for k in (3, 0):  # a middle slice (filled from its neighbours) and an end slice (stays absent)
        for entry in results[k].summary["phases"]:
            entry["landmarks"]["lv_centre"]["row"] += 200.0  # far beyond 45 mm at any spacing of the test stack
    analyser.fill_stack_gaps(results)
    for phase in range(2):
        middle, end = results[3].summary["phases"][phase], results[0].summary["phases"][phase]
        assert middle["lv_centre_checked"] == end["lv_centre_checked"] == "dropped"
        around = [before[k]["phases"][phase]["landmarks"]["lv_centre"] for k in (2, 4)]
        assert middle["landmarks"]["lv_centre"]["filled_from"] == "slices"
        assert middle["landmarks"]["lv_centre"]["row"] == pytest.approx((around[0]["row"] + around[1]["row"]) / 2,
                                                                        abs=1e-3)
        assert end["landmarks"]["lv_centre"] is None and end["arvi_angle_deg"] is None
    for k in (1, 2, 4, 5, 6):  # slice 6 is beyond the LV: no centre to judge
        assert "lv_centre_checked" not in results[k].summary["phases"][0]
        assert results[k].summary["phases"][0]["landmarks"] == before[k]["phases"][0]["landmarks"]


def test_context_model_analyses_each_slice_with_its_neighbours_once_the_stack_is_complete(tmp_path_factory,
                                                                                          monkeypatch):
    directory = tmp_path_factory.mktemp("ctx")
    context_model = make_test_model(directory, name="sax_ctx", view_family="sax", context_slices=1)
    plain_model = make_test_model(directory, name="sax_plain", view_family="sax")
    stack = sax_stack(5, phases=3)
    for series in stack:  # mark each image: corner pixel = 1000 + 10 * slice + phase
        for image in series.images:
            image.data[0, 0, 0, 0] = 1000 + 10 * image.slice + image.phase
    shuffled = [stack[k] for k in (2, 0, 4, 1, 3)]  # the scanner's order must not matter
    seen = {}
    original_analyse = SeriesAnalyser.analyse

    def spy(self, images, header=None, make_report=None, context=None):
        seen[int(images[0].slice)] = context
        return original_analyse(self, images, header, make_report, context)

    monkeypatch.setattr(SeriesAnalyser, "analyse", spy)
    processor, out = run_stack(context_model, shuffled)
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert processor.analyser.grid_cache.misses == 15  # each image resampled once, not again as a neighbour
    for k, context in seen.items():
        assert len(context) == 3
        for phase, (before, after) in enumerate(context):
            assert (before is None) == (k == 0) and (after is None) == (k == 4)
            if before is not None:
                assert before[0, 0] == 1000 + 10 * (k - 1) + phase
            if after is not None:
                assert after[0, 0] == 1000 + 10 * (k + 1) + phase
    originals = [n for n, item in enumerate(out.sent) if item.image_series_index == 1]
    ai = [n for n, item in enumerate(out.sent) if item.image_series_index == AI_SERIES_FACTOR]
    assert len(originals) == 15 and len(ai) == 15 and min(ai) > max(originals)
    assert [out.sent[n].slice for n in ai] == [k for k in range(5) for _ in range(3)]  # in stack order
    # the neighbours carry zero weight in this test model: the points are the plain model's
    plain, _ = run_stack(plain_model, shuffled)
    by_slice = {s["slice"]: s for s in plain.summaries}
    for summary in processor.summaries:
        assert summary["phases"] == by_slice[summary["slice"]]["phases"]
        assert summary["aha_level"] == by_slice[summary["slice"]]["aha_level"]
    # one announced slice: nothing to wait for, analysed without neighbours at once
    seen.clear()
    header = make_header(HeaderSpec(matrix=(256, 208), fov_mm=(332.8, 291.2, 8.0), phases=3, slices=1))
    lone = StreamProcessor(AnalysisSettings(model=str(context_model)), Recorder(), header=header)
    for image in stack[1].images:
        lone.on_image(image)
    assert seen == {1: None} and lone.summaries[0].get("error") is None
