"""Scan planning like a technologist: SAX stacks base to apex and 2CH / 3CH / 4CH planes.

Each plane gets a random planning error (tilt), an in-plane rotation and offset, a field of view
and matrix from clinical ranges, and either image handedness (the image may be the mirror of the
standard display, as on real scanners).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inline_ai.phantom.anatomy import Subject, _rotation

PATIENT_UP = np.array([0.0, 0.0, 1.0])  # superior (LPS): the body's long in-plane extent runs up-down


@dataclass(frozen=True)
class ImagePlane:
    """A 2D image's geometry: pixel (row, col) -> centre + (col - (W-1)/2) dx read + (row - (H-1)/2) dy phase."""

    centre: np.ndarray  # [3] patient mm (ISMRMRD position)
    read_dir: np.ndarray  # [3] unit, along columns (x)
    phase_dir: np.ndarray  # [3] unit, along rows (y)
    pixel_spacing: tuple[float, float]  # (row mm, col mm)
    shape: tuple[int, int]  # (rows, cols)
    thickness: float

    @property
    def slice_dir(self) -> np.ndarray:
        """Unit normal, read x phase (right-handed, as ISMRMRD expects)."""
        return np.cross(self.read_dir, self.phase_dir)

    def points(self, offset_mm: float = 0.0) -> np.ndarray:
        """Patient coordinates of every pixel centre, ``[H, W, 3]`` float32, shifted along the normal."""
        rows, cols = self.shape
        dy, dx = self.pixel_spacing
        c = (np.arange(cols, dtype=np.float32) - (cols - 1) / 2.0) * dx
        r = (np.arange(rows, dtype=np.float32) - (rows - 1) / 2.0) * dy
        origin = (self.centre + offset_mm * self.slice_dir).astype(np.float32)
        return (origin[None, None, :] + c[None, :, None] * self.read_dir.astype(np.float32)[None, None, :]
                + r[:, None, None] * self.phase_dir.astype(np.float32)[None, None, :])

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        """Patient points ``[..., 3]`` projected into the plane as (row, col) pixels."""
        rel = np.asarray(points, dtype=float) - self.centre
        rows, cols = self.shape
        col = rel @ self.read_dir / self.pixel_spacing[1] + (cols - 1) / 2.0
        row = rel @ self.phase_dir / self.pixel_spacing[0] + (rows - 1) / 2.0
        return np.stack([row, col], axis=-1)


@dataclass(frozen=True)
class PlanningSettings:
    """Ranges for the random parts of planning."""

    plane_error_deg: float = 8.0  # typical tilt; occasionally up to ~2x this (capped at 15)
    inplane_rotation_deg: float = 25.0  # long axis: uniform +- this
    sax_rotation_deg: float = 12.0  # SAX: uniform +- this around the bias below
    sax_rotation_bias_deg: float = 0.0
    offset_mm: float = 15.0
    mirror_probability: float = 0.5
    fov_mm: tuple[float, float] = (300.0, 400.0)
    pixel_mm: tuple[float, float] = (1.2, 2.0)
    matrix: tuple[int, int] | None = None  # fixed (rows, cols) instead of a random clinical matrix


def _tilt(rng: np.random.Generator, normal: np.ndarray, max_deg: float) -> np.ndarray:
    """A rotation that tilts ``normal`` by a random angle (half-normal, capped) about a random axis."""
    angle = min(abs(rng.normal(0.0, max_deg / 2.0)), 15.0)
    axis = np.cross(normal, rng.normal(size=3))
    return _rotation(axis / np.linalg.norm(axis), np.deg2rad(angle))


def _matrix(rng: np.random.Generator, settings: PlanningSettings, long_axis_rows: bool
            ) -> tuple[tuple[int, int], tuple[float, float]]:
    """Matrix (rows, cols) and square pixel spacing: long side 256 or less, short side 144-208."""
    if settings.matrix is not None:
        pixel = float(np.clip(rng.uniform(*settings.fov_mm) / max(settings.matrix), *settings.pixel_mm))
        return (int(settings.matrix[0]), int(settings.matrix[1])), (pixel, pixel)
    for _ in range(100):
        fov_long = rng.uniform(*settings.fov_mm)
        long_n = int(rng.choice([192, 208, 224, 256], p=[0.1, 0.15, 0.2, 0.55]))
        pixel = fov_long / long_n
        if settings.pixel_mm[0] <= pixel <= settings.pixel_mm[1]:
            break
    else:
        pixel = float(np.clip(pixel, *settings.pixel_mm))
    short_n = int(np.clip(round(long_n * rng.uniform(0.7, 0.95) / 8) * 8, 144, 232))
    shape = (long_n, short_n) if long_axis_rows else (short_n, long_n)
    return shape, (pixel, pixel)


