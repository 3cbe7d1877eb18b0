"""Write phantom cases: landmark ``.npz`` (via ``inline_ai.dataset``) and ISMRMRD image files."""

from __future__ import annotations

from pathlib import Path

import ismrmrd.xsd as xsd
import numpy as np

from inline_ai.dataset import LandmarkCase, save_case
from inline_ai.mrd_files import HeaderSpec, make_header, make_image, parse_header, write_images

TICK_MS = 2.5  # ISMRMRD time stamps count 2.5 ms ticks
SEQUENCE_TYPES = {"cine": "TrueFISP", "lge": "PSIR", "t1": "MOLLI T1 map"}


def to_uint16(case: LandmarkCase) -> np.ndarray:
    """Pixel values as scanners store them: T1 maps in ms, other images scaled into 12 bits."""
    image = np.asarray(case.image, dtype=np.float32)
    if case.sequence != "t1":
        top = float(np.percentile(image, 99.9))
        if top > 0:
            image = image * (4095.0 / top) if top > 4095.0 else image
    return np.clip(np.rint(image), 0, 65535).astype(np.uint16)


def write_mrd(path: str | Path, case: LandmarkCase, series_index: int = 1) -> Path:
    """One series as an ISMRMRD HDF5 image file that ``inline-ai replay`` reads like scanner data."""
    extra = case.extra
    for key in ("position", "read_dir", "phase_dir", "slice_dir"):
        if key not in extra:
            raise ValueError(f"case {case.case_id!r} has no '{key}' geometry; only phantom cases can be written")
    count, rows, cols = case.image.shape
    row_mm, col_mm = (float(v) for v in case.pixel_spacing)
    thickness = float(extra.get("slice_thickness_mm", 8.0))
    slices = case.slice_index if case.slice_index is not None else np.zeros(count, dtype=int)
    phases = np.asarray(extra.get("phase_index", np.zeros(count, dtype=int)))
    description = str(extra.get("series_description", f"{case.sequence.upper()} {case.view.upper()}"))
    header = _with_sequence_parameters(make_header(HeaderSpec(
        matrix=(cols, rows), fov_mm=(cols * col_mm, rows * row_mm, thickness),
        phases=int(phases.max()) + 1, slices=int(np.max(slices)) + 1, series_description=description,
        protocol_name=f"inline-ai phantom {case.view} {case.sequence}",
        field_strength_t=float(extra.get("field_strength_t", 1.5)), vendor="inline-ai phantom",
        sequence_type=SEQUENCE_TYPES[case.sequence])), extra)
    pixels = to_uint16(case)
    rr_ms = float(extra.get("rr_interval_ms", 1000.0))
    times = np.asarray(extra.get("cardiac_time", np.zeros(count)), dtype=float)
    images = []
    for n in range(count):
        trigger_ms = float(times[n]) * rr_ms
        meta = {"SeriesDescription": description, "PhantomView": case.view, "TriggerTime": f"{trigger_ms:.1f}",
                "PhantomLVLengthMM": f"{float(extra['lv_length_mm'][n]):.3f}" if "lv_length_mm" in extra else ""}
        if np.any(np.isfinite(case.landmarks[n])):
            meta["PhantomLandmarks"] = [f"{v:.3f}" for v in case.landmarks[n].ravel()]
        images.append(make_image(
            pixels[n], pixel_spacing_mm=(row_mm, col_mm), slice_thickness_mm=thickness,
            position=extra["position"][n], read_dir=extra["read_dir"][n], phase_dir=extra["phase_dir"][n],
            slice_dir=extra["slice_dir"][n], series_index=series_index, image_index=n,
            slice=int(slices[n]), phase=int(phases[n]), meta=meta))
        images[-1].physiology_time_stamp[0] = int(round(trigger_ms / TICK_MS))
    return write_images(path, header, {"image_1": images})


def _with_sequence_parameters(header_xml: str, extra: dict[str, np.ndarray]) -> str:
    """Add TR, TE, TI and flip angle (when the case records them) to the header's sequenceParameters."""
    if "flip_angle_deg" not in extra:
        return header_xml
    header = parse_header(header_xml)
    params = header.sequenceParameters
    tr = float(extra.get("repetition_time_ms", 0.0))
    params.TR = [round(tr, 3)]
    params.TE = [round(tr / 2.0, 3)]  # balanced / gradient-echo readouts: TE about TR / 2
    params.flipAngle_deg = [round(float(extra["flip_angle_deg"]), 2)]
    if float(extra.get("inversion_time_ms", 0.0)) > 0:
        params.TI = [round(float(extra["inversion_time_ms"]), 2)]
    return xsd.ToXML(header)


def write_npz(path: str | Path, case: LandmarkCase) -> Path:
    """The case in the landmark dataset format."""
    return save_case(path, case)
