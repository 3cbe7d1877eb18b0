"""DICOM in and out: one MR DICOM series <-> ISMRMRD header and 2D ``ismrmrd.Image`` objects.

``read_dicom_series`` turns a directory (or list of files) holding ONE DICOM series into an
ISMRMRD XML header and 2D images with exact geometry (see ``inline_ai.dicom_geometry``):
slices are grouped by their position along the slice normal (ascending), cine phases are
ordered by TriggerTime (InstanceNumber when trigger times are missing or repeat).

``write_dicom_series`` writes images (the AI-annotated series, the report) as derived DICOM:
one new DICOM series per ISMRMRD ``image_series_index``, explicit VR little endian, 16-bit
unsigned grey pixels (with RescaleSlope/Intercept when the values need it) as MR Image Storage,
RGB images as Secondary Capture. Patient and study tags come from the source DICOM when given,
so the results land in the same study in PACS.

Bad input raises ``DicomInputError`` whose message is one line naming the file and the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ismrmrd
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from inline_ai import dicom_geometry
from inline_ai.mrd_files import HeaderSpec, get_meta, make_header, make_image, parse_header

# Slices whose positions along the normal differ by less than this are one slice location.
SLICE_TOLERANCE_MM = 0.05
# Frames of one series must share orientation within this (direction cosine difference).
ORIENTATION_TOLERANCE = 1e-3
DEFAULT_SLICE_THICKNESS_MM = 8.0
ISMRMRD_TICK_MS = 2.5  # time stamps in ISMRMRD headers count 2.5 ms ticks
PATIENT_POSITIONS = {"HFP", "HFS", "HFDR", "HFDL", "FFP", "FFS", "FFDR", "FFDL"}

# DICOM tags kept in each image's meta (keyword -> meta key; same name).
META_KEYWORDS = (
    "SeriesInstanceUID", "StudyInstanceUID", "SOPInstanceUID", "SOPClassUID", "FrameOfReferenceUID",
    "SeriesDescription", "SeriesNumber", "InstanceNumber", "TriggerTime", "SliceLocation",
    "AcquisitionTime", "ProtocolName", "SequenceName", "PatientPosition", "Manufacturer",
)

# Tags copied from the source DICOM so the derived series joins the same patient and study.
PATIENT_STUDY_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge", "PatientWeight",
    "PatientSize", "PatientIdentityRemoved", "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID",
    "AccessionNumber", "ReferringPhysicianName", "StudyDescription", "FrameOfReferenceUID",
    "PositionReferenceIndicator", "PatientPosition", "Manufacturer", "InstitutionName",
    "MagneticFieldStrength", "ScanningSequence", "SequenceVariant", "ScanOptions", "MRAcquisitionType",
    "RepetitionTime", "EchoTime", "EchoTrainLength", "FlipAngle", "ProtocolName",
)


class DicomInputError(ValueError):
    """A DICOM input that cannot be read as one MR image series; the message is one line."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: {self.reason}")


@dataclass
class _Frame:
    """One DICOM image file with its decoded pixels and plane geometry."""

    path: Path
    dataset: Dataset
    pixels: np.ndarray
    geometry: dicom_geometry.PlaneGeometry

    @property
    def distance_along_normal(self) -> float:
        return float(np.dot(self.geometry.first_pixel_mm, self.geometry.normal))

    @property
    def trigger_time(self) -> float | None:
        value = self.dataset.get("TriggerTime")
        return None if value in (None, "") else float(value)

    @property
    def instance_number(self) -> int:
        value = self.dataset.get("InstanceNumber")
        return 0 if value in (None, "") else int(value)


# --------------------------------------------------------------------------------------------
# Reading


