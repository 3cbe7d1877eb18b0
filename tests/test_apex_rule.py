"""The long-axis apex rule (inline_ai.apex_rule) and a third look that segments the LV (mask_rule lax)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_factory import make_band_mask_model, make_test_model, render_mask_image

from inline_ai.apex_rule import farthest_lv_point
from inline_ai.detector import LandmarkDetector
from inline_ai.landmarks import LAX_LANDMARKS
from inline_ai.refine import refine_points
from inline_ai.runtime import ModelCard, ModelError, load_model
from inline_ai.training.config import config_from_dict
from inline_ai.training.trainer import mask_points

SHAPE = (160, 176)
SPACING = (1.5, 1.5)
CENTRE, SEMI_AXES, WALL = (90.0, 88.0), (40.0, 22.0), 6.0  # LV ellipse, long axis down the rows
VALVE_ROW = 60.0
APEX = (CENTRE[0] + SEMI_AXES[0], CENTRE[1])  # farthest LV point from the valve midpoint (row 60, col 88)
LAX_MASK_CARD = {"view_family": "lax", "views": ["ch2", "ch3", "ch4"], "crop": "lv_axis", "mask_rule": "lax"}


def soft_disc(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    """Class probabilities ``[4, h, w]``: an LV disc (cavity inside, myocardium rim) with a soft edge."""
    rows, cols = np.mgrid[:shape[0], :shape[1]].astype(np.float64)
    lv = 1.0 / (1.0 + np.exp((np.hypot(rows - centre[0], cols - centre[1]) - radius) / 0.6))
    cavity = 1.0 / (1.0 + np.exp((np.hypot(rows - centre[0], cols - centre[1]) - radius + 5.0) / 0.6))
    return np.stack([1.0 - lv, np.zeros(shape), lv - cavity, cavity]).astype(np.float32)


def lax_label_mask() -> np.ndarray:
    """A long-axis label mask: an LV ellipse (myocardium rim, cavity inside) cut off above the valve row."""
    rows, cols = np.mgrid[:SHAPE[0], :SHAPE[1]].astype(np.float64)
    epi = ((rows - CENTRE[0]) / SEMI_AXES[0]) ** 2 + ((cols - CENTRE[1]) / SEMI_AXES[1]) ** 2
    endo = ((rows - CENTRE[0]) / (SEMI_AXES[0] - WALL)) ** 2 + ((cols - CENTRE[1]) / (SEMI_AXES[1] - WALL)) ** 2
    mask = np.zeros(SHAPE, dtype=np.uint8)
    below_valve = rows >= VALVE_ROW
    mask[(epi <= 1.0) & below_valve] = 2
    mask[(endo <= 1.0) & below_valve] = 3
    return mask


def valve_points() -> np.ndarray:
    """Where the valve row cuts the epicardium: (mv_anterior, mv_inferior)."""
    half = SEMI_AXES[1] * np.sqrt(1.0 - ((VALVE_ROW - CENTRE[0]) / SEMI_AXES[0]) ** 2)
    return np.array([[VALVE_ROW, CENTRE[1] - half], [VALVE_ROW, CENTRE[1] + half]])


@pytest.mark.parametrize("reference", [(10.0, 50.0), (20.0, 80.0), (50.0, 5.0)])
def test_the_rule_finds_the_farthest_edge_point_below_a_pixel(reference):
    centre, radius = (50.0, 52.0), 20.0
    found = farthest_lv_point(soft_disc((100, 104), centre, radius), np.array(reference))
    away = np.subtract(centre, reference) / np.linalg.norm(np.subtract(centre, reference))
    np.testing.assert_allclose(found, np.add(centre, radius * away), atol=0.2)  # on the circle, along the line


def test_the_rule_ignores_stray_islands_and_reports_no_lv():
    probabilities = soft_disc((100, 104), (40.0, 52.0), 15.0)
    island = soft_disc((100, 104), (92.0, 52.0), 2.0)  # a few pixels, farther from the reference
    probabilities[2] += island[2] + island[3]
    probabilities[0] -= island[2] + island[3]
    found = farthest_lv_point(probabilities, np.array([5.0, 52.0]))
    np.testing.assert_allclose(found, [55.0, 52.0], atol=0.2)
    assert farthest_lv_point(soft_disc((100, 104), (40.0, 52.0), 2.0), np.array([5.0, 52.0])) is None
    with pytest.raises(ValueError, match="reference"):
        farthest_lv_point(probabilities, np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="class probabilities"):
        farthest_lv_point(probabilities[0], np.array([5.0, 52.0]))


def test_a_lax_mask_stage_moves_only_the_apex_onto_the_rule_point(tmp_path):
    make_band_mask_model(tmp_path, name="lax_mask", input_size=(144, 112), **LAX_MASK_CARD)
    refiner = load_model(tmp_path / "lax_mask.json")
    assert refiner.card.landmark_names == LAX_LANDMARKS
    image = render_mask_image(lax_label_mask())
    valve = valve_points()
    rough = np.vstack([valve, [APEX[0] - 2.0, APEX[1] + 4.0]])  # 6.7 mm off, mostly across the LV axis
    far = np.vstack([valve, [APEX[0] - 9.0, APEX[1] + 3.0]])  # 14 mm off: the rule's point would be a jump
    absent = np.vstack([valve[:1], [np.nan, np.nan], [APEX[0], APEX[1]]])
    refined, which = refine_points(refiner, [image] * 3, np.asarray(SPACING), np.stack([rough, far, absent]),
                                   LAX_LANDMARKS)
    assert which.tolist() == [[True] * 3, [True] * 3, [False] * 3]
    np.testing.assert_array_equal(refined[:, :2], np.stack([rough, far, absent])[:, :2])  # valve points stay
    assert np.linalg.norm(refined[0, 2] - APEX) <= 1.0 < np.linalg.norm(rough[2] - APEX)
    np.testing.assert_array_equal(refined[1, 2], far[2])  # a jump keeps the incoming apex
    np.testing.assert_array_equal(refined[2], absent)  # no crop without the valve pair: nothing read
    make_band_mask_model(tmp_path, name="lax_mask_avg", input_size=(144, 112), combine="average", **LAX_MASK_CARD)
    averaged, _ = refine_points(load_model(tmp_path / "lax_mask_avg.json"), [image], np.asarray(SPACING), rough[None],
                                LAX_LANDMARKS)
    np.testing.assert_allclose(averaged[0, 2], (refined[0, 2] + rough[2]) / 2.0)


def test_a_lax_mask_model_refines_lax_points_only(tmp_path):
    make_band_mask_model(tmp_path, name="lax_mask", input_size=(144, 112), **LAX_MASK_CARD)
    make_test_model(tmp_path, name="spots_lax", view_family="lax")
    detector = LandmarkDetector(tmp_path / "spots_lax.json", refine_with=tmp_path / "lax_mask.json")
    assert detector.refined_by == "lax_mask"
    with pytest.raises(ModelError, match="refinement model"):
        LandmarkDetector(tmp_path / "lax_mask.json")
    make_test_model(tmp_path, name="spots_sax", view_family="sax")
    with pytest.raises(ModelError, match="refines"):
        LandmarkDetector(tmp_path / "spots_sax.json", refine_with=tmp_path / "lax_mask.json")


def test_lax_mask_cards_and_configs_are_checked(tmp_path):
    make_band_mask_model(tmp_path, name="lax_mask", input_size=(144, 112), **LAX_MASK_CARD)
    card = ModelCard.from_json(tmp_path / "lax_mask.json").__dict__
    base = {k: v for k, v in card.items() if k != "path"} | {"input_size": [144, 112]}
    base["views"], base["channels"] = list(base["views"]), list(base["channels"])
    assert ModelCard.from_dict(base).mask_rule == "lax"
    for change in ({"crop": "sax_axis"}, {"crop": ""}, {"view_family": "sax", "views": ["sax"], "crop": "sax_axis"}):
        with pytest.raises(ModelError, match="'lax'.*lax refinement model"):
            ModelCard.from_dict(base | change)
    config = {"name": "m", "view_family": "lax", "views": ["ch2"], "sequence": "cine", "input_size": [144, 112],
              "pixel_size_mm": 1.0, "crop": "lv_axis", "mask_rule": "lax", "sources": [{"path": str(tmp_path)}]}
    assert config_from_dict(config).channels == ["background", "rv_cavity", "lv_myocardium", "lv_cavity"]
    with pytest.raises(ValueError, match="reads crops"):
        config_from_dict(config | {"crop": ""})
    with pytest.raises(ValueError, match="view_family: lax"):
        config_from_dict(config | {"view_family": "sax", "views": ["sax"], "crop": "sax_axis"})


def test_training_validation_reads_the_apex_by_the_rule():
    probabilities = torch.from_numpy(np.stack([soft_disc((100, 104), (50.0, 52.0), 20.0)] * 2))
    reference = torch.tensor([[[10.0, 40.0], [10.0, 64.0], [68.0, 50.0]],
                              [[np.nan, np.nan], [10.0, 64.0], [68.0, 50.0]]])
    found = mask_points(probabilities, reference, 1.0, "lax").numpy()
    np.testing.assert_array_equal(found[0, :2], reference[0, :2].numpy())  # the valve points are the truth
    np.testing.assert_allclose(found[0, 2], [70.0, 52.0], atol=0.2)
    assert np.isnan(found[1, 2]).all()  # no valve midpoint, no apex
