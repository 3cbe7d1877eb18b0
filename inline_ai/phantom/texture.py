"""Image-plane texture: band-limited tissue texture and clutter (small fat / bowel / vessel blobs).

Real SAX images around the heart are busy: bowel loops, vessels, fat lobules and muscle layers
give the surroundings texture at many scales. These fields are drawn per plane on the image grid
(cheap: each blob touches only its bounding box) and composited by ``scene.render_torso``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inline_ai.phantom.acquisition import smooth_field

# tissues a clutter blob may look like, with relative odds (fat lobules and vessels dominate)
CLUTTER_TISSUES: tuple[str, ...] = ("fat", "blood", "liver", "muscle", "stomach", "lung")
CLUTTER_ODDS: tuple[float, ...] = (0.32, 0.22, 0.14, 0.14, 0.1, 0.08)


@dataclass
class Clutter:
    """Coverage (0..1) and value of the blobs on the image grid."""

    coverage: np.ndarray
    value: np.ndarray


def band_limited_texture(shape: tuple[int, int], rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """``1 + amplitude * noise`` summed over three spatial scales (cells of 3, 7 and 16 pixels)."""
    field = np.ones(shape, dtype=np.float32)
    for cell, weight in ((3, 0.5), (7, 0.8), (16, 1.0)):
        field += smooth_field(shape, rng, amplitude * weight, cell=cell) - 1.0
    return np.clip(field, 0.3, None)


def clutter_field(shape: tuple[int, int], rng: np.random.Generator, pixel_mm: float, count: int,
                  values: dict[str, float]) -> Clutter:
    """``count`` soft ellipses (radii 3-22 mm, random orientation and elongation), each with the
    value of a random tissue (x 0.6-1.15); later blobs cover earlier ones."""
    coverage = np.zeros(shape, dtype=np.float32)
    value = np.zeros(shape, dtype=np.float32)
    tissues = rng.choice(len(CLUTTER_TISSUES), size=count, p=CLUTTER_ODDS)
    for tissue in tissues:
        r0, c0 = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        major = rng.uniform(3.0, 22.0) / pixel_mm
        minor = major / rng.uniform(1.0, 3.5)
        angle = rng.uniform(0, np.pi)
        half = int(np.ceil(major + 2))
        r_lo, r_hi = max(int(r0) - half, 0), min(int(r0) + half + 1, shape[0])
        c_lo, c_hi = max(int(c0) - half, 0), min(int(c0) + half + 1, shape[1])
        if r_lo >= r_hi or c_lo >= c_hi:
            continue
        rr = np.arange(r_lo, r_hi, dtype=np.float32)[:, None]
        cc = np.arange(c_lo, c_hi, dtype=np.float32)[None, :]
        u = (rr - r0) * np.cos(angle) + (cc - c0) * np.sin(angle)
        v = -(rr - r0) * np.sin(angle) + (cc - c0) * np.cos(angle)
        q = np.sqrt((u / major) ** 2 + (v / minor) ** 2)
        cover = np.clip((1.0 - q) * minor + 0.5, 0.0, 1.0)  # about one pixel of soft edge
        blob_value = values[CLUTTER_TISSUES[tissue]] * rng.uniform(0.6, 1.15)
        window = (slice(r_lo, r_hi), slice(c_lo, c_hi))
        below = value[window]
        value[window] = np.where(coverage[window] > 0, below + cover * (blob_value - below), blob_value)
        coverage[window] = np.maximum(coverage[window], cover)
    return Clutter(coverage=coverage, value=value)
