"""The SAX labelling rule on masks (inline_ai.mask_landmarks) and refinement by a mask model."""

from __future__ import annotations

import numpy as np
import pytest
from model_factory import make_band_mask_model, make_test_model, render_mask_image, sax_label_mask

from inline_ai.context import neighbour_indices
from inline_ai.crop import axis_crop
from inline_ai.dataset import list_cases, load_case
from inline_ai.detector import LandmarkDetector
from inline_ai.mask_landmarks import crop_mask_landmarks, largest_regions, mask_landmarks, order_like
from inline_ai.paths import shared_data_dir
from inline_ai.refine import borrow_crop_axes, refine_points
from inline_ai.runtime import ModelCard, ModelError, load_model

SHAPE = (160, 176)
LV, RV = (84.0, 100.0), (70.0, 72.0)
SPACING = (1.5, 1.5)
NAMES = ("anterior_rv_insertion", "inferior_rv_insertion", "lv_centre")


def truth(mask: np.ndarray) -> np.ndarray:
    """The rule's points in NAMES order, the upper RV end named anterior (as in the standard display)."""
    found = mask_landmarks(mask)
    ends = found.rv_ends[np.argsort(found.rv_ends[:, 0])]
    return np.vstack([ends, found.lv_centre[None]])


def test_rule_finds_the_cavity_centroid_and_the_ends_of_the_contact_arc():
    mask = sax_label_mask(SHAPE, LV, RV)
    found = mask_landmarks(mask)
    np.testing.assert_allclose(found.lv_centre, LV, atol=0.05)
    assert found.rv_ends is not None
    rows, cols = np.nonzero(mask == 1)
    for end in found.rv_ends:
        assert mask[int(end[0]), int(end[1])] == 2  # on the myocardial side
        assert (np.abs(rows - end[0]) + np.abs(cols - end[1])).min() <= 2  # within reach of the RV
    # the ends straddle the RV: the arc between them, seen from the LV centre, is tens of degrees wide
    angles = np.degrees(np.arctan2(*(found.rv_ends - found.lv_centre).T))
    assert 40 < min(abs(angles[0] - angles[1]), 360 - abs(angles[0] - angles[1])) < 180


def test_presence_follows_the_rule_limits():
    mask = sax_label_mask(SHAPE, LV, RV)
    no_rv = np.where(mask == 1, 0, mask)
    assert mask_landmarks(no_rv).rv_ends is None and mask_landmarks(no_rv).lv_centre is not None
    small_rv = sax_label_mask(SHAPE, LV, (LV[0], LV[1] - 20.0), rv_px=3.0)  # touches, but under 30 RV pixels
    assert 0 < np.count_nonzero(small_rv == 1) < 30 and mask_landmarks(small_rv).rv_ends is None
    assert mask_landmarks(small_rv, min_rv_pixels=1).rv_ends is not None
    tiny_cavity = sax_label_mask(SHAPE, LV, RV, cavity_px=1.5)  # under 10 cavity pixels
    assert mask_landmarks(tiny_cavity).lv_centre is None and mask_landmarks(tiny_cavity).rv_ends is None
    grazing = sax_label_mask(SHAPE, LV, (LV[0], LV[1] - 46.0), rv_px=27.1)  # a large RV touching over ~13 deg
    assert np.count_nonzero(grazing == 1) >= 30 and mask_landmarks(grazing).rv_ends is None
    assert mask_landmarks(grazing, min_arc_deg=10.0).rv_ends is not None
    with pytest.raises(ValueError, match="2D"):
        mask_landmarks(mask[None])


def test_reach_two_bridges_a_one_pixel_gap_between_rv_and_septum():
    mask = sax_label_mask(SHAPE, LV, RV)
    rows = np.arange(SHAPE[0])[:, None]
    cols = np.arange(SHAPE[1])[None, :]
    ring = np.hypot(rows - LV[0], cols - LV[1])
    gapped = np.where((mask == 1) & (ring <= 19.6), 0, mask)  # a background rim between RV and myocardium
    assert mask_landmarks(gapped, reach=1).rv_ends is None
    assert mask_landmarks(gapped).rv_ends is not None  # the labels' reach (2)


