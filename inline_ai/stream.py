"""Host-agnostic gadget logic: forward originals at once, group images into series, analyse
complete series and send their AI images and report.

A host (Gadgetron external gadget, connect-mode server, OpenRecon adapter, a test) creates a
``StreamProcessor(settings, send, log, header=...)`` and feeds it messages. Every original is
passed to ``send`` unchanged (the same object, never mutated) before anything else happens.

Series: images are grouped by ``(image_series_index, slice)``, phases ordered by
``(phase, image_index)``. A group is analysed when the header's phase count
(``encodingLimits.phase.maximum + 1``) has arrived, when an image of a different series index
arrives, or at ``close()``. Images that already carry "AI" in ``GADGETRON_ImageProcessingHistory``
are forwarded but never analysed again.

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
from inline_ai.pipeline import AnalysisSettings, SeriesAnalyser, SeriesResult, parsed_header

HEADER_FIELDS: tuple[str, ...] = (
    "version", "flags", "measurement_uid", "field_of_view", "position", "read_dir", "phase_dir",
    "slice_dir", "patient_table_position", "average", "slice", "contrast", "phase", "repetition",
    "set", "acquisition_time_stamp", "physiology_time_stamp", "image_type", "image_index",
    "image_series_index", "user_int", "user_float",
)


def expected_phases(header: Any) -> int | None:
    """Phases per slice announced by ``encoding[0].encodingLimits.phase.maximum + 1`` (or None).

    ``header`` is a parsed ISMRMRD header or its XML text/bytes.
    """
    header = parsed_header(header)
    try:
        limit = header.encoding[0].encodingLimits.phase
    except (AttributeError, IndexError, TypeError):
        return None
    if limit is None or limit.maximum is None:
        return None
    return int(limit.maximum) + 1


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
        self.pending: dict[tuple[int, int], list[ismrmrd.Image]] = {}
        self.results: list[SeriesResult] = []
        self.summaries: list[dict[str, Any]] = []
        self._last_series: int | None = None
        self.on_header(header)

    def on_header(self, header: Any) -> None:
        """Set the ISMRMRD header (XML text/bytes or parsed) that announces the phase count."""
        self.header = parsed_header(header)
        self.phases_expected = expected_phases(self.header)

    # -- messages ------------------------------------------------------------------------------
    def on_image(self, image: ismrmrd.Image) -> None:
        """Forward ``image`` unchanged, then collect it; analyse its series once complete."""
        self.send(image)
        if not self.settings.enabled or is_ai_output(image):
            return
        series = int(image.image_series_index)
        if self._last_series is not None and series != self._last_series:
            for key in [key for key in self.pending if key[0] != series]:
                self._analyse(key)
        self._last_series = series
        key = (series, int(image.slice))
        group = self.pending.setdefault(key, [])
        group.append(image)
        if self.phases_expected and len({int(i.phase) for i in group}) >= self.phases_expected:
            self._analyse(key)

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
            if images and not is_ai_output(images[0]):
                self._run(images)

    def close(self) -> None:
        """Analyse every series still pending (end of stream)."""
        for key in list(self.pending):
            self._analyse(key)

    # -- internals -----------------------------------------------------------------------------
    def _array_groups(self, array: Any) -> list[list[ismrmrd.Image]]:
        data = np.asarray(array.data)
        if data.ndim < 2:
            raise ValueError(f"image array data has shape {data.shape}")
        data = data.reshape(data.shape + (1,) * (7 - data.ndim))
        _, _, partitions, channels, count, sets, locations = data.shape
        headers = np.asarray(array.headers, dtype=object).reshape((count, sets, locations), order="F")
        metas = list(getattr(array, "meta", None) or [])
        if partitions != 1 or channels != 1:
            raise ValueError(f"image array with {partitions} partitions and {channels} channels; "
                             "2D single-channel images are needed")
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

    def _run(self, images: list[ismrmrd.Image]) -> None:
        series, slice_index = int(images[0].image_series_index), int(images[0].slice)
        try:
            result = self.analyser.analyse(images, self.header)
        except Exception as error:  # the analyser should not raise; never let it stop the stream
            self.log.exception("inline AI: analysis of series %d slice %d failed", series, slice_index)
            self._report_failure(images[0], f"analysis failed: {type(error).__name__}: {error}")
            return
        self.results.append(result)
        self.summaries.append(result.summary)
        if result.error:
            self.log.warning("inline AI: series %d slice %d not analysed: %s", series, slice_index, result.error)
        else:
            self.log.info("inline AI: series %d slice %d, %d images, model %s, %.3f s", series, slice_index,
                          len(images), result.summary.get("model"), result.timings.get("total", 0.0))
        try:
            for output in result.ai_images:
                self.send(output)
            if result.report_image is not None:
                self.send(result.report_image)
        except Exception:
            self.log.exception("inline AI: sending the AI outputs of series %d slice %d failed",
                               series, slice_index)

    def _report_failure(self, image: ismrmrd.Image | None, reason: str) -> None:
        self.log.error("inline AI: %s", reason)
        self.summaries.append({
            "image_series_index": int(image.image_series_index) if image is not None else None,
            "slice": int(image.slice) if image is not None else None,
            "view": "", "model": self.settings.model, "phases": [], "error": reason,
        })
