"""DICOM <-> ISMRMRD conversion: ordering, exact geometry, round trips and clear input errors."""

from __future__ import annotations

import random
from pathlib import Path

import ismrmrd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, MRImageStorage, generate_uid

from inline_ai import dicom_geometry
from inline_ai.dicom_io import DicomInputError, read_dicom_series, write_dicom_series
from inline_ai.mrd_files import get_meta, make_image, parse_header, pixel_array
from inline_ai.paths import shared_data_dir

TOLERANCE_MM = 0.01
PERFUSION_DIR = shared_data_dir() / "dicom_sax_perfusion"

# An oblique short-axis-like plane: unit row and column directions, orthogonal.
ROW_DIR = np.array([0.6513073842, 0.7580326624, 0.03442551968])
_COL = np.array([-0.1906495864, 0.2073737939, -0.959504476])
COL_DIR = _COL - np.dot(_COL, ROW_DIR) * ROW_DIR
COL_DIR /= np.linalg.norm(COL_DIR)
NORMAL = np.cross(ROW_DIR, COL_DIR)


def write_synthetic_series(
    folder: Path,
    *,
    slices: int = 3,
    phases: int = 4,
    rows: int = 48,
    cols: int = 40,
    spacing: tuple[float, float] = (1.8, 1.4),
    slice_gap_mm: float = 10.0,
    series_uid: str | None = None,
    seed: int = 0,
) -> list[dict[str, object]]:
    """Write an oblique multi-slice cine DICOM series with shuffled file names; return truth per file.

    Slices are written base (largest position along the normal) first, and within a slice the
    InstanceNumbers run against time, so a reader sorting by name or instance number fails.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    series_uid = series_uid or generate_uid()
    study_uid, frame_uid = generate_uid(), generate_uid()
    origin = np.array([-11.6, -205.3, 20.4])
    truth: list[dict[str, object]] = []
    names = [f"IMG{n:03d}" for n in range(slices * phases)]
    random.Random(seed).shuffle(names)
    instance = 0
    for slice_index in reversed(range(slices)):
        for phase_index in range(phases):
            instance += 1
            position = origin + slice_index * slice_gap_mm * NORMAL + rng.normal(0, 0.001, 3) * 0
            pixels = rng.integers(0, 4000, size=(rows, cols), dtype=np.uint16)
            pixels[0, 0] = 1000 * slice_index + phase_index  # identity marker
            ds = _mr_dataset(pixels, position=position, spacing=spacing, study_uid=study_uid,
                             series_uid=series_uid, frame_uid=frame_uid)
            ds.InstanceNumber = phases * slices + 1 - instance
            ds.TriggerTime = f"{40.0 * phase_index + 12.5:.1f}"
            ds.SliceLocation = f"{np.dot(position, NORMAL):.4f}"
            name = names.pop()
            ds.save_as(folder / name, enforce_file_format=True)
            truth.append({"file": name, "slice": slice_index, "phase": phase_index, "pixels": pixels,
                          "ipp": position, "spacing": spacing})
    return truth


def _mr_dataset(pixels: np.ndarray, *, position: np.ndarray, spacing: tuple[float, float], study_uid: str,
                series_uid: str, frame_uid: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.PatientName = "TEST^SYNTHETIC"
    ds.PatientID = "SYN001"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.SeriesNumber = 7
    ds.SeriesDescription = "cine sax synthetic"
    ds.MagneticFieldStrength = "3"
    ds.SliceThickness = "6"
    ds.PatientPosition = "HFS"
    ds.Manufacturer = "TESTVENDOR"
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.10f}" for v in (*ROW_DIR, *COL_DIR)]
    ds.PixelSpacing = [f"{spacing[0]}", f"{spacing[1]}"]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def _corners_from_dataset(ds: Dataset) -> np.ndarray:
    return dicom_geometry.from_dicom(ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing,
                                     ds.Rows, ds.Columns).corners_mm()


# --------------------------------------------------------------------------------------------
# Reading synthetic series


def test_read_orders_slices_along_normal_and_phases_by_trigger_time(tmp_path: Path) -> None:
    truth = write_synthetic_series(tmp_path / "in", slices=3, phases=4)
    header_xml, images = read_dicom_series(tmp_path / "in")

    assert len(images) == 12
    for image in images:
        marker = int(pixel_array(image)[0, 0])
        assert (image.slice, image.phase) == divmod(marker, 1000)
    positions = [float(np.dot(image.position, NORMAL)) for image in images]
    assert positions == sorted(positions)
    assert [image.image_index for image in images] == list(range(1, 13))
    assert {image.image_series_index for image in images} == {7}
    triggers = [float(get_meta(image)["TriggerTime"]) for image in images if image.slice == 1]
    assert triggers == sorted(triggers) and len(triggers) == 4

    header = parse_header(header_xml)
    encoding = header.encoding[0]
    assert (encoding.encodedSpace.matrixSize.x, encoding.encodedSpace.matrixSize.y) == (40, 48)
    assert encoding.encodedSpace.fieldOfView_mm.x == pytest.approx(40 * 1.4)
    assert encoding.encodedSpace.fieldOfView_mm.y == pytest.approx(48 * 1.8)
    assert encoding.encodedSpace.fieldOfView_mm.z == pytest.approx(6.0)
    assert encoding.encodingLimits.slice.maximum == 2
    assert encoding.encodingLimits.phase.maximum == 3
    assert header.measurementInformation.seriesDescription == "cine sax synthetic"
    assert header.acquisitionSystemInformation.systemFieldStrength_T == pytest.approx(3.0)
    assert len(truth) == 12


def test_read_geometry_is_exact(tmp_path: Path) -> None:
    truth = {item["file"]: item for item in write_synthetic_series(tmp_path / "in", slices=2, phases=2)}
    _, images = read_dicom_series(sorted((tmp_path / "in").iterdir()))
    for image in images:
        expected = truth[get_meta(image)["SourceFile"]]
        geometry = dicom_geometry.from_ismrmrd(image)
        assert np.allclose(geometry.first_pixel_mm, expected["ipp"], atol=TOLERANCE_MM)
        assert np.allclose(image.read_dir, ROW_DIR, atol=1e-6)
        assert np.allclose(image.phase_dir, COL_DIR, atol=1e-6)
        assert np.allclose(image.slice_dir, NORMAL, atol=1e-6)
        assert geometry.spacing_mm == pytest.approx(expected["spacing"], abs=1e-5)
        # ISMRMRD position is the image centre: midway between opposite corner pixel centres.
        corners = geometry.corners_mm()
        assert np.allclose(image.position, (corners[0] + corners[3]) / 2, atol=TOLERANCE_MM)
        rows, cols = expected["pixels"].shape
        row_mm, col_mm = expected["spacing"]
        centre = expected["ipp"] + (cols - 1) / 2 * col_mm * ROW_DIR + (rows - 1) / 2 * row_mm * COL_DIR
        assert np.allclose(image.position, centre, atol=TOLERANCE_MM)
        assert np.array_equal(pixel_array(image), expected["pixels"].astype(np.float32))


# --------------------------------------------------------------------------------------------
# Round trips


def _assert_same_geometry(source: Dataset, written: Dataset) -> None:
    assert np.allclose([float(v) for v in written.ImagePositionPatient],
                       [float(v) for v in source.ImagePositionPatient], atol=TOLERANCE_MM)
    assert np.allclose([float(v) for v in written.ImageOrientationPatient],
                       [float(v) for v in source.ImageOrientationPatient], atol=1e-5)
    assert np.allclose([float(v) for v in written.PixelSpacing],
                       [float(v) for v in source.PixelSpacing], atol=1e-4)
    assert np.allclose(_corners_from_dataset(written), _corners_from_dataset(source), atol=TOLERANCE_MM)


def test_round_trip_keeps_geometry_pixels_and_study(tmp_path: Path) -> None:
    write_synthetic_series(tmp_path / "in", slices=3, phases=2)
    _, images = read_dicom_series(tmp_path / "in")
    paths = write_dicom_series(images, tmp_path / "out", source_dicom_dir=tmp_path / "in")

    assert len(paths) == 6
    written = [pydicom.dcmread(path) for path in paths]
    sources = {ds.SOPInstanceUID: ds for ds in (pydicom.dcmread(p) for p in (tmp_path / "in").iterdir())}
    for ds in written:
        source = sources[ds.SourceImageSequence[0].ReferencedSOPInstanceUID]
        _assert_same_geometry(source, ds)
        assert np.array_equal(ds.pixel_array, source.pixel_array)
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.PatientID == "SYN001" and str(ds.PatientName) == "TEST^SYNTHETIC"
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
        assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert ds.SeriesDescription == "cine sax synthetic AI"
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 0
        assert float(ds.TriggerTime) == float(source.TriggerTime)
    assert len({ds.SeriesInstanceUID for ds in written}) == 1
    assert len({ds.SOPInstanceUID for ds in written}) == 6
    with open(paths[0], "rb") as handle:
        assert handle.read(132)[128:] == b"DICM"


def test_written_series_reads_back_as_the_same_series(tmp_path: Path) -> None:
    write_synthetic_series(tmp_path / "in", slices=2, phases=3)
    _, images = read_dicom_series(tmp_path / "in")
    write_dicom_series(images, tmp_path / "out")
    _, again = read_dicom_series(tmp_path / "out")
    assert [(i.slice, i.phase) for i in again] == [(i.slice, i.phase) for i in images]
    for before, after in zip(images, again, strict=True):
        assert np.allclose(before.position, after.position, atol=TOLERANCE_MM)
        assert np.array_equal(pixel_array(before), pixel_array(after))


def test_float_and_negative_pixels_are_rescaled_into_uint16(tmp_path: Path) -> None:
    values = np.linspace(-3.5, 1234.25, 30 * 20, dtype=np.float32).reshape(30, 20)
    image = make_image(values, pixel_spacing_mm=(1.5, 1.25), position=(3.0, -4.0, 5.0),
                       read_dir=ROW_DIR, phase_dir=COL_DIR, series_index=600,
                       meta={"SeriesDescription": "lax cine"})
    [path] = write_dicom_series([image], tmp_path / "out")
    ds = pydicom.dcmread(path)
    assert ds.pixel_array.dtype == np.uint16
    restored = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert np.abs(restored - values).max() <= float(ds.RescaleSlope)
    assert ds.SeriesNumber == 600 and ds.SeriesDescription == "lax cine AI"
    geometry = dicom_geometry.from_ismrmrd(image)
    assert np.allclose(_corners_from_dataset(ds), geometry.corners_mm(), atol=TOLERANCE_MM)


def test_rgb_report_is_written_as_secondary_capture(tmp_path: Path) -> None:
    rgb = np.zeros((3, 1, 24, 32), dtype=np.uint16)
    rgb[0, 0, :, :16] = 255  # left half red
    report = ismrmrd.Image.from_array(rgb)
    report.field_of_view[:] = (32.0, 24.0, 8.0)
    report.read_dir[:] = (1.0, 0.0, 0.0)
    report.phase_dir[:] = (0.0, 1.0, 0.0)
    report.slice_dir[:] = (0.0, 0.0, 1.0)
    report.image_series_index = 601
    report.image_type = ismrmrd.IMTYPE_RGB
    [path] = write_dicom_series([report], tmp_path / "out", series_description="report")
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
    assert ds.PhotometricInterpretation == "RGB" and ds.SamplesPerPixel == 3
    assert ds.pixel_array.shape == (24, 32, 3)
    assert ds.pixel_array[0, 0].tolist() == [255, 0, 0] and ds.pixel_array[0, 31].tolist() == [0, 0, 0]
    assert ds.SeriesDescription == "report AI"


# --------------------------------------------------------------------------------------------
# The real perfusion series


@pytest.fixture(scope="module")
def perfusion() -> tuple[str, list]:
    if not PERFUSION_DIR.is_dir():
        pytest.skip(f"real DICOM series not found at {PERFUSION_DIR} (set INLINE_AI_DATA)")
    return read_dicom_series(PERFUSION_DIR)


def test_perfusion_series_reads_as_30_phases_of_one_slice(perfusion: tuple[str, list]) -> None:
    header_xml, images = perfusion
    assert len(images) == 30
    assert {image.slice for image in images} == {0}
    assert [image.phase for image in images] == list(range(30))
    triggers = [float(get_meta(image)["TriggerTime"]) for image in images]
    assert triggers == sorted(triggers)
    header = parse_header(header_xml)
    assert header.acquisitionSystemInformation.systemFieldStrength_T == pytest.approx(1.5)  # 15000 gauss
    assert header.encoding[0].encodingLimits.phase.maximum == 29
    assert header.measurementInformation.seriesDescription == "First Pass New"


def test_perfusion_round_trip_keeps_geometry(perfusion: tuple[str, list], tmp_path: Path) -> None:
    _, images = perfusion
    paths = write_dicom_series(images, tmp_path / "out", source_dicom_dir=PERFUSION_DIR)
    sources = {ds.SOPInstanceUID: ds for ds in (pydicom.dcmread(p) for p in PERFUSION_DIR.glob("I*"))}
    for path in paths:
        ds = pydicom.dcmread(path)
        source = sources[ds.SourceImageSequence[0].ReferencedSOPInstanceUID]
        _assert_same_geometry(source, ds)
        assert np.array_equal(ds.pixel_array.astype(np.int32), source.pixel_array.astype(np.int32))
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.FrameOfReferenceUID == source.FrameOfReferenceUID


# --------------------------------------------------------------------------------------------
# Bad input


def _assert_one_line_error(error: pytest.ExceptionInfo[DicomInputError], name: str, words: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert name in message
    assert words in message.lower()


def test_empty_directory_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DicomInputError) as error:
        read_dicom_series(tmp_path / "empty")
    _assert_one_line_error(error, "empty", "empty directory")


def test_non_dicom_file_is_rejected(tmp_path: Path) -> None:
    write_synthetic_series(tmp_path / "in", slices=1, phases=2)
    (tmp_path / "in" / "notes.bin").write_bytes(b"hello, not an image" * 20)
    with pytest.raises(DicomInputError) as error:
        read_dicom_series(tmp_path / "in")
    _assert_one_line_error(error, "notes.bin", "not a dicom file")


def test_mixed_series_are_rejected(tmp_path: Path) -> None:
    write_synthetic_series(tmp_path / "in", slices=1, phases=2, seed=1)
    write_synthetic_series(tmp_path / "other", slices=1, phases=1, seed=2)
    [other] = list((tmp_path / "other").iterdir())
    other.rename(tmp_path / "in" / "ZZZ_other")
    with pytest.raises(DicomInputError) as error:
        read_dicom_series(tmp_path / "in")
    _assert_one_line_error(error, "ZZZ_other", "mixed series")


def test_missing_pixel_spacing_is_rejected(tmp_path: Path) -> None:
    write_synthetic_series(tmp_path / "in", slices=1, phases=1)
    [path] = list((tmp_path / "in").iterdir())
    ds = pydicom.dcmread(path)
    del ds.PixelSpacing
    ds.save_as(path)
    with pytest.raises(DicomInputError) as error:
        read_dicom_series(path)
    _assert_one_line_error(error, path.name, "missing pixelspacing")


def test_non_mr_modality_is_rejected(tmp_path: Path) -> None:
    write_synthetic_series(tmp_path / "in", slices=1, phases=1)
    [path] = list((tmp_path / "in").iterdir())
    ds = pydicom.dcmread(path)
    ds.Modality = "CT"
    ds.save_as(path)
    with pytest.raises(DicomInputError) as error:
        read_dicom_series(tmp_path / "in")
    _assert_one_line_error(error, path.name, "modality is 'ct'")


def test_compressed_pixels_without_decoder_are_rejected(tmp_path: Path) -> None:
    write_synthetic_series(tmp_path / "in", slices=1, phases=1)
    [path] = list((tmp_path / "in").iterdir())
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 64])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(DicomInputError) as error:
        read_dicom_series(path)
    _assert_one_line_error(error, path.name, "compressed transfer syntax")


def test_different_orientations_are_rejected(tmp_path: Path) -> None:
    write_synthetic_series(tmp_path / "in", slices=2, phases=1)
    path = sorted((tmp_path / "in").iterdir())[-1]
    ds = pydicom.dcmread(path)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.save_as(path)
    with pytest.raises(DicomInputError) as error:
        read_dicom_series(tmp_path / "in")
    _assert_one_line_error(error, path.name, "orientation differs")


def test_multi_frame_files_are_rejected(tmp_path: Path) -> None:
    write_synthetic_series(tmp_path / "in", slices=1, phases=1)
    [path] = list((tmp_path / "in").iterdir())
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 2
    ds.save_as(path)
    with pytest.raises(DicomInputError) as error:
        read_dicom_series(path)
    _assert_one_line_error(error, path.name, "multi-frame")