def test_stray_islands_are_dropped_before_the_rule():
    mask = sax_label_mask(SHAPE, LV, RV)
    noisy = mask.copy()
    noisy[140:146, 150:156] = 3  # a stray "cavity" far from the heart
    noisy[10:16, 150:156] = 2  # stray "myocardium"...
    noisy[10:16, 156:162] = 1  # ...touching a stray "RV"
    assert np.abs(mask_landmarks(noisy).lv_centre - LV).max() > 1.0  # the rule alone is pulled away
    cleaned = largest_regions(noisy)
    np.testing.assert_array_equal(cleaned, mask)
    np.testing.assert_array_equal(mask_landmarks(cleaned).rv_ends, mask_landmarks(mask).rv_ends)


def test_rv_region_nearest_the_first_models_insertions_wins_over_the_largest():
    mask = sax_label_mask(SHAPE, LV, RV, rv_px=14.0)  # a small RV up-left of the LV
    false_rv = np.hypot(*(np.mgrid[:SHAPE[0], :SHAPE[1]] - np.array([100.0, 130.0])[:, None, None])) <= 17.0
    mask[false_rv & (mask == 0)] = 1  # a larger "RV" painted beside the LV wall on the other side
    true_ends = mask_landmarks(sax_label_mask(SHAPE, LV, RV, rv_px=14.0)).rv_ends
    wrong = mask_landmarks(largest_regions(mask)).rv_ends
    assert np.linalg.norm(wrong[:, None] - true_ends[None], axis=-1).min() > 10  # the largest: the false one
    near = true_ends + 1.5
    picked = largest_regions(mask, rv_reference=near)
    np.testing.assert_array_equal(mask_landmarks(picked).rv_ends, true_ends)
    # a reference without finite points, or next to a region under the size limit, leaves the largest
    np.testing.assert_array_equal(largest_regions(mask, np.full((2, 2), np.nan)), largest_regions(mask))
    np.testing.assert_array_equal(largest_regions(mask, near, min_rv_pixels=10_000), largest_regions(mask))


def test_order_like_pairs_ends_with_the_nearer_reference():
    ends = np.array([[10.0, 5.0], [40.0, 6.0]])
    np.testing.assert_array_equal(order_like(ends, np.array([[38.0, 4.0], [12.0, 5.0]])), ends[::-1])
    np.testing.assert_array_equal(order_like(ends, ends + 1.0), ends)


def test_points_survive_the_crop_and_the_way_back():
    mask = sax_label_mask(SHAPE, LV, RV)
    points = truth(mask)
    crop = axis_crop(points, SPACING, 1.0, (96, 96))
    classes = np.stack([crop.sample((mask == k).astype(np.float32)) for k in range(4)])
    classes[0] += 1.0 - classes.sum(axis=0)  # outside the image: background
    found = crop_mask_landmarks(classes, crop, SHAPE)
    np.testing.assert_allclose(order_like(found.rv_ends, points[:2]), points[:2], atol=1.01)
    np.testing.assert_allclose(found.lv_centre, points[2], atol=0.1)
    with pytest.raises(ValueError, match="class probabilities"):
        crop_mask_landmarks(classes[:3], crop, SHAPE)


def test_a_mask_refiner_moves_rough_points_onto_the_rule_points(tmp_path):
    make_band_mask_model(tmp_path)
    refiner = load_model(tmp_path / "test_sax_mask.json")
    assert refiner.card.landmark_names == NAMES and refiner.card.mask_rule == "sax"
    mask = sax_label_mask(SHAPE, LV, RV)
    points = truth(mask)
    rough = points + np.array([[2.0, -1.5], [-1.0, 2.5], [1.5, 1.5]])
    refined, which = refine_points(refiner, [render_mask_image(mask)], np.asarray(SPACING), rough[None], NAMES)
    assert which.all()
    assert np.abs(rough - points).max() >= 2.0
    assert np.abs(refined[0] - points).max() <= 1.01  # the rule's pixels, anterior still the upper one


def test_a_mask_refiner_decides_presence_by_the_rule(tmp_path):
    make_band_mask_model(tmp_path)
    refiner = load_model(tmp_path / "test_sax_mask.json")
    mask = sax_label_mask(SHAPE, LV, RV)
    points = truth(mask)
    no_rv = np.where(mask == 1, 0, mask)
    images = [render_mask_image(no_rv), render_mask_image(mask), render_mask_image(mask)]
    first = np.stack([points + 1.5, points + 1.0, points + 1.0])
    first[1, 0] = np.nan  # the first model called image 1's anterior insertion absent...
    candidates = first.copy()
    candidates[1, 0] = points[0] - 2.0  # ...on a weak peak that still places the crop
    first[2, :] = np.nan  # image 2: no candidate at all, nothing to read
    candidates[2, :] = np.nan
    refined, which = refine_points(refiner, images, np.asarray(SPACING), first, NAMES, candidates=candidates)
    assert which[:2].all() and not which[2].any()
    assert np.isnan(refined[0, :2]).all()  # no RV in the mask: no insertion points, whatever the first model said
    np.testing.assert_allclose(refined[0, 2], LV, atol=0.1)
    assert np.abs(refined[1] - points).max() <= 1.01  # the rule confirms the weak anterior insertion
    assert np.isnan(refined[2]).all()


