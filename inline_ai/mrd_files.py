"""ISMRMRD (MRD v1) HDF5 image files: build headers, read and write image series.

Images are ``ismrmrd.Image`` objects: ``image.data`` is ``[channels, z, y, x]`` and a 2D magnitude
image is read as ``image.data[0, 0][row, col]`` (row = y = phase encoding, col = x = readout).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import ismrmrd
import ismrmrd.xsd as xsd
import numpy as np


@dataclass
class HeaderSpec:
    """What an image-only MRD header needs: geometry, counts and descriptive text."""

    matrix: tuple[int, int]  # (x = columns, y = rows)
    fov_mm: tuple[float, float, float]  # (x, y, slice thickness)
    phases: int = 1
    slices: int = 1
    series_description: str = ""
    protocol_name: str = ""
    field_strength_t: float = 1.5
    vendor: str = "inline-ai"
    sequence_type: str = ""
    patient_position: str = "HFS"


def make_header(spec: HeaderSpec) -> str:
    """An ISMRMRD XML header for an image series (encoding limits announce phases and slices)."""
    matrix = xsd.matrixSizeType(x=int(spec.matrix[0]), y=int(spec.matrix[1]), z=1)
    fov = xsd.fieldOfViewMm(x=float(spec.fov_mm[0]), y=float(spec.fov_mm[1]), z=float(spec.fov_mm[2]))
    space = xsd.encodingSpaceType(matrixSize=matrix, fieldOfView_mm=fov)
    limits = xsd.encodingLimitsType(
        kspace_encoding_step_1=xsd.limitType(minimum=0, maximum=int(spec.matrix[1]) - 1,
                                             center=int(spec.matrix[1]) // 2),
        slice=xsd.limitType(minimum=0, maximum=max(int(spec.slices) - 1, 0), center=0),
        phase=xsd.limitType(minimum=0, maximum=max(int(spec.phases) - 1, 0), center=0),
    )
    encoding = xsd.encodingType(encodedSpace=space, reconSpace=space, encodingLimits=limits,
                                trajectory=xsd.trajectoryType.CARTESIAN)
    header = xsd.ismrmrdHeader(
        measurementInformation=xsd.measurementInformationType(
            patientPosition=xsd.patientPositionType(spec.patient_position),
            protocolName=spec.protocol_name or None,
            seriesDescription=spec.series_description or None,
        ),
        acquisitionSystemInformation=xsd.acquisitionSystemInformationType(
            systemVendor=spec.vendor, systemFieldStrength_T=float(spec.field_strength_t)),
        experimentalConditions=xsd.experimentalConditionsType(
            H1resonanceFrequency_Hz=int(round(42.577478e6 * spec.field_strength_t))),
        encoding=[encoding],
        sequenceParameters=(xsd.sequenceParametersType(sequence_type=spec.sequence_type)
                            if spec.sequence_type else None),
    )
    return xsd.ToXML(header)


def parse_header(xml: str | bytes) -> xsd.ismrmrdHeader:
    """Parse an ISMRMRD XML header."""
    return xsd.CreateFromDocument(xml)


def make_image(
    pixels: np.ndarray,
    *,
    pixel_spacing_mm: tuple[float, float],
    slice_thickness_mm: float = 8.0,
    position: Sequence[float] = (0.0, 0.0, 0.0),
    read_dir: Sequence[float] = (1.0, 0.0, 0.0),
    phase_dir: Sequence[float] = (0.0, 1.0, 0.0),
    slice_dir: Sequence[float] | None = None,
    series_index: int = 1,
    image_index: int = 0,
    slice: int = 0,
    phase: int = 0,
    meta: dict[str, object] | None = None,
) -> ismrmrd.Image:
    """A 2D ``ismrmrd.Image`` from ``pixels[row, col]`` with complete geometry and counters."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 2:
        raise ValueError(f"make_image expects a 2D array, got shape {pixels.shape}")
    image = ismrmrd.Image.from_array(pixels)
    rows, cols = pixels.shape
    image.field_of_view[:] = (cols * float(pixel_spacing_mm[1]), rows * float(pixel_spacing_mm[0]),
                              float(slice_thickness_mm))
    read = np.asarray(read_dir, dtype=float)
    phase_vec = np.asarray(phase_dir, dtype=float)
    normal = np.cross(read, phase_vec) if slice_dir is None else np.asarray(slice_dir, dtype=float)
    image.position[:] = [float(v) for v in position]
    image.read_dir[:] = [float(v) for v in read]
    image.phase_dir[:] = [float(v) for v in phase_vec]
    image.slice_dir[:] = [float(v) for v in normal]
    image.image_series_index = int(series_index)
    image.image_index = int(image_index)
    image.slice = int(slice)
    image.phase = int(phase)
    image.image_type = ismrmrd.IMTYPE_MAGNITUDE
    if meta:
        set_meta(image, meta)
    return image


def get_meta(image: ismrmrd.Image) -> dict[str, object]:
    """The image's meta attributes as a plain dict (values are str or list of str)."""
    if not image.attribute_string:
        return {}
    return dict(ismrmrd.Meta.deserialize(image.attribute_string))


def set_meta(image: ismrmrd.Image, meta: dict[str, object]) -> None:
    """Replace the image's meta attributes (scalars and lists are stored as strings)."""
    container = ismrmrd.Meta()
    for key, value in meta.items():
        container[key] = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value)
    image.attribute_string = container.serialize()


def pixel_array(image: ismrmrd.Image) -> np.ndarray:
    """The 2D pixel plane ``[row, col]`` of a single-channel 2D image."""
    return image.data[0, 0]


def write_images(path: str | Path, header_xml: str | None, groups: dict[str, Iterable[ismrmrd.Image]]) -> Path:
    """Write images (grouped by HDF5 group name, e.g. ``image_1``) and the header to a new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    dataset = ismrmrd.Dataset(str(path), "dataset", create_if_needed=True)
    try:
        if header_xml:
            dataset.write_xml_header(header_xml if isinstance(header_xml, str) else header_xml.decode())
        for group, images in groups.items():
            for image in images:
                dataset.append_image(group, image)
    finally:
        dataset.close()
    return path


def read_images(path: str | Path) -> tuple[str | None, dict[str, list[ismrmrd.Image]]]:
    """Read the header (or None) and every image group of an ISMRMRD HDF5 file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ISMRMRD file not found: {path}")
    with h5py.File(path, "r") as handle:
        if "dataset" not in handle:
            raise ValueError(f"{path}: no 'dataset' group, not an ISMRMRD file")
        names = [name for name, item in handle["dataset"].items()
                 if isinstance(item, h5py.Group) and "header" in item and "attributes" in item]
        has_header = "xml" in handle["dataset"]
    dataset = ismrmrd.Dataset(str(path), "dataset", create_if_needed=False)
    try:
        header = dataset.read_xml_header() if has_header else None
        if isinstance(header, bytes):
            header = header.decode()
        groups = {name: [dataset.read_image(name, i) for i in range(dataset.number_of_images(name))]
                  for name in sorted(names)}
    finally:
        dataset.close()
    return header, groups
