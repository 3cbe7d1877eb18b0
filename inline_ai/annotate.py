"""Annotated copies of the original images: markers and lines burnt into the pixels, AI meta.

The copy keeps the original header (geometry, counters) and meta, with
``image_series_index = original x 100`` (as Gadgetron numbers derived series). Originals are
never modified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ismrmrd
import numpy as np

from inline_ai.mrd_files import get_meta, set_meta

AI_SERIES_FACTOR = 100
MARKER_RADIUS_PX = 4
SECTOR_LINE_MM = 35.0


def burn_value(pixels: np.ndarray) -> float:
    """The intensity used for markers: the image's maximum (so display windows stay unchanged)."""
    finite = pixels[np.isfinite(pixels)] if np.issubdtype(pixels.dtype, np.floating) else pixels
    top = float(finite.max()) if finite.size else 1.0
    return top if top > 0 else 1.0


def draw_line(pixels: np.ndarray, start: Sequence[float], end: Sequence[float], value: float) -> None:
    """Set the pixels along a straight segment (row, col) -> (row, col) to ``value`` in place."""
    start_arr = np.asarray(start, dtype=np.float64)
    end_arr = np.asarray(end, dtype=np.float64)
    if not (np.isfinite(start_arr).all() and np.isfinite(end_arr).all()):
        return
    samples = int(np.ceil(2 * np.abs(end_arr - start_arr).max())) + 1
    t = np.linspace(0.0, 1.0, samples)[:, None]
    coords = np.rint(start_arr + t * (end_arr - start_arr)).astype(np.int64)
    inside = ((coords >= 0) & (coords < np.asarray(pixels.shape))).all(axis=1)
    pixels[coords[inside, 0], coords[inside, 1]] = value


def draw_marker(pixels: np.ndarray, point: Sequence[float], value: float, radius: int = MARKER_RADIUS_PX,
                ring: bool = False) -> None:
    """A cross (and, with ``ring``, a circle) centred on ``point`` (row, col), in place."""
    row, col = (float(v) for v in point)
    if not (np.isfinite(row) and np.isfinite(col)):
        return
    draw_line(pixels, (row - radius, col), (row + radius, col), value)
    draw_line(pixels, (row, col - radius), (row, col + radius), value)
    if ring:
        angles = np.linspace(0, 2 * np.pi, 8 * radius + 1)
        coords = np.rint(np.stack([row + 1.6 * radius * np.sin(angles),
                                   col + 1.6 * radius * np.cos(angles)], axis=1)).astype(np.int64)
        inside = ((coords >= 0) & (coords < np.asarray(pixels.shape))).all(axis=1)
        pixels[coords[inside, 0], coords[inside, 1]] = value


def annotate_pixels(
    pixels: np.ndarray,
    points: np.ndarray,
    names: Sequence[str],
    spacing: Sequence[float],
    sector_angles_deg: Sequence[float] = (),
) -> np.ndarray:
    """A copy of ``pixels`` with a marker per present landmark and the view's lines.

    Long axis: the LV length line from the valve midpoint to the apex and the valve plane line.
    Short axis: sector boundary lines from the LV centre at ``sector_angles_deg`` (the
    :mod:`inline_ai.measures` angle convention), ``SECTOR_LINE_MM`` long.
    """
    out = np.array(pixels, copy=True)
    if np.issubdtype(out.dtype, np.floating):
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    value = burn_value(out)
    by_name = {name: np.asarray(points[k], dtype=np.float64) for k, name in enumerate(names)}
    if {"mv_anterior", "mv_inferior", "apex"} <= set(by_name):
        anterior, inferior = by_name["mv_anterior"], by_name["mv_inferior"]
        draw_line(out, anterior, inferior, value)
        draw_line(out, (anterior + inferior) / 2, by_name["apex"], value)
    centre = by_name.get("lv_centre")
    if centre is not None and np.isfinite(centre).all():
        row_mm, col_mm = (float(s) for s in spacing)
        for angle in sector_angles_deg:
            theta = np.radians(angle)
            end = centre + np.array([-np.sin(theta) * SECTOR_LINE_MM / row_mm,
                                     np.cos(theta) * SECTOR_LINE_MM / col_mm])
            draw_line(out, centre, end, value)
    for name, point in by_name.items():
        draw_marker(out, point, value, ring=name == "apex" or name == "lv_centre")
    return out


def ai_series_index(original_index: int) -> int:
    """Series index of the annotated copies: original x 100."""
    return int(original_index) * AI_SERIES_FACTOR


def _first_text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    return str(value) if value else ""


def ai_meta(original_meta: Mapping[str, object], extra: Mapping[str, object], comment: Sequence[str]) -> dict:
    """The original meta plus the AI keys, processing history "AI", "_AI" description suffixes."""
    meta = dict(original_meta)
    history = meta.get("GADGETRON_ImageProcessingHistory", [])
    history = [history] if isinstance(history, str) else list(history)
    meta["GADGETRON_ImageProcessingHistory"] = [*history, "AI"]
    keys = ("GADGETRON_SeqDescription", "SequenceDescription")
    texts = {key: _first_text(meta.get(key)) for key in keys}
    fallback = next((text for text in texts.values() if text), "")
    for key in keys:
        text = texts[key] or fallback
        meta[key] = text if text.endswith("_AI") else f"{text}_AI"
    meta["GADGETRON_ImageComment"] = list(comment) or ["AI"]
    meta.update(extra)
    return meta


def annotated_copy(original: ismrmrd.Image, pixels: np.ndarray, meta: Mapping[str, object]) -> ismrmrd.Image:
    """A new ``ismrmrd.Image``: the original's header, ``pixels`` and ``meta``, series index x 100."""
    data = np.asarray(pixels)
    if data.dtype != original.data.dtype:
        data = data.astype(original.data.dtype)
    image = ismrmrd.Image.from_array(data)
    image.setHead(original.getHead())
    image.image_series_index = ai_series_index(original.image_series_index)
    set_meta(image, dict(meta))
    return image


def original_meta(image: ismrmrd.Image) -> dict:
    """The original image's meta (empty when it has none or it cannot be parsed)."""
    try:
        return get_meta(image)
    except Exception:  # malformed XML from a host should not stop the AI copy
        return {}
