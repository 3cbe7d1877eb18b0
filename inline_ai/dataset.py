"""Read and write the landmark dataset format (one ``.npz`` case per file, see the data README)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REQUIRED_KEYS = ("image", "pixel_spacing", "landmarks", "landmark_names", "view", "sequence")


@dataclass
class LandmarkCase:
    """One case: N 2D images of one stack or cine series with their landmarks (NaN = absent)."""

    image: np.ndarray  # [N, H, W]
    pixel_spacing: np.ndarray  # [2] mm per pixel along rows, columns
    landmarks: np.ndarray  # [N, K, 2] (row, col), NaN where absent
    landmark_names: tuple[str, ...]
    view: str
    sequence: str
    spacing_is_nominal: bool = False
    mask: np.ndarray | None = None
    phase: np.ndarray | None = None
    slice_index: np.ndarray | None = None
    case_id: str = ""
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def patient_id(self) -> str:
        """Patient (subject) id used for splitting: the case id up to its last ``_`` part."""
        parts = self.case_id.split("_")
        return "_".join(parts[:2]) if len(parts) > 2 else self.case_id


def load_case(path: str | Path) -> LandmarkCase:
    """Load one ``.npz`` case; raise ``ValueError`` naming the file when a key is missing."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in REQUIRED_KEYS if k not in npz.files]
        if missing:
            raise ValueError(f"{path}: not a landmark case, missing keys {missing}")
        image = np.asarray(npz["image"])
        if image.ndim != 3:
            raise ValueError(f"{path}: 'image' must be [N, H, W], got shape {image.shape}")
        landmarks = np.asarray(npz["landmarks"], dtype=np.float32)
        names = tuple(str(n) for n in npz["landmark_names"])
        if landmarks.shape != (image.shape[0], len(names), 2):
            raise ValueError(f"{path}: 'landmarks' shape {landmarks.shape} does not match images and names")
        known = set(REQUIRED_KEYS) | {"spacing_is_nominal", "mask", "phase", "slice_index"}
        return LandmarkCase(
            image=image,
            pixel_spacing=np.asarray(npz["pixel_spacing"], dtype=np.float32).reshape(2),
            landmarks=landmarks,
            landmark_names=names,
            view=str(npz["view"]),
            sequence=str(npz["sequence"]),
            spacing_is_nominal=bool(npz["spacing_is_nominal"]) if "spacing_is_nominal" in npz.files else False,
            mask=np.asarray(npz["mask"]) if "mask" in npz.files else None,
            phase=np.asarray(npz["phase"]).astype(str) if "phase" in npz.files else None,
            slice_index=np.asarray(npz["slice_index"]) if "slice_index" in npz.files else None,
            case_id=path.stem,
            extra={k: np.asarray(npz[k]) for k in npz.files if k not in known},
        )


def save_case(path: str | Path, case: LandmarkCase) -> Path:
    """Write a case in the landmark dataset format (compressed npz)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "image": case.image,
        "pixel_spacing": np.asarray(case.pixel_spacing, dtype=np.float32),
        "spacing_is_nominal": np.asarray(case.spacing_is_nominal),
        "landmarks": np.asarray(case.landmarks, dtype=np.float32),
        "landmark_names": np.asarray(case.landmark_names),
        "view": np.asarray(case.view),
        "sequence": np.asarray(case.sequence),
    }
    for key in ("mask", "phase", "slice_index"):
        value = getattr(case, key)
        if value is not None:
            arrays[key] = np.asarray(value)
    arrays.update(case.extra)
    np.savez_compressed(path, **arrays)
    return path


def list_cases(directory: str | Path) -> list[Path]:
    """All ``.npz`` files of a dataset directory, sorted; error when there are none."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"dataset directory not found: {directory}")
    files = sorted(directory.glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"no .npz cases in {directory}")
    return files
