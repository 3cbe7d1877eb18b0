"""Signed RV insertion errors of a SAX chain in the truth's own frame: is there a systematic offset?

For every image whose truth has all three SAX landmarks, each reported RV insertion end is compared with the truth's
in polar coordinates around the truth LV centre: *tangential* (mm along the circle; + = the end lies farther from
the middle of the truth's RV arc than the truth does, i.e. the arc is read too long) and *radial* (mm; + = farther
from the LV centre). Means, medians and a 95 % interval from resampling patients with replacement
(``scipy.stats.bootstrap``, percentile, 2,000 resamples, seed 0). A mean clear of zero would be an offset a runtime
could correct; scatter around zero is not.

    python scripts/rvi_error_frame.py ../shared/data/acdc_sax_cine --model sax_cine --split val \\
        --split-file config/training/splits/acdc_sax_cine_by_group.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap

from inline_ai.dataset import list_cases, load_case
from inline_ai.detector import LandmarkDetector
from inline_ai.display import CASE_DISPLAYS
from inline_ai.evaluate import evaluate_cases, select_cases
from inline_ai.landmarks import SAX_LANDMARKS

ENDS = ("anterior", "inferior")
COMPONENTS = ("tangential", "radial")


def wrapped(angle: np.ndarray | float) -> np.ndarray | float:
    """Angle(s) wrapped to [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def frame_errors(truth: np.ndarray, found: np.ndarray, spacing: np.ndarray) -> list[tuple[int, float, float]]:
    """``(end, tangential_mm, radial_mm)`` for each reported RV end of one image (``[3, 2]`` points in
    ``SAX_LANDMARKS`` order, pixels); empty unless the truth has all three landmarks."""
    if not np.isfinite(truth).all():
        return []
    centre = truth[2] * spacing
    offsets = truth[:2] * spacing - centre
    angles = np.arctan2(offsets[:, 1], offsets[:, 0])
    middle = angles[0] + wrapped(angles[1] - angles[0]) / 2  # the middle of the shorter arc between the ends
    rows = []
    for end in (0, 1):
        if not np.isfinite(found[end]).all():
            continue
        seen = found[end] * spacing - centre
        radius = float(np.hypot(*offsets[end]))
        along = abs(wrapped(np.arctan2(seen[1], seen[0]) - middle)) - abs(wrapped(angles[end] - middle))
        rows.append((end, float(along * radius), float(np.hypot(*seen) - radius)))
    return rows


def summarise(by_patient: dict[str, list[float]]) -> dict[str, float | int]:
    """Pooled mean / median of per-image values and the patient-bootstrap interval of the pooled mean."""
    groups = [np.asarray(v) for v in by_patient.values() if v]
    pooled = np.concatenate(groups)

    def pooled_mean(indices: np.ndarray) -> float:
        return float(np.concatenate([groups[i] for i in np.asarray(indices, int)]).mean())

    interval = bootstrap((np.arange(len(groups)),), pooled_mean, vectorized=False, n_resamples=2000,
                         method="percentile", random_state=0).confidence_interval
    return {"n": int(pooled.size), "patients": len(groups), "mean_mm": float(pooled.mean()),
            "median_mm": float(np.median(pooled)), "low_mm": float(interval.low), "high_mm": float(interval.high)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="SAX folder in the landmark dataset format")
    parser.add_argument("--model", required=True, help="model card (its refine_with chain is followed)")
    parser.add_argument("--split", help="a split of --split-file (default: every case)")
    parser.add_argument("--split-file", type=Path, help="a split JSON (e.g. a run's split.json; 'left_out' works)")
    parser.add_argument("--display", choices=CASE_DISPLAYS, default="auto",
                        help="how images without directions are shown (inline-ai evaluate --display)")
    parser.add_argument("--json", type=Path, help="write the summary here")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no data folder at {args.data}")
    detector = LandmarkDetector(args.model, threads=2)
    cases = [load_case(path) for path in select_cases(list_cases(args.data), args.split_file, args.split)]
    order = [list(detector.names).index(name) for name in SAX_LANDMARKS]
    values: dict[tuple[str, str], dict[str, list[float]]] = {(e, c): {} for e in ENDS for c in COMPONENTS}
    for result in evaluate_cases(detector, cases, display=args.display):
        for truth, found in zip(result.truth[:, order], result.found[:, order], strict=True):
            for end, along, radial in frame_errors(truth, found, result.spacing):
                for component, value in zip(COMPONENTS, (along, radial), strict=True):
                    values[ENDS[end], component].setdefault(result.patient_id, []).append(value)
    summary = {f"{end}_{component}": summarise(by_patient) for (end, component), by_patient in values.items()}
    for key, row in summary.items():
        print(f"{key:22s} mean {row['mean_mm']:+.2f} mm  median {row['median_mm']:+.2f}  "
              f"95 % [{row['low_mm']:+.2f}, {row['high_mm']:+.2f}]  n {row['n']} ({row['patients']} patients)")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