def _orient(rng: np.random.Generator, settings: PlanningSettings, normal: np.ndarray, right: np.ndarray,
            down: np.ndarray, spread_deg: float, bias_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray, bool]:
    """Read / phase directions: the standard display rotated in-plane by ``bias +- spread`` degrees,
    mirrored at random."""
    right = right - (right @ normal) * normal
    right /= np.linalg.norm(right)
    down = np.cross(normal, right)  # keeps read x phase = normal
    angle = np.deg2rad(bias_deg + rng.uniform(-spread_deg, spread_deg))
    read = np.cos(angle) * right + np.sin(angle) * down
    phase = np.cross(normal, read)
    mirrored = bool(rng.uniform() < settings.mirror_probability)
    if mirrored:
        read = -read  # the mirror image: slice_dir = read x phase flips too
    return read, phase, mirrored


def plan_sax_stack(subject: Subject, rng: np.random.Generator,
                   settings: PlanningSettings = PlanningSettings()) -> tuple[list[ImagePlane], dict]:
    """A SAX stack from about the base to about the apex (8-14 slices), base first."""
    z_h = subject.heart_axes[:, 2]
    tilt = _tilt(rng, z_h, settings.plane_error_deg)
    normal = tilt @ z_h  # apex -> base
    thickness = float(rng.choice([6.0, 7.0, 8.0, 8.0, 8.0]))
    gap = float(rng.choice([0.0, 1.0, 2.0, 2.0, 3.0, 4.0]))
    spacing = thickness + gap
    length = subject.heart.lv_length_ed
    base = subject.apex_position + length * z_h
    # like ACDC: the stack starts at (rarely above) the base and ends near the apex
    top = rng.uniform(-0.9, 0.4) * spacing  # first slice at (mostly just below) the base plane
    bottom = -length + rng.uniform(0.0, 0.9) * spacing  # last slice near the apex
    count = int(np.clip(np.floor((top - bottom) / spacing) + 1, 7, 14))
    # display standard: patient anterior / superior up, viewed from the apex (the RV then lies on the
    # image left); the scanner orients the image by the patient, not by the heart
    up = PATIENT_UP - (PATIENT_UP @ normal) * normal
    down = -up / np.linalg.norm(up)
    read, phase, mirrored = _orient(rng, settings, normal, np.cross(down, normal), down,
                                    settings.sax_rotation_deg, settings.sax_rotation_bias_deg)
    shape, pixel = _matrix(rng, settings, long_axis_rows=True)
    offset = rng.normal(0.0, settings.offset_mm, size=2)
    planes = []
    for k in range(count):
        through = top - k * spacing
        on_axis = base + through * normal
        centre = on_axis + offset[0] * read + offset[1] * phase
        planes.append(ImagePlane(centre=centre, read_dir=read, phase_dir=phase, pixel_spacing=pixel,
                                 shape=shape, thickness=thickness))
    info = {"slice_gap_mm": gap, "mirrored": mirrored, "first_slice_above_base_mm": top}
    return planes, info


def plan_long_axis(subject: Subject, view: str, rng: np.random.Generator,
                   settings: PlanningSettings = PlanningSettings()) -> tuple[ImagePlane, dict]:
    """A 2CH, 3CH or 4CH plane through the LV long axis, apex up in the standard display."""
    axes = subject.heart_axes
    x_h, y_h, z_h = axes[:, 0], axes[:, 1], axes[:, 2]
    if view == "ch4":
        right = -x_h  # LV lateral wall on the right, RV on the left
    elif view == "ch2":
        right = y_h  # anterior wall on the right
    elif view == "ch3":
        right = (x_h + y_h) / np.sqrt(2.0)  # LVOT / aorta (anteroseptal) on the right
    else:
        raise ValueError(f"unknown long-axis view {view!r}; expected ch2, ch3 or ch4")
    normal = np.cross(right, z_h)  # plane spanned by the long axis and `right`
    normal = _tilt(rng, normal, settings.plane_error_deg) @ normal
    thickness = float(rng.choice([6.0, 7.0, 8.0, 8.0]))
    length = subject.heart.lv_length_ed
    mid = subject.apex_position + 0.55 * length * z_h + rng.normal(0.0, 2.5) * normal
    # read to the right, phase down = towards the base (apex at the top)
    read, phase, mirrored = _orient(rng, settings, normal, right, z_h, settings.inplane_rotation_deg)
    shape, pixel = _matrix(rng, settings, long_axis_rows=False)
    offset = rng.normal(0.0, settings.offset_mm, size=2)
    centre = mid + offset[0] * read + offset[1] * phase
    plane = ImagePlane(centre=centre, read_dir=read, phase_dir=phase, pixel_spacing=pixel, shape=shape,
                       thickness=thickness)
    return plane, {"mirrored": mirrored}
