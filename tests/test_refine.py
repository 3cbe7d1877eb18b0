"""Refinement on LV-axis crops (inline_ai.refine) and its wiring into LandmarkDetector, with spot models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_factory import make_spot_series, make_test_model, render_spots

from inline_ai.detector import LandmarkDetector
from inline_ai.measures import distance_mm
from inline_ai.refine import mirror_averaged, refine_points
from inline_ai.runtime import ModelError, load_model

SHAPE = (208, 256)


@pytest.fixture()
def spot_models(tmp_path):
    """A coarser first model (3 mm pixels) whose card names a 1 mm LV-axis refinement model."""
    folder = tmp_path / "models"
    make_test_model(folder, name="spots_refine", input_size=(144, 112), pixel_size_mm=1.0, threshold=0.05,
                    crop="lv_axis")
    make_test_model(folder, name="spots_coarse", pixel_size_mm=3.0,
                    refine_with="spots_refine.json")
    return folder


def test_refine_recovers_points_from_a_misplaced_crop(spot_models):
    series = make_spot_series(view_family="lax", phases=2)
    images = [render_spots(SHAPE, p, series.pixel_spacing) for p in series.points]
    spacings = np.broadcast_to(np.asarray(series.pixel_spacing), (2, 2))
    rough = series.points.copy()
    rough[0] += np.array([3.0, -2.0])  # every point of image 0 off by a few mm
    rough[1, 2] += np.array([0.0, 4.0])  # image 1: the apex 5 mm sideways, which tilts the crop
    refiner = load_model(spot_models / "spots_refine.json")
    refined, which = refine_points(refiner, images, spacings, rough, series.landmark_names)
    assert which.all()
    moved = distance_mm(rough, series.points, series.pixel_spacing)
    assert moved[0].min() > 2.0 and moved[1, 2] > 2.0
    assert distance_mm(refined, series.points, series.pixel_spacing).max() < 0.3


def test_images_missing_a_landmark_keep_the_first_points(spot_models):
    series = make_spot_series(view_family="lax", phases=2)
    images = [render_spots(SHAPE, p, series.pixel_spacing) for p in series.points]
    rough = series.points + 2.0
    rough[1, 2] = np.nan  # no apex in image 1: no LV axis, no crop
    refiner = load_model(spot_models / "spots_refine.json")
    refined, which = refine_points(refiner, images, np.asarray(series.pixel_spacing), rough, series.landmark_names)
    assert which[0].all() and not which[1].any()
    np.testing.assert_array_equal(refined[1], rough[1])
    assert distance_mm(refined[0], series.points[0], series.pixel_spacing).max() < 0.3


def test_a_weak_refined_peak_keeps_the_first_point(spot_models):
    series = make_spot_series(view_family="lax", phases=1)
    shown = series.points[0].copy()
    shown[2] = np.nan  # the image has no apex spot, so the refined apex map stays flat
    images = [render_spots(SHAPE, shown, series.pixel_spacing)]
    rough = series.points + 1.5
    refined, which = refine_points(load_model(spot_models / "spots_refine.json"), images,
                                   np.asarray(series.pixel_spacing), rough, series.landmark_names)
    assert which[0].tolist() == [True, True, False]
    np.testing.assert_array_equal(refined[0, 2], rough[0, 2])
    assert distance_mm(refined[0, :2], series.points[0, :2], series.pixel_spacing).max() < 0.3


def test_detector_refines_when_the_card_says_so(spot_models):
    series = make_spot_series(view_family="lax", phases=3)
    images = np.stack([render_spots(SHAPE, p, series.pixel_spacing) for p in series.points])
    two_stage = LandmarkDetector(spot_models / "spots_coarse.json")
    one_stage = LandmarkDetector(spot_models / "spots_coarse.json", refine=False)
    assert two_stage.refiner is not None and one_stage.refiner is None
    refined = two_stage.detect(images, series.pixel_spacing)
    coarse = one_stage.detect(images, series.pixel_spacing)
    assert "refine" in refined.timings and "refine" not in coarse.timings
    fine_error = distance_mm(refined.points, series.points, series.pixel_spacing)
    coarse_error = distance_mm(coarse.points, series.points, series.pixel_spacing)
    assert fine_error.max() < 0.3
    assert fine_error.mean() < coarse_error.mean()


def test_a_refiner_without_an_lv_axis_crop_is_refused(tmp_path):
    folder = tmp_path / "models"
    make_test_model(folder, name="not_a_refiner")
    make_test_model(folder, name="first", refine_with="not_a_refiner.json")
    with pytest.raises(ModelError, match="needs a crop"):
        LandmarkDetector(folder / "first.json")


def test_a_bad_crop_in_a_card_is_refused(tmp_path):
    make_test_model(tmp_path, name="odd", crop="heart_box")
    with pytest.raises(ModelError, match="crop must be one of"):
        load_model(tmp_path / "odd.json")


def test_a_refinement_model_is_not_a_first_model(spot_models):
    with pytest.raises(ModelError, match="is a refinement model"):
        LandmarkDetector(spot_models / "spots_refine.json")


def test_model_check_follows_refine_with(spot_models):
    from inline_ai.model_check import check_card

    status = check_card(spot_models / "spots_coarse.json")
    assert status.ok and "refined by spots_refine" in status.message
    (spot_models / "spots_refine.onnx").write_bytes(b"changed")
    status = check_card(spot_models / "spots_coarse.json")
    assert not status.ok and "sha256" in status.message


def test_a_refined_point_that_jumps_keeps_the_first_point(spot_models):
    series = make_spot_series(view_family="lax", phases=1)
    images = [render_spots(SHAPE, series.points[0], series.pixel_spacing)]
    rough = series.points.copy()
    rough[0, 0] += np.array([0.0, 6.0])  # mv_anterior 7.8 mm off: the second look may move it back
    refiner = load_model(spot_models / "spots_refine.json")
    refined, which = refine_points(refiner, images, np.asarray(series.pixel_spacing), rough,
                                   series.landmark_names, max_shift_mm=5.0)
    assert which[0].tolist() == [False, True, True]
    np.testing.assert_array_equal(refined[0, 0], rough[0, 0])
    refined, which = refine_points(refiner, images, np.asarray(series.pixel_spacing), rough, series.landmark_names)
    assert which[0].all() and distance_mm(refined[0, 0], series.points[0, 0], series.pixel_spacing) < 0.3


def test_refinement_models_chain_and_an_averaging_stage_meets_halfway(spot_models):
    from inline_ai.model_check import check_card

    make_test_model(spot_models, name="spots_second", input_size=(144, 112), pixel_size_mm=1.0, threshold=0.05,
                    crop="lv_axis", combine="average")
    card = json.loads((spot_models / "spots_refine.json").read_text())
    (spot_models / "spots_refine.json").write_text(json.dumps(card | {"refine_with": "spots_second.json"}))
    series = make_spot_series(view_family="lax", phases=2)
    images = np.stack([render_spots(SHAPE, p, series.pixel_spacing) for p in series.points])
    chained = LandmarkDetector(spot_models / "spots_coarse.json")
    assert chained.refined_by == "spots_refine + spots_second" and chained.refiner is chained.refiners[0]
    assert LandmarkDetector(spot_models / "spots_coarse.json", refine_stages=1).refined_by == "spots_refine"
    assert distance_mm(chained.detect(images, series.pixel_spacing).points, series.points,
                       series.pixel_spacing).max() < 0.3
    assert "refined by spots_refine + spots_second" in check_card(spot_models / "spots_coarse.json").message
    # an averaging stage puts each point halfway between the incoming point and its own reading
    rough = series.points[:1] + np.array([2.0, -2.0])
    halfway, _ = refine_points(load_model(spot_models / "spots_second.json"), images[:1],
                               np.asarray(series.pixel_spacing), rough, series.landmark_names)
    np.testing.assert_allclose(halfway, (rough + series.points[:1]) / 2, atol=0.2)


def test_a_refine_with_chain_that_loops_is_refused(spot_models):
    card = json.loads((spot_models / "spots_refine.json").read_text())
    (spot_models / "spots_refine.json").write_text(json.dumps(card | {"refine_with": "spots_refine.json"}))
    with pytest.raises(ModelError, match="loops"):
        LandmarkDetector(spot_models / "spots_coarse.json")
    make_test_model(spot_models, name="odd_combine", combine="median")
    with pytest.raises(ModelError, match="combine must be one of"):
        load_model(spot_models / "odd_combine.json")


class _RightBiasedModel:
    """Stands in for a refiner whose maps sit two columns right of the truth; counts its inference calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(len(batch))
        return np.roll(batch, 2, axis=-1)


