"""What a replay writes: the returned images (out.h5), landmarks.json, metrics.csv and PNG figures.

Returned messages are sorted into originals (byte-identical to a message that was sent), AI
images and report images. Series summaries (one ``landmarks.json["series"]`` entry each) travel
as a JSON string in a meta attribute of the AI output (the pipeline puts one on the first AI copy
and, with complete timings, on the report); any meta value that decodes to a JSON object with
``image_series_index`` and ``phases`` is taken as one, the last per (series, slice) wins.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import ismrmrd
import numpy as np
from gadgetron.types.image_array import ImageArray

from inline_ai.mrd_files import get_meta, write_images

from .wire import Message

SUMMARY_KEYS_PREFERRED = ("InlineAI.Summary", "InlineAI_Summary", "inline_ai_summary")


@dataclass
class CollectedOutputs:
    """Replies of one replay, sorted."""

    originals: list[object] = field(default_factory=list)  # returned unchanged (bytes equal)
    changed_originals: list[object] = field(default_factory=list)  # an input series, bytes differ
    ai_images: list[ismrmrd.Image] = field(default_factory=list)
    summaries: list[dict] = field(default_factory=list)
    missing_originals: int = 0

    @property
    def all_images(self) -> list[object]:
        return [*self.originals, *self.changed_originals, *self.ai_images]


def _summary_in_meta(meta: dict[str, object]) -> dict | None:
    keys = [k for k in SUMMARY_KEYS_PREFERRED if k in meta] + [k for k in meta if k not in SUMMARY_KEYS_PREFERRED]
    for key in keys:
        value = meta[key]
        text = value if isinstance(value, str) else "".join(value) if isinstance(value, list) else ""
        if not text.startswith("{"):
            continue
        try:
            decoded = json.loads(text)
        except ValueError:
            continue
        if isinstance(decoded, dict) and "image_series_index" in decoded and "phases" in decoded:
            return decoded
    return None


def collect(sent_raw: Iterable[bytes], replies: Iterable[Message], input_series: set[int]) -> CollectedOutputs:
    """Sort replies into originals / AI images and pull out the series summaries."""
    outputs = CollectedOutputs()
    expected = defaultdict(int)
    for raw in sent_raw:
        expected[raw] += 1
    summaries: dict[tuple, dict] = {}  # one per (series, slice): the last copy (the report's) wins
    for message in replies:
        item = message.item
        if expected.get(message.raw, 0) > 0:
            expected[message.raw] -= 1
            outputs.originals.append(item)
            continue
        if isinstance(item, ImageArray) or (isinstance(item, ismrmrd.Image)
                                           and item.image_series_index in input_series):
            outputs.changed_originals.append(item)
            continue
        if not isinstance(item, ismrmrd.Image):
            continue
        outputs.ai_images.append(item)
        summary = _summary_in_meta(get_meta(item))
        if summary is not None:
            summaries[(summary.get("image_series_index"), summary.get("slice"))] = summary
    outputs.missing_originals = sum(expected.values())
    outputs.summaries = sorted(summaries.values(), key=lambda s: (int(s.get("image_series_index") or 0),
                                                                  int(s.get("slice") or 0)))
    return outputs


def _images_of(item: object) -> list[ismrmrd.Image]:
    """An image, or the 2D images of an image array (for writing to HDF5)."""
    if isinstance(item, ismrmrd.Image):
        return [item]
    data = np.asarray(item.data)
    headers = np.asarray(item.headers)
    images = []
    # Gadgetron image array data: [RO, E1, E2, CHA, N, S, LOC]; headers: [N, S, LOC].
    for index in np.ndindex(*headers.shape):
        n, s, loc = (index + (0, 0, 0))[:3]
        pixels = data[:, :, :, :, n, s, loc].transpose(3, 2, 1, 0)  # -> [CHA, E2, E1, RO]
        image = ismrmrd.Image.from_array(np.ascontiguousarray(pixels))
        image.setHead(headers[index])
        images.append(image)
    return images


def write_out_h5(path: Path, header_xml: str | None, outputs: CollectedOutputs) -> Path:
    """All returned images, one HDF5 group per image series index (``image_<index>``)."""
    groups: dict[str, list[ismrmrd.Image]] = defaultdict(list)
    for item in outputs.all_images:
        for image in _images_of(item):
            groups[f"image_{image.image_series_index}"].append(image)
    return write_images(path, header_xml, dict(sorted(groups.items())))


def _finite(value: object) -> object:
    """NaN / infinity become null so that landmarks.json is strict JSON."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def write_landmarks_json(path: Path, summaries: list[dict]) -> Path:
    path.write_text(json.dumps({"series": _finite(summaries)}, indent=2, allow_nan=False, default=_json_default))
    return path


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_metrics_csv(path: Path, summaries: list[dict]) -> Path:
    """One row per series and phase: LV length, shortening and every landmark's pixel position."""
    names: list[str] = []
    for summary in summaries:
        for phase in summary.get("phases", []):
            for name in (phase.get("landmarks") or {}):
                if name not in names:
                    names.append(name)
    columns = ["image_series_index", "slice", "view", "model", "phase", "lv_length_mm", "shortening_pct",
               *[f"{name}_{axis}" for name in names for axis in ("row", "col", "confidence")], "error"]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for summary in summaries:
            base = {key: summary.get(key) for key in ("image_series_index", "slice", "view", "model")}
            phases = summary.get("phases") or [{}]
            for phase in phases:
                row = dict(base, phase=phase.get("phase"), lv_length_mm=phase.get("lv_length_mm"),
                           shortening_pct=phase.get("shortening_pct"), error=summary.get("error") or "")
                for name, point in (phase.get("landmarks") or {}).items():
                    if point:
                        row[f"{name}_row"] = point.get("row")
                        row[f"{name}_col"] = point.get("col")
                        row[f"{name}_confidence"] = point.get("confidence")
                writer.writerow(row)
    return path