def read_dicom_series(path: str | Path | Sequence[str | Path]) -> tuple[str, list[ismrmrd.Image]]:
    """Read ONE MR DICOM series (a directory or a list of files) as an ISMRMRD header and images.

    Images come out ordered slice by slice, each slice's phases in time order, with
    ``slice``/``phase`` counters, ``image_index`` 1..N, ``image_series_index`` = SeriesNumber.
    """
    files = _list_files(path)
    frames = [_read_frame(file) for file in files]
    _check_one_series(frames)
    slices = _group_slices(frames)
    phases = max(len(group) for group in slices)
    first = frames[0]
    rows, cols = first.geometry.shape
    row_mm, col_mm = first.geometry.spacing_mm
    thickness = _slice_thickness(first.dataset)
    series_number = _int_or(first.dataset.get("SeriesNumber"), 1) or 1

    images: list[ismrmrd.Image] = []
    for slice_index, group in enumerate(slices):
        for phase_index, frame in enumerate(group):
            geometry = frame.geometry
            image = make_image(
                frame.pixels, pixel_spacing_mm=(row_mm, col_mm), slice_thickness_mm=thickness,
                position=geometry.centre_mm, read_dir=geometry.row_dir, phase_dir=geometry.col_dir,
                slice_dir=geometry.normal, series_index=series_number, image_index=len(images) + 1,
                slice=slice_index, phase=phase_index, meta=_frame_meta(frame),
            )
            if frame.trigger_time is not None:
                image.physiology_time_stamp[0] = int(round(frame.trigger_time / ISMRMRD_TICK_MS))
            acquisition_ms = _time_of_day_ms(frame.dataset.get("AcquisitionTime"))
            if acquisition_ms is not None:
                image.acquisition_time_stamp = int(round(acquisition_ms / ISMRMRD_TICK_MS))
            images.append(image)

    spec = HeaderSpec(
        matrix=(cols, rows), fov_mm=(cols * col_mm, rows * row_mm, thickness), phases=phases,
        slices=len(slices), series_description=str(first.dataset.get("SeriesDescription", "") or ""),
        protocol_name=str(first.dataset.get("ProtocolName", "") or ""),
        field_strength_t=_field_strength_t(first.dataset),
        vendor=str(first.dataset.get("Manufacturer", "") or "unknown"),
        patient_position=_patient_position(first.dataset),
    )
    return make_header(spec), images


