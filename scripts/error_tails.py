"""Per-image distance errors of a model on a labelled dataset: how much of the mean the tail carries.

``python scripts/error_tails.py data_cache/eval/lax_cine_val_r4 models/lax_cine.json`` prints, over
all detected points, the share beyond 3 / 5 / 10 mm and the mean without them, per-landmark
percentiles, and the worst points (case, image, landmark).
"""

from __future__ import annotations

import argparse

import numpy as np

from inline_ai.dataset import list_cases, load_case
from inline_ai.detector import LandmarkDetector
from inline_ai.evaluate import evaluate_cases
from inline_ai.measures import distance_mm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset")
    parser.add_argument("model")
    parser.add_argument("--worst", type=int, default=15)
    args = parser.parse_args()
    detector = LandmarkDetector(args.model, threads=2)
    names = list(detector.names)
    rows = []
    for result in evaluate_cases(detector, [load_case(p) for p in list_cases(args.dataset)]):
        distance = distance_mm(result.found, result.truth, result.spacing)  # [N, K]
        for n, k in zip(*np.nonzero(np.isfinite(distance)), strict=True):
            rows.append((result.case_id, int(n), names[k], float(distance[n, k])))
    errors = np.array([row[3] for row in rows])
    print(f"all: mean {errors.mean():.2f} mm, median {np.median(errors):.2f} mm, {len(errors)} points")
    for cut in (3, 5, 10):
        big = errors > cut
        print(f"> {cut} mm: {big.sum()} ({100 * big.mean():.1f} %), {100 * errors[big].sum() / errors.sum():.0f} % "
              f"of the summed error; mean without them {errors[~big].mean():.2f} mm")
    for name in names:
        e = np.array([row[3] for row in rows if row[2] == name])
        print(f"{name}: mean {e.mean():.2f}, p50 {np.median(e):.2f}, p90 {np.percentile(e, 90):.2f}, "
              f"p99 {np.percentile(e, 99):.2f}, max {e.max():.1f} mm")
    for case_id, n, name, d in sorted(rows, key=lambda row: -row[3])[:args.worst]:
        print(f"{case_id} image {n} {name}: {d:.1f} mm")


if __name__ == "__main__":
    main()
