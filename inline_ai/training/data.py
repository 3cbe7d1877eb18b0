"""Training data: landmark cases resampled to the model's pixel size on a working grid, split by patient.

A *prepared set* holds every image of some cases already normalised (99.5th percentile, clipped to
[0, 2]) and resampled to ``pixel_size_mm`` on a centred ``work_size`` grid (the model input plus a
margin for augmentation), with points in that grid. It can be saved as one compact ``.npz``
(images as uint8), which is how real data travels to a training machine without the raw files.
A training run holds its sets in that storage form too (:meth:`PreparedSet.stored`, a quarter of the
memory of float32), so a source of thousands of phantom subjects fits on a 24 GB machine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from inline_ai.crop import CROP_KINDS, CROP_LANDMARKS, axis_crop
from inline_ai.dataset import LandmarkCase, list_cases, load_case
from inline_ai.display import flip_points
from inline_ai.mask_landmarks import MASK_CLASSES
from inline_ai.normalise import normalise_or_blank  # the runtime's normalisation; a blank image stays zero

PREPARED_SCALE = 127.5  # uint8 storage of intensities in [0, 2]


def stored_images(images: np.ndarray) -> np.ndarray:
    """Intensities in [0, 2] as uint8 storage units (x :data:`PREPARED_SCALE`); uint8 input is returned as is."""
    if images.dtype == np.uint8:
        return images
    return np.round(np.clip(images, 0, 2) * PREPARED_SCALE).astype(np.uint8)


def resample_to_grid(
    image: np.ndarray,
    spacing: Sequence[float],
    pixel_size_mm: float,
    size: tuple[int, int],
    points: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Resample a 2D image to ``pixel_size_mm`` pixels on a ``size`` grid sharing its centre.

    The model grid is the one of ``inline_ai.geometry.to_model_grid``: for each axis,
    ``model = (original - (n - 1) / 2) * spacing / pixel_size_mm + (size - 1) / 2``.
    Returns the resampled image (zeros outside the original) and the points mapped alike.
    """
    from inline_ai.geometry import to_model_grid

    model_pixels, transform = to_model_grid(image, tuple(float(s) for s in spacing), pixel_size_mm, size)
    mapped = None if points is None else np.asarray(transform.to_model(np.asarray(points, dtype=np.float64)))
    return np.asarray(model_pixels, dtype=np.float32), mapped


