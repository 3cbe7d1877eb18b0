"""Image-plane texture: band-limited tissue texture, bowel loops and clutter (small fat / vessel blobs).

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
class Bowel:
    """Bowel loops on the image grid: coverage (0..1) of the loops and of their lumens, and the lumen
    content as a fraction of the fluid signal (0 = gas, 1 = fluid)."""

    loops: np.ndarray
    lumen: np.ndarray
    content: np.ndarray


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


def gaussian_random_field(shape: tuple[int, int], rng: np.random.Generator, correlation_px: float) -> np.ndarray:
    """Smooth Gaussian noise (unit standard deviation) with a Gaussian spectrum of the given length."""
    white = rng.normal(0.0, 1.0, size=shape)
    fr = np.fft.fftfreq(shape[0])[:, None]
    fc = np.fft.rfftfreq(shape[1])[None, :]
    spectrum = np.exp(-2.0 * (np.pi * correlation_px) ** 2 * (fr * fr + fc * fc))
    field = np.fft.irfft2(np.fft.rfft2(white) * spectrum, s=shape)
    return (field / max(float(field.std()), 1e-9)).astype(np.float32)


def _band_coverage(field: np.ndarray, half_width: float) -> np.ndarray:
    """Soft coverage (one pixel edge) of the band ``|field| < half_width`` of a smooth field."""
    grad_r, grad_c = np.gradient(field)
    slope = np.maximum(np.hypot(grad_r, grad_c), 1e-3)
    return np.clip(0.5 + (half_width - np.abs(field)) / slope, 0.0, 1.0).astype(np.float32)


def bowel_field(shape: tuple[int, int], rng: np.random.Generator, pixel_mm: float) -> Bowel:
    """Winding bowel loops: the band around the zero level of a smooth random field (loops 12-30 mm
    apart, walls 2-4 mm), lumens filled with fluid, chyme or gas that varies along the loops."""
    field = gaussian_random_field(shape, rng, rng.uniform(5.0, 10.0) / pixel_mm)
    width = rng.uniform(0.35, 0.7)
    wall = rng.uniform(0.25, 0.5)
    cell = max(int(rng.uniform(10.0, 25.0) / pixel_mm), 2)
    content = np.clip(smooth_field(shape, rng, 0.6, cell=cell) - 0.5 + rng.uniform(-0.3, 0.3), 0.0, 1.0)
    return Bowel(loops=_band_coverage(field, width), lumen=_band_coverage(field, width * (1.0 - wall)),
                 content=content.astype(np.float32))
