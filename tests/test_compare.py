"""inline-ai compare: paired differences of two evaluations with patient-bootstrap intervals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inline_ai.compare import compare, load_outcomes, main

NAMES = ["anterior_rv_insertion", "inferior_rv_insertion", "lv_centre"]


def _evaluation(path, distances, reported=None, patients=5, images=4):
    """An evaluate-style JSON of ``patients`` x ``images`` images, all landmarks present; ``distances`` maps
    patient -> the distance (mm) of every landmark there (default 1.0); ``reported`` maps (patient, image) -> the
    reported flags."""
    records = {"names": NAMES, "case": [], "index": [], "patient": [], "present": [], "reported": [], "distance_mm": []}
    for p in range(patients):
        for n in range(images):
            flags = (reported or {}).get((p, n), [True, True, True])
            records["case"].append(f"case_p{p:02d}")
            records["index"].append(n)
            records["patient"].append(f"p{p:02d}")
            records["present"].append([True, True, True])
            records["reported"].append(flags)
            records["distance_mm"].append([distances.get(p, 1.0) if f else None for f in flags])
    path.write_text(json.dumps({"per_image": records}))
    return path


def test_differences_are_exact_and_an_effect_of_one_patient_has_an_interval_reaching_zero(tmp_path):
    a = load_outcomes(_evaluation(tmp_path / "a.json", {}))
    b = load_outcomes(_evaluation(tmp_path / "b.json", {0: 6.0}, reported={(1, 0): [True, True, False]}))
    result = compare(a, b, resamples=500, seed=1)["metrics"]
    assert result["anterior_rv_insertion_mean_mm"]["difference"] == pytest.approx(1.0)  # (4 x 6 + 16 x 1) / 20 - 1
    assert result["lv_centre_mean_mm"]["b"] == pytest.approx((4 * 6 + 15 * 1) / 19)
    assert result["detection_rate_pct"]["difference"] == pytest.approx(-5.0)  # one image of 20 loses its LV
    assert result["lv_centre_missed"]["difference"] == pytest.approx(1.0)
    low, high = result["anterior_rv_insertion_mean_mm"]["ci_low"], result["anterior_rv_insertion_mean_mm"]["ci_high"]
    assert low == pytest.approx(0.0) and high > 2.0  # resamples without patient 0 change nothing
    same = compare(a, a, resamples=200)["metrics"]["inferior_rv_insertion_mean_mm"]
    assert (same["difference"], same["ci_low"], same["ci_high"]) == (0.0, 0.0, 0.0)


def test_an_effect_in_every_patient_has_an_interval_clear_of_zero(tmp_path):
    a = load_outcomes(_evaluation(tmp_path / "a.json", {p: 1.0 + 0.1 * p for p in range(6)}, patients=6))
    b = load_outcomes(_evaluation(tmp_path / "b.json", {p: 0.5 + 0.1 * p for p in range(6)}, patients=6))
    row = compare(a, b, resamples=500)["metrics"]["lv_centre_mean_mm"]
    assert row["difference"] == pytest.approx(-0.5)
    assert row["ci_low"] == pytest.approx(-0.5) and row["ci_high"] == pytest.approx(-0.5)


def test_command_writes_tables_and_rejects_evaluations_of_different_images(tmp_path, capsys):
    a = _evaluation(tmp_path / "a.json", {})
    b = _evaluation(tmp_path / "b.json", {2: 3.0})
    out, table = tmp_path / "c.json", tmp_path / "c.md"
    assert main([str(a), str(b), "--resamples", "300", "--json", str(out), "--markdown", str(table)]) == 0
    written = json.loads(out.read_text())
    assert written["patients"] == 5 and written["images"] == 20
    assert written["metrics"]["lv_centre_mean_mm"]["difference"] == pytest.approx(0.4)
    assert "| lv_centre_mean_mm | 1.00 | 1.40 | +0.40 |" in table.read_text()
    other = _evaluation(tmp_path / "other.json", {}, patients=4)
    assert main([str(a), str(other)]) == 2
    assert "different images" in capsys.readouterr().err
    (tmp_path / "old.json").write_text(json.dumps({"images": 3}))
    assert main([str(a), str(tmp_path / "old.json")]) == 2
    assert "no per_image records" in capsys.readouterr().err


def test_a_landmark_never_detected_has_no_mean(tmp_path):
    flags = {(p, n): [True, True, False] for p in range(5) for n in range(4)}
    a = load_outcomes(_evaluation(tmp_path / "a.json", {}, reported=flags))
    b = load_outcomes(_evaluation(tmp_path / "b.json", {}))
    row = compare(a, b, resamples=100)["metrics"]["lv_centre_mean_mm"]
    assert row["a"] is None and row["b"] == pytest.approx(1.0) and row["difference"] is None
    assert np.isclose(compare(a, b, resamples=100)["metrics"]["detection_rate_pct"]["difference"], 100.0)
