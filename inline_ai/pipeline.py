"""Analyse one series (the phases of one slice, or a stack): validate, detect, make consistent,
measure, annotate, report, summarise.

``SeriesAnalyser.analyse`` never raises on bad input: the reason is returned in
``SeriesResult.error``, written into the summary (``"error"``) and, where the images can be
copied at all, into the AI images' meta (``AI_Status``).

Summary (one entry of ``landmarks.json["series"]``)::

    {"image_series_index", "slice", "view", "model", "model_choice",
     "phases": [{"phase", "slice", "landmarks": {NAME: {"row", "col", "x_mm", "y_mm",
                 "confidence", "filled", "filled_from" (when filled: "phases" or "slices")} or null},
                 "lv_length_mm", "shortening_pct",
                 "arvi_angle_deg" (sax)}],
     "ed_phase", "es_phase", "lv_length_ed_mm", "longitudinal_shortening_pct",
     "arvi_angle_deg", "aha_sectors" (sax, at ED), "aha_level" (sax: basal / mid / apical / null),
     "refined_by" (the card's refinement model, when it has one), "timings_s", "error" (when failed)}

The summary also travels as JSON in the meta key ``InlineAI.Summary`` of the first AI image and
of the report image (hosts read it from either; the copies are identical).

``row``/``col`` are pixels of the original image (pixel centres at integers);
``x_mm = col * col_spacing_mm`` and ``y_mm = row * row_spacing_mm`` (in-plane millimetres from
the centre of the first pixel, x along columns / readout, y along rows / phase encoding).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ismrmrd
import numpy as np

from inline_ai import annotate, measures, report
from inline_ai.consistency import fill_missing, fill_stack_gaps, smooth_over_phases
from inline_ai.context import Context, contexts_from_indices, neighbour_indices
from inline_ai.detector import Detections, LandmarkDetector
from inline_ai.display import display_summary, headers_mirrored
from inline_ai.geometry import spacing_from_image
from inline_ai.grid_cache import ModelGridCache
from inline_ai.landmarks import SAX_LANDMARKS
from inline_ai.model_select import (
    DEFAULT_MODELS,
    ModelChoice,
    choose_model,
    sequence_from_description,
    view_from_description,
)
from inline_ai.mrd_files import parse_header, set_meta
from inline_ai.runtime import LandmarkModel, load_model

SUMMARY_META_KEY = "InlineAI.Summary"


@dataclass
class AnalysisSettings:
    """What the analysis does; field names are also the gadget's configuration properties."""

    enabled: bool = True
    model: str = "auto"  # a model name, a card/model path, or "auto" (see inline_ai.model_select)
    default_model: str = "lax_cine"  # "auto" falls back to this
    threshold: float | None = None  # overrides the card's presence thresholds
    device: str = "cpu"  # "cpu" or "cuda"
    threads: int = 2  # intra-op threads of the inference session
    pixel_size_mm: float | None = None  # overrides the card's model pixel size (experiments only)
    fill_missing: bool = True  # fill landmarks missed in a phase from neighbouring phases
    smooth_sigma_phases: float = 0.0  # Gaussian smoothing of landmark tracks over phases (0 = off)
    ed_phase: int | None = None  # index of the ED image in the series (None = first)
    sax_sectors: str = "auto"  # AHA sectors on SAX images: "auto" (4 on apical slices of a stack), "6" or "4"
    annotate: bool = True  # send annotated copies
    report: bool = True  # send one report image per series
    models: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MODELS))  # for "auto"

    @property
    def sector_mode(self) -> str:
        """``sax_sectors`` as "auto", "6" or "4" (any other value is rejected when a SAX series is analysed)."""
        return str(self.sax_sectors).strip().lower()


@dataclass
class SeriesResult:
    """What the analysis of one series produced."""

    ai_images: list[ismrmrd.Image]
    report_image: ismrmrd.Image | None
    summary: dict[str, Any]
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    detections: Detections | None = None
    images: list[ismrmrd.Image] = field(default_factory=list)  # the analysed originals
    model: LandmarkModel | None = None  # the model that analysed them (its chain reads a stack's slices again)


def header_text(header: Any, *names: str) -> str:
    """First non-empty ``measurementInformation`` field of a parsed header (or ``""``)."""
    info = getattr(header, "measurementInformation", None)
    for name in names:
        value = getattr(info, name, None) if info is not None else None
        if value:
            return str(value)
    return ""


