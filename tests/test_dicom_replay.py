"""DICOM end to end: a DICOM series -> ``inline-ai replay`` (the gadget over its real protocol,
with a test model) -> ``--dicom-out``; the AI series keep the source geometry, patient and study.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from inline_ai_gadgets import replay
from model_factory import make_test_model
from test_dicom_io import PERFUSION_DIR, TOLERANCE_MM, write_synthetic_series

from inline_ai import dicom_geometry

pytestmark = pytest.mark.filterwarnings("ignore:A builtin ctypes object:RuntimeWarning")


@pytest.fixture(scope="module")
def sax_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_model(tmp_path_factory.mktemp("models"), name="test_sax", view_family="sax",
                           input_size=(64, 64))


def _replay_dicom(source: Path, out: Path, model: Path) -> float:
    started = time.perf_counter()
    code = replay.main([str(source), "--out", str(out), "--model", str(model), "--dicom-out", "--no-figures"])
    elapsed = time.perf_counter() - started
    assert code == 0, (out / "gadget.log").read_text()[-3000:] if (out / "gadget.log").exists() else code
    return elapsed


def _corners(ds: pydicom.Dataset) -> np.ndarray:
    return dicom_geometry.from_dicom(ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing,
                                     ds.Rows, ds.Columns).corners_mm()


def _check_ai_dicom(source_dir: Path, out_dir: Path, *, series_number: int, images: int) -> list[pydicom.Dataset]:
    """AI images match their source image's geometry; the report series is separate; same study."""
    sources = {}
    for path in source_dir.iterdir():
        try:
            ds = pydicom.dcmread(path)
        except pydicom.errors.InvalidDicomError:
            continue
        sources[ds.SOPInstanceUID] = ds
    written = [pydicom.dcmread(path) for path in sorted((out_dir / "dicom").iterdir())]
    ai = [ds for ds in written if ds.SeriesNumber == series_number * 100]
    reports = [ds for ds in written if ds.SeriesNumber == series_number * 100 + 1]
    assert len(ai) == images and len(reports) >= 1
    assert len(ai) + len(reports) == len(written)
    study = next(iter(sources.values())).StudyInstanceUID
    for ds in ai:
        source = sources[ds.SourceImageSequence[0].ReferencedSOPInstanceUID]
        assert np.allclose([float(v) for v in ds.ImagePositionPatient],
                           [float(v) for v in source.ImagePositionPatient], atol=TOLERANCE_MM)
        assert np.allclose([float(v) for v in ds.ImageOrientationPatient],
                           [float(v) for v in source.ImageOrientationPatient], atol=1e-5)
        assert np.allclose([float(v) for v in ds.PixelSpacing], [float(v) for v in source.PixelSpacing], atol=1e-4)
        assert np.allclose(_corners(ds), _corners(source), atol=TOLERANCE_MM)
        assert ds.pixel_array.shape == source.pixel_array.shape
        assert ds.SeriesDescription == f"{source.SeriesDescription} AI"
        assert float(ds.TriggerTime) == float(source.TriggerTime)
    for ds in written:
        assert ds.StudyInstanceUID == study
        assert ds.PatientID == next(iter(sources.values())).PatientID
        assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert len({ds.SeriesInstanceUID for ds in ai}) == 1
    assert {ds.SeriesDescription for ds in reports} == {f"{ai[0].SeriesDescription} report"}
    return written


def test_synthetic_oblique_cine_stack_through_replay(sax_model: Path, tmp_path: Path) -> None:
    write_synthetic_series(tmp_path / "in", slices=2, phases=3, rows=96, cols=80, spacing=(1.6, 1.4))
    _replay_dicom(tmp_path / "in", tmp_path / "out", sax_model)
    _check_ai_dicom(tmp_path / "in", tmp_path / "out", series_number=7, images=6)
    summaries = json.loads((tmp_path / "out" / "landmarks.json").read_text())["series"]
    assert sorted(s["slice"] for s in summaries) == [0, 1]


def test_perfusion_series_through_replay(sax_model: Path, tmp_path: Path) -> None:
    if not PERFUSION_DIR.is_dir():
        pytest.skip(f"real DICOM series not found at {PERFUSION_DIR} (set INLINE_AI_DATA)")
    elapsed = _replay_dicom(PERFUSION_DIR, tmp_path / "out", sax_model)
    _check_ai_dicom(PERFUSION_DIR, tmp_path / "out", series_number=6, images=30)
    report = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert report["originals_identical"] == 30
    print(f"perfusion DICOM replay: {elapsed:.2f} s wall (gadget stream {report['stream_s']:.2f} s)")
