"""Second look: a refinement model re-reads the points on an axis crop at finer pixels.

The first model decides which landmarks are present and roughly where; for each image where it found
the three landmarks of the refinement card's crop (``inline_ai.crop``: the valve points and apex of a
long-axis view, the RV insertions and LV centre of a short-axis one), the refinement model sees the
crop those points place and its points replace the first ones. A refined landmark whose peak stays
under the refinement card's threshold, or that lands more than :data:`MAX_SHIFT_MM` from the first
point (a second look corrects millimetres; a jump means it latched onto something else), keeps the
first model's point. Presence never changes here.

A long-axis refinement model may segment the LV instead (card ``mask_rule: lax``): the apex is then read off
its segmentation by the rule that made the apex labels (``inline_ai.apex_rule``: the LV point farthest from
the valve midpoint), and the valve points and presence stay the incoming ones.

A short-axis refinement model may segment instead (card ``mask_rule: sax``): it predicts the label mask
on the crop, and the points are read off it, on the image's own grid, by the rule that made the SAX
labels (``inline_ai.mask_landmarks``). Since that rule *defines* the labels, presence too is its call on
every image it reads (an RV under 30 pixels or touching the septum over less than 20 degrees has no
insertion points), and its crops are placed by the first model's peaks down to the mask card's
``threshold``, so a landmark the first model found only weakly can still be confirmed. A mask model
without a crop reads every whole image instead (no crop to place); the first model's best guesses only
name the two RV insertion ends.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inline_ai.apex_rule import farthest_lv_point
from inline_ai.crop import CROP_LANDMARKS, AxisCrop, axis_crop
from inline_ai.geometry import GridTransform
from inline_ai.landmarks import SAX_LANDMARKS
from inline_ai.mask_landmarks import crop_mask_landmarks
from inline_ai.measures import distance_mm
from inline_ai.normalise import normalise, normalised_grid
from inline_ai.points import extract_points
from inline_ai.runtime import LandmarkModel, ModelError

MAX_SHIFT_MM = 10.0


def check_refiner(first: LandmarkModel, refiner: LandmarkModel) -> None:
    """Raise :class:`ModelError` unless ``refiner`` can refine ``first``'s points."""
    card = refiner.card
    if card.crop not in CROP_LANDMARKS and not (card.mask_rule and not card.crop):
        raise ModelError(f"{card.name}: a refinement model needs a crop ({', '.join(CROP_LANDMARKS)}), "
                         f"its card says {card.crop!r}")
    if card.context_slices:
        raise ModelError(f"{card.name}: a refinement model takes one image, not neighbouring slices")
    needed = CROP_LANDMARKS.get(card.crop, ())
    if not set(needed) <= set(first.card.landmark_names) or set(card.landmark_names) != set(first.card.landmark_names):
        raise ModelError(f"{card.name}: refines {list(card.landmark_names)}, but {first.card.name} finds "
                         f"{list(first.card.landmark_names)} (a {card.crop or 'whole-image'} model needs "
                         f"{list(needed or card.landmark_names)})")


def mask_rule_points(probabilities: np.ndarray, crop: AxisCrop, shape: tuple[int, int], first: np.ndarray,
                     names: Sequence[str]) -> np.ndarray:
    """Points ``[K, 2]`` (original grid, ``names`` order) read by the SAX mask rule from a mask model's class
    probabilities on ``crop``; the RV insertion ends are named after the nearer first-model points (the
    first model tells anterior from inferior), which also pick the RV region where the mask has several
    (:func:`inline_ai.mask_landmarks.largest_regions`); NaN where the rule finds nothing."""
    sax_order = [list(names).index(name) for name in SAX_LANDMARKS]
    out = np.full((len(names), 2), np.nan)
    out[sax_order] = crop_mask_landmarks(probabilities, crop, shape, first[sax_order][:2]).points(first[sax_order])
    return out