def parsed_header(header: Any) -> Any:
    """A parsed ISMRMRD header from XML text/bytes, or the object itself (None stays None)."""
    if header is None or not isinstance(header, (str, bytes)):
        return header
    try:
        return parse_header(header)
    except Exception:
        return None


def validate_images(images: Sequence[Any]) -> str | None:
    """The reason these images cannot be analysed, or None."""
    if not images:
        return "no images in the series"
    for n, image in enumerate(images):
        if not isinstance(image, ismrmrd.Image):
            return f"image {n} is a {type(image).__name__}, not an ismrmrd.Image"
        data = image.data
        if data.ndim != 4:
            return f"image {n}: data must be [channels, z, y, x], got shape {data.shape}"
        if data.shape[0] != 1:
            return f"image {n}: {data.shape[0]} channels; a single-channel magnitude image is needed"
        if data.shape[1] != 1:
            return f"image {n}: 3D image with {data.shape[1]} partitions; 2D images are needed"
        if np.iscomplexobj(data):
            return f"image {n}: complex data; put the gadget after the magnitude (or use image arrays)"
        if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
            return f"image {n}: contains NaN or Inf pixels"
        if not data.any():
            return f"image {n}: all pixels are zero"
        try:
            spacing_from_image(image)
        except ValueError as error:
            return f"image {n}: {error}"
    return None


def attach_summary(image: ismrmrd.Image | None, summary: dict[str, Any]) -> None:
    """Store the series summary as JSON in the image's meta (``SUMMARY_META_KEY``) for hosts."""
    if image is None:
        return
    meta = annotate.original_meta(image)
    meta[SUMMARY_META_KEY] = json.dumps(summary, allow_nan=False, separators=(",", ":"))
    set_meta(image, meta)


def report_meta(model: str, **extra: object) -> dict[str, object]:
    """Meta of a report image."""
    return {"AI_Status": "ok", "AI_Model": model, "AI_Report": 1,
            "GADGETRON_ImageProcessingHistory": ["AI"], "GADGETRON_DataRole": "AI_Report",
            "SequenceDescription": "report_AI", "GADGETRON_SeqDescription": "report_AI",
            "GADGETRON_ImageComment": ["AI report"], **extra}


def series_report(summaries: Sequence[dict[str, Any]], template: ismrmrd.Image) -> ismrmrd.Image | None:
    """One report image for a series analysed slice by slice (several summaries).

    Short axis: the A-RVI angle (at ED) per slice, plot and table. Long axis: LV length at ED
    and longitudinal shortening per slice, as a table. None when no slice was analysed.
    """
    done = sorted((s for s in summaries if not s.get("error")), key=lambda s: s.get("slice") or 0)
    if not done:
        return None
    series = done[0]["image_series_index"]
    models = sorted({str(s["model"]) for s in done})
    title = f"series {series}, {len(done)} slices ({', '.join(models)})"
    slices = [int(s.get("slice") or 0) for s in done]
    if all(s.get("view") == "sax" for s in done):
        angles = np.array([np.nan if s.get("arvi_angle_deg") is None else s["arvi_angle_deg"] for s in done])
        pixels = report.render_short_axis(title, slices, angles, "slice")
    else:
        rows = [[str(slice_), report.fmt(s.get("lv_length_ed_mm")), report.fmt(s.get("longitudinal_shortening_pct"))]
                for slice_, s in zip(slices, done, strict=True)]
        pixels = report.render_table(title, ["slice", "LV length ED (mm)", "LS (%)"], rows)
    values = [{"slice": sl, "view": s.get("view"), "arvi_angle_deg": s.get("arvi_angle_deg"),
               "aha_level": s.get("aha_level"),
               "lv_length_ed_mm": s.get("lv_length_ed_mm"),
               "longitudinal_shortening_pct": s.get("longitudinal_shortening_pct")}
              for sl, s in zip(slices, done, strict=True)]
    meta = report_meta(",".join(models), AI_Slices=len(done),
                       **{"InlineAI.SeriesReport": json.dumps(values, allow_nan=False, separators=(",", ":"))})
    return report.report_image(pixels, template, meta)


def _stack_levels(images: Sequence[ismrmrd.Image], lv_present: Sequence[bool]) -> list[str | None]:
    """AHA level of each image of a SAX stack from its geometry (``measures.slice_levels``)."""
    positions = np.array([image.position[:] for image in images], dtype=np.float64)
    slice_dirs = np.array([image.slice_dir[:] for image in images], dtype=np.float64)
    return measures.slice_levels(positions, slice_dirs, np.asarray(lv_present, dtype=bool))


