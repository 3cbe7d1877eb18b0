"""Where the long-axis apex error lies, and how stable the apex label itself is (docs/training.md, session 14).

``python scripts/lax_apex_errors.py errors data_cache/eval/lax_cine_val_r4 --model lax_cine`` splits each point's
error into the component along the LV axis (valve midpoint -> apex) and across it (signed towards the first valve
point), per view, and the per-case mean of the apex's across-axis error.

``python scripts/lax_apex_errors.py label config/training/splits/phantom_lax_cine.json --subjects 12`` re-renders
held-out phantom subjects and compares each apex label with the farthest epicardial point searched over a wider
window (8 px instead of the label's 1.5 px) of the phantom's exact geometry.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def axis_errors(dataset: Path, model: str) -> None:
    """Print the along / across-axis error components of a long-axis model per view."""
    from inline_ai.dataset import list_cases, load_case
    from inline_ai.detector import LandmarkDetector
    from inline_ai.evaluate import evaluate_cases

    cases = [load_case(path) for path in list_cases(dataset)]
    results = evaluate_cases(LandmarkDetector(model, threads=2), cases)
    per_view: dict[str, list[np.ndarray]] = defaultdict(list)
    per_case: dict[str, list[float]] = defaultdict(list)
    for case, result in zip(cases, results, strict=True):
        spacing = np.asarray(result.spacing, float)
        truth, found = result.truth * spacing, result.found * spacing
        for t, f in zip(truth, found, strict=True):
            if not (np.isfinite(t).all() and np.isfinite(f).all()):
                continue
            mid = t[:2].mean(axis=0)
            along = (t[2] - mid) / np.linalg.norm(t[2] - mid)
            across = np.array([-along[1], along[0]])
            if across @ (t[0] - mid) < 0:
                across = -across
            error = f - t
            per_view[case.view].append(np.concatenate([error @ along, error @ across]))
            per_case[case.case_id].append(float(error[2] @ across))
    names = ("mv_anterior", "mv_inferior", "apex")
    for view, rows in sorted(per_view.items()):
        rows = np.asarray(rows)
        parts = [f"{name} along {rows[:, k].mean():+.2f} across {rows[:, 3 + k].mean():+.2f} "
                 f"(|.| {np.abs(rows[:, k]).mean():.2f} / {np.abs(rows[:, 3 + k]).mean():.2f})"
                 for k, name in enumerate(names)]
        print(f"{view} ({len(rows)} images) mean signed error, mm: " + "; ".join(parts))
    means = np.array([np.mean(v) for v in per_case.values()])
    print(f"apex across-axis error, per-case mean: {means.mean():+.2f} mm, SD {means.std():.2f}, "
          f"mean |.| {np.abs(means).mean():.2f} ({len(means)} cases)")


def label_stability(split_file: Path, subjects: int, phases: int) -> None:
    """Print how far each apex label lies from the farthest epicardial point of a wider, finer search."""
    from inline_ai.phantom import generate, groundtruth

    labelled = groundtruth.epicardial_apex
    offsets: list[tuple[float, float]] = []

    def recording(mask, reference, subject, state, plane):  # the phantom's own rule, then a wider search
        label = labelled(mask, reference, subject, state, plane)
        if not np.all(np.isfinite(label)):
            return label
        spacing = np.asarray(plane.pixel_spacing)
        best = label.astype(float)
        for half, step in ((8.0, 0.25), (0.5, 0.02)):  # the label lies inside, so each search finds a point
            best = groundtruth.farthest_lv_point(best, reference, subject, state, plane, half_px=half, step_px=step)
        gain = np.hypot(*((best - reference) * spacing)) - np.hypot(*((label - reference) * spacing))
        offsets.append((float(np.hypot(*((label - best) * spacing))), float(gain)))
        return label

    groundtruth.epicardial_apex = recording
    try:
        seeds = [int(name.split("_s")[1]) for name in json.loads(split_file.read_text())["val"]][:subjects]
        for seed in seeds:
            for view in ("ch2", "ch3", "ch4"):
                generate.generate_case(view, "cine", seed, phases=phases)
    finally:
        groundtruth.epicardial_apex = labelled
    distance, gain = np.asarray(offsets).T
    print(f"{len(distance)} images: label to the wider search's farthest point: mean {distance.mean():.2f} mm, "
          f"median {np.median(distance):.2f}, p90 {np.percentile(distance, 90):.2f}, max {distance.max():.2f}; "
          f"farther from the valve midpoint by {gain.mean():.3f} mm on average")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    errors = sub.add_parser("errors", help="along / across-axis error components of a model")
    errors.add_argument("dataset", type=Path)
    errors.add_argument("--model", default="lax_cine")
    label = sub.add_parser("label", help="stability of the phantom's apex label")
    label.add_argument("split_file", type=Path)
    label.add_argument("--subjects", type=int, default=12)
    label.add_argument("--phases", type=int, default=10)
    args = parser.parse_args()
    if args.mode == "errors":
        axis_errors(args.dataset, args.model)
    else:
        label_stability(args.split_file, args.subjects, args.phases)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