def test_crops_borrow_the_rv_axis_from_the_nearest_complete_image():
    candidates = np.full((4, 3, 2), np.nan)
    candidates[0] = [[10.0, 20.0], [30.0, 22.0], [20.0, 40.0]]  # complete
    candidates[1, 2] = [25.0, 45.0]  # the LV centre only
    candidates[2, 1:] = [[33.0, 30.0], [22.0, 48.0]]  # one insertion missing
    candidates[3] = [[50.0, 60.0], [70.0, 62.0], [60.0, 80.0]]  # complete, but another image size
    shapes = [(100, 100), (100, 100), (100, 100), (80, 90)]
    out = borrow_crop_axes(candidates, NAMES, "sax_axis", shapes)
    np.testing.assert_allclose(out[1], [[15.0, 25.0], [35.0, 27.0], [25.0, 45.0]])  # image 0's offsets
    np.testing.assert_allclose(out[2], [[12.0, 28.0], [33.0, 30.0], [22.0, 48.0]])  # only the missing one
    np.testing.assert_array_equal(out[[0, 3]], candidates[[0, 3]])
    nothing = candidates.copy()
    nothing[1, 2] = np.nan  # without an LV centre there is nothing to hang the axis on
    assert np.isnan(borrow_crop_axes(nothing, NAMES, "sax_axis", shapes)[1]).all()
    alone = borrow_crop_axes(candidates[1:2], NAMES, "sax_axis", shapes[1:2])  # no donor in the call
    assert np.isnan(alone[0, :2]).all()


def test_a_whole_image_mask_refiner_reads_every_image_by_the_rule(tmp_path):
    make_band_mask_model(tmp_path, name="whole_mask", input_size=(176, 192), pixel_size_mm=1.5, crop="")
    refiner = load_model(tmp_path / "whole_mask.json")
    assert refiner.card.crop == "" and refiner.card.mask_rule == "sax"
    mask = sax_label_mask(SHAPE, LV, RV)
    points = truth(mask)
    no_rv = np.where(mask == 1, 0, mask)
    images = [render_mask_image(mask), render_mask_image(no_rv), render_mask_image(mask)]
    first = np.full((3, 3, 2), np.nan)  # the first model found nothing anywhere...
    references = np.stack([points[[1, 0, 2]] + 3.0, points + 3.0, points + 3.0])  # ...its best guesses order the ends
    refined, which = refine_points(refiner, images, np.asarray(SPACING), first, NAMES, candidates=references)
    assert which.all()  # a whole-image model reads every image: no crop to place
    np.testing.assert_allclose(refined[0], points[[1, 0, 2]], atol=1.01)  # ends named after the references
    assert np.isnan(refined[1, :2]).all() and np.abs(refined[1, 2] - LV).max() < 0.5  # no RV: no insertions
    np.testing.assert_allclose(refined[2], points, atol=1.01)


def test_a_mask_model_is_not_a_first_model(tmp_path):
    make_band_mask_model(tmp_path, name="whole_mask", crop="")
    with pytest.raises(ModelError, match="anterior RV insertion"):
        LandmarkDetector(tmp_path / "whole_mask.json")
    make_test_model(tmp_path, name="spots_lax", view_family="lax")
    with pytest.raises(ModelError, match="whole-image model needs"):  # SAX points cannot refine long-axis ones
        LandmarkDetector(tmp_path / "spots_lax.json", refine_with=tmp_path / "whole_mask.json")
    make_test_model(tmp_path, name="spots_sax", view_family="sax")
    detector = LandmarkDetector(tmp_path / "spots_sax.json", refine_with=tmp_path / "whole_mask.json")
    assert detector.refined_by == "whole_mask"
    mask = sax_label_mask(SHAPE, LV, RV)
    borrowing = LandmarkDetector(tmp_path / "spots_sax.json", refine_with=tmp_path / "whole_mask.json",
                                 borrow_axes=True)  # borrowing only places crops: a whole-image stage has none
    found = borrowing.detect([render_mask_image(mask)], SPACING).points[0]
    np.testing.assert_allclose(found[2], LV, atol=1.0)  # the whole-image rule's LV centre


