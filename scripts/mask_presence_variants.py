"""Compare how a short-axis mask refiner (card ``mask_rule: sax``) should be used, on one dataset split.

Variants, all with the same two models:
- ``first``: the first model alone;
- ``positions``: presence stays the first model's, points from the mask rule where both agree a landmark is there;
- ``veto``: crops placed by the first model's points only (its threshold), the rule decides presence and points;
- ``weak-peaks``: crops also placed by weaker first-model peaks (down to the mask card's threshold), the rule decides
  (how the shipped chain uses it, there after the heat-map second look and averaged with it).

The mask model's points replace the first model's here (its card's ``combine`` is set to ``replace``).

``python scripts/mask_presence_variants.py ../shared/data/acdc_sax_cine --model sax_cine
--refine-with runs/sax_refine_mask/export/sax_cine_refine_mask.json --split val
--split-file config/training/splits/acdc_sax_cine.json``
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from inline_ai.dataset import list_cases, load_case
from inline_ai.detector import LandmarkDetector
from inline_ai.evaluate import evaluate_cases, score_results, select_cases
from inline_ai.runtime import load_model


def summary(label: str, metrics: dict) -> str:
    per = " / ".join(f"{row['mean_mm']:.2f}" for row in metrics["landmarks"].values())
    misses = " / ".join(f"{row['missed']}+{row['false_positives']}" for row in metrics["landmarks"].values())
    return (f"{label:11s} detection {100 * metrics['detection_rate']:.1f} %  mean {metrics['mean_mm']:.2f} mm  "
            f"per landmark {per} mm  missed+false per landmark {misses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--refine-with", required=True)
    parser.add_argument("--split")
    parser.add_argument("--split-file", type=Path)
    args = parser.parse_args()
    cases = [load_case(p) for p in select_cases(list_cases(args.dataset), args.split_file, args.split)]
    first_model = LandmarkDetector(args.model, refine=False)
    refiner = load_model(args.refine_with)  # cached: the detectors below share this object
    refiner.card = dataclasses.replace(refiner.card, combine="replace")
    first = evaluate_cases(first_model, cases)
    shipped = evaluate_cases(LandmarkDetector(args.model, refine_with=args.refine_with), cases)
    names = first_model.names
    print(summary("first", score_results(first, names)))
    print(summary("weak-peaks", score_results(shipped, names)))
    positions = []
    for one, two in zip(first, shipped, strict=True):
        both = np.isfinite(one.found).all(-1) & np.isfinite(two.found).all(-1)
        positions.append(dataclasses.replace(one, found=np.where(both[..., None], two.found, one.found)))
    print(summary("positions", score_results(positions, names)))
    refiner.card = dataclasses.replace(refiner.card, threshold=first_model.model.card.threshold)  # only where sure
    veto = evaluate_cases(LandmarkDetector(args.model, refine_with=args.refine_with), cases)
    print(summary("veto", score_results(veto, names)))


if __name__ == "__main__":
    main()