@dataclass
class PreparedSet:
    """Images ``[M, S, S]`` float32 in [0, 2] (or uint8 storage units, see :meth:`stored`) and points
    ``[M, K, 2]`` on the working grid."""

    images: np.ndarray
    points: np.ndarray
    landmark_names: tuple[str, ...]
    pixel_size_mm: float
    patient_ids: np.ndarray  # [M] str
    case_ids: np.ndarray  # [M] str
    views: np.ndarray  # [M] str
    kind: str = "real"  # real | synthetic
    stack_ids: np.ndarray | None = None  # [M] str: case and phase; images of one stack share it
    slice_positions: np.ndarray | None = None  # [M] int: slice index within the stack
    crop: str = ""  # "" = whole images; else the axis-crop kind (inline_ai.crop)
    masks: np.ndarray | None = None  # [M, S, S] uint8 label masks on the same grid (inline_ai.mask_landmarks)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, mask: np.ndarray) -> PreparedSet:
        """Images selected by a boolean mask or index array."""
        stacks, positions = self.stack_layout()
        return PreparedSet(
            self.images[mask], self.points[mask], self.landmark_names, self.pixel_size_mm,
            self.patient_ids[mask], self.case_ids[mask], self.views[mask], self.kind, stacks[mask], positions[mask],
            self.crop, None if self.masks is None else self.masks[mask],
        )

    def stored(self) -> PreparedSet:
        """This set with its images in uint8 storage units (as :meth:`save` writes them; a quarter of the memory)."""
        return self if self.images.dtype == np.uint8 else replace(self, images=stored_images(self.images))

    def stack_layout(self) -> tuple[np.ndarray, np.ndarray]:
        """Stack ids and slice positions; a set prepared before they were stored counts each case as
        one stack in image order (right for one-phase stacks such as ACDC's)."""
        if self.stack_ids is not None and self.slice_positions is not None:
            return self.stack_ids, self.slice_positions
        positions = np.zeros(len(self), dtype=np.int64)
        for case in np.unique(self.case_ids):
            members = np.flatnonzero(self.case_ids == case)
            positions[members] = np.arange(members.size)
        return self.case_ids.astype(str), positions

    def neighbours(self) -> np.ndarray:
        """``[M, 2]`` indices of each image's neighbouring slices in its stack (-1 = none)."""
        from inline_ai.context import neighbour_indices

        stacks, positions = self.stack_layout()
        return neighbour_indices(stacks.tolist(), positions.tolist())

    def save(self, path: str | Path) -> Path:
        """Write as one compressed ``.npz`` (images as uint8)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        stacks, positions = self.stack_layout()
        np.savez_compressed(
            path,
            images=stored_images(self.images),
            points=self.points.astype(np.float32),
            landmark_names=np.asarray(self.landmark_names),
            pixel_size_mm=np.float32(self.pixel_size_mm),
            patient_ids=self.patient_ids.astype(str),
            case_ids=self.case_ids.astype(str),
            views=self.views.astype(str),
            kind=np.asarray(self.kind),
            stack_ids=stacks.astype(str),
            slice_positions=positions.astype(np.int32),
            crop=np.asarray(self.crop),
            **({} if self.masks is None else {"masks": self.masks.astype(np.uint8)}),
        )
        return path

    @classmethod
    def load(cls, path: str | Path, stored: bool = False) -> PreparedSet:
        """Read a set written by :meth:`save`; with ``stored`` its images stay in uint8 storage units."""
        with np.load(path, allow_pickle=False) as npz:
            missing = {"images", "points", "landmark_names", "pixel_size_mm"} - set(npz.files)
            if missing:
                raise ValueError(f"{path}: not a prepared training set (missing {sorted(missing)})")
            return cls(
                images=npz["images"] if stored else npz["images"].astype(np.float32) / PREPARED_SCALE,
                points=npz["points"].astype(np.float32),
                landmark_names=tuple(str(n) for n in npz["landmark_names"]),
                pixel_size_mm=float(npz["pixel_size_mm"]),
                patient_ids=npz["patient_ids"].astype(str),
                case_ids=npz["case_ids"].astype(str),
                views=npz["views"].astype(str),
                kind=str(npz["kind"]),
                stack_ids=npz["stack_ids"].astype(str) if "stack_ids" in npz.files else None,
                slice_positions=npz["slice_positions"].astype(np.int64) if "slice_positions" in npz.files else None,
                crop=str(npz["crop"]) if "crop" in npz.files else "",
                masks=npz["masks"].astype(np.uint8) if "masks" in npz.files else None,
            )

    @classmethod
    def concatenate(cls, sets: Sequence[PreparedSet]) -> PreparedSet:
        """Join sets with the same landmarks and pixel size."""
        if not sets:
            raise ValueError("nothing to concatenate")
        first = sets[0]
        for other in sets[1:]:
            if (other.landmark_names != first.landmark_names or other.pixel_size_mm != first.pixel_size_mm
                    or other.crop != first.crop or (other.masks is None) != (first.masks is None)):
                raise ValueError("prepared sets differ in landmarks, pixel size, crop or masks")
        if len({s.images.dtype for s in sets}) > 1:
            raise ValueError("prepared sets mix float intensities and uint8 storage units: make all .stored() first")
        kinds = {s.kind for s in sets}
        layouts = [s.stack_layout() for s in sets]
        return cls(
            np.concatenate([s.images for s in sets]), np.concatenate([s.points for s in sets]),
            first.landmark_names, first.pixel_size_mm,
            np.concatenate([s.patient_ids for s in sets]), np.concatenate([s.case_ids for s in sets]),
            np.concatenate([s.views for s in sets]), kinds.pop() if len(kinds) == 1 else "mixed",
            np.concatenate([stacks for stacks, _ in layouts]), np.concatenate([positions for _, positions in layouts]),
            first.crop, None if first.masks is None else np.concatenate([s.masks for s in sets]),
        )


def prepare_cases(
    cases: Iterable[LandmarkCase],
    landmark_names: Sequence[str],
    pixel_size_mm: float,
    work_size: tuple[int, int],
    kind: str = "real",
    crop: str = "",
    with_masks: bool = False,
    crop_incomplete: bool = False,
) -> PreparedSet:
    """Normalise and resample every image of ``cases``; landmarks are reordered to ``landmark_names``.

    ``crop`` (``"lv_axis"``, ``"sax_axis"``) takes each image's axis crop (``inline_ai.crop``) around its
    true points instead of the whole image, for a refinement model; images lacking a landmark are left out.
    ``with_masks`` also resamples each case's label mask (every case must have one), class by class. A mask
    model decides presence, so ``crop_incomplete`` (masks and a crop only) also crops images lacking a
    landmark: placed by the nearest slice of the same stack that has the crop's landmarks (the image's
    own points kept where it has them); their missing points stay NaN.
    """
    if crop not in CROP_KINDS:
        raise ValueError(f"crop must be one of {CROP_KINDS}, got {crop!r}")
    if crop_incomplete and not (crop and with_masks):
        raise ValueError("crop_incomplete is for a mask model's crops (a crop and with_masks)")
    axis_order = [list(landmark_names).index(name) for name in CROP_LANDMARKS[crop]] if crop else []
    images, points, patients, case_ids, views, stacks, positions, masks = [], [], [], [], [], [], [], []
    for case in cases:
        if with_masks and case.mask is None:
            raise ValueError(f"case {case.case_id}: no label mask, but the model learns masks")
        order = [case.landmark_names.index(name) if name in case.landmark_names else -1 for name in landmark_names]
        if all(i < 0 for i in order):
            raise ValueError(f"case {case.case_id}: none of the landmarks {list(landmark_names)}")
        for index in range(case.image.shape[0]):
            case_points = np.full((len(landmark_names), 2), np.nan, dtype=np.float64)
            for k, source in enumerate(order):
                if source >= 0:
                    case_points[k] = case.landmarks[index, source]
            if crop:
                placing = case_points[axis_order]
                if not np.isfinite(placing).all():
                    if not crop_incomplete:
                        continue
                    placing = _borrowed_axis(case, index, order, axis_order, placing)
                    if placing is None:
                        continue
                region = axis_crop(placing, case.pixel_spacing, pixel_size_mm, work_size)
                pixels, mapped = region.sample(normalise_or_blank(case.image[index])), region.to_model(case_points)
                if with_masks:
                    masks.append(resample_labels(case.mask[index], region.sample))
            else:
                pixels, mapped = resample_to_grid(
                    normalise_or_blank(case.image[index]), case.pixel_spacing, pixel_size_mm, work_size, case_points
                )
                if with_masks:
                    masks.append(resample_labels(case.mask[index], partial(
                        _resampled, spacing=case.pixel_spacing, pixel_size_mm=pixel_size_mm, size=work_size)))
            images.append(pixels)
            points.append(mapped)
            patients.append(case.patient_id)
            case_ids.append(case.case_id)
            views.append(case.view)
            stacks.append(f"{case.case_id}/{case.phase[index] if case.phase is not None else ''}")
            positions.append(int(case.slice_index[index]) if case.slice_index is not None else index)
    if not images:
        if crop:  # every image of these cases lacks a landmark: nothing to crop, an empty set
            return PreparedSet(
                np.zeros((0, *work_size), np.float32), np.zeros((0, len(landmark_names), 2), np.float32),
                tuple(landmark_names), float(pixel_size_mm), *(np.zeros(0, dtype=str) for _ in range(3)), kind,
                np.zeros(0, dtype=str), np.zeros(0, dtype=np.int64), crop,
                np.zeros((0, *work_size), np.uint8) if with_masks else None,
            )
        raise ValueError("no images to prepare")
    return PreparedSet(
        np.stack(images).astype(np.float32), np.stack(points).astype(np.float32), tuple(landmark_names),
        float(pixel_size_mm), np.asarray(patients), np.asarray(case_ids), np.asarray(views), kind,
        np.asarray(stacks), np.asarray(positions, dtype=np.int64), crop,
        np.stack(masks).astype(np.uint8) if with_masks else None,
    )


def mirrored_images(folder: str | Path, case_ids: Sequence[str]) -> np.ndarray:
    """Per image, its case file's ``mirrored`` flag (``folder/<case id>.npz``, written by the phantom for a
    display that is the mirror image of the standard one); False for a case without the flag."""
    flags: dict[str, bool] = {}
    for case_id in np.unique(np.asarray(case_ids, dtype=str)):
        path = Path(folder) / f"{case_id}.npz"
        if not path.is_file():
            raise FileNotFoundError(f"case file {path} not found: the mirrored flags are read from the cases")
        with np.load(path, allow_pickle=False) as npz:
            flags[str(case_id)] = bool(npz["mirrored"]) if "mirrored" in npz.files else False
    return np.array([flags[str(c)] for c in case_ids], dtype=bool)


def with_standard_handedness(prepared: PreparedSet, mirrored: np.ndarray) -> PreparedSet:
    """``prepared`` with the images flagged ``mirrored`` (``[M]`` bool) flipped left-right back, points and
    masks with them, so every image has the standard display's handedness (landmark names kept)."""
    mirrored = np.asarray(mirrored, dtype=bool)
    if mirrored.shape != (len(prepared),):
        raise ValueError(f"expected {len(prepared)} mirrored flags, got shape {mirrored.shape}")
    images = prepared.images.copy()
    images[mirrored] = images[mirrored][..., ::-1]
    points = flip_points(prepared.points, [images.shape[-1]] * len(images), mirrored).astype(np.float32)
    masks = None
    if prepared.masks is not None:
        masks = prepared.masks.copy()
        masks[mirrored] = masks[mirrored][..., ::-1]
    return replace(prepared, images=images, points=points, masks=masks)


