"""Rendering speed of the phantom (images/s on one core at 256 x 208)."""

from __future__ import annotations

import os
import time

from inline_ai.phantom.generate import generate_case
from inline_ai.phantom.planning import PlanningSettings

BENCH_MATRIX = (208, 256)  # rows, cols


def images_per_second(view: str, sequence: str = "cine", phases: int = 10, subjects: int = 2) -> float:
    """Images rendered per second for ``view`` at 256 x 208 (includes ground truth)."""
    settings = PlanningSettings(matrix=BENCH_MATRIX)
    count = 0
    start = time.perf_counter()
    for seed in range(subjects):
        case = generate_case(view, sequence, seed, phases if view != "sax" else 1, planning=settings)
        count += case.image.shape[0]
    return count / (time.perf_counter() - start)


def run_bench() -> dict[str, float]:
    """Print and return images/s per view (cine), single-threaded numpy."""
    results = {}
    for view in ("sax", "ch4"):
        results[view] = images_per_second(view)
        print(f"phantom {view} cine 256x208: {results[view]:.1f} images/s "
              f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
    return results
