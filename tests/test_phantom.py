"""Phantom geometry and ground truth: landmarks on the right structures, LV length, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from inline_ai.landmarks import LAX_LANDMARKS, SAX_LANDMARKS
from inline_ai.mask_landmarks import LABEL_LV_CAVITY, LABEL_LV_MYOCARDIUM, LABEL_RV_CAVITY
from inline_ai.phantom.anatomy import draw_subject
from inline_ai.phantom.generate import generate_case
from inline_ai.phantom.motion import heart_state
from inline_ai.phantom.planning import PlanningSettings

EXACT = PlanningSettings(plane_error_deg=0.0, inplane_rotation_deg=0.0, sax_rotation_deg=0.0, sax_rotation_bias_deg=0.0,
                         offset_mm=0.0, mirror_probability=0.0)


@pytest.fixture(scope="module")
def sax_case():
    return generate_case("sax", "cine", 11, phases="ed_es", planning=EXACT)


@pytest.fixture(scope="module")
def ch4_case():
    return generate_case("ch4", "cine", 12, phases=12, planning=EXACT)


def test_same_seed_same_case_and_image_seed_varies():
    first = generate_case("ch2", "cine", 3, phases=2)
    second = generate_case("ch2", "cine", 3, phases=2)
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(first.landmarks, second.landmarks)
    other = generate_case("ch2", "cine", 3, phases=2, image_seed=1)
    assert other.image.shape != first.image.shape or not np.array_equal(other.image, first.image)


def test_case_format(sax_case, ch4_case):
    assert sax_case.landmark_names == SAX_LANDMARKS and ch4_case.landmark_names == LAX_LANDMARKS
    for case in (sax_case, ch4_case):
        n, rows, cols = case.image.shape
        assert case.landmarks.shape == (n, 3, 2) and case.mask.shape == (n, rows, cols)
        assert set(np.unique(case.mask)) <= {0, 1, 2, 3}
        assert 1.2 <= case.pixel_spacing[0] <= 2.0
        assert 144 <= min(rows, cols) and max(rows, cols) <= 256
    assert list(sax_case.phase[:1]) == ["ED"] and "ES" in set(sax_case.phase)


def test_lv_length_falls_by_drawn_shortening():
    subject = draw_subject(5)
    case = generate_case("ch4", "cine", 5, phases="ed_es", planning=EXACT)
    length_ed, length_es = case.extra["lv_length_mm"]
    assert length_ed == pytest.approx(subject.heart.lv_length_ed, rel=1e-5)
    assert 100 * (length_ed - length_es) / length_ed == pytest.approx(100 * subject.heart.shortening, abs=1e-3)
    assert 70 <= length_ed <= 105


def test_lv_length_curve_has_minimum_at_es(ch4_case):
    lengths = ch4_case.extra["lv_length_mm"]
    es = int(np.argmin(lengths))
    assert 0 < es < len(lengths) // 2
    assert np.all(np.diff(lengths[: es + 1]) < 0)
    # in an exactly planned 4CH the image length follows the true 3D length
    image_length = ch4_case.extra["lv_length_image_mm"]
    np.testing.assert_allclose(image_length, lengths, atol=3.0)


def test_sax_landmarks_lie_on_their_structures(sax_case):
    present = 0
    for mask, points in zip(sax_case.mask, sax_case.landmarks, strict=True):
        if np.isfinite(points[2]).all():
            r, c = np.round(points[2]).astype(int)
            assert mask[r, c] == 3, "LV centre must lie in the LV cavity"
        for k in (0, 1):
            if np.isfinite(points[k]).all():
                present += 1
                r, c = np.round(points[k]).astype(int)
                assert mask[r, c] == 2, "RV insertion point must be on the LV myocardium"
                assert (mask[r - 1:r + 2, c - 1:c + 2] == 1).any(), "RV insertion point must touch the RV cavity"
    assert present >= 8


def test_sax_slices_outside_the_lv_have_no_landmarks():
    subject = draw_subject(21)
    case = generate_case("sax", "cine", 21, phases=1, planning=EXACT)
    state = heart_state(subject.heart, 0.0)
    axis_z = subject.to_heart(case.extra["position"].astype(float))[:, 2]
    outside = (axis_z > state.lv_length + 3.0) | (axis_z < -3.0)
    inside = (axis_z > 0.3 * state.lv_length) & (axis_z < 0.8 * state.lv_length)
    mid = (axis_z > 0.5 * state.lv_length) & (axis_z < 0.8 * state.lv_length)
    assert outside.any() and mid.any()
    assert np.isnan(case.landmarks[outside]).all()
    assert np.isfinite(case.landmarks[inside, 2]).all(), "every slice through the LV cavity has an LV centre"
    assert np.isfinite(case.landmarks[mid]).all(), "mid-ventricular slices have both RV insertion points"


def _anterior_turn(mask: np.ndarray, points: np.ndarray) -> float:
    """Sign of the turn from the LV-centre-to-RV direction to the anterior RVI, in (col, row) image
    coordinates: +1 = counter-clockwise there (the README's ACDC rule), -1 = the mirror."""
    rv = np.argwhere(mask == 1).mean(axis=0)
    to_rv, to_anterior = rv - points[2], points[0] - points[2]
    return float(np.sign(to_rv[1] * to_anterior[0] - to_rv[0] * to_anterior[1]))


@pytest.mark.parametrize("mirror", [0.0, 1.0])
def test_anterior_rv_insertion_is_anatomical_in_both_handednesses(mirror):
    settings = PlanningSettings(plane_error_deg=0.0, mirror_probability=mirror)  # any in-plane rotation
    case = generate_case("sax", "cine", 4, phases=1, planning=settings)
    signs = {_anterior_turn(mask, points) for mask, points in zip(case.mask, case.landmarks, strict=True)
             if np.isfinite(points).all()}
    # the standard display (RV left, anterior up, like ACDC) follows the README's rule; the mirror flips it
    assert signs == ({1.0} if mirror == 0.0 else {-1.0})


def test_standard_display_matches_acdc_handedness():
    from inline_ai.dataset import list_cases, load_case
    from inline_ai.paths import shared_data_dir

    folder = shared_data_dir() / "acdc_sax_cine"
    if not folder.is_dir():
        pytest.skip(f"real ACDC data not found at {folder}")
    signs = set()
    for path in list_cases(folder)[:4]:
        real = load_case(path)
        signs |= {_anterior_turn(m, p) for m, p in zip(real.mask, real.landmarks, strict=True) if np.isfinite(p).all()}
    assert signs == {1.0}


def test_long_axis_landmarks(ch4_case):
    subject = draw_subject(12)
    for n, (mask, points) in enumerate(zip(ch4_case.mask, ch4_case.landmarks, strict=True)):
        assert np.isfinite(points).all()
        for k in (0, 1):  # hinge points sit at the base of the LV cavity
            r, c = np.round(points[k]).astype(int)
            assert (mask[r - 2:r + 3, c - 2:c + 3] == 3).any()
        r, c = np.round(points[2]).astype(int)
        assert (mask[r - 1:r + 2, c - 1:c + 2] == 2).any(), "apex must be on the LV myocardium"
        # 4CH first hinge is anterolateral: farther from the RV than the inferoseptal one
        rv = np.argwhere(mask == 1).mean(axis=0)
        assert np.linalg.norm(points[0] - rv) > np.linalg.norm(points[1] - rv)
        state = heart_state(subject.heart, float(ch4_case.extra["cardiac_time"][n]))
        apex_3d = subject.to_patient(np.zeros(3))
        rows, cols = ch4_case.image.shape[1:]
        geometry = ch4_case.extra
        rel = apex_3d - geometry["position"][n]
        expected = np.array([rel @ geometry["phase_dir"][n] / ch4_case.pixel_spacing[0] + (rows - 1) / 2,
                             rel @ geometry["read_dir"][n] / ch4_case.pixel_spacing[1] + (cols - 1) / 2])
        # the README apex (farthest from the hinge midpoint) is within a few mm of the 3D apex
        assert np.linalg.norm((points[2] - expected) * ch4_case.pixel_spacing) < 5.0
        assert state.lv_length == pytest.approx(ch4_case.extra["lv_length_mm"][n], rel=1e-5)


def test_planes_that_miss_the_valve_have_no_hinge_points():
    far = PlanningSettings(plane_error_deg=0.0, inplane_rotation_deg=0.0, offset_mm=0.0)
    case = generate_case("ch2", "cine", 7, phases=1, planning=far)
    assert np.isfinite(case.landmarks[0]).all()
    subject = draw_subject(7)
    from inline_ai.phantom import groundtruth
    from inline_ai.phantom.planning import ImagePlane

    rows, cols = case.image.shape[1:]
    plane = ImagePlane(centre=case.extra["position"][0] + 60.0 * case.extra["slice_dir"][0],
                       read_dir=case.extra["read_dir"][0], phase_dir=case.extra["phase_dir"][0],
                       pixel_spacing=tuple(case.pixel_spacing), shape=(rows, cols), thickness=8.0)
    hinges = groundtruth.mitral_hinges(subject, heart_state(subject.heart, 0.0), plane, "ch2")
    assert np.isnan(hinges).all()


def test_apex_absent_when_the_lv_leaves_the_image():
    from inline_ai.phantom import groundtruth
    from inline_ai.phantom.planning import ImagePlane

    subject = draw_subject(7)
    state = heart_state(subject.heart, 0.0)
    plane = ImagePlane(centre=np.zeros(3), read_dir=np.array([1.0, 0, 0]), phase_dir=np.array([0, 1.0, 0]),
                       pixel_spacing=(1.5, 1.5), shape=(50, 50), thickness=8.0)
    reference = np.array([40.0, 25.0])
    inside = np.zeros((50, 50), dtype=np.uint8)
    inside[5:30, 20:30] = 2
    assert np.isfinite(groundtruth.epicardial_apex(inside, reference, subject, state, plane)).all()
    cut = np.zeros((50, 50), dtype=np.uint8)
    cut[0:30, 20:30] = 2  # the LV runs out of the top of the image
    assert np.isnan(groundtruth.epicardial_apex(cut, reference, subject, state, plane)).all()


def test_planning_settings_from_a_dict():
    case = generate_case("ch4", "cine", 2, planning={"mirror_probability": 1.0, "matrix": [208, 256]})
    assert case.image.shape[1:] == (208, 256) and bool(case.extra["mirrored"])
    with pytest.raises(ValueError, match="unknown planning settings"):
        generate_case("ch4", "cine", 2, planning={"mirror": 1.0})


def test_case_and_api_survive_pickling_for_worker_processes():
    import pickle

    case = generate_case("ch2", "lge", 1, planning=PlanningSettings(mirror_probability=0.0))
    clone = pickle.loads(pickle.dumps(case))
    np.testing.assert_array_equal(clone.image, case.image)
    assert clone.extra.keys() == case.extra.keys() and clone.case_id == case.case_id
    function = pickle.loads(pickle.dumps(generate_case))
    again = function("ch2", "lge", 1, planning=pickle.loads(pickle.dumps(PlanningSettings(mirror_probability=0.0))))
    np.testing.assert_array_equal(again.landmarks, case.landmarks)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="unknown view"):
        generate_case("axial", "cine", 0)
    with pytest.raises(ValueError, match="unknown sequence"):
        generate_case("sax", "flair", 0)
    with pytest.raises(ValueError, match="phases"):
        generate_case("ch4", "cine", 0, phases=0)