def positions_along_normal(images: Sequence[ismrmrd.Image]) -> list[float]:
    """Each image's position (mm) along the first image's slice normal."""
    if not images:
        return []
    normal = np.asarray(images[0].slice_dir[:], dtype=np.float64)
    return [float(np.dot(np.asarray(image.position[:], dtype=np.float64), normal)) for image in images]


def image_contexts(images: Sequence[ismrmrd.Image]) -> list[Context]:
    """Each image's neighbouring slices at the same phase among ``images`` (one stack, any order):
    slices are ordered by their position along the first image's slice normal."""
    if not images:
        return []
    table = neighbour_indices([int(image.phase) for image in images], positions_along_normal(images))
    return contexts_from_indices([np.asarray(image.data[0, 0]) for image in images], table)


def stack_order(groups: Sequence[Sequence[ismrmrd.Image]]) -> list[int]:
    """Indices of a stack's slice groups ordered by position along the first image's slice normal."""
    positions = positions_along_normal([group[0] for group in groups])
    return sorted(range(len(groups)), key=positions.__getitem__)


def slice_contexts(groups: Sequence[Sequence[ismrmrd.Image]]) -> list[list[Context]]:
    """:func:`image_contexts` of a stack given as one image group per slice, split back per group;
    a slice at either end has one neighbour, a lone one none."""
    flat = image_contexts([image for group in groups for image in group])
    contexts, start = [], 0
    for group in groups:
        contexts.append(flat[start:start + len(group)])
        start += len(group)
    return contexts


def same_in_plane_grid(first: ismrmrd.Image, second: ismrmrd.Image, tolerance_mm: float = 0.5) -> bool:
    """Whether a pixel (row, col) is the same in-plane place in both images: same matrix, field of view and
    orientation, and centres offset only along the slice normal (within ``tolerance_mm``)."""
    if np.shape(first.data)[-2:] != np.shape(second.data)[-2:]:
        return False
    if not np.allclose(first.field_of_view[:2], second.field_of_view[:2], atol=1e-3):
        return False
    directions = [np.asarray(getattr(first, name)[:], dtype=np.float64) for name in ("read_dir", "phase_dir")]
    if not all(np.allclose(direction, getattr(second, name)[:], atol=1e-4)
               for direction, name in zip(directions, ("read_dir", "phase_dir"), strict=True)):
        return False
    offset = np.asarray(second.position[:], dtype=np.float64) - np.asarray(first.position[:], dtype=np.float64)
    return all(abs(float(np.dot(offset, direction))) <= tolerance_mm for direction in directions)


def stack_neighbours(images: Sequence[ismrmrd.Image]) -> np.ndarray:
    """``[N, 2]`` each image's previous and next slice at the same phase along the stack normal (``-1`` = none,
    or a neighbour on another in-plane grid: :func:`same_in_plane_grid`)."""
    table = neighbour_indices([int(image.phase) for image in images], positions_along_normal(images))
    for n, side in zip(*np.nonzero(table >= 0), strict=True):
        if not same_in_plane_grid(images[n], images[table[n, side]]):
            table[n, side] = -1
    return table


def entry_points(phases: Sequence[dict[str, Any]], names: Sequence[str]) -> np.ndarray:
    """``[P, K, 2]`` (row, col) of a summary's phase entries, NaN where a landmark is absent."""
    return np.array([[[np.nan, np.nan] if entry["landmarks"][name] is None else
                      [entry["landmarks"][name]["row"], entry["landmarks"][name]["col"]] for name in names]
                     for entry in phases], dtype=np.float64).reshape(len(phases), len(names), 2)


def landmark_entry(row: float, col: float, spacing: Sequence[float], confidence: float,
                   filled_from: str | None = None) -> dict[str, Any]:
    """One landmark of a phase entry; ``filled_from`` ("phases" or "slices") marks a filled one."""
    entry: dict[str, Any] = {"row": _rounded(row), "col": _rounded(col), "x_mm": _rounded(col * float(spacing[1])),
                             "y_mm": _rounded(row * float(spacing[0])),
                             "confidence": _rounded(0.0 if filled_from else confidence), "filled": bool(filled_from)}
    if filled_from:
        entry["filled_from"] = filled_from
    return entry


def _rounded(value: Any, digits: int = 3) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if np.isfinite(value) else None


def _meta_value(meta: dict, key: str) -> str:
    value = meta.get(key, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value)


