"""Evaluation metrics with known answers, and the evaluate command on an analytic spot model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_factory import default_lax_points, default_sax_points, make_test_model, render_spots

from inline_ai.dataset import LandmarkCase, save_case
from inline_ai.evaluate import CaseResult, main, score_results, to_markdown

NAN = np.nan
SAX = ("anterior_rv_insertion", "inferior_rv_insertion", "lv_centre")
LAX = ("mv_anterior", "mv_inferior", "apex")


def test_scores_count_misses_false_positives_and_anisotropic_distances():
    truth = np.array([[[10, 10], [20, 10], [15, 20]],
                      [[10, 10], [NAN, NAN], [15, 20]],
                      [[10, 10], [20, 10], [15, 20]]], float)
    found = np.array([[[10, 13], [24, 10], [15, 20]],  # 3 px cols x 2 mm = 6 mm; 4 rows x 1 mm = 4 mm; 0
                      [[10, 10], [21, 11], [15, 20]],  # false positive for the inferior point
                      [[10, 10], [NAN, NAN], [15, 20]]], float)  # inferior point missed
    result = CaseResult("c1", "p1", "sax", np.array([1.0, 2.0]), truth, found)
    metrics = score_results([result], SAX)
    assert metrics["images"] == 3
    assert metrics["detection_rate"] == pytest.approx(1 / 3)
    inferior = metrics["landmarks"]["inferior_rv_insertion"]
    assert (inferior["images_present"], inferior["detected"], inferior["missed"], inferior["false_positives"]) == (
        2, 1, 1, 1)
    assert inferior["mean_mm"] == pytest.approx(4.0)
    assert metrics["landmarks"]["anterior_rv_insertion"]["mean_mm"] == pytest.approx(2.0)  # (6 + 0 + 0) / 3
    assert metrics["landmarks"]["lv_centre"]["mean_mm"] == pytest.approx(0.0)
    assert metrics["mean_mm"] == pytest.approx(10.0 / 7)
    assert metrics["arvi_angle"]["images"] == 3
    assert metrics["arvi_angle"]["median_abs_diff_deg"] == pytest.approx(0.0)


def test_lv_length_difference_in_percent():
    truth = np.array([[[100, 40], [100, 60], [20, 50]]], float)  # length 80 mm at 1 mm pixels
    found = np.array([[[100, 40], [100, 60], [16, 50]]], float)  # 84 mm: +5 %
    metrics = score_results([CaseResult("c", "p", "ch4", np.array([1.0, 1.0]), truth, found)], LAX)
    assert metrics["lv_length"]["mean_abs_diff_pct"] == pytest.approx(5.0)
    assert metrics["lv_length"]["mean_signed_diff_pct"] == pytest.approx(5.0)
    assert metrics["detection_rate"] == 1.0
    markdown = to_markdown(metrics, "t")
    assert "| apex | 1 | 1 | 0 | 0 | 4.00 ± 0.00 |" in markdown and "LV length difference" in markdown


def _spot_case(points: np.ndarray, spots: np.ndarray, case_id: str) -> LandmarkCase:
    shape, spacing = (160, 144), (1.5, 1.5)
    images = np.stack([render_spots(shape, p, spacing) for p in spots])
    return LandmarkCase(images, np.array(spacing, np.float32), points.astype(np.float32), SAX, "sax", "cine",
                        case_id=case_id)


def test_evaluate_command_on_an_analytic_model(tmp_path):
    make_test_model(tmp_path / "models", name="spots", view_family="sax")
    points = default_sax_points(4, (160, 144), (1.5, 1.5))
    save_case(tmp_path / "data" / "spot_p01_a.npz", _spot_case(points, points, "spot_p01_a"))
    no_lv_spot = points.copy()
    no_lv_spot[:2, 2] = NAN  # truth says present, image has no spot -> missed in 2 images
    save_case(tmp_path / "data" / "spot_p02_a.npz", _spot_case(points, no_lv_spot, "spot_p02_a"))
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["spot_p01"], "val": ["spot_p02"]}))
    out, markdown = tmp_path / "all.json", tmp_path / "all.md"
    assert main([str(tmp_path / "data"), "--model", str(tmp_path / "models" / "spots.json"), "--json", str(out),
                 "--markdown", str(markdown)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["images"] == 8 and metrics["patients"] == 2
    assert metrics["detection_rate"] == pytest.approx(6 / 8)
    assert metrics["landmarks"]["lv_centre"]["missed"] == 2
    assert [(f["case"], f["index"], f["missed"]) for f in metrics["failures"]] == [
        ("spot_p02_a", 0, ["lv_centre"]), ("spot_p02_a", 1, ["lv_centre"])]
    assert metrics["mean_mm"] < 1.0
    assert "| lv_centre | 8 | 6 | 2 | 0 |" in markdown.read_text()
    records = metrics["per_image"]  # each image's outcome, for inline-ai compare
    assert records["names"] == list(SAX) and len(records["case"]) == 8
    row = records["case"].index("spot_p02_a")  # the first image of the case whose LV spot is missing
    assert records["patient"][row] == "spot_p02" and records["index"][row] == 0
    assert records["present"][row] == [True, True, True] and records["reported"][row] == [True, True, False]
    assert records["distance_mm"][row][2] is None and records["distance_mm"][row][0] < 1.0
    assert main([str(tmp_path / "data"), "--model", str(tmp_path / "models" / "spots.json"), "--json", str(out),
                 "--split", "val", "--split-file", str(split), "--write-card", "test_eval"]) == 0
    assert json.loads(out.read_text())["images"] == 4
    card = json.loads((tmp_path / "models" / "spots.json").read_text())
    assert card["metrics"]["test_eval"]["detection_rate"] == pytest.approx(0.5)


def test_a_landmark_missed_between_two_slices_of_a_stack_is_filled_unless_told_not_to(tmp_path):
    make_test_model(tmp_path / "models", name="spots", view_family="sax")
    points = default_sax_points(5, (160, 144), (1.5, 1.5))
    spots = points.copy()
    spots[2, 0] = NAN  # the middle slice shows no anterior insertion; the truth has one
    case = _spot_case(points, spots, "spot_p01_a")
    case.phase, case.slice_index = np.array(["ED"] * 5), np.arange(5)
    save_case(tmp_path / "data" / "spot_p01_a.npz", case)
    model, out = str(tmp_path / "models" / "spots.json"), tmp_path / "m.json"
    assert main([str(tmp_path / "data"), "--model", model, "--json", str(out), "--write-card", "filled"]) == 0
    filled = json.loads(out.read_text())
    assert json.loads((tmp_path / "models" / "spots.json").read_text())["metrics"]["filled"]["stack_fill"] is True
    assert filled["detection_rate"] == pytest.approx(1.0) and filled["stack_fill"] is True
    expected_mm = 1.5 * np.linalg.norm((points[1, 0] + points[3, 0]) / 2 - points[2, 0])  # the neighbours' mean
    assert filled["landmarks"]["anterior_rv_insertion"]["max_mm"] == pytest.approx(expected_mm, abs=0.5)
    assert main([str(tmp_path / "data"), "--model", model, "--json", str(out), "--no-stack-fill"]) == 0
    plain = json.loads(out.read_text())
    assert plain["detection_rate"] == pytest.approx(4 / 5)
    assert plain["landmarks"]["anterior_rv_insertion"]["missed"] == 1


def test_evaluate_runs_the_refinement_model_unless_told_not_to(tmp_path):
    models = tmp_path / "models"
    make_test_model(models, name="refine", input_size=(144, 112), pixel_size_mm=1.0, threshold=0.05, crop="lv_axis")
    make_test_model(models, name="first", pixel_size_mm=3.0, refine_with="refine.json")
    shape, spacing = (208, 256), (1.4, 1.3)
    points = default_lax_points(3, shape, spacing)
    images = np.stack([render_spots(shape, p, spacing) for p in points])
    save_case(tmp_path / "data" / "spot_p01_ch4.npz",
              LandmarkCase(images, np.array(spacing, np.float32), points.astype(np.float32), LAX, "ch4", "cine",
                           case_id="spot_p01_ch4"))
    two, one = tmp_path / "two.json", tmp_path / "one.json"
    assert main([str(tmp_path / "data"), "--model", str(models / "first.json"), "--json", str(two)]) == 0
    assert main([str(tmp_path / "data"), "--model", str(models / "first.json"), "--json", str(one),
                 "--no-refine"]) == 0
    refined, first = json.loads(two.read_text()), json.loads(one.read_text())
    assert refined["refined_by"] == "refine" and "refined_by" not in first
    assert refined["mean_mm"] < 0.3 and refined["mean_mm"] < first["mean_mm"]


def test_evaluate_rejects_a_wrong_view_and_a_missing_split_file(tmp_path, capsys):
    make_test_model(tmp_path / "models", name="lax", view_family="lax")
    points = default_sax_points(1, (160, 144), (1.5, 1.5))
    save_case(tmp_path / "data" / "s_p01_a.npz", _spot_case(points, points, "s_p01_a"))
    assert main([str(tmp_path / "data"), "--model", str(tmp_path / "models" / "lax.json"),
                 "--json", str(tmp_path / "x.json")]) == 2
    assert "is for views" in capsys.readouterr().err
    assert main([str(tmp_path / "data"), "--model", str(tmp_path / "models" / "lax.json"),
                 "--json", str(tmp_path / "x.json"), "--split", "val"]) == 2
    assert "--split-file" in capsys.readouterr().err


def test_best_threshold_separates_present_from_absent():
    from inline_ai.training.calibrate import best_threshold

    threshold, accuracy = best_threshold([0.9, 0.8, 0.2, 0.1], [True, True, False, False], default=0.3)
    assert accuracy == 1.0 and threshold == pytest.approx(0.3)  # every value in (0.2, 0.8] works: nearest default
    threshold, accuracy = best_threshold([0.9, 0.6, 0.55, 0.1], [True, True, False, False], default=0.3)
    assert accuracy == 1.0 and 0.55 < threshold <= 0.6


def test_model_card_markdown_lists_provenance_and_evaluations(tmp_path):
    from inline_ai.training.model_card import main as write_cards

    make_test_model(tmp_path, name="spots", view_family="sax", trained_on="synthetic: spots only",
                    training_time="9 min on 2 CPU cores",
                    metrics={"acdc_val": {"dataset": "d", "split": "val", "images": 10, "detection_rate": 0.9,
                                          "mean_mm": 1.5, "landmarks": {n: {"mean_mm": 1.0} for n in SAX}},
                             "filled": {"dataset": "d", "split": "val", "images": 10, "detection_rate": 0.95,
                                        "mean_mm": 1.5, "stack_fill": True,
                                        "landmarks": {n: {"mean_mm": 1.0} for n in SAX}}})
    assert write_cards([str(tmp_path)]) == 0
    text = (tmp_path / "MODEL_CARD.md").read_text()
    assert "**Learned from:** synthetic: spots only" in text
    assert "- Training time: 9 min on 2 CPU cores" in text
    assert "| acdc_val (d, val) | 10 | 90.00% | 1.50 | 1.00 | 1.00 | 1.00 |" in text
    assert "| filled (d, val, gaps between slices filled) | 10 | 95.00% |" in text


def test_model_card_markdown_says_when_a_model_learned_the_standard_display_only():
    from inline_ai.training.model_card import card_section

    card = {"name": "spots", "format": "onnx", "file": "spots.onnx", "sha256": "0" * 64, "view_family": "sax",
            "views": ["sax"], "sequence": "cine", "input_size": [32, 32], "pixel_size_mm": 2.0,
            "channels": ["background", *SAX], "trained_on": "t", "validated_on": "v", "training_command": "c",
            "created": "2026-11-28", "metrics": {}, "output": "logits", "threshold": 0.3}
    assert "Standard SAX display only" not in card_section(card)
    assert "Standard SAX display only" in card_section({**card, "display": "standard"})
