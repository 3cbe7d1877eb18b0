"""Signed-distance primitives (mm, negative inside) and soft occupancy for partial volume.

All functions work on float32 coordinate arrays of any shape; they are approximate Euclidean
distances, exact on the surface and good to a fraction of a millimetre within a few mm of it,
which is all the renderer needs (soft edges one pixel wide).
"""

from __future__ import annotations

import numpy as np


def ellipsoid(x: np.ndarray, y: np.ndarray, z: np.ndarray,
              radii: tuple[float, float, float]) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipsoid centred at the origin."""
    rx, ry, rz = (max(float(r), 1e-3) for r in radii)
    qx, qy, qz = x / rx, y / ry, z / rz
    k0 = np.sqrt(qx * qx + qy * qy + qz * qz)
    k1 = np.sqrt((qx / rx) ** 2 + (qy / ry) ** 2 + (qz / rz) ** 2)
    return np.where(k1 > 1e-6, k0 * (k0 - 1.0) / np.maximum(k1, 1e-6), -min(rx, ry, rz))  # centre: inside


def ellipse(x: np.ndarray, y: np.ndarray, radii: tuple[float, float]) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse (an infinite elliptic cylinder)."""
    rx, ry = (max(float(r), 1e-3) for r in radii)
    qx, qy = x / rx, y / ry
    k0 = np.sqrt(qx * qx + qy * qy)
    k1 = np.sqrt((qx / rx) ** 2 + (qy / ry) ** 2)
    return np.where(k1 > 1e-6, k0 * (k0 - 1.0) / np.maximum(k1, 1e-6), -min(rx, ry))  # centre: inside


def capsule(points: tuple[np.ndarray, np.ndarray, np.ndarray], start: np.ndarray, end: np.ndarray,
            radius: float) -> np.ndarray:
    """Signed distance to a capsule (a tube with round ends) from ``start`` to ``end``."""
    x, y, z = points
    axis = np.asarray(end, dtype=np.float32) - np.asarray(start, dtype=np.float32)
    length_sq = float(axis @ axis)
    px, py, pz = x - start[0], y - start[1], z - start[2]
    h = np.clip((px * axis[0] + py * axis[1] + pz * axis[2]) / max(length_sq, 1e-6), 0.0, 1.0)
    dx, dy, dz = px - h * axis[0], py - h * axis[1], pz - h * axis[2]
    return np.sqrt(dx * dx + dy * dy + dz * dz) - radius


def occupancy(distance: np.ndarray, edge_mm: float) -> np.ndarray:
    """Fraction of a pixel of footprint ``edge_mm`` inside the surface (linear ramp, box filter)."""
    return np.clip(0.5 - distance / edge_mm, 0.0, 1.0)


def smooth_union(a: np.ndarray, b: np.ndarray, radius_mm: float) -> np.ndarray:
    """Union of two shapes with the concave crease between them filled (polynomial smooth minimum)."""
    h = np.maximum(radius_mm - np.abs(a - b), 0.0) / radius_mm
    return np.minimum(a, b) - h * h * radius_mm * 0.25
