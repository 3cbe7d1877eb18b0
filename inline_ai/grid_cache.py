"""Images already normalised and resampled to a model grid, kept for the next detection call.

A stream analyses a short-axis stack one slice at a time, and a context model reads each slice's
two neighbours too, so without a cache every image is resampled three times (once as itself, once
as each neighbour's context). The cache keeps the results of the current and the previous call:
slice ``s`` then finds itself and slice ``s - 1`` from call ``s - 1`` and resamples only ``s + 1``.

An entry is found by the memory the pixels live in (address, shape, strides, dtype) plus the grid
parameters, and it holds a reference to those pixels, so the address cannot be reused by another
image while the entry lives. Pixels changed in place between two calls are not noticed: the stream
never does that before detection.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np

from inline_ai.geometry import GridTransform

Resampled = tuple[np.ndarray, GridTransform]


class ModelGridCache:
    """Model-grid images of the current and the previous detection call (see the module docstring)."""

    def __init__(self) -> None:
        self._current: dict[Hashable, tuple[np.ndarray, np.ndarray, GridTransform]] = {}
        self._previous: dict[Hashable, tuple[np.ndarray, np.ndarray, GridTransform]] = {}
        self.hits = 0
        self.misses = 0

    def next_call(self) -> None:
        """Start a new detection call: entries of the call before the previous one are dropped."""
        self._previous, self._current = self._current, {}

    def get(self, pixels: np.ndarray, spacing: tuple[float, float], pixel_size_mm: float,
            input_size: tuple[int, int], make: Callable[[], Resampled]) -> Resampled:
        """The model-grid image of ``pixels`` with these grid parameters, made by ``make`` when not kept."""
        interface = pixels.__array_interface__
        key = (interface["data"][0], pixels.shape, pixels.strides, pixels.dtype.str,
               tuple(float(s) for s in spacing), float(pixel_size_mm), tuple(input_size))
        entry = self._current.get(key) or self._previous.get(key)
        if entry is None:
            self.misses += 1
            entry = (pixels, *make())
        else:
            self.hits += 1
        self._current[key] = entry  # the pixels stay referenced, so their address stays theirs
        return entry[1], entry[2]