def test_mirror_averaging_cancels_a_sideways_bias_in_one_call():
    batch = np.zeros((3, 1, 9, 11), dtype=np.float32)
    for n, col in enumerate((3, 5, 7)):
        batch[n, 0, 4, col] = 1.0
    model = _RightBiasedModel()
    plain = model.predict(batch)
    averaged = mirror_averaged(model, batch)
    assert model.calls == [3, 6]  # the crops and their mirror images in one batch
    cols = np.arange(11)
    for n, col in enumerate((3, 5, 7)):
        assert (plain[n, 0].sum(0) * cols).sum() == pytest.approx(col + 2)
        assert (averaged[n, 0].sum(0) * cols).sum() == pytest.approx(col)  # +2 and -2 halves
        assert averaged[n].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("mirror", [False, True])
def test_the_card_decides_whether_the_second_look_reads_mirror_images(tmp_path, monkeypatch, mirror):
    folder = tmp_path / "models"
    make_test_model(folder, name="spots_refine", input_size=(144, 112), pixel_size_mm=1.0, threshold=0.05,
                    crop="lv_axis", mirror_average=mirror)
    refiner = load_model(folder / "spots_refine.json")
    assert refiner.card.mirror_average is mirror
    seen: list[np.ndarray] = []
    real_predict = refiner.predict
    monkeypatch.setattr(refiner, "predict", lambda batch: seen.append(batch) or real_predict(batch))
    series = make_spot_series(view_family="lax", phases=3)
    images = [render_spots(SHAPE, p, series.pixel_spacing) for p in series.points]
    refine_points(refiner, images, np.asarray(series.pixel_spacing), series.points + 1.0, series.landmark_names)
    assert [len(b) for b in seen] == [6 if mirror else 3]
    if mirror:  # the second half is the first half mirrored across the crop's axis (its centre column)
        np.testing.assert_array_equal(seen[0][3:], seen[0][:3, ..., ::-1])


@pytest.mark.parametrize(("overrides", "message"), [
    ({"crop": "lv_axis", "mirror_average": "yes"}, "mirror_average must be true or false"),
    ({"mirror_average": True}, "mirror_average is for a heat-map refinement model"),
])
def test_a_bad_mirror_average_in_a_card_is_refused(tmp_path, overrides, message):
    make_test_model(tmp_path, name="odd", **overrides)
    with pytest.raises(ModelError, match=message):
        load_model(tmp_path / "odd.json")