def apex_rule_points(probabilities: np.ndarray, crop: AxisCrop, incoming: np.ndarray, names: Sequence[str],
                     spacing: np.ndarray, mode: str, max_shift_mm: float = MAX_SHIFT_MM) -> np.ndarray:
    """Points ``[K, 2]`` (original grid) with the apex moved to the apex rule's reading (``inline_ai.apex_rule``)
    of an LV segmentation on ``crop``, measured from the incoming valve points' midpoint; the incoming points
    stay where the rule finds no LV or its apex lands more than ``max_shift_mm`` away (``mode`` as :func:`combined`)."""
    out = np.array(incoming, dtype=np.float64, copy=True)
    valve = [list(names).index(name) for name in CROP_LANDMARKS["lv_axis"][:2]]
    apex = list(names).index(CROP_LANDMARKS["lv_axis"][2])
    found = farthest_lv_point(probabilities, crop.to_model(out[valve].mean(axis=0)))
    if found is None:
        return out
    moved = crop.to_original(found)
    if not distance_mm(moved, out[apex], spacing) <= max_shift_mm:
        return out
    out[apex] = combined(mode, moved[None], out[apex][None])[0]
    return out


def combined(mode: str, read: np.ndarray, incoming: np.ndarray) -> np.ndarray:
    """A refinement stage's points ``[K, 2]``: its own reading; with ``mode`` ``"average"``, where a point was
    already there, the mean of both readings (a mask stage's presence call stands either way)."""
    if mode != "average":
        return read
    out = np.array(read, dtype=np.float64, copy=True)
    both = np.isfinite(read).all(-1) & np.isfinite(incoming).all(-1)
    out[both] = (read[both] + incoming[both]) / 2.0
    return out


def grid_crop(transform: GridTransform) -> AxisCrop:
    """A whole-image model grid as an :class:`AxisCrop` (no rotation), so crop-grid outputs paste back alike."""
    return AxisCrop(centre=transform.original_centre, matrix=np.diag(np.asarray(transform.step, dtype=np.float64)),
                    model_shape=transform.model_shape)