def test_mask_cards_are_checked(tmp_path):
    make_band_mask_model(tmp_path)
    card = ModelCard.from_json(tmp_path / "test_sax_mask.json").__dict__
    base = {k: v for k, v in card.items() if k != "path"} | {"input_size": [96, 96]}
    base["views"], base["channels"] = list(base["views"]), list(base["channels"])
    for change, message in (({"mask_rule": "ultrasound"}, "mask_rule must be one of"),
                            ({"mask_rule": "lax"}, "'lax'.*lax refinement model"),
                            ({"crop": "lv_axis"}, "refinement model"),
                            ({"channels": ["background", *NAMES]}, "refinement model"),
                            ({"view_family": "lax", "crop": "lv_axis"}, "refinement model")):
        with pytest.raises(ModelError, match=message):
            ModelCard.from_dict(base | change)


def test_detector_takes_a_mask_refiner_in_place_of_the_card_s(tmp_path):
    make_band_mask_model(tmp_path)
    make_test_model(tmp_path, name="spots_sax", view_family="sax")
    detector = LandmarkDetector(tmp_path / "spots_sax.json", refine_with=tmp_path / "test_sax_mask.json")
    assert detector.refiner is not None and detector.refiner.card.name == "test_sax_mask"
    make_test_model(tmp_path, name="spots_lax", view_family="lax")
    with pytest.raises(ModelError, match="refines"):
        LandmarkDetector(tmp_path / "spots_lax.json", refine_with=tmp_path / "test_sax_mask.json")


def test_a_slice_with_the_rv_on_the_wrong_side_is_read_again_on_its_stack_s_axis(tmp_path):
    make_band_mask_model(tmp_path)
    make_test_model(tmp_path, name="spots_sax", view_family="sax")
    detector = LandmarkDetector(tmp_path / "spots_sax.json", refine_with=tmp_path / "test_sax_mask.json")
    mask = sax_label_mask(SHAPE, LV, RV)
    points = truth(mask)
    no_rv = np.where(mask == 1, 0, mask)
    images = [render_mask_image(m) for m in (mask, mask, mask, mask, no_rv)]
    found = np.stack([points + 0.5 * k for k in range(5)])
    for n in (2, 4):  # "the RV" found across the LV on slices 2 and 4
        found[n, :2] = 2 * found[n, 2] - found[n, :2]
    spacings = np.tile(SPACING, (5, 1))
    checked = detector.check_stack_sides(images, spacings, found, neighbour_indices([0] * 5, range(5)))
    np.testing.assert_array_equal(checked[[0, 1, 3]], found[[0, 1, 3]])
    assert np.abs(checked[2, :2] - points[:2]).max() <= 1.01  # read again on slice 1's axis: the rule's points
    np.testing.assert_array_equal(checked[2, 2], found[2, 2])  # the LV centre stays
    assert np.isnan(checked[4, :2]).all()  # read again, no RV there: absent
    plain = LandmarkDetector(tmp_path / "spots_sax.json", refine=False)  # no mask stage: dropped only
    dropped = plain.check_stack_sides(images, spacings, found, neighbour_indices([0] * 5, range(5)))
    assert np.isnan(dropped[[2, 4], :2]).all() and np.isfinite(dropped[[2, 4], 2]).all()


ACDC = shared_data_dir() / "acdc_sax_cine"


@pytest.mark.skipif(not ACDC.is_dir(), reason=f"real data not available ({ACDC}); see ../shared/data/README.md")
def test_rule_reproduces_the_shipped_acdc_labels():
    matched = total = 0
    for path in list_cases(ACDC)[:12]:
        case = load_case(path)
        for mask, labels in zip(case.mask, case.landmarks, strict=True):
            found = mask_landmarks(mask)
            assert (found.lv_centre is not None) == bool(np.isfinite(labels[2]).all())
            assert (found.rv_ends is not None) == bool(np.isfinite(labels[0]).all())
            if found.lv_centre is not None:
                np.testing.assert_allclose(found.lv_centre, labels[2], atol=1e-3)
            if found.rv_ends is not None:
                total += 1
                matched += bool(np.abs(order_like(found.rv_ends, labels[:2]) - labels[:2]).max() < 1e-3)
    assert total > 50 and matched >= 0.98 * total
