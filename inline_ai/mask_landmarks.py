"""Short-axis landmarks from a label mask: the rule that made the SAX labels (``../shared/data/README.md``).

- LV centre: the centroid of the LV cavity; absent under :data:`MIN_CAVITY_PIXELS` pixels.
- RV insertion points: the two ends of the arc where the RV cavity borders the LV myocardium, taken on
  the myocardial side, around the LV centre; absent when the
  RV has fewer than :data:`MIN_RV_PIXELS` pixels or the arc spans under :data:`MIN_ARC_DEG` degrees.

"Borders" is reach :data:`CONTACT_REACH`: myocardium pixels within that many 4-connected steps of the RV
cavity. The ACDC and MS-CMRSeg labels were made with reach 2 (it bridges the one-pixel gaps that expert
masks often leave between RV cavity and septum; checked point for point against the shipped labels);
the phantom's exact labels use reach 1 (its label maps have no gaps).

Which end is anterior is anatomy, which a mask alone does not show: callers order the two ends (the
phantom from its 3D geometry, a refinement from the first model's points).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from inline_ai.crop import AxisCrop

MASK_RULES = ("", "sax", "lax")  # "" = a heat-map model; else a mask model whose points come from a rule:
# "sax" this module's rule, "lax" the apex rule (inline_ai.apex_rule; the valve points stay the incoming ones)
MASK_RULE_VIEWS = {"sax": "sax", "lax": "lax"}  # the view family each rule reads
MASK_RULE_CROPS = {"sax": ("", "sax_axis"), "lax": ("lv_axis",)}  # the crops each rule reads ("" = whole image)
MASK_CLASSES: tuple[str, ...] = ("background", "rv_cavity", "lv_myocardium", "lv_cavity")  # label = index
LABEL_RV_CAVITY, LABEL_LV_MYOCARDIUM, LABEL_LV_CAVITY = 1, 2, 3
MIN_CAVITY_PIXELS = 10
MIN_RV_PIXELS = 30
MIN_ARC_DEG = 20.0
CONTACT_REACH = 2


@dataclass(frozen=True)
class MaskLandmarks:
    """The rule's result: LV centre ``[2]`` and the two RV insertion ends ``[2, 2]`` (unordered); None = absent."""

    lv_centre: np.ndarray | None
    rv_ends: np.ndarray | None

    def points(self, reference: np.ndarray | None = None) -> np.ndarray:
        """``[3, 2]`` in SAX landmark order (anterior RVI, inferior RVI, LV centre), NaN where absent; the
        two ends are ordered like ``reference``'s first two points when those are given and finite."""
        out = np.full((3, 2), np.nan)
        if self.lv_centre is not None:
            out[2] = self.lv_centre
        if self.rv_ends is not None:
            known = reference is not None and bool(np.isfinite(reference[:2]).all())
            out[:2] = order_like(self.rv_ends, reference[:2]) if known else self.rv_ends
        return out


def contact_pixels(mask: np.ndarray, reach: int = CONTACT_REACH) -> np.ndarray:
    """LV myocardium pixels within ``reach`` 4-connected steps of the RV cavity, as (row, col) ``[M, 2]`` floats."""
    rv = mask == LABEL_RV_CAVITY
    near_rv = ndimage.binary_dilation(rv, ndimage.generate_binary_structure(2, 1), iterations=reach)
    return np.argwhere((mask == LABEL_LV_MYOCARDIUM) & near_rv).astype(float)


def mask_landmarks(mask: np.ndarray, min_cavity_pixels: float = MIN_CAVITY_PIXELS,
                   min_rv_pixels: float = MIN_RV_PIXELS, min_arc_deg: float = MIN_ARC_DEG,
                   reach: int = CONTACT_REACH) -> MaskLandmarks:
    """Apply the labelling rule to a 2D label mask (0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity).

    The pixel-count limits are in this mask's pixels; scale them when the mask is not on the labels' grid.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a label mask is 2D, got shape {mask.shape}")
    cavity = np.argwhere(mask == LABEL_LV_CAVITY)
    if len(cavity) < min_cavity_pixels or len(cavity) == 0:
        return MaskLandmarks(None, None)
    centre = cavity.mean(axis=0)
    if np.count_nonzero(mask == LABEL_RV_CAVITY) < min_rv_pixels:
        return MaskLandmarks(centre, None)
    contact = contact_pixels(mask, reach)
    if len(contact) < 2:
        return MaskLandmarks(centre, None)
    angles = np.arctan2(contact[:, 0] - centre[0], contact[:, 1] - centre[1])
    order = np.argsort(angles)
    sorted_angles = angles[order]
    gaps = np.diff(np.concatenate([sorted_angles, sorted_angles[:1] + 2 * np.pi]))
    widest = int(np.argmax(gaps))
    if np.degrees(2 * np.pi - gaps[widest]) < min_arc_deg:
        return MaskLandmarks(centre, None)
    ends = np.stack([contact[order[widest]], contact[order[(widest + 1) % len(order)]]])  # around the gap
    return MaskLandmarks(centre, ends)


def order_like(ends: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The two ``ends`` ``[2, 2]`` ordered to match ``reference`` ``[2, 2]`` (the pairing with the smaller
    summed distance), e.g. a first model's anterior and inferior RV insertion points."""
    straight = np.linalg.norm(ends - reference, axis=1).sum()
    swapped = np.linalg.norm(ends[::-1] - reference, axis=1).sum()
    return ends if straight <= swapped else ends[::-1].copy()


