"""Tiny, exact stand-in landmark models and matching synthetic image series for tests.

``make_test_model`` writes an ONNX model (built with ``onnx.helper``, opset 17) and its card. The
model has no learned weights: for every landmark channel ``k`` its logits are
``gain * blur(input) * region_mask_k`` and the background logit is a constant, so a bright spot of
the INPUT image inside landmark ``k``'s region becomes that landmark's heat-map peak. Points
therefore move with the image, which lets tests check geometry, point extraction and measures end
to end with known answers.

Regions on the model grid (rows top to bottom, columns left to right, split at the centre):

- long axis (``lax``): ``apex`` = top half; ``mv_anterior`` = bottom-left; ``mv_inferior`` =
  bottom-right.
- short axis (``sax``): ``anterior_rv_insertion`` = top-left; ``inferior_rv_insertion`` =
  bottom-left; ``lv_centre`` = right half.
- long-axis refinement model (card ``crop: lv_axis``, see ``inline_ai.crop``): ``apex`` = bottom
  half; ``mv_inferior`` = top-left; ``mv_anterior`` = top-right. That is where an LV-axis crop puts
  the spots of an apex-up image laid out as above (the crop turns the valve to the top).

``make_spot_series`` renders an ISMRMRD image series (one image per phase) with one Gaussian spot
per landmark on a flat background, and returns the images with the expected points, LV lengths
and shortening. Spots must sit inside their landmark's region, at least ~10 mm from its edges.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import ismrmrd
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from inline_ai.landmarks import LAX_LANDMARKS, SAX_LANDMARKS
from inline_ai.mrd_files import HeaderSpec, make_header, make_image

BACKGROUND_LEVEL = 100.0
SPOT_AMPLITUDE = 80.0
GAIN = 20.0
BACKGROUND_LOGIT = 25.0
BLUR_SIGMA_PX = 1.0


def _region_masks(view_family: str, input_size: tuple[int, int], crop: str = "") -> np.ndarray:
    """``[1, 1 + K, H, W]`` float masks: channel 0 (background) is zero, then one per landmark."""
    rows, cols = input_size
    r = np.arange(rows)[:, None]
    c = np.arange(cols)[None, :]
    top = np.broadcast_to(r < rows / 2, (rows, cols))
    left = np.broadcast_to(c < cols / 2, (rows, cols))
    if view_family == "lax" and crop == "lv_axis":
        by_name = {"apex": ~top, "mv_inferior": top & left, "mv_anterior": top & ~left}
        names = LAX_LANDMARKS
    elif view_family == "lax":
        by_name = {"apex": top, "mv_anterior": ~top & left, "mv_inferior": ~top & ~left}
        names = LAX_LANDMARKS
    elif view_family == "sax":
        by_name = {"anterior_rv_insertion": top & left, "inferior_rv_insertion": ~top & left,
                   "lv_centre": ~left}
        names = SAX_LANDMARKS
    else:
        raise ValueError(f"view_family must be 'lax' or 'sax', got {view_family!r}")
    masks = np.zeros((1, 1 + len(names), rows, cols), dtype=np.float32)
    for k, name in enumerate(names):
        masks[0, 1 + k] = by_name[name]
    return masks


def _gaussian_kernel(sigma_px: float) -> np.ndarray:
    radius = int(np.ceil(3 * sigma_px))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma_px) ** 2)
    kernel = np.outer(g, g)
    return (kernel / kernel.sum()).astype(np.float32)[None, None]


def build_spot_model(view_family: str, input_size: tuple[int, int], context_slices: int = 0,
                     crop: str = "") -> onnx.ModelProto:
    """The ONNX graph: Conv (Gaussian blur) -> Mul (gain x region masks) -> Add (background bias).

    With ``context_slices`` 1 the input has 3 channels (image, two neighbouring slices); the
    neighbours get zero weight, so the output is the one-channel model's.
    """
    rows, cols = (int(v) for v in input_size)
    masks = _region_masks(view_family, (rows, cols), crop)
    channels = masks.shape[1]
    inputs = 1 + 2 * context_slices
    kernel = _gaussian_kernel(BLUR_SIGMA_PX)
    kernel = np.concatenate([kernel, np.zeros((1, inputs - 1, *kernel.shape[2:]), np.float32)], axis=1)
    pad = kernel.shape[-1] // 2
    bias = np.zeros((1, channels, 1, 1), dtype=np.float32)
    bias[0, 0] = BACKGROUND_LOGIT
    initializers = [
        numpy_helper.from_array(kernel, "blur_kernel"),
        numpy_helper.from_array((GAIN * masks).astype(np.float32), "gain_masks"),
        numpy_helper.from_array(bias, "bias"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "blur_kernel"], ["blurred"], pads=[pad] * 4),
        helper.make_node("Mul", ["blurred", "gain_masks"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, f"spot_{view_family}",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", inputs, rows, cols])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", channels, rows, cols])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="inline-ai tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_test_model(
    directory: str | Path,
    name: str = "test_lax",
    view_family: str = "lax",
    input_size: tuple[int, int] = (128, 128),
    pixel_size_mm: float = 2.0,
    threshold: float = 0.3,
    **card_overrides: object,
) -> Path:
    """Write ``NAME.onnx`` and its card ``NAME.json`` into ``directory``; return the ONNX path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = build_spot_model(view_family, input_size, int(card_overrides.get("context_slices", 0)),
                             str(card_overrides.get("crop", "")))
    onnx_path = directory / f"{name}.onnx"
    onnx.save(model, str(onnx_path))
    names = LAX_LANDMARKS if view_family == "lax" else SAX_LANDMARKS
    card: dict[str, object] = {
        "name": name,
        "format": "onnx",
        "file": onnx_path.name,
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "view_family": view_family,
        "views": ["ch2", "ch3", "ch4"] if view_family == "lax" else ["sax"],
        "sequence": "cine",
        "input_size": [int(v) for v in input_size],
        "pixel_size_mm": float(pixel_size_mm),
        "channels": ["background", *names],
        "output": "logits",
        "normalisation": "percentile_99.5",
        "threshold": float(threshold),
        "thresholds": {},
        "trained_on": "none: analytic test model (blur x region masks)",
        "validated_on": "tests only",
        "training_command": "tests/model_factory.py",
        "metrics": {},
        "created": "2026-01-01",
    }
    card.update(card_overrides)
    (directory / f"{name}.json").write_text(json.dumps(card, indent=2))
    return onnx_path


