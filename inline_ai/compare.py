"""``inline-ai compare``: two evaluations of the same images, their differences with patient-level bootstrap CIs.

Both JSON files come from ``inline-ai evaluate`` (its ``per_image`` records). Images are paired by case and index;
the two evaluations must cover the same images and landmarks. For each metric the difference B - A is reported
with a percentile confidence interval from resampling *patients* with replacement (``scipy.stats.bootstrap``):
images of one patient are not independent, so a 12-patient validation split measures a difference of a few
tenths of a millimetre only roughly, and this says how roughly. Metrics: the detection rate (all landmarks'
presence right), each landmark's mean distance over the images where it is present and reported (as
``evaluate``), and each landmark's misses and false positives.

    inline-ai compare out/a.json out/b.json [--resamples 2000] [--seed 0] [--json OUT] [--markdown OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import DegenerateDataWarning, bootstrap


@dataclass
class ImageOutcomes:
    """Per-image outcomes of one evaluation, in a fixed image order: ``present`` / ``reported`` ``[N, K]`` bool,
    ``distance`` ``[N, K]`` mm (NaN where not both), ``patient`` ``[N]`` index into ``patients``."""

    names: list[str]
    keys: list[tuple[str, int]]
    patient: np.ndarray
    patients: list[str]
    present: np.ndarray
    reported: np.ndarray
    distance: np.ndarray


def load_outcomes(path: Path) -> ImageOutcomes:
    """The ``per_image`` records of an ``inline-ai evaluate`` JSON file, sorted by (case, index)."""
    data = json.loads(Path(path).read_text())
    records = data.get("per_image")
    if not records:
        raise ValueError(f"{path}: no per_image records (an older inline-ai evaluate wrote it; evaluate again)")
    keys = list(zip(records["case"], records["index"], strict=True))
    order = sorted(range(len(keys)), key=keys.__getitem__)
    patients = sorted(set(records["patient"]))
    number = {patient: n for n, patient in enumerate(patients)}
    distance = np.array([[np.nan if d is None else d for d in row] for row in records["distance_mm"]], dtype=float)
    return ImageOutcomes(
        names=list(records["names"]), keys=[keys[i] for i in order],
        patient=np.array([number[records["patient"][i]] for i in order], dtype=np.int64),
        patients=patients,
        present=np.array(records["present"], dtype=bool)[order],
        reported=np.array(records["reported"], dtype=bool)[order],
        distance=distance[order].reshape(len(order), len(records["names"])),
    )


def check_paired(a: ImageOutcomes, b: ImageOutcomes) -> None:
    """Raise ``ValueError`` unless both evaluations cover the same images with the same truth and landmarks."""
    if a.names != b.names:
        raise ValueError(f"different landmarks: {a.names} vs {b.names}")
    if a.keys != b.keys:
        only_a, only_b = set(a.keys) - set(b.keys), set(b.keys) - set(a.keys)
        raise ValueError(f"the evaluations cover different images ({len(only_a)} only in A, {len(only_b)} only "
                         f"in B; e.g. {sorted(only_a or only_b)[0]})")
    if not np.array_equal(a.present, b.present) or not np.array_equal(a.patient, b.patient):
        raise ValueError("the evaluations disagree on which landmarks the truth has: not the same dataset")


def metric_names(names: list[str]) -> list[str]:
    """The compared metrics, in the order :func:`metrics` returns them."""
    return (["detection_rate_pct"] + [f"{name}_mean_mm" for name in names]
            + [f"{name}_missed" for name in names] + [f"{name}_false_positives" for name in names])


def metrics(outcomes: ImageOutcomes, patients: np.ndarray) -> np.ndarray:
    """The metrics of :func:`metric_names` over the images of ``patients`` (indices, repeats count again)."""
    counts = np.bincount(patients, minlength=len(outcomes.patients))
    weight = counts[outcomes.patient].astype(float)  # each image counts as often as its patient was drawn
    present, reported = outcomes.present, outcomes.reported
    detected = (present == reported).all(axis=1)
    hit = present & reported
    distance = np.where(hit, outcomes.distance, 0.0)
    hits = (weight[:, None] * hit).sum(axis=0)
    means = np.divide((weight[:, None] * distance).sum(axis=0), hits, out=np.full(hits.shape, np.nan), where=hits > 0)
    missed = (weight[:, None] * (present & ~reported)).sum(axis=0)
    false = (weight[:, None] * (~present & reported)).sum(axis=0)
    return np.concatenate([[100.0 * np.sum(weight * detected) / np.sum(weight)], means, missed, false])


def compare(a: ImageOutcomes, b: ImageOutcomes, resamples: int = 2000, seed: int = 0,
            level: float = 0.95) -> dict[str, Any]:
    """A's and B's metrics, B - A, and its patient-bootstrap confidence interval at ``level`` (JSON-ready)."""
    check_paired(a, b)
    everyone = np.arange(len(a.patients))
    first, second = metrics(a, everyone), metrics(b, everyone)
    if len(a.patients) > 1:
        with warnings.catch_warnings():  # a metric without values (never detected) just gets no interval
            warnings.simplefilter("ignore", DegenerateDataWarning)
            result = bootstrap((everyone,), lambda sample: metrics(b, sample) - metrics(a, sample),
                               vectorized=False, n_resamples=resamples, confidence_level=level, method="percentile",
                               random_state=np.random.default_rng(seed))
        low, high = result.confidence_interval.low, result.confidence_interval.high
    else:  # one patient: nothing to resample
        low = high = np.full(first.shape, np.nan)
    rows = {name: {"a": _number(x), "b": _number(y), "difference": _number(y - x), "ci_low": _number(lo),
                   "ci_high": _number(hi)}
            for name, x, y, lo, hi in zip(metric_names(a.names), first, second, low, high, strict=True)}
    return {"images": len(a.keys), "patients": len(a.patients), "resamples": resamples, "confidence_level": level,
            "seed": seed, "metrics": rows}


def _number(value: float) -> float | None:
    """A JSON number, None for NaN (a landmark never detected, no interval)."""
    return float(value) if np.isfinite(value) else None


def _cell(value: float | None, sign: str = "") -> str:
    return "-" if value is None else f"{value:{sign}.2f}"


def to_markdown(comparison: dict[str, Any], label_a: str, label_b: str) -> str:
    """The comparison as a markdown table."""
    level = round(100 * comparison["confidence_level"])
    lines = [f"{comparison['images']} images of {comparison['patients']} patients; A = {label_a}, B = {label_b}; "
             f"{level} % CI of B - A from {comparison['resamples']} patient resamples", "",
             f"| metric | A | B | B - A | {level} % CI |", "|---|---|---|---|---|"]
    for name, row in comparison["metrics"].items():
        ci = "-" if row["ci_low"] is None else f"{row['ci_low']:+.2f} .. {row['ci_high']:+.2f}"
        lines.append(f"| {name} | {_cell(row['a'])} | {_cell(row['b'])} | {_cell(row['difference'], '+')} | {ci} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inline-ai compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="evaluation JSON A (inline-ai evaluate --json)")
    parser.add_argument("b", type=Path, help="evaluation JSON B, of the same images")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    parser.add_argument("--json", type=Path, help="write the comparison JSON here")
    parser.add_argument("--markdown", type=Path, help="write the markdown table here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.resamples < 1 or not 0 < args.level < 1:
        print("inline-ai compare: --resamples must be >= 1 and --level in (0, 1)", file=sys.stderr)
        return 2
    try:
        comparison = compare(load_outcomes(args.a), load_outcomes(args.b), args.resamples, args.seed, args.level)
    except (OSError, ValueError, KeyError) as error:
        print(f"inline-ai compare: {error}", file=sys.stderr)
        return 2
    comparison.update(a=str(args.a), b=str(args.b))
    table = to_markdown(comparison, str(args.a), str(args.b))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(comparison, indent=2) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