def _display_plane(image: ismrmrd.Image) -> np.ndarray:
    """``[rows, cols, 3]`` in 0..1: RGB images as they are, greyscale scaled to its 99.5th percentile."""
    pixels = np.abs(np.asarray(image.data, dtype=np.float64))
    if pixels.shape[0] == 3:  # RGB stored as three channels
        plane = pixels[:, 0].transpose(1, 2, 0)
        return np.clip(plane / max(float(plane.max()), 1e-9), 0, 1)
    plane = pixels[0, 0]
    top = float(np.percentile(plane, 99.5)) if plane.size else 1.0
    return np.repeat(np.clip(plane / max(top, 1e-9), 0, 1)[:, :, None], 3, axis=2)


def montage(images: list[ismrmrd.Image], columns: int = 6, gap: int = 2):
    """All images tiled into one RGB array, and ((row, col) of each tile, label)."""
    planes = [_display_plane(image) for image in images]
    tile_rows = max(p.shape[0] for p in planes)
    tile_cols = max(p.shape[1] for p in planes)
    columns = min(columns, len(planes))
    rows = int(np.ceil(len(planes) / columns))
    canvas = np.zeros((rows * (tile_rows + gap), columns * (tile_cols + gap), 3))
    labels = []
    for n, (plane, image) in enumerate(zip(planes, images, strict=True)):
        top, left = (n // columns) * (tile_rows + gap), (n % columns) * (tile_cols + gap)
        canvas[top:top + plane.shape[0], left:left + plane.shape[1]] = plane
        labels.append(((top, left), f"ph {image.phase}"))
    return canvas, labels


def write_figures(out_dir: Path, outputs: CollectedOutputs) -> list[Path]:
    """A montage of each AI series and, for long-axis series, the LV length curve."""
    import matplotlib
    import matplotlib.image

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    written: list[Path] = []
    by_series: dict[int, list[ismrmrd.Image]] = defaultdict(list)
    for image in outputs.ai_images:
        by_series[image.image_series_index].append(image)
    for index, images in sorted(by_series.items()):
        images = sorted(images, key=lambda im: (im.slice, im.phase, im.image_index))[:36]
        tiles, _ = montage(images)
        path = out_dir / f"montage_series{index}.png"
        matplotlib.image.imsave(path, tiles)  # phases row by row, 6 per row
        written.append(path)
    for summary in outputs.summaries:
        phases = summary.get("phases") or []
        lengths = [p.get("lv_length_mm") for p in phases]
        if not any(v is not None for v in lengths):
            continue
        figure, axis = plt.subplots(figsize=(5, 3))
        axis.plot([p.get("phase") for p in phases], [np.nan if v is None else v for v in lengths], "o-")
        axis.set_xlabel("phase")
        axis.set_ylabel("LV length (mm)")
        axis.set_title(f"series {summary.get('image_series_index')} slice {summary.get('slice')}: "
                       f"shortening {summary.get('longitudinal_shortening_pct')}")
        figure.tight_layout()
        path = out_dir / f"lv_length_series{summary.get('image_series_index')}_slice{summary.get('slice')}.png"
        figure.savefig(path, dpi=80)
        plt.close(figure)
        written.append(path)
    return written
