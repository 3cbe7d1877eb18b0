"""The SAX display's handedness: from image directions, in landmarks, and a standard-display model's flips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_factory import default_sax_points, make_spot_series, make_test_model, render_spots

from inline_ai.detector import LandmarkDetector
from inline_ai.display import flip_points, handedness, sax_display_mirrored
from inline_ai.paths import shared_data_dir
from inline_ai.pipeline import AnalysisSettings, SeriesAnalyser
from inline_ai.runtime import ModelCard, ModelError

PERFUSION_DIR = shared_data_dir() / "dicom_sax_perfusion"


@pytest.mark.parametrize("seed", [3, 8])
def test_image_directions_tell_the_phantoms_mirrored_display_and_its_landmarks_turn_the_other_way(seed):
    from inline_ai.phantom.generate import generate_case

    for mirror in (0.0, 1.0):
        case = generate_case("sax", "cine", seed, 1, planning={"mirror_probability": mirror})
        assert bool(case.extra["mirrored"]) is (mirror == 1.0)
        assert sax_display_mirrored(case.extra["read_dir"][0], case.extra["phase_dir"][0]) is (mirror == 1.0)
        turns = handedness(case.landmarks)
        assert (turns[turns != 0] == (-1.0 if mirror else 1.0)).all() and (turns != 0).any()


def test_a_plane_along_the_lv_axis_is_not_told():
    # normal (1, 1, 0) / sqrt 2 is perpendicular to the apex -> base direction (-1, 1, 1) / sqrt 3
    assert sax_display_mirrored((0.0, 0.0, 1.0), (1 / np.sqrt(2), -1 / np.sqrt(2), 0.0)) is None
    assert sax_display_mirrored((0.0, 0.0, 0.0), (0.0, 1.0, 0.0)) is None


@pytest.mark.skipif(not PERFUSION_DIR.is_dir(), reason=f"real DICOM series not found at {PERFUSION_DIR}")
def test_a_real_scanners_sax_image_follows_the_convention():
    """GE 1.5 T perfusion slice: its directions say standard display; its expert masks' RV insertion ends,
    named by patient geometry (the anterior one lies further anterior-superior), turn the standard way."""
    import pydicom
    from scipy.io import loadmat

    from inline_ai.mask_landmarks import mask_landmarks

    dataset = pydicom.dcmread(sorted(PERFUSION_DIR.glob("I*"))[0])
    cosines = np.asarray(dataset.ImageOrientationPatient, dtype=float)
    row_dir, col_dir = cosines[:3], cosines[3:]
    assert sax_display_mirrored(row_dir, col_dir) is False
    masks = loadmat(str(PERFUSION_DIR / "GoldStandard.mat"))
    labels = np.zeros(masks["MyoMask"].shape, dtype=np.int64)
    labels[masks["MyoMask"] > 0], labels[masks["SXmask"] > 0], labels[masks["DXmask"] > 0] = 2, 3, 1
    found = mask_landmarks(labels)
    assert found.rv_ends is not None and found.lv_centre is not None
    anterior_superior = np.array([0.0, -1.0, 1.0])  # LPS
    height = [(end[1] * row_dir + end[0] * col_dir) @ anterior_superior for end in found.rv_ends]
    anterior, inferior = found.rv_ends[np.argsort(height)[::-1]]
    assert handedness(np.array([[anterior, inferior, found.lv_centre]]))[0] == 1.0


def test_flip_points_mirrors_columns_of_the_flagged_images_only():
    points = np.array([[[10.0, 2.0]], [[10.0, 2.0]]])
    out = flip_points(points, [20, 20], [True, False])
    assert out[0, 0].tolist() == [10.0, 17.0] and out[1, 0].tolist() == [10.0, 2.0]
    np.testing.assert_allclose(flip_points(out, [20, 20], [True, False]), points)


def _mirrored_spots(shape=(208, 256), spacing=(1.4, 1.3)):
    truth = flip_points(default_sax_points(2, shape, spacing), [shape[1]] * 2, [True, True])
    return np.stack([render_spots(shape, p, spacing) for p in truth]), truth, spacing


def test_a_standard_display_model_sees_mirrored_images_flipped_and_its_points_come_back(tmp_path):
    make_test_model(tmp_path, name="spots_std", view_family="sax", display="standard")
    make_test_model(tmp_path, name="spots_any", view_family="sax")
    images, truth, spacing = _mirrored_spots()
    standard = LandmarkDetector(tmp_path / "spots_std.json")
    found = standard.detect(images, spacing, mirrored=[True, True]).points
    assert np.abs(found - truth).max() < 1.0
    unflagged = standard.detect(images, spacing).points  # shown as it is, the spots sit in the wrong regions
    assert not np.isfinite(unflagged[:, 2]).all() or np.abs(unflagged[:, 2] - truth[:, 2]).max() > 10
    anyway = LandmarkDetector(tmp_path / "spots_any.json")  # a model of either display ignores the flags
    np.testing.assert_array_equal(anyway.detect(images, spacing, mirrored=[True, True]).points,
                                  anyway.detect(images, spacing).points)
    with pytest.raises(ValueError, match="mirrored must flag each"):
        standard.detect(images, spacing, mirrored=[True])


def test_images_of_unknown_display_are_read_the_way_their_anatomy_fits(tmp_path):
    """A standard-display model finds the landmarks of a mirror image only in the wrong places; shown images
    flagged None (display unknown), it reads them both ways and keeps the reading whose RV insertions are found."""
    make_test_model(tmp_path, name="spots_std", view_family="sax", display="standard")
    standard = LandmarkDetector(tmp_path / "spots_std.json")
    images, truth, spacing = _mirrored_spots()
    found = standard.detect(images, spacing, mirrored=[None, None])
    assert found.anatomy_mirrored is True
    assert np.abs(found.points - truth).max() < 1.0
    shape = images.shape[1:]
    upright = default_sax_points(2, shape, spacing)
    shown = np.stack([render_spots(shape, p, spacing) for p in upright])
    found = standard.detect(shown, spacing, mirrored=[None, None])
    assert found.anatomy_mirrored is False
    assert np.abs(found.points - upright).max() < 1.0
    known = standard.detect(shown, spacing, mirrored=[False, False])
    assert known.anatomy_mirrored is None  # the directions told: nothing read twice
    np.testing.assert_array_equal(known.points, found.points)


def test_display_summary_says_what_decided():
    from inline_ai.display import display_summary

    assert display_summary([True, True], None) == {"display": "mirrored", "display_from": "given"}
    assert display_summary([None, None], False) == {"display": "standard", "display_from": "anatomy"}
    assert display_summary([True, None], False) == {"display": "mixed", "display_from": "given+anatomy"}


def _sax_directions(mirrored: bool) -> tuple[list[float], list[float]]:
    """Unit read / phase directions of a short-axis plane in the standard display or its mirror image."""
    normal = np.array([-1.0, 1.0, 1.0]) / np.sqrt(3) * (-1.0 if mirrored else 1.0)
    read = np.cross(normal, [1.0, 0.0, 0.0])
    read /= np.linalg.norm(read)
    return read.tolist(), np.cross(normal, read).tolist()  # read x phase = normal


def test_the_gadget_pipeline_decides_by_anatomy_when_the_headers_do_not_tell(tmp_path):
    make_test_model(tmp_path, name="spots_std", view_family="sax", display="standard")
    shape, spacing = (208, 256), (1.4, 1.3)
    truth = flip_points(default_sax_points(3, shape, spacing), [shape[1]] * 3, [True] * 3)
    series = make_spot_series(truth, view_family="sax", shape=shape, pixel_spacing=spacing)
    for image in series.images:
        image.read_dir[:], image.phase_dir[:] = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    result = SeriesAnalyser(AnalysisSettings(model=str(tmp_path / "spots_std.json"))).analyse(
        series.images, series.header_xml)
    assert result.error is None
    assert result.summary["display"] == "mirrored" and result.summary["display_from"] == "anatomy"
    assert np.abs(result.detections.points - truth).max() < 1.0


def test_the_gadget_pipeline_flips_a_mirrored_series_by_its_header_directions(tmp_path):
    make_test_model(tmp_path, name="spots_std", view_family="sax", display="standard")
    shape, spacing = (208, 256), (1.4, 1.3)
    truth = flip_points(default_sax_points(3, shape, spacing), [shape[1]] * 3, [True] * 3)
    series = make_spot_series(truth, view_family="sax", shape=shape, pixel_spacing=spacing)
    read, phase = _sax_directions(mirrored=True)  # normal from the base towards the apex: the mirror image
    for image in series.images:
        image.read_dir[:], image.phase_dir[:] = read, phase
    result = SeriesAnalyser(AnalysisSettings(model=str(tmp_path / "spots_std.json"))).analyse(
        series.images, series.header_xml)
    assert result.error is None and result.summary["display"] == "mirrored"
    assert result.summary["display_from"] == "given"
    assert np.abs(result.detections.points - truth).max() < 1.0


def test_cards_and_configs_check_the_display(tmp_path):
    make_test_model(tmp_path, name="bad", view_family="lax", display="standard")
    with pytest.raises(ModelError, match="display 'standard' is for a whole-image short-axis"):
        ModelCard.from_json(tmp_path / "bad.json")
    card = json.loads((tmp_path / "bad.json").read_text())
    card.update(view_family="sax", views=["sax"], display="upside_down",
                channels=["background", "anterior_rv_insertion", "inferior_rv_insertion", "lv_centre"])
    (tmp_path / "bad.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="display must be one of"):
        ModelCard.from_json(tmp_path / "bad.json")
    from inline_ai.training.config import config_from_dict

    raw = {"name": "x", "view_family": "sax", "display": "standard", "augment": {"flip_lr_p": 0.5},
           "sources": [{"path": str(tmp_path), "kind": "synthetic", "standard_handedness": True}]}
    with pytest.raises(ValueError, match="flip_lr_p and flip_ud_p 0"):
        config_from_dict(raw)
    raw["augment"] = {}
    raw["sources"][0]["standard_handedness"] = False
    with pytest.raises(ValueError, match="standard_handedness on every synthetic source"):
        config_from_dict(raw)
    raw["sources"][0]["standard_handedness"] = True
    assert config_from_dict(raw).display == "standard"


def test_a_cases_own_directions_decide_and_the_display_option_covers_cases_without_them():
    from dataclasses import replace

    from inline_ai.display import case_mirrored
    from inline_ai.phantom.generate import generate_case

    case = generate_case("sax", "cine", 4, 1, planning={"mirror_probability": 1.0})
    assert case_mirrored(case, "standard") == [True] * case.image.shape[0]
    bare = replace(case, extra={})
    assert case_mirrored(bare) == [None] * case.image.shape[0]  # auto: the model's anatomy decides
    assert case_mirrored(bare, "standard") == [False] * case.image.shape[0]
    assert case_mirrored(bare, "mirrored") == [True] * case.image.shape[0]
    with pytest.raises(ValueError, match="display must be one of"):
        case_mirrored(bare, "sideways")


MSCMR_DIR, ACDC_DIR = shared_data_dir() / "mscmr_sax_lge", shared_data_dir() / "acdc_sax_cine"


@pytest.mark.skipif(not (MSCMR_DIR.is_dir() and ACDC_DIR.is_dir()),
                    reason=f"real SAX stacks not found at {MSCMR_DIR} and {ACDC_DIR}")
def test_the_shipped_sax_model_tells_a_real_stacks_display_from_its_anatomy():
    """ACDC stacks are the standard display, MS-CMRSeg's (LGE, never trained on) its mirror image; their .npz
    cases carry no directions, so the shipped standard-display model decides, and names the insertions the way
    the experts' labels turn."""
    from inline_ai.dataset import list_cases, load_case
    from inline_ai.evaluate import evaluate_cases

    detector = LandmarkDetector("sax_cine")
    cases = [load_case(p) for p in list_cases(MSCMR_DIR)[:2] + list_cases(ACDC_DIR)[-2:]]
    results = evaluate_cases(detector, cases)
    assert [r.anatomy_mirrored for r in results] == [True, True, False, False]
    for result in results:
        truth, found = handedness(result.truth), handedness(result.found)
        both = (truth != 0) & (found != 0)
        assert both.sum() >= 3 and (found[both] == truth[both]).mean() >= 0.9
