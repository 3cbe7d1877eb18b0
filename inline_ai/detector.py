"""Landmark detection on original images: normalise, resample, one batched inference, map back."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from inline_ai.consistency import drop_far_lv_centres, drop_wrong_side_rv, fill_stack_gaps, nearest_stack_donors
from inline_ai.context import Context
from inline_ai.display import flip_points
from inline_ai.geometry import GridTransform
from inline_ai.grid_cache import ModelGridCache, Resampled
from inline_ai.landmarks import SAX_LANDMARKS
from inline_ai.normalise import BlankImageError, normalised_grid
from inline_ai.points import extract_points
from inline_ai.refine import borrow_crop_axes, check_refiner, refine_points
from inline_ai.runtime import LandmarkModel, ModelError, load_model, refinement_chain, resolve_model


@dataclass
class Detections:
    """Landmarks of N images on their original grids."""

    points: np.ndarray  # [N, K, 2] (row, col), NaN = absent
    confidence: np.ndarray  # [N, K] peak probability
    names: tuple[str, ...]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    anatomy_mirrored: bool | None = None  # the display the model's anatomy chose for images of unknown display


def model_input(pixels: np.ndarray, spacing: tuple[float, float], pixel_size_mm: float, input_size: tuple[int, int],
                channels: int = 1, context: Context | None = None,
                cache: ModelGridCache | None = None) -> tuple[np.ndarray, GridTransform]:
    """One image's model input ``[channels, H, W]`` and its grid transform.

    Channel 0 is the normalised image on the model grid; a context model's channels 1-2 are its two
    neighbouring slices resampled with the image's spacing (zeros where a neighbour is missing or
    blank). ``cache`` reuses images resampled by an earlier call (``inline_ai.grid_cache``).
    """

    def resampled(image: np.ndarray) -> Resampled:
        image = np.asarray(image)
        if image.ndim != 2:
            raise ValueError(f"images and their neighbours must be 2D, got shape {image.shape}")
        make = partial(normalised_grid, image, spacing, pixel_size_mm, input_size)
        return make() if cache is None else cache.get(image, spacing, pixel_size_mm, input_size, make)

    out = np.zeros((channels, *input_size), dtype=np.float32)
    out[0], transform = resampled(pixels)
    if channels > 1 and context is not None:
        for channel, neighbour in enumerate(context[:channels - 1], start=1):
            if neighbour is None:
                continue
            try:
                out[channel] = resampled(neighbour)[0]
            except BlankImageError:  # a blank neighbour stays zero instead of failing the image
                pass
    return out, transform


class LandmarkDetector:
    """Runs one model on a series: all images go through a single inference call.

    When the model's card names a refinement model (``refine_with``; the argument of that name overrides
    it) and ``refine`` is true, a second batched call re-reads the points on axis crops at finer pixels
    (``inline_ai.refine``); a refinement card may name a further one (a chain); ``refine_stages`` keeps
    only the first stages of the chain. ``borrow_axes`` shows a mask refiner also the images where the first
    model found the crop's tip but not its pair, on an axis borrowed from a neighbouring image
    (:func:`inline_ai.refine.borrow_crop_axes`; off by default: on the real validation patients it added false
    insertion points at the stack ends).
    """

    def __init__(self, model: LandmarkModel | str | Path, device: str = "cpu", threads: int = 2,
                 grid_cache: ModelGridCache | None = None, refine: bool = True,
                 refine_with: str | Path | None = None, refine_stages: int | None = None,
                 borrow_axes: bool = False):
        self.model = model if isinstance(model, LandmarkModel) else load_model(model, device, threads)
        if self.model.card.crop:
            raise ModelError(f"{self.model.card.name} is a refinement model (crop {self.model.card.crop!r}): it "
                             "reads crops placed by another model's points; name that model (its card's refine_with)")
        if self.model.card.mask_rule:
            raise ModelError(f"{self.model.card.name} is a mask model: its rule needs a heat-map model's points (the "
                             "SAX rule cannot tell the anterior RV insertion from the inferior one, the apex rule "
                             "needs the valve points); name it in a heat-map model's refine_with")
        self.refiners: list[LandmarkModel] = []  # the card's refine_with models, in order (inline_ai.refine)
        if refine:
            start = resolve_model(refine_with) if refine_with is not None else None
            for path in refinement_chain(self.model.card, start)[:refine_stages]:
                refiner = load_model(path, device, threads)
                check_refiner(self.model, refiner)
                self.refiners.append(refiner)
        self.pixel_size_mm: float | None = None  # overrides the card's model pixel size when set
        self.borrow_axes = borrow_axes
        self.grid_cache = grid_cache  # keeps resampled images for the next call (a stack's slices, one by one)

    @property
    def refiner(self) -> LandmarkModel | None:
        """The first refinement model, if any."""
        return self.refiners[0] if self.refiners else None

    @property
    def refined_by(self) -> str:
        """The refinement models' names, in order, joined by ``" + "`` (empty without any)."""
        return " + ".join(refiner.card.name for refiner in self.refiners)

    @property
    def names(self) -> tuple[str, ...]:
        return self.model.card.landmark_names

    def check_stack_sides(self, images: Sequence[np.ndarray], spacings: np.ndarray, points: np.ndarray,
                          neighbours: np.ndarray) -> np.ndarray:
        """``points`` ``[N, K, 2]`` of a short-axis stack call with LV centres far from their stack's others dropped
        (:func:`inline_ai.consistency.drop_far_lv_centres`), RV insertions that turn the RV to the wrong
        side of the LV dropped (:func:`inline_ai.consistency.drop_wrong_side_rv`) and, where the chain's last stage
        is a SAX crop mask model, read again on a crop placed by the image's LV centre and the insertions of the
        nearest slice that kept them (moved with the LV centre); a reading still on the wrong side is dropped."""
        order = [self.names.index(name) for name in SAX_LANDMARKS]
        sax, _ = drop_far_lv_centres(points[:, order], neighbours, spacings)
        sax, dropped = drop_wrong_side_rv(sax, neighbours, spacings)
        last = self.refiners[-1] if self.refiners else None
        if dropped.any() and last is not None and last.card.mask_rule == "sax" and last.card.crop:
            donors = nearest_stack_donors(dropped, np.isfinite(sax).all(axis=(1, 2)), neighbours)
            redo = np.flatnonzero(donors >= 0)
            if redo.size:
                place = sax[redo].copy()
                place[:, :2] = sax[donors[redo], :2] - sax[donors[redo], 2:3] + sax[redo, 2:3]
                incoming = np.full((redo.size, len(self.names), 2), np.nan)
                candidates = incoming.copy()
                incoming[:, order] = sax[redo]
                candidates[:, order] = place
                read, _ = refine_points(last, [images[n] for n in redo], spacings[redo], incoming, self.names,
                                        candidates=candidates)
                trial = sax.copy()
                trial[redo, :2] = read[:, order][:, :2]
                _, again = drop_wrong_side_rv(trial, neighbours, spacings)
                keep = redo[~again[redo]]
                sax[keep, :2] = trial[keep, :2]
        out = np.array(points, dtype=np.float64, copy=True)
        out[:, order] = sax
        return out

    def prepare(self, images: Sequence[np.ndarray], spacings: np.ndarray,
                context: Sequence[Context] | None = None) -> tuple[np.ndarray, list[GridTransform]]:
        """The model batch ``[N, I, H, W]`` and each image's grid transform.

        A context model (``card.context_slices`` 1) gets each image's two neighbours as channels 1-2,
        resampled with the image's spacing; a missing neighbour (or no ``context``) is all zeros.
        With a ``grid_cache``, images resampled in this call or the one before are not resampled again.
        """
        card = self.model.card
        if self.grid_cache is not None:
            self.grid_cache.next_call()
        batch = np.zeros((len(images), card.input_channels, *card.input_size), dtype=np.float32)
        pixel_size_mm = self.pixel_size_mm or card.pixel_size_mm
        transforms = []
        for n, pixels in enumerate(images):
            batch[n], transform = model_input(pixels, tuple(spacings[n]), pixel_size_mm, card.input_size,
                                              card.input_channels, None if context is None else context[n],
                                              self.grid_cache)
            transforms.append(transform)
        return batch, transforms

    def detect(self, images: np.ndarray | Sequence[np.ndarray], pixel_spacing: Sequence[float] | np.ndarray,
               threshold: float | None = None, context: Sequence[Context] | None = None,
               neighbours: np.ndarray | None = None, mirrored: Sequence[bool | None] | None = None) -> Detections:
        """Landmarks of ``images`` (``[N, H, W]`` or a list of 2D arrays, sizes may differ).

        ``pixel_spacing`` is one ``(row_mm, col_mm)`` for all images or ``[N, 2]``. ``threshold``
        overrides the card's thresholds for every landmark. ``context`` gives each image's two
        neighbouring slices (``inline_ai.context``); models without context ignore it. ``neighbours``
        ``[N, 2]`` indexes each image's neighbouring slices among ``images`` (``-1`` = none; a whole stack
        on one in-plane grid in one call): RV insertions that put the RV on the wrong side of the LV for the
        stack are then dropped or read again (:meth:`check_stack_sides`), and a short-axis landmark missing
        between two slices that have it is filled (:func:`inline_ai.consistency.fill_stack_gaps`). ``mirrored``
        flags the images displayed as the mirror of the standard SAX view
        (:func:`inline_ai.display.sax_display_mirrored`): a model that learned the standard display alone (card
        ``display: standard``) sees them flipped left-right, its points are flipped back; an image flagged None
        (display unknown: no directions, or directions that do not tell) is read both ways and the anatomy decides
        for all such images of the call (:meth:`_read_unknown_display`); other models ignore it, and without it
        (``mirrored`` None) every image counts as the standard display.
        """
        images = [np.asarray(image) for image in images]
        if not images:
            raise ValueError("no images to detect landmarks in")
        if any(image.ndim != 2 for image in images):
            raise ValueError(f"images must be 2D, got shapes {sorted({image.shape for image in images})}")
        spacings = np.asarray(pixel_spacing, dtype=np.float64)
        spacings = np.broadcast_to(spacings, (len(images), 2)) if spacings.shape == (2,) else spacings
        if spacings.shape != (len(images), 2):
            raise ValueError(f"pixel_spacing must be (row_mm, col_mm) or [N, 2], got shape {spacings.shape}")
        if context is not None and len(context) != len(images):
            raise ValueError(f"context must give neighbours for each of the {len(images)} images, got {len(context)}")
        if neighbours is not None and np.shape(neighbours) != (len(images), 2):
            raise ValueError(f"neighbours must be [{len(images)}, 2], got shape {np.shape(neighbours)}")
        if mirrored is not None and len(mirrored) != len(images):
            raise ValueError(f"mirrored must flag each of the {len(images)} images, got {len(mirrored)}")
        card = self.model.card
        standard_only = mirrored is not None and card.display == "standard"
        flipped = [bool(m) for m in mirrored] if standard_only else []
        unknown = np.array([m is None for m in mirrored], dtype=bool) if standard_only else np.zeros(0, dtype=bool)
        shown, shown_context = images, context
        if any(flipped):
            shown = [np.fliplr(image) if flip else image for image, flip in zip(images, flipped, strict=True)]
            if context is not None:
                shown_context = [tuple(None if n is None else np.fliplr(n) for n in c) if flip else c
                                 for c, flip in zip(context, flipped, strict=True)]

        timings: dict[str, float] = {}
        start = time.perf_counter()
        batch, transforms = self.prepare(shown, spacings, shown_context)
        timings["resample"] = time.perf_counter() - start

        def on_originals(found: np.ndarray) -> np.ndarray:
            """Model-grid points ``[N, K, 2]`` on the original images (flipped back where the model saw a flip)."""
            mapped = np.stack([t.to_original(p) for t, p in zip(transforms, found, strict=True)])
            return flip_points(mapped, [image.shape[1] for image in images], flipped) if any(flipped) else mapped

        start = time.perf_counter()
        probabilities = self.model.predict(batch)
        anatomy_mirrored = None
        if unknown.any():
            probabilities, anatomy_mirrored = self._read_unknown_display(batch, probabilities, unknown)
        timings["inference"] = time.perf_counter() - start
        start = time.perf_counter()
        thresholds = ({name: float(threshold) for name in self.names} if threshold is not None
                      else {name: card.threshold_for(name) for name in self.names})
        model_points, confidence = extract_points(probabilities, card.channels, self.names, thresholds,
                                                  sigma_px=card.heatmap_sigma_px)
        points = on_originals(model_points)
        timings["points"] = time.perf_counter() - start
        if self.refiners:
            start = time.perf_counter()
            for refiner in self.refiners:
                candidates = None
                if refiner.card.mask_rule == "sax":  # its crops also go where the first model's peaks are weak
                    weak, _ = extract_points(probabilities, card.channels, self.names, refiner.card.threshold,
                                             sigma_px=card.heatmap_sigma_px)
                    weak = on_originals(weak)
                    candidates = np.where(np.isfinite(points), points, weak)
                    if self.borrow_axes and refiner.card.crop:  # a whole-image stage places no crops
                        candidates = borrow_crop_axes(candidates, self.names, refiner.card.crop,
                                                      [image.shape for image in images])
                points, _ = refine_points(refiner, images, spacings, points, self.names, candidates=candidates)
            timings["refine"] = time.perf_counter() - start
        if neighbours is not None and card.view_family == "sax":
            points = self.check_stack_sides(images, spacings, points, neighbours)
            points, _ = fill_stack_gaps(points, neighbours)
        return Detections(points=points, confidence=confidence, names=self.names, timings=timings,
                          anatomy_mirrored=anatomy_mirrored)

    def _read_unknown_display(self, batch: np.ndarray, probabilities: np.ndarray,
                              unknown: np.ndarray) -> tuple[np.ndarray, bool]:
        """The probabilities with the ``unknown``-display images of one call read the way their anatomy fits.

        A model of the standard SAX display names the RV insertions by handedness; shown a mirror image it finds
        them only weakly. The unknown images are read again mirrored left-right on the model grid; if their summed
        RV-insertion peaks are larger that way, all of them count as mirrored (one display per call: one stack or
        series) and their maps are mirrored back onto the as-shown grid. Returns the probabilities and whether the
        unknown images were taken as mirrored."""
        channels = [self.model.card.channels.index(name) for name in self.names if name.endswith("rv_insertion")]
        if not channels:
            raise ModelError(f"{self.model.card.name}: a standard-display model without RV insertion channels cannot "
                             "tell the display of an image from its anatomy")
        mirrored_batch = np.ascontiguousarray(batch[unknown][..., ::-1])
        mirrored_read = self.model.predict(mirrored_batch)

        def rvi_peaks(maps: np.ndarray) -> float:
            return float(maps[:, channels].max(axis=(2, 3)).sum())

        if rvi_peaks(mirrored_read) <= rvi_peaks(probabilities[unknown]):
            return probabilities, False
        out = probabilities.copy()
        out[unknown] = mirrored_read[..., ::-1]
        return out, True