def largest_regions(mask: np.ndarray, rv_reference: np.ndarray | None = None,
                    min_rv_pixels: float = MIN_RV_PIXELS) -> np.ndarray:
    """A predicted mask with each class reduced to one connected region (4-connected); stray islands become
    background. Expert masks are one region per class; a network's stray pixels far from the heart would
    otherwise stretch the RV contact arc and pull the cavity centroid. Each class keeps its largest region,
    except that with ``rv_reference`` (``[M, 2]`` points on the mask's grid, e.g. the first model's RV
    insertions; NaN rows ignored) the RV cavity keeps, of its regions with at least ``min_rv_pixels`` pixels,
    the one nearest to them: a mask model may paint a larger false "RV" beside the LV where the real RV
    is small (apical slices), and the first model's points say which is meant."""
    mask = np.asarray(mask)
    out = np.zeros_like(mask)
    for label in (LABEL_RV_CAVITY, LABEL_LV_MYOCARDIUM, LABEL_LV_CAVITY):
        regions, count = ndimage.label(mask == label)
        if not count:
            continue
        sizes = np.bincount(regions.ravel())[1:]
        keep = 1 + int(np.argmax(sizes))
        if label == LABEL_RV_CAVITY and count > 1 and rv_reference is not None:
            keep = nearest_region(regions, sizes, np.asarray(rv_reference, dtype=np.float64), min_rv_pixels, keep)
        out[regions == keep] = label
    return out


def nearest_region(regions: np.ndarray, sizes: np.ndarray, reference: np.ndarray, min_pixels: float,
                   default: int) -> int:
    """The label (1-based) of the region of ``regions`` with at least ``min_pixels`` pixels whose nearest pixel
    lies closest to the finite ``reference`` points (summed over them); ``default`` when none qualifies or
    no reference point is finite."""
    reference = reference.reshape(-1, 2)
    reference = reference[np.isfinite(reference).all(axis=1)]
    candidates = [k + 1 for k in range(len(sizes)) if sizes[k] >= min_pixels]
    if not len(reference) or len(candidates) < 2:
        return default
    def gap(label: int) -> float:
        pixels = np.argwhere(regions == label).astype(np.float64)
        return float(sum(np.min(np.hypot(*(pixels - point).T)) for point in reference))
    return min(candidates, key=gap)


def crop_label_window(probabilities: np.ndarray, crop: AxisCrop, shape: tuple[int, int],
                      rv_reference: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A label mask on the window of an image's own grid (``shape``) that ``crop`` covers, from class probabilities
    ``[L, h, w]`` predicted on the crop: each class is pasted back (background fills where the crop does not
    reach), then the arg-max, each class kept to one region (:func:`largest_regions`; ``rv_reference`` on the
    image's grid picks the RV region). Returns the mask and the window's origin (row, col) in the image; outside
    the window everything is background."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.ndim != 3 or probabilities.shape[0] != len(MASK_CLASSES):
        raise ValueError(f"expected [{len(MASK_CLASSES)}, h, w] class probabilities, got {probabilities.shape}")
    row0, col0, row1, col1 = crop.bounds(shape)
    window = (row1 - row0, col1 - col0)
    pasted = np.stack([crop.paste(channel, window, fill=1.0 if k == 0 else 0.0, origin=(row0, col0))
                       for k, channel in enumerate(probabilities)])
    origin = np.array([row0, col0], dtype=np.float64)
    reference = None if rv_reference is None else np.asarray(rv_reference, dtype=np.float64) - origin
    return largest_regions(np.argmax(pasted, axis=0), reference), origin


def crop_mask_landmarks(probabilities: np.ndarray, crop: AxisCrop, shape: tuple[int, int],
                        rv_reference: np.ndarray | None = None) -> MaskLandmarks:
    """The rule applied on an image's own grid (``shape``) to class probabilities ``[L, h, w]`` predicted on
    its axis crop (the mask of :func:`crop_label_window`; ``rv_reference``: RV insertion guesses on that grid)."""
    mask, origin = crop_label_window(probabilities, crop, shape, rv_reference)
    found = mask_landmarks(mask)
    return MaskLandmarks(None if found.lv_centre is None else found.lv_centre + origin,
                         None if found.rv_ends is None else found.rv_ends + origin)
