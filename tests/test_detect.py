"""``inline-ai detect`` on a landmark npz case and on an ISMRMRD file, with an analytic spot model."""

from __future__ import annotations

import json

import numpy as np
from model_factory import default_sax_points, make_spot_series, make_test_model, render_spots

from inline_ai.dataset import LandmarkCase, save_case
from inline_ai.detect import main
from inline_ai.display import flip_points
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


def test_detect_reads_a_mirrored_npz_case_by_its_anatomy_unless_told(tmp_path):
    make_test_model(tmp_path / "models", name="spots_std", view_family="sax", display="standard")
    shape, spacing = (208, 256), (1.4, 1.3)
    truth = flip_points(default_sax_points(2, shape, spacing), [shape[1]] * 2, [True, True])
    images = np.stack([render_spots(shape, p, spacing) for p in truth])
    names = ("anterior_rv_insertion", "inferior_rv_insertion", "lv_centre")
    save_case(tmp_path / "case.npz", LandmarkCase(images, np.array(spacing, np.float32), truth.astype(np.float32),
                                                  names, "sax", "cine", case_id="mirrored"))
    model = str(tmp_path / "models" / "spots_std.json")

    def anterior_error_px(display: str) -> tuple[dict, float]:
        out = tmp_path / f"{display}.json"
        assert main([str(tmp_path / "case.npz"), "--model", model, "--json", str(out), "--display", display]) == 0
        series = json.loads(out.read_text())["series"][0]
        found = series["images"][0]["landmarks"]["anterior_rv_insertion"]
        if not found["present"]:
            return series, float("inf")
        return series, float(np.hypot(found["row"] - truth[0, 0, 0], found["col"] - truth[0, 0, 1]))

    series, error = anterior_error_px("auto")
    assert series["display"] == "mirrored" and series["display_from"] == "anatomy" and error < 1.0
    series, error = anterior_error_px("standard")  # told the wrong display, the spots land in the wrong regions
    assert series["display_from"] == "given" and error > 10.0


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
