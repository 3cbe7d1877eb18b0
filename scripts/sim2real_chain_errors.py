"""Where a SAX chain's RV insertion errors on real images come from: naming, LV placement, or far-off ends.

Runs the chain as ``inline-ai evaluate`` does (stack gaps filled) and, over the images that have all three
landmarks in both truth and output, splits the RV insertion distances: as named; with the two ends named
right (the better of the two pairings: what naming costs); without the images whose LV centre is > 10 mm off;
and the share of the error carried by ends > 15 mm off.

    python scripts/sim2real_chain_errors.py ../shared/data/acdc_sax_cine \\
        --model runs/s17/r11_heat/export/sax_sim2real_r11_lean_heatmap.json \\
        --refine-with runs/s17/chain_r12s0/sax_sim2real_r11_lean_wholemask.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from inline_ai.dataset import list_cases, load_case
from inline_ai.detector import LandmarkDetector
from inline_ai.display import CASE_DISPLAYS
from inline_ai.evaluate import evaluate_cases
from inline_ai.landmarks import SAX_LANDMARKS

LV_OFF_MM = 10.0
FAR_MM = 15.0


def pair_distances(results, names: list[str]) -> np.ndarray:
    """``[M, 5]`` per image with all three points in truth and output: anterior / inferior distance as named,
    the same two with the ends swapped, LV centre distance (mm)."""
    order = [names.index(name) for name in SAX_LANDMARKS]
    rows = []
    for result in results:
        for truth, found in zip(result.truth[:, order], result.found[:, order], strict=True):
            if not (np.isfinite(truth).all() and np.isfinite(found).all()):
                continue
            pairs = ((0, 0), (1, 1), (0, 1), (1, 0), (2, 2))  # (found, truth)
            rows.append([float(np.hypot(*((found[f] - truth[t]) * result.spacing))) for f, t in pairs])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 5)


def report(rows: np.ndarray) -> None:
    """Print the split (see the module notes)."""
    named, swapped, lv = rows[:, :2], rows[:, 2:4], rows[:, 4]
    wrong = swapped.sum(axis=1) < named.sum(axis=1)
    right = np.where(wrong[:, None], swapped, named)
    lv_off = lv > LV_OFF_MM
    rest = right[~lv_off]
    far = rest > FAR_MM
    print(f"{len(rows)} images with all three points in truth and output")
    print(f"RVI as named: mean {named.mean():.2f} / median {np.median(named):.2f} mm")
    print(f"named the wrong way round: {wrong.mean():.1%}; named right: mean {right.mean():.2f} / median "
          f"{np.median(right):.2f} mm")
    print(f"LV centre > {LV_OFF_MM:g} mm off: {lv_off.mean():.1%} (their RVI mean, named right, "
          f"{right[lv_off].mean() if lv_off.any() else float('nan'):.1f} mm); the rest: mean {rest.mean():.2f} / "
          f"median {np.median(rest):.2f} mm")
    print(f"of the rest, ends > {FAR_MM:g} mm off: {far.mean():.1%} of ends, {rest[far].sum() / right.sum():.1%} "
          f"of the error sum (named right)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="SAX folder in the landmark dataset format")
    parser.add_argument("--model", required=True, help="first model card")
    parser.add_argument("--refine-with", help="refinement card (chains on through its refine_with)")
    parser.add_argument("--display", choices=CASE_DISPLAYS, default="auto",
                        help="how images without directions are shown (inline-ai evaluate --display)")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no data folder at {args.data}")
    detector = LandmarkDetector(args.model, threads=2, refine_with=args.refine_with)
    results = evaluate_cases(detector, [load_case(path) for path in list_cases(args.data)], display=args.display)
    report(pair_distances(results, list(detector.names)))


if __name__ == "__main__":
    main()