MASK_LEVELS = (0.3, 0.0, 0.6, 1.0)  # normalised intensity of background, RV cavity, LV myocardium, LV cavity


def make_band_mask_model(directory: str | Path, name: str = "test_sax_mask", input_size: tuple[int, int] = (96, 96),
                         pixel_size_mm: float = 1.0, **card_overrides: object) -> Path:
    """A stand-in short-axis mask model (card ``mask_rule: sax``, ``crop: sax_axis``): class ``k``'s logit is
    ``-gain * (x - MASK_LEVELS[k])^2``, so each pixel gets the class whose intensity level is nearest.

    The levels put a dark RV between grey background and bright myocardium: a blend of myocardium and
    background reads as one of the two, never as RV (a one-pixel RV / myocardium blend reads as background,
    the gap the rule's reach bridges). Images from :func:`render_mask_image` segment exactly.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rows, cols = (int(v) for v in input_size)
    levels = np.asarray(MASK_LEVELS, dtype=np.float32).reshape(1, -1, 1, 1)
    nodes = [
        helper.make_node("Sub", ["image", "levels"], ["offset"]),
        helper.make_node("Mul", ["offset", "offset"], ["squared"]),
        helper.make_node("Mul", ["squared", "gain"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "band_mask",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, rows, cols])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(MASK_LEVELS), rows, cols])],
        initializer=[numpy_helper.from_array(levels, "levels"),
                     numpy_helper.from_array(np.full((1, 1, 1, 1), -400.0, np.float32), "gain")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="inline-ai tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx_path = directory / f"{name}.onnx"
    onnx.save(model, str(onnx_path))
    card: dict[str, object] = {
        "name": name, "format": "onnx", "file": onnx_path.name,
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "view_family": "sax", "views": ["sax"], "sequence": "cine", "input_size": [rows, cols],
        "pixel_size_mm": float(pixel_size_mm),
        "channels": ["background", "rv_cavity", "lv_myocardium", "lv_cavity"],
        "output": "logits", "normalisation": "percentile_99.5", "threshold": 0.05, "thresholds": {},
        "crop": "sax_axis", "mask_rule": "sax",
        "trained_on": "none: analytic test model (intensity bands)", "validated_on": "tests only",
        "training_command": "tests/model_factory.py", "metrics": {}, "created": "2026-01-01",
    }
    card.update(card_overrides)
    (directory / f"{name}.json").write_text(json.dumps(card, indent=2))
    return onnx_path


def sax_label_mask(shape: tuple[int, int], centre: tuple[float, float], rv_centre: tuple[float, float],
                   cavity_px: float = 12.0, wall_px: float = 6.0, rv_px: float = 22.0) -> np.ndarray:
    """A label mask (0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity): a round LV and a round RV
    cavity cut by the LV epicardium, so the RV lies against the myocardium along an arc."""
    rows = np.arange(shape[0], dtype=np.float64)[:, None]
    cols = np.arange(shape[1], dtype=np.float64)[None, :]
    from_lv = np.hypot(rows - centre[0], cols - centre[1])
    from_rv = np.hypot(rows - rv_centre[0], cols - rv_centre[1])
    mask = np.zeros(shape, dtype=np.uint8)
    mask[(from_rv <= rv_px) & (from_lv > cavity_px + wall_px)] = 1
    mask[from_lv <= cavity_px + wall_px] = 2
    mask[from_lv <= cavity_px] = 3
    return mask


def render_mask_image(mask: np.ndarray) -> np.ndarray:
    """The image the band mask model reads back as ``mask`` (raw intensities; the brightest is the LV cavity)."""
    return (1000.0 * np.asarray(MASK_LEVELS, dtype=np.float32)[mask]).astype(np.float32)


@dataclass
class SpotSeries:
    """A synthetic series and what a correct pipeline must find in it."""

    images: list[ismrmrd.Image]
    header_xml: str
    points: np.ndarray  # [P, K, 2] (row, col) original pixels, NaN = no spot
    landmark_names: tuple[str, ...]
    pixel_spacing: tuple[float, float]  # (row_mm, col_mm)
    lv_length_mm: np.ndarray | None  # [P], long axis only
    shortening_pct: np.ndarray | None  # [P], long axis only


def default_lax_points(phases: int, shape: tuple[int, int], spacing: tuple[float, float]) -> np.ndarray:
    """Apex fixed 45 mm above centre; the valve points rise from 35 mm below centre towards it."""
    centre = (np.asarray(shape, dtype=float) - 1) / 2
    mm = np.asarray(spacing, dtype=float)
    descent = 12.0 * np.sin(np.pi * np.arange(phases) / max(phases, 1)) ** 2  # 0 at ED
    points = np.empty((phases, 3, 2))
    for p in range(phases):
        valve_row = 35.0 - descent[p]
        points[p, 0] = centre + np.array([valve_row, -22.0]) / mm  # mv_anterior (bottom-left)
        points[p, 1] = centre + np.array([valve_row + 3.0, 24.0]) / mm  # mv_inferior (bottom-right)
        points[p, 2] = centre + np.array([-45.0, 3.0]) / mm  # apex (top)
    return points


def default_sax_points(phases: int, shape: tuple[int, int], spacing: tuple[float, float]) -> np.ndarray:
    """RV insertions left of an LV centre 20 mm right of the image centre, moving slightly."""
    centre = (np.asarray(shape, dtype=float) - 1) / 2
    mm = np.asarray(spacing, dtype=float)
    wobble = 3.0 * np.sin(2 * np.pi * np.arange(phases) / max(phases, 1))
    points = np.empty((phases, 3, 2))
    for p in range(phases):
        points[p, 0] = centre + np.array([-22.0 + wobble[p], -15.0]) / mm  # anterior RVI
        points[p, 1] = centre + np.array([24.0, -14.0 - wobble[p]]) / mm  # inferior RVI
        points[p, 2] = centre + np.array([2.0, 22.0]) / mm  # LV centre
    return points


def render_spots(shape: tuple[int, int], points: np.ndarray, spacing: tuple[float, float],
                 spot_sigma_mm: float = 3.0) -> np.ndarray:
    """A float32 image: flat background plus one Gaussian spot per non-NaN (row, col) point."""
    rows = np.arange(shape[0], dtype=np.float64)[:, None]
    cols = np.arange(shape[1], dtype=np.float64)[None, :]
    image = np.full(shape, BACKGROUND_LEVEL, dtype=np.float64)
    for row, col in np.asarray(points, dtype=float).reshape(-1, 2):
        if np.isnan(row) or np.isnan(col):
            continue
        d2 = ((rows - row) * spacing[0]) ** 2 + ((cols - col) * spacing[1]) ** 2
        image += SPOT_AMPLITUDE * np.exp(-0.5 * d2 / spot_sigma_mm**2)
    return image.astype(np.float32)


def make_spot_series(
    points: np.ndarray | None = None,
    *,
    view_family: str = "lax",
    phases: int = 10,
    shape: tuple[int, int] = (208, 256),
    pixel_spacing: tuple[float, float] = (1.4, 1.3),
    series_index: int = 1,
    slice: int = 0,
    series_description: str = "",
    spot_sigma_mm: float = 3.0,
    dtype: type = np.float32,
) -> SpotSeries:
    """An ISMRMRD series (one 2D image per phase) with a spot at each expected landmark point.

    ``points`` is ``[P, K, 2]`` (row, col) in original pixels (NaN = leave the landmark out);
    default: a contracting LAX or a SAX configuration inside the test model's regions.
    ``shape`` is (rows, cols) and ``pixel_spacing`` (row_mm, col_mm).
    """
    names = LAX_LANDMARKS if view_family == "lax" else SAX_LANDMARKS
    if points is None:
        make = default_lax_points if view_family == "lax" else default_sax_points
        points = make(phases, shape, pixel_spacing)
    points = np.asarray(points, dtype=float)
    if points.ndim != 3 or points.shape[1:] != (len(names), 2):
        raise ValueError(f"points must be [P, {len(names)}, 2], got {points.shape}")
    phases = points.shape[0]
    description = series_description or ("CINE_4CH" if view_family == "lax" else "CINE_SAX")
    header_xml = make_header(HeaderSpec(
        matrix=(shape[1], shape[0]),
        fov_mm=(shape[1] * pixel_spacing[1], shape[0] * pixel_spacing[0], 8.0),
        phases=phases, series_description=description, sequence_type="TrueFISP"))
    images = []
    for p in range(phases):
        pixels = render_spots(shape, points[p], pixel_spacing, spot_sigma_mm)
        if np.issubdtype(dtype, np.integer):
            pixels = np.round(pixels)
        images.append(make_image(pixels.astype(dtype), pixel_spacing_mm=pixel_spacing,
                                 series_index=series_index, image_index=p, slice=slice, phase=p,
                                 meta={"SequenceDescription": description}))
    lengths = shortening = None
    if view_family == "lax":
        mm = np.asarray(pixel_spacing, dtype=float)
        midpoint = (points[:, 0] + points[:, 1]) / 2
        lengths = np.linalg.norm((points[:, 2] - midpoint) * mm, axis=-1)
        shortening = 100.0 * (lengths[0] - lengths) / lengths[0]
    return SpotSeries(images=images, header_xml=header_xml, points=points, landmark_names=names,
                      pixel_spacing=(float(pixel_spacing[0]), float(pixel_spacing[1])),
                      lv_length_mm=lengths, shortening_pct=shortening)
