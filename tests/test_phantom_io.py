"""Phantom outputs: ISMRMRD files round-trip through ``read_images``; the CLI writes loadable cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inline_ai.dataset import list_cases, load_case
from inline_ai.mrd_files import get_meta, parse_header, pixel_array, read_images
from inline_ai.phantom import cli
from inline_ai.phantom.generate import generate_case
from inline_ai.phantom.writer import to_uint16, write_mrd

SAMPLE = Path(__file__).resolve().parents[1] / "inline_ai" / "phantom" / "samples" / "ch4_cine_demo.h5"


def test_mrd_round_trip_sax_stack(tmp_path):
    case = generate_case("sax", "cine", 2, phases="ed_es")
    path = write_mrd(tmp_path / "sax.h5", case, series_index=3)
    header_xml, groups = read_images(path)
    images = groups["image_1"]
    assert len(images) == case.image.shape[0]
    header = parse_header(header_xml)
    limits = header.encoding[0].encodingLimits
    slices = int(case.slice_index.max()) + 1
    assert limits.phase.maximum == 1 and limits.slice.maximum == slices - 1
    assert header.measurementInformation.seriesDescription == "CINE SAX"
    assert header.sequenceParameters.sequence_type == "TrueFISP"
    assert header.sequenceParameters.flipAngle_deg[0] == pytest.approx(float(case.extra["flip_angle_deg"]), abs=0.01)
    assert 2.5 < header.sequenceParameters.TR[0] < 4.0 and not header.sequenceParameters.TI
    rows, cols = case.image.shape[1:]
    assert header.encoding[0].reconSpace.matrixSize.x == cols and header.encoding[0].reconSpace.matrixSize.y == rows
    expected = to_uint16(case)
    for n, image in enumerate(images):
        np.testing.assert_array_equal(pixel_array(image), expected[n])
        assert image.slice == case.slice_index[n] and image.phase == case.extra["phase_index"][n]
        assert image.image_series_index == 3
        np.testing.assert_allclose(image.position, case.extra["position"][n], atol=1e-3)
        np.testing.assert_allclose(image.read_dir, case.extra["read_dir"][n], atol=1e-5)
        np.testing.assert_allclose(np.cross(image.read_dir, image.phase_dir), image.slice_dir, atol=1e-5)
        fov = (cols * case.pixel_spacing[1], rows * case.pixel_spacing[0])
        np.testing.assert_allclose(image.field_of_view[:2], fov, rtol=1e-5)
    meta = get_meta(images[len(images) // 2])
    assert meta["SeriesDescription"] == "CINE SAX"
    es = images[-1]  # phase-major: the last image is from the ES phase
    expected_ms = float(case.extra["es_time"]) * float(case.extra["rr_interval_ms"])
    assert float(get_meta(es)["TriggerTime"]) == pytest.approx(expected_ms, abs=0.1)
    assert es.physiology_time_stamp[0] == round(expected_ms / 2.5) and images[0].physiology_time_stamp[0] == 0


def test_cli_writes_npz_and_h5(tmp_path, capsys):
    code = cli.main(["--view", "ch3", "--sequence", "lge", "--subjects", "2", "--seed", "40", "--out", str(tmp_path),
                     "--format", "both"])
    assert code == 0
    files = list_cases(tmp_path)
    assert len(files) == 2 and len(list(tmp_path.glob("*.h5"))) == 2
    case = load_case(files[0])
    assert case.view == "ch3" and case.sequence == "lge" and case.image.shape[0] == 1
    assert case.mask is not None and "lv_length_mm" in case.extra
    assert "LGE PSIR 3CH" in capsys.readouterr().out


def test_cli_single_h5_file_with_phases(tmp_path):
    target = tmp_path / "series.h5"
    assert cli.main(["--view", "ch2", "--phases", "4", "--out", str(target)]) == 0
    _, groups = read_images(target)
    assert [image.phase for image in groups["image_1"]] == [0, 1, 2, 3]


def test_cli_rejects_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["--view", "axial", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        cli.main(["--phases", "zero", "--out", str(tmp_path)])
    assert cli.main(["--view", "ch4"]) == 2


@pytest.mark.parametrize("seed", [8, 9])
def test_t1_map_is_in_milliseconds(seed):
    case = generate_case("sax", "t1", seed, field_strength_t=1.5)
    myocardium = case.image[case.mask == 2]
    blood = case.image[case.mask == 3]
    if bool(case.extra["post_contrast"]):  # gadolinium shortens blood T1 below myocardium
        assert 350 < np.median(myocardium) < 600 and np.median(blood) < np.median(myocardium)
    else:
        assert 850 < np.median(myocardium) < 1150 and np.median(blood) > 1300


def test_lge_scar_is_brighter_than_remote_myocardium():
    for seed in range(30):
        case = generate_case("sax", "lge", seed, planning=None)
        if bool(case.extra["has_scar"]):
            break
    else:
        pytest.fail("no subject with a scar in 30 seeds")
    myocardium = case.image[case.mask == 2]
    # normal myocardium is nulled: most of it is dark, the scar's top decile is bright
    assert np.percentile(myocardium, 95) > 3 * np.median(myocardium)


def test_bundled_sample_reads_like_scanner_data():
    if not SAMPLE.is_file():
        pytest.skip(f"bundled sample not built yet: {SAMPLE}")
    header_xml, groups = read_images(SAMPLE)
    images = groups["image_1"]
    assert len(images) == 30 and SAMPLE.stat().st_size < 4_000_000
    header = parse_header(header_xml)
    assert header.encoding[0].encodingLimits.phase.maximum == 29
    assert header.measurementInformation.seriesDescription == "CINE 4CH"