def test_contrast_jitter_changes_appearance_not_anatomy():
    plain = generate_case("sax", "cine", 5, "ed_es")
    jittered = generate_case("sax", "cine", 5, "ed_es", contrast_jitter=0.6)
    np.testing.assert_array_equal(plain.mask, jittered.mask)
    np.testing.assert_array_equal(plain.landmarks, jittered.landmarks)
    assert not np.allclose(plain.image, jittered.image)
    np.testing.assert_array_equal(jittered.image, generate_case("sax", "cine", 5, "ed_es", contrast_jitter=0.6).image)


def test_rv_junction_extends_the_rv_along_the_septum_only():
    plain = generate_case("sax", "cine", 5, "ed_es", planning=EXACT)
    junction = generate_case("sax", "cine", 5, "ed_es", planning=EXACT, rv_junction=True)
    for label in (LABEL_LV_CAVITY, LABEL_LV_MYOCARDIUM):  # the LV is untouched
        np.testing.assert_array_equal(plain.mask == label, junction.mask == label)
    old_rv, new_rv = plain.mask == LABEL_RV_CAVITY, junction.mask == LABEL_RV_CAVITY
    assert not (old_rv & ~new_rv).any()  # the fillet only adds RV cavity
    added = new_rv & ~old_rv
    assert added.sum() > 20
    # the added cavity hugs the LV: every added pixel is within a few pixels of the LV myocardium
    near_lv = ndimage.binary_dilation(junction.mask == LABEL_LV_MYOCARDIUM, iterations=6)
    assert (added & ~near_lv).sum() <= 0.02 * added.sum()
    # so the RV insertion points move along the LV, not towards or away from its centre
    both = np.isfinite(plain.landmarks).all(axis=(1, 2)) & np.isfinite(junction.landmarks).all(axis=(1, 2))
    assert both.sum() >= 4
    radius = lambda points: np.hypot(*(points[:, :2] - points[:, 2:3]).transpose(2, 0, 1))  # noqa: E731
    moved = np.hypot(*(junction.landmarks[both, :2] - plain.landmarks[both, :2]).transpose(2, 0, 1))
    assert moved.max() > 1.0
    assert np.abs(radius(junction.landmarks[both]) - radius(plain.landmarks[both])).max() < 3.0


