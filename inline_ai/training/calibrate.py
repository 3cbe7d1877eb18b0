"""Per-landmark presence thresholds: pick, for each landmark, the peak-probability threshold that best
separates images where it is present from images where it is absent, on a chosen (training) split.

``python -m inline_ai.training.calibrate DATASET --model NAME --split-file runs/NAME/split.json --split train
--write-card`` stores the result in the card's ``thresholds`` (the model file and its sha256 are unchanged).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from inline_ai.context import case_contexts

CANDIDATES = np.round(np.arange(0.05, 0.951, 0.025), 3)


def best_threshold(confidence: np.ndarray, present: np.ndarray, default: float = 0.3,
                   candidates: Sequence[float] = CANDIDATES) -> tuple[float, float]:
    """``(threshold, accuracy)`` maximising presence accuracy; ties go to the value nearest ``default``."""
    confidence, present = np.asarray(confidence, float), np.asarray(present, bool)
    if confidence.size == 0:
        return default, float("nan")
    scores = [(float(((confidence >= t) == present).mean()), -abs(t - default), float(t)) for t in candidates]
    accuracy, _, threshold = max(scores)
    return threshold, accuracy


def calibrate(detector, cases, default: float = 0.3) -> dict[str, dict[str, float]]:
    """Thresholds per landmark from detections at threshold 0 on ``cases``."""
    names = list(detector.names)
    confidences, presents = [], []
    for case in cases:
        found = detector.detect(case.image, case.pixel_spacing, threshold=0.0,
                                context=case_contexts(case.image, case.phase, case.slice_index))
        truth = np.full((case.image.shape[0], len(names)), False)
        for k, name in enumerate(names):
            if name in case.landmark_names:
                truth[:, k] = np.isfinite(case.landmarks[:, case.landmark_names.index(name)]).all(-1)
        confidences.append(found.confidence)
        presents.append(truth)
    confidence, present = np.concatenate(confidences), np.concatenate(presents)
    result = {}
    for k, name in enumerate(names):
        threshold, accuracy = best_threshold(confidence[:, k], present[:, k], default)
        at_default = float(((confidence[:, k] >= default) == present[:, k]).mean())
        result[name] = {"threshold": threshold, "presence_accuracy": accuracy, "accuracy_at_default": at_default,
                        "images": int(present.shape[0]), "present": int(present[:, k].sum())}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inline_ai.training.calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--split-file", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--max-cases", type=int, default=0, help="use at most this many cases (0 = all)")
    parser.add_argument("--write-card", action="store_true", help="store thresholds in the model card")
    args = parser.parse_args(argv)
    from inline_ai.dataset import list_cases, load_case
    from inline_ai.detector import LandmarkDetector
    from inline_ai.evaluate import select_cases
    from inline_ai.runtime import ModelError, resolve_model

    try:
        paths = select_cases(list_cases(args.dataset), args.split_file, args.split if args.split_file else None)
        detector = LandmarkDetector(args.model)
    except (FileNotFoundError, ValueError, ModelError) as error:
        print(f"calibrate: {error}", file=sys.stderr)
        return 2
    if args.max_cases:
        paths = paths[:: max(1, len(paths) // args.max_cases)][: args.max_cases]
    result = calibrate(detector, [load_case(p) for p in paths], detector.model.card.threshold)
    print(json.dumps(result, indent=1))
    if args.write_card:
        card_path = resolve_model(args.model)
        data = json.loads(card_path.read_text())
        data["thresholds"] = {name: row["threshold"] for name, row in result.items()}
        data.setdefault("metrics", {})["threshold_calibration"] = {
            "dataset": str(args.dataset), "split": args.split, "cases": len(paths), **result}
        card_path.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
