"""Host-agnostic gadget logic: forward originals at once, group images into series, analyse
complete series and send their AI images and report.

A host (Gadgetron external gadget, connect-mode server, OpenRecon adapter, a test) creates a
``StreamProcessor(settings, send, log, header=...)`` and feeds it messages. Every original is
passed to ``send`` unchanged (the same object, never mutated) before anything else happens.

Series: images are grouped by ``(image_series_index, slice)``, phases ordered by
``(phase, image_index)``. A group is analysed, and its AI images sent, when the header's phase
count (``encodingLimits.phase.maximum + 1``) has arrived, when an image of a different series
index arrives, or at ``close()``. One report image is sent per series index: once all the slices
the header announces (``encodingLimits.slice.maximum + 1``) are analysed, or when a new series
index starts, or at ``close()``; with one slice it is that slice's report, with several a
combined one (A-RVI angle and AHA level per slice for short axis). The AI images of a short-axis
stack (several slices announced, ``sax_sectors = auto``) wait for the end of the series: only the
whole stack tells which slices are apical and get 4 AHA sectors instead of 6. Images that already carry "AI" in
``GADGETRON_ImageProcessingHistory`` are forwarded but never analysed again.

A model that reads neighbouring slices (card ``context_slices: 1``, see ``inline_ai.context``)
needs the whole stack: unless the header announces a single slice, its slices are analysed together
at the end of the series, in order of position along the slice normal, each with the slices on
either side (same phase) as extra input; their AI images go out in that order. Their originals
still go out at once.

Image arrays (Gadgetron ``IsmrmrdImageArray``: ``data`` complex64 ``[RO, E1, E2, CHA, N, S, LOC]``,
``headers`` ``[N, S, LOC]``, ``meta`` a flat list of serialised meta containers) are forwarded
unchanged; each ``(S, LOC)`` plane's N images (phases) are analysed at once from their
magnitude, and the results are sent as individual images.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import ismrmrd
import numpy as np

from inline_ai.annotate import original_meta
from inline_ai.pipeline import (
    AnalysisSettings,
    SeriesAnalyser,
    SeriesResult,
    parsed_header,
    series_report,
    slice_contexts,
    stack_order,
)

HEADER_FIELDS: tuple[str, ...] = (
    "version", "flags", "measurement_uid", "field_of_view", "position", "read_dir", "phase_dir",
    "slice_dir", "patient_table_position", "average", "slice", "contrast", "phase", "repetition",
    "set", "acquisition_time_stamp", "physiology_time_stamp", "image_type", "image_index",
    "image_series_index", "user_int", "user_float",
)


def _announced_count(header: Any, counter: str) -> int | None:
    """``encoding[0].encodingLimits.<counter>.maximum + 1`` of a header (parsed or XML), or None."""
    header = parsed_header(header)
    try:
        limit = getattr(header.encoding[0].encodingLimits, counter)
    except (AttributeError, IndexError, TypeError):
        return None
    if limit is None or limit.maximum is None:
        return None
    return int(limit.maximum) + 1


def expected_phases(header: Any) -> int | None:
    """Phases per slice announced by ``encoding[0].encodingLimits.phase.maximum + 1`` (or None).

    ``header`` is a parsed ISMRMRD header or its XML text/bytes.
    """
    return _announced_count(header, "phase")


def expected_slices(header: Any) -> int | None:
    """Slices announced by ``encoding[0].encodingLimits.slice.maximum + 1`` (or None)."""
    return _announced_count(header, "slice")


def is_ai_output(image: ismrmrd.Image) -> bool:
    """True for images this plugin (or another AI step) produced."""
    history = original_meta(image).get("GADGETRON_ImageProcessingHistory", [])
    history = [history] if isinstance(history, str) else history
    return "AI" in history


def image_from_array_plane(pixels: np.ndarray, header: ismrmrd.ImageHeader, meta: str | None) -> ismrmrd.Image:
    """An ``ismrmrd.Image`` with ``pixels [row, col]`` and the geometry/counters of ``header``."""
    image = ismrmrd.Image.from_array(np.ascontiguousarray(pixels))
    for name in HEADER_FIELDS:
        value = getattr(header, name)
        if hasattr(value, "__len__"):
            getattr(image, name)[:] = value[:]
        else:
            setattr(image, name, value)
    image.image_type = ismrmrd.IMTYPE_MAGNITUDE
    if meta:
        image.attribute_string = meta
    return image


class StreamProcessor:
    """Forwards originals, collects series, analyses them and sends the AI outputs."""

    def __init__(self, settings: AnalysisSettings | None, send: Callable[[object], None],
                 log: logging.Logger | None = None, header: Any = None,
                 analyser: SeriesAnalyser | None = None):
        self.settings = settings or AnalysisSettings()
        self.send = send
        self.log = log or logging.getLogger(__name__)
        self.analyser = analyser or SeriesAnalyser(self.settings)
        self.header: Any = None
        self.phases_expected: int | None = None
        self.slices_expected: int | None = None
        self.pending: dict[tuple[int, int], list[ismrmrd.Image]] = {}
        self.results: list[SeriesResult] = []
        self.summaries: list[dict[str, Any]] = []
        self._analysed: dict[int, list[SeriesResult]] = {}  # per series index, report not sent yet
        self._deferred: dict[int, list[list[ismrmrd.Image]]] = {}  # slices waiting for their stack (context models)
        self._templates: dict[int, ismrmrd.Image] = {}  # first image of each series (report geometry)
        self._last_series: int | None = None
        self.on_header(header)

    def on_header(self, header: Any) -> None:
        """Set the ISMRMRD header (XML text/bytes or parsed) that announces phase and slice counts."""
        self.header = parsed_header(header)
        self.phases_expected = expected_phases(self.header)
        self.slices_expected = expected_slices(self.header)

    # -- messages ------------------------------------------------------------------------------
    def on_image(self, image: ismrmrd.Image) -> None:
        """Forward ``image`` unchanged, then collect it; analyse its series once complete."""
        self.send(image)
        if not self.settings.enabled or is_ai_output(image):
            return
        series = int(image.image_series_index)
        self._series_starts(series)
        key = (series, int(image.slice))
        group = self.pending.setdefault(key, [])
        group.append(image)
        self._templates.setdefault(series, image)
        if self.phases_expected and len({int(i.phase) for i in group}) >= self.phases_expected:
            self._analyse(key)
            self._finish_if_complete(series)

    def on_image_array(self, array: Any) -> None:
        """Forward an image array unchanged, then analyse each (set, slice) plane's phases."""
        self.send(array)
        if not self.settings.enabled:
            return
        try:
            groups = self._array_groups(array)
        except Exception as error:
            self._report_failure(None, f"image array cannot be read: {type(error).__name__}: {error}")
            return
        for images in groups:
            if not images or is_ai_output(images[0]):
                continue
            series = int(images[0].image_series_index)
            self._series_starts(series)
            self._templates.setdefault(series, images[0])
            self._run(images)
            self._finish_if_complete(series)

    def close(self) -> None:
        """Analyse every series still pending and send the remaining reports (end of stream)."""
        for key in list(self.pending):
            self._analyse(key)
        for series in dict.fromkeys([*self._analysed, *self._deferred]):
            self._finish_series(series)

    # -- internals -----------------------------------------------------------------------------
    def _series_starts(self, series: int) -> None:
        """A new series index completes every other series still open."""
        if self._last_series is not None and series != self._last_series:
            for key in [key for key in self.pending if key[0] != series]:
                self._analyse(key)
            for other in {*self._analysed, *self._deferred} - {series}:
                self._finish_series(other)
        self._last_series = series

    def _finish_if_complete(self, series: int) -> None:
        done = len(self._analysed.get(series, [])) + len(self._deferred.get(series, []))
        still_open = any(key[0] == series for key in self.pending)
        if self.slices_expected and done >= self.slices_expected and not still_open:
            self._finish_series(series)

    def _finish_series(self, series: int) -> None:
        """Send the held AI images of a short-axis stack, then the series' report: the slice's own,
        or one combining all its slices. Slices deferred for a context model are analysed first."""
        self._run_stack(self._deferred.pop(series, []))
        results = self._analysed.pop(series, [])
        template = self._templates.pop(series, None)
        held = [r for r in results if self._holds(r)]
        if held:
            try:
                self.analyser.fill_stack_gaps(held)
            except Exception:
                self.log.exception("inline AI: filling gaps between the slices of series %d failed", series)
            try:
                self.analyser.apply_stack_levels(held)
            except Exception:
                self.log.exception("inline AI: AHA levels of series %d failed; slices keep 6 sectors", series)
            for result in held:
                self._send_ai_images(result)
        if not results or not self.settings.report or template is None:
            return
        try:
            if len(results) == 1:
                result = results[0]
                image = result.report_image
                if image is None and result.error is None:
                    image = self.analyser.make_report(result.summary, template)
            else:
                image = series_report([r.summary for r in results], template)
            if image is not None:
                self.send(image)
        except Exception:
            self.log.exception("inline AI: the report of series %d failed", series)

    def _array_groups(self, array: Any) -> list[list[ismrmrd.Image]]:
        data = np.asarray(array.data)
        if data.ndim < 2:
            raise ValueError(f"image array data has shape {data.shape}")
        data = data.reshape(data.shape + (1,) * (7 - data.ndim))
        _, _, partitions, channels, count, sets, locations = data.shape
        if partitions != 1 or channels != 1:
            raise ValueError(f"image array with {partitions} partitions and {channels} channels; "
                             "2D single-channel images are needed")
        headers = np.asarray(array.headers, dtype=object).reshape((count, sets, locations), order="F")
        metas = list(getattr(array, "meta", None) or [])
        groups = []
        for loc in range(locations):
            for s in range(sets):
                images = []
                for n in range(count):
                    flat = n + count * (s + sets * loc)
                    magnitude = np.abs(data[:, :, 0, 0, n, s, loc]).T.astype(np.float32)
                    meta = metas[flat] if flat < len(metas) else None
                    images.append(image_from_array_plane(magnitude, headers[n, s, loc], meta))
                images.sort(key=lambda i: (int(i.phase), int(i.image_index)))
                groups.append(images)
        return groups

    def _analyse(self, key: tuple[int, int]) -> None:
        images = self.pending.pop(key, [])
        if images:
            images.sort(key=lambda i: (int(i.phase), int(i.image_index)))
            self._run(images)

    def _defers(self, images: list[ismrmrd.Image]) -> bool:
        """A slice of a (possibly) multi-slice series whose model reads neighbouring slices waits for
        the rest of its stack; its originals have already gone out."""
        if self.slices_expected == 1:
            return False
        try:
            return self.analyser.needs_stack(images, self.header)
        except Exception:
            self.log.exception("inline AI: cannot tell whether the model needs the whole stack; analysing now")
            return False

    def _run_stack(self, groups: list[list[ismrmrd.Image]]) -> None:
        """Analyse the slices of one stack, each with its neighbouring slices as context."""
        if not groups:
            return
        try:
            contexts: list = slice_contexts(groups)
            order = stack_order(groups)  # neighbours in consecutive calls: each image is resampled once
        except Exception:
            self.log.exception("inline AI: slice order of series %d unknown; slices analysed without neighbours",
                               int(groups[0][0].image_series_index))
            contexts, order = [None] * len(groups), list(range(len(groups)))
        for index in order:
            self._run(groups[index], contexts[index], defer=False)

    def _run(self, images: list[ismrmrd.Image], context: list | None = None, defer: bool = True) -> None:
        series, slice_index = int(images[0].image_series_index), int(images[0].slice)
        if defer and self._defers(images):
            self._deferred.setdefault(series, []).append(images)
            return
        # with several slices per series, one combined report is made at the end of the series
        per_slice_report = self.settings.report and (self.slices_expected or 0) <= 1
        try:
            extra = {} if context is None else {"context": context}  # analysers without context support still work
            result = self.analyser.analyse(images, self.header, make_report=per_slice_report, **extra)
        except Exception as error:  # the analyser should not raise; never let it stop the stream
            self.log.exception("inline AI: analysis of series %d slice %d failed", series, slice_index)
            self._report_failure(images[0], f"analysis failed: {type(error).__name__}: {error}")
            return
        self.results.append(result)
        self.summaries.append(result.summary)
        self._analysed.setdefault(series, []).append(result)
        if result.error:
            self.log.warning("inline AI: series %d slice %d not analysed: %s", series, slice_index, result.error)
        else:
            self.log.info("inline AI: series %d slice %d, %d images, model %s, %.3f s", series, slice_index,
                          len(images), result.summary.get("model"), result.timings.get("total", 0.0))
        if not self._holds(result):
            self._send_ai_images(result)

    def _holds(self, result: SeriesResult) -> bool:
        """Whether the AI images of ``result`` wait for the end of their series: the slices of a
        short-axis stack do, because a landmark missing between two slices that have it is filled from them
        and a slice's AHA level (6 or 4 sectors) needs the whole stack."""
        return result.error is None and result.summary.get("view") == "sax" and (self.slices_expected or 0) > 1

    def _send_ai_images(self, result: SeriesResult) -> None:
        try:
            for output in result.ai_images:
                self.send(output)
        except Exception:
            self.log.exception("inline AI: sending the AI images of series %s slice %s failed",
                               result.summary.get("image_series_index"), result.summary.get("slice"))

    def _report_failure(self, image: ismrmrd.Image | None, reason: str) -> None:
        self.log.error("inline AI: %s", reason)
        self.summaries.append({
            "image_series_index": int(image.image_series_index) if image is not None else None,
            "slice": int(image.slice) if image is not None else None,
            "view": "", "model": self.settings.model, "phases": [], "error": reason,
        })