def _borrowed_axis(case: LandmarkCase, index: int, order: Sequence[int], axis_order: Sequence[int],
                   own: np.ndarray) -> np.ndarray | None:
    """Crop points for an image lacking some of them: the nearest slice of the same stack (same case and
    phase) with all of them, its points replaced by the image's own where it has them; None without one."""
    phases = case.phase if case.phase is not None else np.zeros(case.image.shape[0], dtype=str)
    positions = case.slice_index if case.slice_index is not None else np.arange(case.image.shape[0])
    sources = [order[k] for k in axis_order]
    if min(sources) < 0:
        return None
    complete = [n for n in range(case.image.shape[0])
                if phases[n] == phases[index] and np.isfinite(case.landmarks[n, sources]).all()]
    if not complete:
        return None
    nearest = min(complete, key=lambda n: abs(int(positions[n]) - int(positions[index])))
    borrowed = np.asarray(case.landmarks[nearest, sources], dtype=np.float64)
    return np.where(np.isfinite(own), own, borrowed)


def _resampled(plane: np.ndarray, spacing: Sequence[float], pixel_size_mm: float, size: tuple[int, int]) -> np.ndarray:
    return resample_to_grid(plane, spacing, pixel_size_mm, size)[0]


def resample_labels(mask: np.ndarray, resample: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A label mask on another grid: each class's indicator resampled alike (bilinear), then the arg-max."""
    labels = np.asarray(mask)
    classes = max(int(labels.max()) + 1, len(MASK_CLASSES))
    return np.argmax(np.stack([resample((labels == k).astype(np.float32)) for k in range(classes)]), axis=0
                     ).astype(np.uint8)


def prepare_directory(
    directory: str | Path,
    landmark_names: Sequence[str],
    pixel_size_mm: float,
    work_size: tuple[int, int],
    kind: str = "real",
    views: Sequence[str] | None = None,
    crop: str = "",
    with_masks: bool = False,
    crop_incomplete: bool = False,
) -> PreparedSet:
    """Prepare every case of a landmark dataset directory (optionally only some views; ``crop``,
    ``with_masks`` and ``crop_incomplete`` as :func:`prepare_cases`)."""
    cases = (load_case(path) for path in list_cases(directory))
    if views is not None:
        allowed = set(views)
        cases = (case for case in cases if case.view in allowed)
    return prepare_cases(cases, landmark_names, pixel_size_mm, work_size, kind, crop, with_masks, crop_incomplete)


def split_patients(
    patient_ids: Iterable[str],
    val_patients: Sequence[str] | None = None,
    val_pattern: str | None = None,
    val_fraction: float = 0.0,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Split patient ids into ``train`` / ``val``: by explicit list, by regex, or a seeded fraction."""
    patients = sorted(set(str(p) for p in patient_ids))
    if val_patients:
        val = sorted(set(val_patients) & set(patients))
    elif val_pattern:
        regex = re.compile(val_pattern)
        val = [p for p in patients if regex.search(p)]
    elif val_fraction > 0:
        rng = np.random.default_rng(seed)
        count = max(1, int(round(val_fraction * len(patients))))
        val = sorted(rng.choice(patients, size=count, replace=False).tolist())
    else:
        val = []
    val_set = set(val)
    return {"train": [p for p in patients if p not in val_set], "val": val}


def evenly_spaced(patient_ids: Iterable[str], fraction: float) -> list[str]:
    """``round(fraction x n)`` (at least one) of the sorted patient ids, evenly spaced in id order: where ids run
    by group (ACDC's by diagnosis), every group keeps about its share."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    patients = sorted(set(str(p) for p in patient_ids))
    if not patients:
        return []
    count = max(1, int(round(fraction * len(patients))))
    return [patients[i] for i in np.unique(np.round(np.linspace(0, len(patients) - 1, count)).astype(int))]


def split_by_groups(patient_ids: Iterable[str], groups: Sequence[Sequence[str]], per_group: int,
                    seed: int = 0) -> dict[str, list[str]]:
    """Split patient ids into ``train`` / ``val`` with ``per_group`` seeded validation patients from each group
    (e.g. each diagnosis): a validation set from one group only measures one kind of heart. Groups are lists
    of patient ids (ids absent from ``patient_ids`` are skipped); patients in no group are trained on."""
    if per_group < 1:
        raise ValueError(f"per_group must be at least 1, got {per_group}")
    patients = sorted(set(str(p) for p in patient_ids))
    rng = np.random.default_rng(seed)
    val: list[str] = []
    for group in groups:
        present = sorted(set(group) & set(patients))
        if present:
            val += sorted(rng.choice(present, size=min(per_group, len(present)), replace=False).tolist())
    val_set = set(val)
    return {"train": [p for p in patients if p not in val_set], "val": val}


def write_split(path: str | Path, split: dict[str, list[str]]) -> Path:
    """Save a split as JSON (``{"train": [...], "val": [...]}`` patient ids)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(split, indent=1) + "\n")
    return path


def read_split(path: str | Path) -> dict[str, list[str]]:
    """Load a split file written by :func:`write_split`."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise ValueError(f"{path}: a split file maps split names to lists of patient ids")
    return data
