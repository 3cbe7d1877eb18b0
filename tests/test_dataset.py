"""The landmark dataset format: save/load round trip, validation, and the real shared data."""

from pathlib import Path

import numpy as np
import pytest

from inline_ai.dataset import LandmarkCase, list_cases, load_case, save_case
from inline_ai.landmarks import LAX_LANDMARKS, SAX_LANDMARKS, landmark_names, view_family
from inline_ai.paths import shared_data_dir


def _case() -> LandmarkCase:
    rng = np.random.default_rng(0)
    landmarks = rng.uniform(0, 20, size=(3, 3, 2)).astype(np.float32)
    landmarks[1, 2] = np.nan
    return LandmarkCase(
        image=rng.integers(0, 4000, size=(3, 24, 31)).astype(np.uint16),
        pixel_spacing=np.array([1.4, 1.2], dtype=np.float32),
        landmarks=landmarks,
        landmark_names=LAX_LANDMARKS,
        view="ch4",
        sequence="cine",
        phase=np.array(["ED", "", "ES"]),
        case_id="phantom_s0001_ch4",
    )


def test_round_trip_keeps_values_and_nan(tmp_path: Path) -> None:
    original = _case()
    loaded = load_case(save_case(tmp_path / "phantom_s0001_ch4.npz", original))
    np.testing.assert_array_equal(loaded.image, original.image)
    np.testing.assert_array_equal(np.isnan(loaded.landmarks), np.isnan(original.landmarks))
    np.testing.assert_allclose(loaded.landmarks, original.landmarks, equal_nan=True)
    assert loaded.landmark_names == LAX_LANDMARKS
    assert (loaded.view, loaded.sequence) == ("ch4", "cine")
    assert list(loaded.phase) == ["ED", "", "ES"]
    assert loaded.patient_id == "phantom_s0001"


def test_missing_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, image=np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="missing keys"):
        load_case(path)


def test_empty_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no .npz cases"):
        list_cases(tmp_path)


def test_view_families() -> None:
    assert view_family("ch3") == "lax" and view_family("sax") == "sax"
    assert landmark_names("ch2") == LAX_LANDMARKS and landmark_names("sax") == SAX_LANDMARKS
    with pytest.raises(ValueError):
        view_family("axial")


def test_real_acdc_case_loads() -> None:
    folder = shared_data_dir() / "acdc_sax_cine"
    if not folder.is_dir():
        pytest.skip(f"real data not present at {folder}")
    case = load_case(list_cases(folder)[0])
    assert case.view == "sax" and case.landmark_names == SAX_LANDMARKS
    assert case.landmarks.shape == (case.image.shape[0], 3, 2)
    assert case.patient_id.startswith("acdc_patient")