def test_lean_epicardium_darkens_only_the_fat_around_the_lv():
    from inline_ai.phantom.calibrate import lv_band

    plain = generate_case("sax", "cine", 5, "ed_es", planning=EXACT)
    lean = generate_case("sax", "cine", 5, "ed_es", planning=EXACT, lean_epicardium=True)
    np.testing.assert_array_equal(plain.mask, lean.mask)  # labels and landmarks do not see the fat
    np.testing.assert_array_equal(plain.landmarks, lean.landmarks)
    spacing = np.asarray(plain.pixel_spacing, float)
    darker, change_near, change_far = [], [], []
    for index in range(len(plain.image)):
        mask = plain.mask[index]
        lv = (mask == LABEL_LV_MYOCARDIUM) | (mask == LABEL_LV_CAVITY)
        if lv.sum() < 50:
            continue
        band = lv_band(mask, spacing)
        darker.append(np.median(lean.image[index][band]) < np.median(plain.image[index][band]))
        change = np.abs(lean.image[index] - plain.image[index])
        far = ndimage.distance_transform_edt(mask == 0, sampling=spacing) > 40.0  # well away from the heart
        change_near.append(change[band].mean())
        change_far.append(change[far].mean())  # only k-space filtering's ringing reaches there
    assert len(darker) >= 4 and np.mean(darker) >= 0.75
    assert np.mean(change_far) < 0.05 * np.mean(change_near)


