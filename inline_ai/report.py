"""One report image per analysed series: a matplotlib (Agg) plot rendered into a greyscale
``ismrmrd.Image`` with its own series index (original x 100 + 1).

Long axis: LV length (mm) and longitudinal shortening (%) over phases. Short axis: the A-RVI
angle per phase (a cine slice) or per slice (a stack), with a small table of values.
"""

from __future__ import annotations

from collections.abc import Sequence

import ismrmrd
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from inline_ai.annotate import AI_SERIES_FACTOR
from inline_ai.mrd_files import set_meta

REPORT_SERIES_OFFSET = 1
REPORT_SIZE_PX = (384, 512)  # rows, cols
REPORT_DPI = 80
REPORT_MAX_VALUE = 4095


def report_series_index(original_index: int) -> int:
    """Series index of report images: original x 100 + 1."""
    return int(original_index) * AI_SERIES_FACTOR + REPORT_SERIES_OFFSET


def _figure() -> tuple[Figure, FigureCanvasAgg]:
    rows, cols = REPORT_SIZE_PX
    figure = Figure(figsize=(cols / REPORT_DPI, rows / REPORT_DPI), dpi=REPORT_DPI)
    return figure, FigureCanvasAgg(figure)


def _to_grey(canvas: FigureCanvasAgg) -> np.ndarray:
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba(), dtype=np.float32)
    grey = rgba[..., 0] * 0.299 + rgba[..., 1] * 0.587 + rgba[..., 2] * 0.114
    return np.rint(grey * (REPORT_MAX_VALUE / 255.0)).astype(np.uint16)


def fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.1f}{unit}"


def render_long_axis(title: str, phases: Sequence[int], lengths_mm: np.ndarray,
                     shortening_pct: np.ndarray | None, ed_phase: int | None, es_phase: int | None,
                     global_shortening_pct: float | None) -> np.ndarray:
    """Greyscale report pixels ``[rows, cols]`` uint16 for a long-axis series."""
    figure, canvas = _figure()
    axes = figure.add_subplot(2, 1, 1)
    axes.plot(phases, lengths_mm, "k.-")
    axes.set_ylabel("LV length (mm)")
    axes.set_title(f"{title}  LS {fmt(global_shortening_pct, '%')}  "
                   f"ED {ed_phase if ed_phase is not None else '-'}  ES {es_phase if es_phase is not None else '-'}",
                   fontsize=9)
    axes.grid(True, alpha=0.3)
    lower = figure.add_subplot(2, 1, 2, sharex=axes)
    if shortening_pct is not None:
        lower.plot(phases, shortening_pct, "k.-")
    else:
        lower.text(0.5, 0.5, "single image: no shortening", ha="center", va="center",
                   transform=lower.transAxes)
    lower.set_ylabel("shortening (%)")
    lower.set_xlabel("phase")
    lower.grid(True, alpha=0.3)
    figure.tight_layout()
    return _to_grey(canvas)


def render_short_axis(title: str, positions: Sequence[int], angles_deg: np.ndarray, axis_label: str) -> np.ndarray:
    """Greyscale report pixels for a short-axis series: A-RVI angle per phase or per slice + table."""
    figure, canvas = _figure()
    axes = figure.add_axes((0.14, 0.15, 0.52, 0.72))
    axes.plot(positions, angles_deg, "ko-")
    axes.set_xlabel(axis_label)
    axes.set_ylabel("A-RVI angle (deg)")
    axes.set_title(title, fontsize=9)
    axes.grid(True, alpha=0.3)
    rows = [[str(p), fmt(a)] for p, a in zip(positions, angles_deg, strict=True)][:24]
    table_axes = figure.add_axes((0.7, 0.05, 0.28, 0.9))
    table_axes.axis("off")
    if rows:
        table = table_axes.table(cellText=rows, colLabels=[axis_label, "A-RVI"], loc="upper center")
        table.auto_set_font_size(False)
        table.set_fontsize(7)
        table.scale(1.0, 0.9)
    return _to_grey(canvas)


def render_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> np.ndarray:
    """Greyscale report pixels holding a titled table (at most 24 rows shown)."""
    figure, canvas = _figure()
    axes = figure.add_axes((0.05, 0.05, 0.9, 0.85))
    axes.axis("off")
    axes.set_title(title, fontsize=9)
    if rows:
        table = axes.table(cellText=[list(r) for r in rows][:24], colLabels=list(columns), loc="upper center")
        table.auto_set_font_size(False)
        table.set_fontsize(8)
    return _to_grey(canvas)


def report_image(pixels: np.ndarray, template: ismrmrd.Image, meta: dict[str, object]) -> ismrmrd.Image:
    """Wrap report pixels in an ``ismrmrd.Image`` placed like ``template`` (1 mm pixels)."""
    image = ismrmrd.Image.from_array(np.ascontiguousarray(pixels))
    rows, cols = pixels.shape
    image.field_of_view[:] = (float(cols), float(rows), float(template.field_of_view[2]) or 1.0)
    for attribute in ("position", "read_dir", "phase_dir", "slice_dir", "patient_table_position"):
        getattr(image, attribute)[:] = getattr(template, attribute)[:]
    image.image_series_index = report_series_index(template.image_series_index)
    image.slice = template.slice
    image.image_index = 1
    image.measurement_uid = template.measurement_uid
    image.image_type = ismrmrd.IMTYPE_MAGNITUDE
    set_meta(image, meta)
    return image
