"""Which way round a short-axis image is displayed: the standard view or its mirror image.

The standard SAX display looks at the heart from the apex (the RV on the image's left when anterior is up):
the image normal, read x phase, points from the apex towards the base, i.e. roughly towards the patient's
right, posterior and superior side (LPS ``(-1, 1, 1)``). Every ACDC stack is shown this way; every
MS-CMRSeg stack here is its mirror image; scanners write either. A model trained on the standard display
alone (card ``display: standard``) is shown mirrored images flipped left-right, and its points are flipped back;
where the directions do not tell (none given, or not a short-axis plane) the model reads the images both ways and
its anatomy decides (it finds the RV insertions only weakly in a mirror image).
In the standard display the anterior RV insertion, the inferior one and the LV centre turn one way
(:func:`handedness` +1); in the mirror image the other (-1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inline_ai.dataset import LandmarkCase

DISPLAYS = ("any", "standard")  # a model card's display: trained on either handedness, or the standard one only
APEX_TO_BASE_LPS = np.array([-1.0, 1.0, 1.0]) / np.sqrt(3.0)  # the LV long axis, roughly, in a supine patient
MIN_NORMAL_COSINE = 0.3  # normals closer to perpendicular to that axis are not short-axis enough to tell
CASE_DISPLAYS = ("auto", "standard", "mirrored")  # how a dataset without image directions is shown (--display)


def sax_display_mirrored(read_dir: Sequence[float], phase_dir: Sequence[float]) -> bool | None:
    """True when a short-axis image with these directions (ISMRMRD ``read_dir`` / ``phase_dir``; DICOM row and
    column cosines) is the mirror of the standard display, False when it is the standard one, None when its
    normal is within ``acos(MIN_NORMAL_COSINE)`` of perpendicular to the LV's usual axis (not a SAX plane)."""
    read, phase = np.asarray(read_dir, dtype=np.float64), np.asarray(phase_dir, dtype=np.float64)
    normal = np.cross(read, phase)
    length = float(np.linalg.norm(normal))
    if read.shape != (3,) or phase.shape != (3,) or not np.isfinite(length) or length < 1e-6:
        return None
    cosine = float(normal @ APEX_TO_BASE_LPS) / length
    return None if abs(cosine) < MIN_NORMAL_COSINE else cosine < 0


def headers_mirrored(images: Sequence[object]) -> list[bool | None]:
    """Per ISMRMRD image (or header), :func:`sax_display_mirrored` of its ``read_dir`` / ``phase_dir``: None for
    an image whose directions do not tell (a model of the standard display then decides by anatomy)."""
    return [sax_display_mirrored(image.read_dir[:], image.phase_dir[:]) for image in images]  # type: ignore[attr-defined]


def handedness(points: np.ndarray) -> np.ndarray:
    """Per SAX image ``[M, 3, 2]`` (anterior RVI, inferior RVI, LV centre; row, col): the sign of
    (anterior - LV) x (inferior - LV): +1 in the standard display, -1 in its mirror image, 0 where a point is absent."""
    points = np.asarray(points, dtype=np.float64)
    to_anterior, to_inferior = points[:, 0] - points[:, 2], points[:, 1] - points[:, 2]
    sign = np.sign(to_anterior[:, 0] * to_inferior[:, 1] - to_anterior[:, 1] * to_inferior[:, 0])
    return np.where(np.isfinite(sign), sign, 0.0)


def flip_points(points: np.ndarray, widths: Sequence[int], flipped: Sequence[bool]) -> np.ndarray:
    """``points`` ``[N, K, 2]`` (row, col) with the columns of the ``flipped`` images mirrored
    (``col -> width - 1 - col``, pixel centres at integers); the others unchanged."""
    out = np.array(points, dtype=np.float64, copy=True)
    for n, flip in enumerate(flipped):
        if flip:
            out[n, :, 1] = (widths[n] - 1) - out[n, :, 1]
    return out


def case_mirrored(case: LandmarkCase, display: str = "auto") -> list[bool | None]:
    """Per image of ``case``, whether it shows the mirror of the standard SAX display: from the case's own
    ``read_dir`` / ``phase_dir`` (``[3]`` or ``[N, 3]``; the phantom writes them) where it has them
    (:func:`inline_ai.display.sax_display_mirrored`), else ``display`` for all: ``standard`` / ``mirrored``, or
    ``auto`` (None: not known, a model of the standard display decides by anatomy)."""
    if display not in CASE_DISPLAYS:
        raise ValueError(f"display must be one of {CASE_DISPLAYS}, got {display!r}")
    count = case.image.shape[0]
    if "read_dir" in case.extra and "phase_dir" in case.extra:
        reads = np.broadcast_to(np.asarray(case.extra["read_dir"], float), (count, 3))
        phases = np.broadcast_to(np.asarray(case.extra["phase_dir"], float), (count, 3))
        return [sax_display_mirrored(r, p) for r, p in zip(reads, phases, strict=True)]
    return [None if display == "auto" else display == "mirrored"] * count


def display_summary(mirrored: Sequence[bool | None], anatomy_mirrored: bool | None) -> dict[str, str]:
    """``display`` (``standard``, ``mirrored`` or ``mixed``) of a series and ``display_from``: ``given`` (every
    image's flag known: its directions, or ``--display`` for files without them), ``anatomy`` (none known: the
    model's call, :meth:`inline_ai.detector.LandmarkDetector.detect`) or ``given+anatomy``."""
    resolved = [bool(anatomy_mirrored) if flag is None else flag for flag in mirrored]
    unknown = sum(flag is None for flag in mirrored)
    source = "given" if not unknown else ("anatomy" if unknown == len(mirrored) else "given+anatomy")
    display = "mirrored" if all(resolved) else ("standard" if not any(resolved) else "mixed")
    return {"display": display, "display_from": source}