def test_dark_epicardium_lays_myocardium_dark_tissue_on_the_lv_wall_only():
    from inline_ai.phantom.calibrate import lv_band

    lean = generate_case("sax", "cine", 5, "ed_es", planning=EXACT, lean_epicardium=True)
    dark = generate_case("sax", "cine", 5, "ed_es", planning=EXACT, lean_epicardium=True, dark_epicardium=True)
    np.testing.assert_array_equal(lean.mask, dark.mask)  # labels and landmarks do not see the band
    np.testing.assert_array_equal(lean.landmarks, dark.landmarks)
    spacing = np.asarray(lean.pixel_spacing, float)
    band_vs_wall, darker, rv_change, band_change = [], [], [], []
    for index in range(len(lean.image)):
        mask = lean.mask[index]
        lv = (mask == LABEL_LV_MYOCARDIUM) | (mask == LABEL_LV_CAVITY)
        if lv.sum() < 50 or (mask == LABEL_RV_CAVITY).sum() < 50:
            continue
        band, wall = lv_band(mask, spacing), mask == LABEL_LV_MYOCARDIUM
        image = dark.image[index]
        darker.append(np.median(image[band]) < np.median(lean.image[index][band]))
        band_vs_wall.append(np.median(image[band]) / np.median(image[wall]))
        change = np.abs(image - lean.image[index])
        band_change.append(change[band].mean())
        rv_change.append(change[mask == LABEL_RV_CAVITY].mean())  # the RV blood stays as it was
    assert len(darker) >= 4 and np.mean(darker) >= 0.75
    assert 0.5 < np.median(band_vs_wall) < 1.6  # about as dark as the wall it lies on
    assert np.mean(rv_change) < 0.1 * np.mean(band_change)


def test_contrast_jitter_keeps_the_cavities_brighter_than_the_myocardium():
    from inline_ai.phantom.contrast import draw_sequence, jitter_contrast, tissue_values

    rng = np.random.default_rng(0)
    ratios, spread = [], []
    for _ in range(300):
        values = tissue_values(draw_sequence("cine", rng), rng)
        values["rv_blood"] = 0.8 * values["blood"]
        out = jitter_contrast(values, rng, 0.8)
        ratios.append(min(out["blood"], out["rv_blood"]) / out["myocardium"])
        spread.append(np.log(out["fat"] / values["fat"]))
    assert min(ratios) >= 1.6 - 1e-9
    assert np.std(spread) > 0.2  # the factors really vary
    with pytest.raises(ValueError, match="jitter"):
        jitter_contrast(values, rng, -0.1)
