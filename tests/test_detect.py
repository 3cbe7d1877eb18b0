"""``inline-ai detect`` on a landmark npz case and on an ISMRMRD file, with an analytic spot model."""

from __future__ import annotations

import json

import numpy as np
from model_factory import make_spot_series, make_test_model, render_spots

from inline_ai.dataset import LandmarkCase, save_case
from inline_ai.detect import main
from inline_ai.mrd_files import write_images


def test_detect_npz_case_finds_the_spots(tmp_path):
    make_test_model(tmp_path / "models", name="spots_lax", view_family="lax")
    series = make_spot_series(view_family="lax", phases=3)
    images = np.stack([render_spots((208, 256), p, series.pixel_spacing) for p in series.points])
    case = LandmarkCase(images, np.array(series.pixel_spacing, np.float32), series.points.astype(np.float32),
                        series.landmark_names, "ch4", "cine", case_id="spots")
    save_case(tmp_path / "case.npz", case)
    out = tmp_path / "out.json"
    assert main([str(tmp_path / "case.npz"), "--model", str(tmp_path / "models" / "spots_lax.json"),
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    entries = result["series"][0]["images"]
    assert len(entries) == 3 and result["series"][0]["view"] == "ch4"
    for n, entry in enumerate(entries):
        apex = entry["landmarks"]["apex"]
        assert apex["present"]
        error_mm = np.hypot((apex["row"] - series.points[n, 2, 0]) * 1.4, (apex["col"] - series.points[n, 2, 1]) * 1.3)
        assert error_mm < 1.0


def test_detect_ismrmrd_file_and_bad_input(tmp_path, capsys):
    make_test_model(tmp_path / "models", name="spots_sax", view_family="sax")
    series = make_spot_series(view_family="sax", phases=2)
    write_images(tmp_path / "series.h5", series.header_xml, {"image_1": series.images})
    out = tmp_path / "out.json"
    assert main([str(tmp_path / "series.h5"), "--model", str(tmp_path / "models" / "spots_sax.json"),
                 "--json", str(out)]) == 0
    entry = json.loads(out.read_text())["series"][0]["images"][1]
    centre = entry["landmarks"]["lv_centre"]
    assert abs(centre["row"] - series.points[1, 2, 0]) < 1.0 and abs(centre["col"] - series.points[1, 2, 1]) < 1.0
    (tmp_path / "notes.txt").write_text("x")
    assert main([str(tmp_path / "notes.txt"), "--model", "spots_sax", "--json", str(out)]) == 2
    assert "expected a landmark .npz" in capsys.readouterr().err