def whole_image_mask_points(refiner: LandmarkModel, images: Sequence[np.ndarray], spacings: np.ndarray,
                            points: np.ndarray, names: list[str], references: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
    """A whole-image mask model (card ``mask_rule`` without ``crop``) on every image: the rule's points on each
    image's own grid, the RV insertion ends named after ``references`` (the first model's points or best guesses;
    where those lack an insertion point the ends keep the rule's order). Returns ``(points, refined)`` as
    :func:`refine_points`."""
    card = refiner.card
    batch, crops = [], []
    for image, spacing in zip(images, spacings, strict=True):
        pixels, transform = normalised_grid(image, tuple(spacing), card.pixel_size_mm, card.input_size)
        batch.append(pixels)
        crops.append(grid_crop(transform))
    probabilities = refiner.predict(np.stack(batch)[:, None])
    out = np.array(points, dtype=np.float64, copy=True)
    for n, (p, crop) in enumerate(zip(probabilities, crops, strict=True)):
        out[n] = combined(card.combine, mask_rule_points(p, crop, images[n].shape, references[n], names), points[n])
    return out, np.ones(points.shape[:2], dtype=bool)


def borrow_crop_axes(candidates: np.ndarray, names: Sequence[str], crop_kind: str,
                     shapes: Sequence[tuple[int, ...]]) -> np.ndarray:
    """``candidates`` ``[N, K, 2]`` with the crop's missing pair points filled in where an image has the tip.

    A mask model decides presence itself, but only on images it is shown: where the first model found the
    crop's tip (the LV centre) but not a pair point (an RV insertion, e.g. at the base), the missing point is
    placed at the same offset from the tip as in the nearest image of the call (by index, same image shape:
    a neighbouring slice or phase of the series) that has all three. The borrowed point only places the crop
    (and names the ends); whether the landmark is there stays the rule's call.
    """
    out = np.array(candidates, dtype=np.float64, copy=True)
    pair = [list(names).index(name) for name in CROP_LANDMARKS[crop_kind][:2]]
    tip = list(names).index(CROP_LANDMARKS[crop_kind][2])
    known = np.isfinite(out).all(axis=-1)
    donors = np.flatnonzero(known[:, pair].all(axis=1) & known[:, tip])
    for n in np.flatnonzero(known[:, tip] & ~known[:, pair].all(axis=1)):
        same = [d for d in donors if tuple(shapes[d]) == tuple(shapes[n])]
        if not same:
            continue
        donor = min(same, key=lambda d: abs(int(d) - int(n)))
        for k in pair:
            if not known[n, k]:
                out[n, k] = out[donor, k] - out[donor, tip] + out[n, tip]
    return out


def mirror_averaged(refiner: LandmarkModel, batch: np.ndarray) -> np.ndarray:
    """Probabilities ``[N, C, h, w]`` averaged over each crop and its mirror image across the crop's axis.

    An axis crop puts its axis (e.g. valve midpoint -> apex) on its centre column, and a model trained with mirrored
    crops (labels following anatomy) reads either; the mirrored crop's maps are mirrored back before the mean.
    One inference call."""
    both = refiner.predict(np.concatenate([batch, batch[..., ::-1]]))
    count = len(batch)
    return 0.5 * (both[:count] + both[count:][..., ::-1])


def refine_points(refiner: LandmarkModel, images: Sequence[np.ndarray], spacings: np.ndarray,
                  points: np.ndarray, names: Sequence[str], max_shift_mm: float = MAX_SHIFT_MM,
                  candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Refined points ``[N, K, 2]`` (original grids) and which the refinement model decided ``[N, K]``.

    ``spacings`` is ``(row_mm, col_mm)`` for all images or ``[N, 2]``; ``points`` are the first
    model's points in ``names`` order (NaN = absent); only images with the crop's three landmarks
    present are refined, in one batched inference call. ``candidates`` (same shape) places the crops
    instead of ``points``: for a mask model, the first model's weaker peaks too (see the module notes).
    """
    names = list(names)
    card = refiner.card
    spacings = np.broadcast_to(np.asarray(spacings, dtype=np.float64), (len(images), 2))
    place = points if candidates is None else np.asarray(candidates, dtype=np.float64)
    if not card.crop:
        return whole_image_mask_points(refiner, images, spacings, points, names, place)
    axis_order = [names.index(name) for name in CROP_LANDMARKS[card.crop]]
    refined = np.zeros(points.shape[:2], dtype=bool)
    complete = np.flatnonzero(np.isfinite(place[:, axis_order]).all(axis=(1, 2)))
    out = np.array(points, dtype=np.float64, copy=True)
    if complete.size == 0:
        return out, refined
    crops = [axis_crop(place[n, axis_order], spacings[n], card.pixel_size_mm, card.input_size) for n in complete]
    batch = np.stack([crop.sample(normalise(images[n])) for crop, n in zip(crops, complete, strict=True)])[:, None]
    probabilities = mirror_averaged(refiner, batch) if card.mirror_average else refiner.predict(batch)
    if card.mask_rule == "lax":  # the apex rule moves the apex; presence and the valve points stay
        for p, crop, n in zip(probabilities, crops, complete, strict=True):
            out[n] = apex_rule_points(p, crop, out[n], names, spacings[n], card.combine, max_shift_mm)
            refined[n] = True
        return out, refined
    if card.mask_rule:  # the labels' rule decides presence and position on every crop it reads
        for p, crop, n in zip(probabilities, crops, complete, strict=True):
            out[n] = combined(card.combine, mask_rule_points(p, crop, images[n].shape, place[n], names), points[n])
            refined[n] = True
        return out, refined
    thresholds = {name: card.threshold_for(name) for name in names}
    found, _ = extract_points(probabilities, card.channels, names, thresholds, sigma_px=card.heatmap_sigma_px)
    for crop, n, crop_points in zip(crops, complete, found, strict=True):
        moved = crop.to_original(crop_points)
        shift = distance_mm(moved, points[n], spacings[n])  # NaN where either is absent
        keep = np.isfinite(shift) & (shift <= max_shift_mm)
        out[n, keep] = combined(card.combine, moved, points[n])[keep]  # kept points have both readings
        refined[n, keep] = True
    return out, refined