class SeriesAnalyser:
    """Analyses series of images with the configured (or automatically chosen) model."""

    def __init__(self, settings: AnalysisSettings | None = None):
        self.settings = settings or AnalysisSettings()
        self.grid_cache = ModelGridCache()  # a stack's slices are resampled once, not again as neighbours

    # -- model -----------------------------------------------------------------------------
    def choose(self, images: Sequence[ismrmrd.Image], header: Any) -> ModelChoice:
        """The model for this series (the configured one, or "auto" selection)."""
        meta = annotate.original_meta(images[0])
        description = " ".join(filter(None, [
            _meta_value(meta, "SequenceDescription"), _meta_value(meta, "GADGETRON_SeqDescription"),
            header_text(header, "seriesDescription", "protocolName")]))
        if self.settings.model != "auto":
            return ModelChoice(self.settings.model, view_from_description(description),
                               sequence_from_description(description), "configured")
        normal = np.asarray(images[0].slice_dir[:], dtype=np.float64)
        return choose_model(description, normal, self.settings.default_model, self.settings.models)

    def load(self, name: str) -> LandmarkModel:
        return load_model(name, device=self.settings.device, threads=int(self.settings.threads))

    def needs_stack(self, images: Sequence[ismrmrd.Image], header: Any = None) -> bool:
        """Whether this series' model reads neighbouring slices (``context_slices``), so its slices
        are analysed together once the stack is complete. False when no model can be chosen or loaded
        (``analyse`` then reports why)."""
        if validate_images(list(images)):
            return False
        try:
            return self.load(self.choose(images, parsed_header(header)).model).card.context_slices > 0
        except Exception:  # the error is reported by analyse
            return False

    # -- analysis ----------------------------------------------------------------------------
    def analyse(self, images: Sequence[ismrmrd.Image], header: Any = None,
                make_report: bool | None = None, context: Sequence[Context] | None = None) -> SeriesResult:
        """Analyse one series; never raises for bad input or an unusable model.

        ``make_report`` overrides ``settings.report`` (a host that combines slices into one
        series report skips the per-slice ones). ``context`` gives each image's neighbouring slices
        (:func:`slice_contexts`) for models that read them.
        """
        images = list(images)
        report_wanted = self.settings.report if make_report is None else bool(make_report)
        started = time.perf_counter()
        header = parsed_header(header)
        base = self._base_summary(images)
        reason = validate_images(images)
        if reason:
            return self._failed(images, base, reason)
        try:
            choice = self.choose(images, header)
        except ValueError as error:  # e.g. a malformed model map in the settings
            return self._failed(images, base, f"model selection failed: {error}")
        base["model"] = choice.model
        base["model_choice"] = choice.reason
        try:
            model = self.load(choice.model)
        except Exception as error:  # ModelError, or onnxruntime's own errors
            return self._failed(images, base, f"model {choice.model!r} cannot be used: {error}")
        base["model"] = model.card.name
        view = choice.view if choice.view and (choice.view == "sax") == (model.card.view_family == "sax") \
            else model.card.view_family
        base["view"] = view
        try:
            return self._analyse(images, model, base, started, report_wanted, context)
        except Exception as error:  # a bug or an odd image must not stop the stream
            return self._failed(images, base, f"analysis failed: {type(error).__name__}: {error}")

    def _analyse(self, images: list[ismrmrd.Image], model: LandmarkModel, summary: dict[str, Any],
                 started: float, report_wanted: bool, context: Sequence[Context] | None = None) -> SeriesResult:
        settings = self.settings
        card = model.card
        pixels = [np.asarray(image.data[0, 0]) for image in images]
        spacings = np.array([spacing_from_image(image) for image in images])
        detector = LandmarkDetector(model, grid_cache=self.grid_cache)
        if detector.refiners:
            summary["refined_by"] = detector.refined_by
        if settings.pixel_size_mm:
            detector.pixel_size_mm = float(settings.pixel_size_mm)
        mirrored = headers_mirrored(images) if card.display == "standard" else None
        detections = detector.detect(pixels, spacings, threshold=settings.threshold, context=context,
                                     mirrored=mirrored)
        if mirrored is not None:  # a model of the standard display: mirrored images were flipped for it
            summary.update(display_summary(mirrored, detections.anatomy_mirrored))
        timings = dict(detections.timings)

        start = time.perf_counter()
        names = detections.names
        points, filled = detections.points, np.zeros(detections.confidence.shape, dtype=bool)
        one_slice = len({image.slice for image in images}) == 1
        cyclic = card.sequence == "cine"
        if settings.fill_missing and one_slice and len(images) > 1:
            points, filled = fill_missing(points, cyclic=cyclic)
        if settings.smooth_sigma_phases > 0 and one_slice:
            points = smooth_over_phases(points, settings.smooth_sigma_phases, cyclic=cyclic)
        spacing = tuple(float(s) for s in spacings[0])
        ed = None if settings.ed_phase is None else int(settings.ed_phase)
        phases = self._phase_entries(images, names, points, detections.confidence, filled, spacings)
        sectors_per_image: list[list[measures.Sector]] = [[] for _ in images]
        if card.view_family == "lax":
            self._long_axis(summary, phases, points, names, spacing, ed)
        else:
            sectors_per_image = self._short_axis(images, summary, phases, points, names, spacings, ed)
        timings["measures"] = time.perf_counter() - start

        start = time.perf_counter()
        ai_images = []
        if settings.annotate:
            ai_images = [self._annotated(image, points[n], names, spacings[n], sectors_per_image[n], summary,
                                         phases[n]) for n, image in enumerate(images)]
        timings["annotate"] = time.perf_counter() - start

        summary["phases"] = phases
        start = time.perf_counter()
        report_image = self.make_report(summary, images[0]) if report_wanted else None
        timings["report"] = time.perf_counter() - start
        timings["total"] = time.perf_counter() - started
        summary["timings_s"] = {key: round(value, 4) for key, value in timings.items()}
        attach_summary((ai_images or [None])[0], summary)
        attach_summary(report_image, summary)  # again: now with the complete timings
        return SeriesResult(ai_images, report_image, summary, None, timings, detections, images, model)

    # -- pieces ------------------------------------------------------------------------------
    def _base_summary(self, images: list) -> dict[str, Any]:
        first = images[0] if images and isinstance(images[0], ismrmrd.Image) else None
        return {
            "image_series_index": int(first.image_series_index) if first is not None else None,
            "slice": int(first.slice) if first is not None else None,
            "view": "",
            "model": self.settings.model,
            "phases": [],
            "ed_phase": None,
            "es_phase": None,
            "lv_length_ed_mm": None,
            "longitudinal_shortening_pct": None,
        }

    def _phase_entries(self, images, names, points, confidence, filled, spacings) -> list[dict[str, Any]]:
        entries = []
        for n, image in enumerate(images):
            landmarks: dict[str, Any] = {}
            for k, name in enumerate(names):
                row, col = points[n, k]
                landmarks[name] = (landmark_entry(row, col, spacings[n], confidence[n, k],
                                                  "phases" if filled[n, k] else None)
                                   if np.isfinite(row) and np.isfinite(col) else None)
            entries.append({"phase": int(image.phase), "slice": int(image.slice), "landmarks": landmarks,
                            "lv_length_mm": None, "shortening_pct": None})
        return entries

    def _long_axis(self, summary, phases, points, names, spacing, ed) -> None:
        result = measures.long_axis_measures(points, names, spacing, ed_phase=ed)
        for n, entry in enumerate(phases):
            entry["lv_length_mm"] = _rounded(result.lv_length_mm[n])
            if result.shortening_pct is not None:
                entry["shortening_pct"] = _rounded(result.shortening_pct[n])
        summary.update({
            "ed_phase": phases[result.ed_phase]["phase"] if result.ed_phase is not None else None,
            "es_phase": phases[result.es_phase]["phase"] if result.es_phase is not None else None,
            "lv_length_ed_mm": _rounded(result.lv_length_ed_mm),
            "longitudinal_shortening_pct": _rounded(result.longitudinal_shortening_pct),
        })

    def _aha_levels(self, images: list[ismrmrd.Image], lv_centres: np.ndarray) -> list[str | None]:
        """Each image's AHA level: from the stack geometry ("auto") or fixed by ``sax_sectors``."""
        mode = self.settings.sector_mode
        if mode in ("6", "4"):
            return ["apical" if mode == "4" else None] * len(images)
        if mode != "auto":
            raise ValueError(f"sax_sectors must be auto, 6 or 4, got {self.settings.sax_sectors!r}")
        return _stack_levels(images, np.isfinite(lv_centres).all(-1))

    @staticmethod
    def _sectors(points: np.ndarray, names: Sequence[str], spacings: np.ndarray,
                 levels: Sequence[str | None]) -> list[list[measures.Sector]]:
        """AHA sectors of each image: 4 on apical images, else 6."""
        index = {name: k for k, name in enumerate(names)}
        return [measures.aha_sectors(points[n, index["lv_centre"]], points[n, index["anterior_rv_insertion"]],
                                     spacings[n], points[n, index["inferior_rv_insertion"]],
                                     4 if level == "apical" else 6)
                for n, level in enumerate(levels)]

    def _short_axis(self, images, summary, phases, points, names, spacings, ed) -> list[list[measures.Sector]]:
        index = {name: k for k, name in enumerate(names)}
        levels = self._aha_levels(images, points[:, index["lv_centre"]])
        sectors_per_image = self._sectors(points, names, spacings, levels)
        for n, entry in enumerate(phases):
            anterior = points[n, index["anterior_rv_insertion"]]
            entry["arvi_angle_deg"] = _rounded(measures.arvi_angle_deg(points[n, index["lv_centre"]], anterior,
                                                                        spacings[n]))
            entry["aha_level"] = levels[n]
        ed_index = 0 if ed is None else min(max(ed, 0), len(phases) - 1)
        summary["ed_phase"] = phases[ed_index]["phase"]
        summary["arvi_angle_deg"] = phases[ed_index]["arvi_angle_deg"]
        summary["aha_level"] = levels[ed_index]
        summary["aha_sectors"] = self._sector_summary(sectors_per_image[ed_index])
        return sectors_per_image

    def _annotated(self, image: ismrmrd.Image, points: np.ndarray, names: Sequence[str], spacing: np.ndarray,
                   sectors: Sequence[measures.Sector], summary: dict[str, Any], entry: dict[str, Any]) -> ismrmrd.Image:
        """The AI copy of one image: landmarks and sector lines burnt in, measures in meta."""
        angles = measures.sector_boundaries_deg(sectors)
        burnt = annotate.annotate_pixels(np.asarray(image.data[0, 0]), points, names, spacing, angles)
        meta = annotate.ai_meta(annotate.original_meta(image), self._image_meta(summary, entry, names),
                                self._comment(entry))
        return annotate.annotated_copy(image, burnt, meta)

    def fill_stack_gaps(self, results: Sequence[SeriesResult]) -> int:
        """Check and fill, in place, the short-axis landmarks of a stack's slices (same phase, same in-plane grid).

        First, LV centres far from the stack's others are dropped (the phase entry gets ``"lv_centre_checked":
        "dropped"``) and RV insertion points that turn the RV to the wrong side of the LV for the stack are read
        again or dropped (:meth:`inline_ai.detector.LandmarkDetector.check_stack_sides`, with the slices' own model
        chain; the phase entry gets ``"rv_insertions_checked": "read_again"`` or ``"dropped"``); then a landmark
        missing on a slice between two slices that have it is filled (:func:`inline_ai.consistency.fill_stack_gaps`):
        the phase entry gets the point (``"filled_from": "slices"``, confidence 0). Changed slices get new A-RVI angles
        and AI images. Returns how many landmarks were filled."""
        done = [r for r in results if r.error is None and r.summary.get("view") == "sax" and r.images
                and len(r.summary.get("phases", [])) == len(r.images)]
        if len(done) < 3:
            return 0
        names = tuple(done[0].summary["phases"][0]["landmarks"])
        if any(tuple(r.summary["phases"][0]["landmarks"]) != names for r in done):
            return 0
        owners = [(result, n) for result in done for n in range(len(result.images))]
        neighbours = stack_neighbours([image for r in done for image in r.images])
        before = np.concatenate([entry_points(r.summary["phases"], names) for r in done])
        spacings = np.array([spacing_from_image(result.images[n]) for result, n in owners])
        checked_points, checked = before, np.zeros(len(before), dtype=bool)
        lv_dropped = np.zeros(len(before), dtype=bool)
        rv = [names.index(name) for name in SAX_LANDMARKS[:2] if name in names]
        if set(SAX_LANDMARKS) <= set(names) and len({id(r.model) for r in done}) == 1 and done[0].model is not None:
            pixels = [np.asarray(result.images[n].data[0, 0]) for result, n in owners]
            checked_points = LandmarkDetector(done[0].model).check_stack_sides(pixels, spacings, before, neighbours)
            checked = ~np.isclose(checked_points[:, rv], before[:, rv], rtol=0.0, atol=0.0,
                                  equal_nan=True).all(axis=(1, 2))
            lv = names.index(SAX_LANDMARKS[2])
            lv_dropped = np.isfinite(before[:, lv]).all(axis=1) & ~np.isfinite(checked_points[:, lv]).all(axis=1)
        points, filled = fill_stack_gaps(checked_points, neighbours)
        changed: dict[int, tuple[SeriesResult, list[int]]] = {}
        for flat in np.flatnonzero(checked | lv_dropped | filled.any(axis=1)):
            result, n = owners[flat]
            entry = result.summary["phases"][n]
            if lv_dropped[flat]:
                entry["lv_centre_checked"] = "dropped"
                entry["landmarks"][names[lv]] = None
            if checked[flat]:
                read = bool(np.isfinite(checked_points[flat, rv]).all())
                entry["rv_insertions_checked"] = "read_again" if read else "dropped"
                for k in rv:
                    entry["landmarks"][names[k]] = (landmark_entry(*checked_points[flat, k], spacings[flat], 0.0)
                                                    if read else None)
            for k in np.flatnonzero(filled[flat]):
                entry["landmarks"][names[k]] = landmark_entry(*points[flat, k], spacings[flat], 0.0, "slices")
            changed.setdefault(id(result), (result, []))[1].append(n)
        for result, indices in changed.values():
            self._redraw_filled(result, indices, names)
        return int(filled.sum())

    def _redraw_filled(self, result: SeriesResult, indices: Sequence[int], names: Sequence[str]) -> None:
        """New A-RVI angles (and the series' values when the ED image is among them) and AI images for the
        phase entries ``indices`` of one short-axis slice whose landmarks changed."""
        summary, phases = result.summary, result.summary["phases"]
        index = {name: k for k, name in enumerate(names)}
        points = entry_points(phases, names)
        spacings = np.array([spacing_from_image(image) for image in result.images])
        levels = [phases[n].get("aha_level") for n in indices]
        sectors = self._sectors(points[indices], names, spacings[indices], levels)
        ed_index = next((n for n, e in enumerate(phases) if e["phase"] == summary.get("ed_phase")), 0)
        for j, n in enumerate(indices):
            phases[n]["arvi_angle_deg"] = _rounded(measures.arvi_angle_deg(
                points[n, index["lv_centre"]], points[n, index["anterior_rv_insertion"]], spacings[n]))
            if n == ed_index:
                summary["arvi_angle_deg"] = phases[n]["arvi_angle_deg"]
                summary["aha_sectors"] = self._sector_summary(sectors[j])
        if bool(result.ai_images) and len(result.ai_images) == len(result.images):
            for j, n in enumerate(indices):
                result.ai_images[n] = self._annotated(result.images[n], points[n], names, spacings[n], sectors[j],
                                                      summary, phases[n])
            attach_summary(result.ai_images[0], summary)

    def apply_stack_levels(self, results: Sequence[SeriesResult]) -> None:
        """Give the slices of a short-axis stack, analysed one by one, their AHA levels (in place).

        With ``sax_sectors = auto``, apical slices get the 4 apical sectors (summary and AI images
        redrawn); every slice's summary, phases and AI meta get ``aha_level``. Results that failed,
        are not short axis or lack their images are left alone.
        """
        done = [r for r in results if r.error is None and r.summary.get("view") == "sax" and r.images]
        if len(done) < 2 or self.settings.sector_mode != "auto":
            return
        lv_found = [any(e["landmarks"].get("lv_centre") for e in r.summary["phases"]) for r in done]
        for result, level in zip(done, _stack_levels([r.images[0] for r in done], lv_found), strict=True):
            self._set_level(result, level)

    def _set_level(self, result: SeriesResult, level: str | None) -> None:
        """Record ``level`` for one analysed slice; an apical one is redrawn with the 4 apical sectors
        (a slice analysed alone got 6)."""
        summary, phases = result.summary, result.summary["phases"]
        summary["aha_level"] = level
        for entry in phases:
            entry["aha_level"] = level
        complete = bool(result.ai_images) and len(result.ai_images) == len(result.images)
        if level == "apical":
            names = tuple(phases[0]["landmarks"])
            points = entry_points(phases, names)
            spacings = np.array([spacing_from_image(image) for image in result.images])
            sectors = self._sectors(points, names, spacings, [level] * len(phases))
            ed_index = next((n for n, e in enumerate(phases) if e["phase"] == summary.get("ed_phase")), 0)
            summary["aha_sectors"] = self._sector_summary(sectors[ed_index])
            if complete:
                result.ai_images = [self._annotated(image, points[n], names, spacings[n], sectors[n], summary,
                                                    phases[n]) for n, image in enumerate(result.images)]
        elif level is not None and complete:
            for ai_image in result.ai_images:
                meta = annotate.original_meta(ai_image)
                meta["AI_AHA_level"] = level
                set_meta(ai_image, meta)
        if complete:
            attach_summary(result.ai_images[0], summary)

    @staticmethod
    def _sector_summary(sectors: Sequence[measures.Sector]) -> list[dict[str, Any]]:
        return [{"name": s.name, "start_deg": _rounded(np.mod(s.start_deg, 360.0)),
                 "end_deg": _rounded(np.mod(s.end_deg, 360.0))} for s in sectors]

    def _image_meta(self, summary, entry, names) -> dict[str, object]:
        meta: dict[str, object] = {"AI_Status": "ok", "AI_Model": summary["model"],
                                   "AI_View": summary["view"]}
        for name in names:
            landmark = entry["landmarks"][name]
            if landmark is None:
                meta[f"AI_{name}"] = "absent"
                continue
            meta[f"AI_{name}"] = [landmark["row"], landmark["col"]]
            meta[f"AI_{name}_mm"] = [landmark["x_mm"], landmark["y_mm"]]
            meta[f"AI_{name}_confidence"] = landmark["confidence"]
            meta[f"AI_{name}_filled"] = int(landmark["filled"])
        for key, meta_key in (("lv_length_mm", "AI_LV_length_mm"), ("shortening_pct", "AI_shortening_pct"),
                              ("arvi_angle_deg", "AI_ARVI_angle_deg")):
            if entry.get(key) is not None:
                meta[meta_key] = entry[key]
        if entry.get("aha_level"):
            meta["AI_AHA_level"] = entry["aha_level"]
        if summary.get("longitudinal_shortening_pct") is not None:
            meta["AI_longitudinal_shortening_pct"] = summary["longitudinal_shortening_pct"]
        return meta

    @staticmethod
    def _comment(entry) -> list[str]:
        comment = ["AI"]
        if entry.get("lv_length_mm") is not None:
            comment.append(f"LV {entry['lv_length_mm']:.1f} mm")
        if entry.get("shortening_pct") is not None:
            comment.append(f"LS {entry['shortening_pct']:.1f} %")
        if entry.get("arvi_angle_deg") is not None:
            comment.append(f"ARVI {entry['arvi_angle_deg']:.0f} deg")
        return comment

    def make_report(self, summary: dict[str, Any], template: ismrmrd.Image) -> ismrmrd.Image:
        """The report image of one analysed series (summary with its phases), placed like ``template``."""
        phases = summary["phases"]
        title = f"series {summary['image_series_index']} slice {summary['slice']} {summary['view']} " \
                f"({summary['model']})"
        if summary["view"] == "sax":
            slices = [entry["slice"] for entry in phases]
            by_slice = len(set(slices)) > 1
            positions = slices if by_slice else [entry["phase"] for entry in phases]
            angles = np.array([np.nan if e["arvi_angle_deg"] is None else e["arvi_angle_deg"] for e in phases])
            pixels = report.render_short_axis(title, positions, angles, "slice" if by_slice else "phase")
        else:
            lengths = np.array([np.nan if e["lv_length_mm"] is None else e["lv_length_mm"] for e in phases])
            shortening = (np.array([np.nan if e["shortening_pct"] is None else e["shortening_pct"] for e in phases])
                          if len(phases) > 1 else None)
            pixels = report.render_long_axis(title, [e["phase"] for e in phases], lengths, shortening,
                                             summary["ed_phase"], summary["es_phase"],
                                             summary["longitudinal_shortening_pct"])
        image = report.report_image(pixels, template, report_meta(summary["model"]))
        attach_summary(image, summary)
        return image

    def _failed(self, images: list, summary: dict[str, Any], reason: str) -> SeriesResult:
        """A result carrying ``reason``: unannotated AI copies where the images allow one."""
        summary["error"] = reason
        ai_images = []
        if self.settings.annotate:
            for image in images:
                if not isinstance(image, ismrmrd.Image) or image.data.ndim != 4 or image.data.shape[:2] != (1, 1) \
                        or np.iscomplexobj(image.data):
                    continue
                pixels = np.asarray(image.data[0, 0])
                if np.issubdtype(pixels.dtype, np.floating):
                    pixels = np.nan_to_num(pixels, nan=0.0, posinf=0.0, neginf=0.0)
                meta = annotate.ai_meta(annotate.original_meta(image),
                                        {"AI_Status": reason, "AI_Model": summary["model"]},
                                        ["AI failed", reason[:120]])
                ai_images.append(annotate.annotated_copy(image, pixels, meta))
        attach_summary((ai_images or [None])[0], summary)
        return SeriesResult(ai_images, None, summary, reason)