def _list_files(path: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(path, (str, Path)):
        root = Path(path)
        if root.is_dir():
            files = sorted(p for p in root.iterdir()
                           if p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
                           and p.suffix.lower() not in {".mat", ".txt", ".json", ".md", ".csv", ".xml"})
            if not files:
                raise DicomInputError(root, "empty directory, no DICOM files in it")
            return files
        if root.is_file():
            return [root]
        raise DicomInputError(root, "no such file or directory")
    files = [Path(p) for p in path]
    if not files:
        raise DicomInputError(".", "empty list of DICOM files")
    for file in files:
        if not file.is_file():
            raise DicomInputError(file, "no such file")
    return files


def _read_frame(path: Path) -> _Frame:
    try:
        dataset = pydicom.dcmread(path)
    except InvalidDicomError:
        raise DicomInputError(path, "not a DICOM file (no 'DICM' marker after the 128-byte preamble)") from None
    except Exception as error:  # truncated or corrupt files raise many kinds of errors
        raise DicomInputError(path, f"unreadable DICOM file: {error}") from None
    modality = str(dataset.get("Modality", "") or "")
    if modality != "MR":
        raise DicomInputError(path, f"modality is '{modality or 'missing'}', only MR images are supported")
    if "PixelData" not in dataset:
        raise DicomInputError(path, "no pixel data (not an image)")
    if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
        raise DicomInputError(path, "multi-frame (enhanced) DICOM is not supported, export single-frame images")
    if int(dataset.get("SamplesPerPixel", 1) or 1) != 1:
        raise DicomInputError(path, f"{dataset.SamplesPerPixel} samples per pixel, expected grey images (1)")
    for keyword, tag in (("PixelSpacing", "(0028,0030)"), ("ImageOrientationPatient", "(0020,0037)"),
                         ("ImagePositionPatient", "(0020,0032)"), ("Rows", "(0028,0010)"),
                         ("Columns", "(0028,0011)")):
        if dataset.get(keyword) in (None, "", []):
            raise DicomInputError(path, f"missing {keyword} {tag}, the image geometry is unknown")
    spacing = [float(v) for v in dataset.PixelSpacing]
    if len(spacing) != 2 or min(spacing) <= 0:
        raise DicomInputError(path, f"invalid PixelSpacing {spacing}")
    pixels = _decode_pixels(path, dataset)
    try:
        geometry = dicom_geometry.from_dicom(dataset.ImagePositionPatient, dataset.ImageOrientationPatient,
                                             spacing, dataset.Rows, dataset.Columns)
    except (ValueError, IndexError) as error:
        raise DicomInputError(path, f"invalid image plane tags: {error}") from None
    return _Frame(path=path, dataset=dataset, pixels=pixels, geometry=geometry)


def _decode_pixels(path: Path, dataset: Dataset) -> np.ndarray:
    file_meta = getattr(dataset, "file_meta", None)
    syntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    try:
        raw = dataset.pixel_array
    except Exception as error:
        if syntax is not None and syntax.is_compressed:
            raise DicomInputError(path, f"compressed transfer syntax '{syntax.name}' ({syntax}) cannot be "
                                  f"decoded here ({error}); install a pydicom decoder such as pylibjpeg "
                                  "or send uncompressed DICOM") from None
        raise DicomInputError(path, f"pixel data cannot be decoded: {error}") from None
    slope = float(dataset.get("RescaleSlope", 1) or 1)
    intercept = float(dataset.get("RescaleIntercept", 0) or 0)
    return (raw.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)


def _check_one_series(frames: list[_Frame]) -> None:
    first = frames[0]
    reference_uid = first.dataset.get("SeriesInstanceUID")
    for frame in frames[1:]:
        uid = frame.dataset.get("SeriesInstanceUID")
        if uid != reference_uid:
            raise DicomInputError(frame.path, f"mixed series: SeriesInstanceUID {uid} differs from "
                                  f"{reference_uid} of {first.path.name}; give one series at a time")
        if frame.geometry.shape != first.geometry.shape:
            raise DicomInputError(frame.path, f"matrix {frame.geometry.shape} differs from "
                                  f"{first.geometry.shape} of {first.path.name}")
        if not np.allclose(frame.geometry.spacing_mm, first.geometry.spacing_mm, atol=1e-4):
            raise DicomInputError(frame.path, f"pixel spacing {frame.geometry.spacing_mm} differs from "
                                  f"{first.geometry.spacing_mm} of {first.path.name}")
        if (np.abs(frame.geometry.row_dir - first.geometry.row_dir).max() > ORIENTATION_TOLERANCE
                or np.abs(frame.geometry.col_dir - first.geometry.col_dir).max() > ORIENTATION_TOLERANCE):
            raise DicomInputError(frame.path, "image orientation differs from "
                                  f"{first.path.name}: not one stack of parallel slices")


def _group_slices(frames: list[_Frame]) -> list[list[_Frame]]:
    """Frames grouped by position along the normal (ascending), each group in phase order."""
    ordered = sorted(frames, key=lambda f: f.distance_along_normal)
    groups: list[list[_Frame]] = []
    for frame in ordered:
        if groups and abs(frame.distance_along_normal - groups[-1][0].distance_along_normal) < SLICE_TOLERANCE_MM:
            groups[-1].append(frame)
        else:
            groups.append([frame])
    return [_phase_order(group) for group in groups]


def _phase_order(group: list[_Frame]) -> list[_Frame]:
    triggers = [frame.trigger_time for frame in group]
    if all(t is not None for t in triggers) and len(set(triggers)) == len(triggers):
        return sorted(group, key=lambda f: (f.trigger_time, f.instance_number, f.path.name))
    return sorted(group, key=lambda f: (f.instance_number, f.path.name))


def _frame_meta(frame: _Frame) -> dict[str, object]:
    meta: dict[str, object] = {}
    for keyword in META_KEYWORDS:
        value = frame.dataset.get(keyword)
        if value not in (None, ""):
            meta[keyword] = str(value)
    meta["SourceFile"] = frame.path.name
    return meta


def _slice_thickness(dataset: Dataset) -> float:
    for keyword in ("SliceThickness", "SpacingBetweenSlices"):
        value = dataset.get(keyword)
        if value not in (None, "") and float(value) > 0:
            return float(value)
    return DEFAULT_SLICE_THICKNESS_MM


def _field_strength_t(dataset: Dataset) -> float:
    """MagneticFieldStrength in tesla; old GE files give gauss (15000 = 1.5 T)."""
    value = dataset.get("MagneticFieldStrength")
    if value in (None, ""):
        return 1.5
    strength = float(value)
    return strength / 10000.0 if strength > 100 else strength


def _patient_position(dataset: Dataset) -> str:
    value = str(dataset.get("PatientPosition", "") or "").strip().upper()
    return value if value in PATIENT_POSITIONS else "HFS"


def _int_or(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _time_of_day_ms(value: object) -> float | None:
    """Milliseconds since midnight of a DICOM TM value (HHMMSS.FFFFFF), or None."""
    text = str(value or "").strip()
    if len(text) < 2 or not text.replace(".", "").isdigit():
        return None
    hours = int(text[0:2])
    minutes = int(text[2:4]) if len(text) >= 4 else 0
    seconds = float(text[4:]) if len(text) > 4 else 0.0
    return ((hours * 60 + minutes) * 60 + seconds) * 1000.0


# --------------------------------------------------------------------------------------------
# Writing


def write_dicom_series(
    images: Iterable[ismrmrd.Image],
    out_dir: str | Path,
    *,
    source_dicom_dir: str | Path | None = None,
    series_description: str | None = None,
    header_xml: str | None = None,
) -> list[Path]:
    """Write ISMRMRD images as derived DICOM files in ``out_dir``; return the written paths.

    Each ``image_series_index`` becomes one new DICOM series (new SeriesInstanceUID, series number
    = the index). The description is ``series_description`` (default: the image meta
    SeriesDescription, else the header's) with an " AI" suffix. Patient and study tags are copied
    from the first file of ``source_dicom_dir`` when given.
    """
    images = list(images)
    if not images:
        raise ValueError("write_dicom_series: no images to write")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = _source_dataset(source_dicom_dir) if source_dicom_dir is not None else None
    header_description = _header_description(header_xml)
    study_uid = _first_meta(images, "StudyInstanceUID") or (source.StudyInstanceUID if source else generate_uid())
    frame_uid = _first_meta(images, "FrameOfReferenceUID") or generate_uid()
    now = dt.datetime.now()

    by_series: dict[int, list[ismrmrd.Image]] = {}
    for image in images:
        by_series.setdefault(int(image.image_series_index), []).append(image)

    written: list[Path] = []
    for series_index, series_images in sorted(by_series.items()):
        series_uid = generate_uid()
        first_meta = get_meta(series_images[0])
        base = (series_description or _meta_text(first_meta, "SeriesDescription", "")
                or header_description or "inline-ai")
        description = base if base.endswith(" AI") or " AI " in base else f"{base} AI"
        if "AI_Report" in first_meta and not description.endswith("report"):
            description += " report"
        for number, image in enumerate(series_images, start=1):
            dataset = _derived_dataset(image, source, study_uid=study_uid, frame_uid=frame_uid,
                                       series_uid=series_uid, series_number=series_index,
                                       instance_number=number, description=description[:64], now=now)
            path = out_dir / f"series{series_index:05d}_{number:04d}.dcm"
            dataset.save_as(path, enforce_file_format=True)
            written.append(path)
    return written


def _source_dataset(source_dicom_dir: str | Path) -> Dataset:
    files = _list_files(source_dicom_dir)
    for file in files:
        try:
            return pydicom.dcmread(file, stop_before_pixels=True)
        except InvalidDicomError:
            continue
    raise DicomInputError(source_dicom_dir, "no DICOM file found to copy patient and study tags from")


def _header_description(header_xml: str | None) -> str:
    if not header_xml:
        return ""
    info = parse_header(header_xml).measurementInformation
    return str(info.seriesDescription or "") if info is not None else ""


def _first_meta(images: list[ismrmrd.Image], key: str) -> str | None:
    for image in images:
        value = get_meta(image).get(key)
        if value:
            return str(value[0] if isinstance(value, list) else value)
    return None


def _derived_dataset(image: ismrmrd.Image, source: Dataset | None, *, study_uid: str, frame_uid: str,
                     series_uid: str, series_number: int, instance_number: int, description: str,
                     now: dt.datetime) -> Dataset:
    meta = get_meta(image)
    is_rgb = int(image.channels) == 3 or int(image.image_type) == ismrmrd.IMTYPE_RGB
    sop_class = SecondaryCaptureImageStorage if is_rgb else MRImageStorage
    sop_uid = generate_uid()

    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = sop_class
    dataset.file_meta.MediaStorageSOPInstanceUID = sop_uid
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    if source is not None:
        for keyword in PATIENT_STUDY_KEYWORDS:
            if keyword in source:
                setattr(dataset, keyword, source.data_element(keyword).value)
    dataset.SpecificCharacterSet = "ISO_IR 100"
    dataset.SOPClassUID = sop_class
    dataset.SOPInstanceUID = sop_uid
    dataset.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
    dataset.Modality = "MR"
    dataset.StudyInstanceUID = study_uid
    dataset.SeriesInstanceUID = series_uid
    dataset.FrameOfReferenceUID = dataset.get("FrameOfReferenceUID") or frame_uid
    dataset.SeriesNumber = series_number
    dataset.InstanceNumber = instance_number
    dataset.SeriesDescription = description
    dataset.DerivationDescription = "inline-ai landmark detection (annotated image or report)"
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        if keyword not in dataset:
            setattr(dataset, keyword, "")
    dataset.SeriesDate = dataset.ContentDate = now.strftime("%Y%m%d")
    dataset.SeriesTime = dataset.ContentTime = now.strftime("%H%M%S")
    dataset.Manufacturer = dataset.get("Manufacturer") or "inline-ai"
    dataset.SoftwareVersions = _package_version()
    dataset.Laterality = ""
    dataset.PositionReferenceIndicator = dataset.get("PositionReferenceIndicator", "")
    if "SOPInstanceUID" in meta and "SOPClassUID" in meta:
        reference = Dataset()
        reference.ReferencedSOPClassUID = _meta_text(meta, "SOPClassUID")
        reference.ReferencedSOPInstanceUID = _meta_text(meta, "SOPInstanceUID")
        dataset.SourceImageSequence = DicomSequence([reference])

    comment = meta.get("GADGETRON_ImageComment")
    if comment:
        dataset.ImageComments = "; ".join(comment if isinstance(comment, list) else [str(comment)])[:10240]
    _set_geometry(dataset, image, meta)
    if is_rgb:
        dataset.ConversionType = "WSD"
        _set_rgb_pixels(dataset, image)
    else:
        for keyword, default in (("ScanningSequence", "RM"), ("SequenceVariant", "NONE"), ("ScanOptions", ""),
                                 ("MRAcquisitionType", "2D"), ("EchoTime", ""), ("EchoTrainLength", ""),
                                 ("RepetitionTime", "")):
            if keyword not in dataset:
                setattr(dataset, keyword, default)
        trigger = meta.get("TriggerTime")
        if trigger not in (None, ""):
            dataset.TriggerTime = _meta_text(meta, "TriggerTime")
        _set_grey_pixels(dataset, image)
    return dataset


def _set_geometry(dataset: Dataset, image: ismrmrd.Image, meta: dict[str, object]) -> None:
    geometry = dicom_geometry.from_ismrmrd(image)
    dataset.ImagePositionPatient = [_ds(v) for v in geometry.first_pixel_mm]
    dataset.ImageOrientationPatient = [_ds(v) for v in (*geometry.row_dir, *geometry.col_dir)]
    dataset.PixelSpacing = [_ds(v) for v in geometry.spacing_mm]
    dataset.SliceThickness = _ds(float(image.field_of_view[2]))
    location = meta.get("SliceLocation")
    dataset.SliceLocation = (_meta_text(meta, "SliceLocation") if location not in (None, "")
                             else _ds(float(np.dot(geometry.first_pixel_mm, geometry.normal))))


def _set_grey_pixels(dataset: Dataset, image: ismrmrd.Image) -> None:
    values = np.asarray(image.data[0, 0], dtype=np.float64)
    if np.iscomplexobj(image.data):
        values = np.abs(np.asarray(image.data[0, 0]))
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    exact = np.all(values == np.round(values)) and low >= 0 and high <= 65535
    if exact:
        stored, slope, intercept = values.astype(np.uint16), 1.0, 0.0
    else:
        intercept = min(low, 0.0)
        slope = (high - intercept) / 65535.0 if high > intercept else 1.0
        stored = np.clip(np.round((values - intercept) / slope), 0, 65535).astype(np.uint16)
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.Rows, dataset.Columns = stored.shape
    dataset.BitsAllocated = 16
    dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 0
    dataset.RescaleIntercept = _ds(intercept)
    dataset.RescaleSlope = _ds(slope)
    dataset.RescaleType = "US"
    lo, hi = np.percentile(values, [1.0, 99.5]) if values.size else (0.0, 1.0)
    dataset.WindowCenter = _ds((lo + hi) / 2.0)
    dataset.WindowWidth = _ds(max(hi - lo, 1.0))
    dataset.PixelData = np.ascontiguousarray(stored).astype("<u2").tobytes()


def _set_rgb_pixels(dataset: Dataset, image: ismrmrd.Image) -> None:
    planes = np.asarray(image.data[:3, 0], dtype=np.float64)  # [3, rows, cols]
    top = 255.0 if planes.max() <= 255 else float(planes.max())
    rgb = np.clip(np.round(planes / top * 255.0), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    dataset.SamplesPerPixel = 3
    dataset.PhotometricInterpretation = "RGB"
    dataset.PlanarConfiguration = 0
    dataset.Rows, dataset.Columns = rgb.shape[:2]
    dataset.BitsAllocated = 8
    dataset.BitsStored = 8
    dataset.HighBit = 7
    dataset.PixelRepresentation = 0
    dataset.PixelData = np.ascontiguousarray(rgb).tobytes()


def _meta_text(meta: dict[str, object], key: str, default: str | None = None) -> str:
    """The first value of a meta key as text (``default`` when given and the key is absent)."""
    if default is not None and key not in meta:
        return default
    value = meta[key]
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value)


def _ds(value: float) -> str:
    """A DICOM decimal string (at most 16 characters) keeping as many digits as fit."""
    value = float(value)
    if abs(value) < 1e-12:
        return "0"
    for digits in range(16, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    return f"{value:.6e}"[:16]


def _package_version() -> str:
    from inline_ai import __version__

    return f"inline-ai {__version__}"
