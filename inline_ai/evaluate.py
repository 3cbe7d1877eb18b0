"""``inline-ai evaluate``: accuracy of a landmark model on a labelled dataset directory.

Per landmark: images where it is present, detected, missed, false positives (reported where absent),
distance in mm (mean, SD, median, 90th percentile). Overall detection rate as in the paper: an image
succeeds when every present landmark is found and none is reported where absent. Long axis: LV length
difference (%); short axis: A-RVI angle difference (degrees).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inline_ai.context import case_contexts, case_neighbour_indices
from inline_ai.dataset import LandmarkCase, list_cases, load_case
from inline_ai.display import CASE_DISPLAYS, case_mirrored
from inline_ai.measures import arvi_angle_deg, distance_mm, lv_length_mm


@dataclass
class CaseResult:
    """Truth and detections of one case, both on its original grid."""

    case_id: str
    patient_id: str
    view: str
    spacing: np.ndarray  # [2] mm
    truth: np.ndarray  # [N, K, 2]
    found: np.ndarray  # [N, K, 2]
    confidence: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    anatomy_mirrored: bool | None = None  # the display the model's anatomy chose (a case of unknown display)


def _summary(values: Sequence[float]) -> dict[str, float | int | None]:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {"n": 0, "mean": None, "sd": None, "median": None, "p90": None, "max": None}
    sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {"n": int(values.size), "mean": float(values.mean()), "sd": sd,
            "median": float(np.median(values)), "p90": float(np.percentile(values, 90)), "max": float(values.max())}


def score_results(results: Sequence[CaseResult], names: Sequence[str]) -> dict[str, Any]:
    """All metrics of a list of case results (JSON-ready; NaN-free)."""
    names = list(names)
    landmarks: dict[str, Any] = {}
    truth_all = np.concatenate([r.truth for r in results])
    found_all = np.concatenate([r.found for r in results])
    spacing_all = np.concatenate([np.broadcast_to(r.spacing, (r.truth.shape[0], 2)) for r in results])
    views_all = np.concatenate([[r.view] * r.truth.shape[0] for r in results])
    present = np.isfinite(truth_all).all(-1)
    reported = np.isfinite(found_all).all(-1)
    distances = distance_mm(found_all, truth_all, spacing_all[:, None, :])
    for k, name in enumerate(names):
        hit = present[:, k] & reported[:, k]
        stats = _summary(distances[hit, k])
        landmarks[name] = {
            "images_present": int(present[:, k].sum()), "detected": int(hit.sum()),
            "missed": int((present[:, k] & ~reported[:, k]).sum()),
            "false_positives": int((~present[:, k] & reported[:, k]).sum()),
            "images_absent": int((~present[:, k]).sum()),
            "mean_mm": stats["mean"], "sd_mm": stats["sd"], "median_mm": stats["median"], "p90_mm": stats["p90"],
            "max_mm": stats["max"],
        }
    success = (present == reported).all(-1)
    pooled = distances[present & reported]
    metrics: dict[str, Any] = {
        "images": int(truth_all.shape[0]), "cases": len(results),
        "patients": len({r.patient_id for r in results}),
        "detection_rate": float(success.mean()) if success.size else None,
        "failed_images": int((~success).sum()),
        "mean_mm": float(pooled.mean()) if pooled.size else None,
        "median_mm": float(np.median(pooled)) if pooled.size else None,
        "landmarks": landmarks,
    }
    if len(set(views_all.tolist())) > 1:
        metrics["by_view"] = {}
        for view in sorted(set(views_all.tolist())):
            selected = [r for r in results if r.view == view]
            metrics["by_view"][view] = {key: value for key, value in score_results(selected, names).items()
                                        if key in ("images", "detection_rate", "mean_mm", "median_mm", "landmarks",
                                                   "lv_length")}
    if {"mv_anterior", "mv_inferior", "apex"} <= set(names):
        metrics["lv_length"] = _lv_length_errors(truth_all, found_all, spacing_all, names)
    if {"lv_centre", "anterior_rv_insertion"} <= set(names):
        metrics["arvi_angle"] = _arvi_errors(truth_all, found_all, spacing_all, names)
    return metrics


def per_image_records(results: Sequence[CaseResult], names: Sequence[str]) -> dict[str, Any]:
    """Each image's outcome in columns (JSON-ready): ``case``, ``index``, ``patient``, and per landmark (``names``
    order) whether the truth has it (``present``), whether it was reported (``reported``) and the distance in mm
    where both (``distance_mm``, else None). ``inline-ai compare`` pairs two evaluations by these."""
    records: dict[str, list[Any]] = {key: [] for key in ("case", "index", "patient", "present", "reported",
                                                         "distance_mm")}
    for result in results:
        present = np.isfinite(result.truth).all(-1)
        reported = np.isfinite(result.found).all(-1)
        distances = distance_mm(result.found, result.truth, np.asarray(result.spacing, dtype=np.float64))
        for n in range(result.truth.shape[0]):
            records["case"].append(result.case_id)
            records["index"].append(n)
            records["patient"].append(result.patient_id)
            records["present"].append(present[n].tolist())
            records["reported"].append(reported[n].tolist())
            records["distance_mm"].append([round(float(d), 4) if np.isfinite(d) else None for d in distances[n]])
    return {"names": list(names), **records}


def list_failures(results: Sequence[CaseResult], names: Sequence[str]) -> list[dict[str, Any]]:
    """Every failed image: case, index within the case, relative position, missed and falsely reported landmarks."""
    failures = []
    for result in results:
        present = np.isfinite(result.truth).all(-1)
        reported = np.isfinite(result.found).all(-1)
        count = result.truth.shape[0]
        for n in np.flatnonzero((present != reported).any(-1)):
            failures.append({
                "case": result.case_id, "index": int(n), "position": round(float(n) / max(count - 1, 1), 3),
                "missed": [names[k] for k in np.flatnonzero(present[n] & ~reported[n])],
                "false_positive": [names[k] for k in np.flatnonzero(~present[n] & reported[n])],
            })
    return failures


def _lv_length_errors(truth, found, spacing, names) -> dict[str, Any]:
    idx = [names.index(n) for n in ("mv_anterior", "mv_inferior", "apex")]
    true_len = lv_length_mm(truth[:, idx[0]], truth[:, idx[1]], truth[:, idx[2]], spacing)
    found_len = lv_length_mm(found[:, idx[0]], found[:, idx[1]], found[:, idx[2]], spacing)
    usable = np.isfinite(true_len) & np.isfinite(found_len) & (true_len > 0)
    percent = 100.0 * np.abs(found_len[usable] - true_len[usable]) / true_len[usable]
    signed = 100.0 * (found_len[usable] - true_len[usable]) / true_len[usable]
    stats = _summary(percent)
    return {"images": int(usable.sum()), "mean_abs_diff_pct": stats["mean"], "sd_abs_diff_pct": stats["sd"],
            "median_abs_diff_pct": stats["median"], "p90_abs_diff_pct": stats["p90"],
            "mean_signed_diff_pct": float(signed.mean()) if signed.size else None,
            "mean_abs_diff_mm": float(np.abs(found_len[usable] - true_len[usable]).mean()) if usable.any() else None}


def _arvi_errors(truth, found, spacing, names) -> dict[str, Any]:
    centre, anterior = names.index("lv_centre"), names.index("anterior_rv_insertion")
    true_angle = arvi_angle_deg(truth[:, centre], truth[:, anterior], spacing)
    found_angle = arvi_angle_deg(found[:, centre], found[:, anterior], spacing)
    usable = np.isfinite(true_angle) & np.isfinite(found_angle)
    diff = np.abs((found_angle[usable] - true_angle[usable] + 180.0) % 360.0 - 180.0)
    stats = _summary(diff)
    return {"images": int(usable.sum()), "mean_abs_diff_deg": stats["mean"], "sd_abs_diff_deg": stats["sd"],
            "median_abs_diff_deg": stats["median"], "p90_abs_diff_deg": stats["p90"]}


def select_cases(paths: Sequence[Path], split_file: Path | None, split: str | None) -> list[Path]:
    """Cases of one split (by patient id) or all of them."""
    if split is None:
        return list(paths)
    if split_file is None:
        raise ValueError("--split needs --split-file (the split.json a training run wrote)")
    groups = json.loads(Path(split_file).read_text())
    if split not in groups:
        raise ValueError(f"{split_file} has no split {split!r} (has {sorted(groups)})")
    wanted = set(groups[split])
    chosen = [p for p in paths if _patient_of(p.stem) in wanted]
    if not chosen:
        raise ValueError(f"no case of split {split!r} in this dataset directory")
    return chosen


def _patient_of(case_id: str) -> str:
    return LandmarkCase(np.zeros((0, 1, 1)), np.ones(2), np.zeros((0, 0, 2)), (), "sax", "cine",
                        case_id=case_id).patient_id


def evaluate_cases(detector, cases: Sequence[LandmarkCase], threshold: float | None = None,
                   stack_fill: bool = True, display: str = "auto") -> list[CaseResult]:
    """Run a ``LandmarkDetector`` over cases; truth is reordered to the model's landmark names.

    With ``stack_fill``, in cases that give their slice indices, a short-axis landmark missing between two
    slices that have it is filled, as the gadget does once a stack is complete
    (:func:`inline_ai.consistency.fill_stack_gaps`). ``display`` says how cases without their own image
    directions are shown (:func:`case_mirrored`); only a model of the standard display (card ``display``) uses it."""
    names = list(detector.names)
    results = []
    for case in cases:
        truth = np.full((case.image.shape[0], len(names), 2), np.nan)
        for k, name in enumerate(names):
            if name in case.landmark_names:
                truth[:, k] = case.landmarks[:, case.landmark_names.index(name)]
        detections = detector.detect(case.image, case.pixel_spacing, threshold=threshold,
                                     context=case_contexts(case.image, case.phase, case.slice_index),
                                     neighbours=(case_neighbour_indices(len(case.image), case.phase, case.slice_index)
                                                 if stack_fill and case.slice_index is not None else None),
                                     mirrored=case_mirrored(case, display))
        results.append(CaseResult(case.case_id, case.patient_id, case.view, np.asarray(case.pixel_spacing, float),
                                  truth, np.asarray(detections.points, float), np.asarray(detections.confidence),
                                  detections.anatomy_mirrored))
    return results


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def to_markdown(metrics: dict[str, Any], title: str) -> str:
    """Tables in the shape of the paper's Tables 2-4 (per-landmark detection and distance)."""
    lines = [f"## {title}", "",
             f"{metrics['images']} images, {metrics['cases']} cases, {metrics['patients']} patients/subjects. "
             f"Detection rate (all present landmarks found, none reported where absent): "
             f"**{100 * metrics['detection_rate']:.2f}%** "
             f"({metrics['failed_images']} of {metrics['images']} images failed).",
             "",
             "| Landmark | Images present | Detected | Missed | False positives | Distance mean ± SD (mm) "
             "| Median (mm) | 90th pct (mm) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, row in metrics["landmarks"].items():
        lines.append(f"| {name} | {row['images_present']} | {row['detected']} | {row['missed']} | "
                     f"{row['false_positives']} | {_fmt(row['mean_mm'])} ± {_fmt(row['sd_mm'])} | "
                     f"{_fmt(row['median_mm'])} | {_fmt(row['p90_mm'])} |")
    lines.append(f"| **all** | | | | | {_fmt(metrics['mean_mm'])} | {_fmt(metrics['median_mm'])} | |")
    if "lv_length" in metrics:
        lv = metrics["lv_length"]
        lines += ["", f"LV length difference (AI vs truth, {lv['images']} images): "
                  f"{_fmt(lv['mean_abs_diff_pct'])} ± {_fmt(lv['sd_abs_diff_pct'])} % (mean ± SD of |difference|), "
                  f"median {_fmt(lv['median_abs_diff_pct'])} %, signed mean {_fmt(lv['mean_signed_diff_pct'])} %, "
                  f"{_fmt(lv['mean_abs_diff_mm'])} mm."]
    if "arvi_angle" in metrics:
        angle = metrics["arvi_angle"]
        lines += ["", f"A-RVI angle difference ({angle['images']} images): {_fmt(angle['mean_abs_diff_deg'])} ± "
                  f"{_fmt(angle['sd_abs_diff_deg'])} degrees, median {_fmt(angle['median_abs_diff_deg'])}."]
    if "by_view" in metrics:
        lines += ["", "| View | Images | Detection rate | Mean (mm) | Median (mm) | LV length diff (%) |",
                  "|---|---|---|---|---|---|"]
        for view, row in metrics["by_view"].items():
            lv = row.get("lv_length", {}).get("mean_abs_diff_pct")
            rate = 100 * row["detection_rate"]
            lines.append(f"| {view} | {row['images']} | {rate:.2f}% | {_fmt(row['mean_mm'])} | "
                         f"{_fmt(row['median_mm'])} | {_fmt(lv)} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inline-ai evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path, help="landmark dataset directory (.npz cases)")
    parser.add_argument("--model", required=True, help="model name in models/ or path to its card/.onnx")
    parser.add_argument("--json", type=Path, required=True, help="write metrics JSON here")
    parser.add_argument("--markdown", type=Path, help="also write markdown tables here")
    parser.add_argument("--split", help="evaluate only this split (e.g. val) of --split-file")
    parser.add_argument("--split-file", type=Path, help="split.json written by inline-ai train")
    parser.add_argument("--views", nargs="+", help="only these views (sax, ch2, ch3, ch4)")
    parser.add_argument("--threshold", type=float, help="override the card's presence thresholds")
    parser.add_argument("--threads", type=int, default=2, help="inference threads (default 2)")
    parser.add_argument("--no-refine", action="store_true",
                        help="first model only: skip the card's refinement model (refine_with)")
    parser.add_argument("--refine-with", metavar="MODEL",
                        help="use this refinement model (and the ones its card chains) instead of the card's")
    parser.add_argument("--refine-stages", type=int, metavar="N",
                        help="only the first N refinement models of the chain (default all)")
    parser.add_argument("--borrow-axes", action="store_true",
                        help="a mask refiner also reads images where the first model found the LV centre but no "
                             "RV insertion, on a crop borrowed from a neighbouring image (off in the shipped chain)")
    parser.add_argument("--no-stack-fill", action="store_true",
                        help="short axis: do not fill a landmark missing between two slices of a stack that have it "
                             "(the gadget fills such gaps once a stack is complete)")
    parser.add_argument("--display", choices=CASE_DISPLAYS, default="auto",
                        help="how the SAX images are shown when the case files carry no read_dir / phase_dir: auto "
                             "(default: the model's reading of the anatomy decides, per case), the standard view from "
                             "the apex (ACDC) or its mirror image (MS-CMRSeg here); used by a model of the standard "
                             "display only (card display: standard)")
    parser.add_argument("--title", help="markdown heading")
    parser.add_argument("--write-card", metavar="KEY",
                        help="store the summary in the model card's metrics under KEY (sha256 unaffected)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from inline_ai.detector import LandmarkDetector
    from inline_ai.runtime import ModelError, resolve_model

    try:
        paths = select_cases(list_cases(args.dataset), args.split_file, args.split)
        detector = LandmarkDetector(args.model, threads=args.threads, refine=not args.no_refine,
                                    refine_with=args.refine_with, refine_stages=args.refine_stages,
                                    borrow_axes=args.borrow_axes)
    except (FileNotFoundError, ValueError, ModelError) as error:
        print(f"inline-ai evaluate: {error}", file=sys.stderr)
        return 2
    cases = [load_case(p) for p in paths]
    if args.views:
        cases = [c for c in cases if c.view in args.views]
        if not cases:
            print(f"inline-ai evaluate: no cases of views {args.views}", file=sys.stderr)
            return 2
    card = detector.model.card
    wrong = sorted({c.view for c in cases} - set(card.views))
    if wrong:
        print(f"inline-ai evaluate: model {card.name} is for views {list(card.views)}, dataset has {wrong}",
              file=sys.stderr)
        return 2
    results = evaluate_cases(detector, cases, args.threshold, stack_fill=not args.no_stack_fill,
                             display=args.display)
    metrics = score_results(results, detector.names)
    metrics.update(model=card.name, model_sha256=card.sha256, dataset=str(args.dataset),
                   split=args.split or "all", threshold_override=args.threshold, stack_fill=not args.no_stack_fill,
                   failures=list_failures(results, list(detector.names)),
                   per_image=per_image_records(results, detector.names))
    if card.display == "standard":
        metrics.update(display=args.display)
        decided = [r for r in results if r.anatomy_mirrored is not None]
        if decided:
            metrics.update(display_by_anatomy={
                "cases": len(decided), "mirrored": sorted(r.case_id for r in decided if r.anatomy_mirrored)})
    if detector.refiners:
        metrics.update(refined_by=detector.refined_by, refiner_sha256=[r.card.sha256 for r in detector.refiners])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(metrics, indent=2) + "\n")
    shown = " + ".join(filter(None, [card.name, detector.refined_by]))
    title = args.title or f"{shown} on {args.dataset.name} ({args.split or 'all'})"
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(to_markdown(metrics, title))
    if args.write_card:
        card_path = resolve_model(args.model)
        data = json.loads(card_path.read_text())
        data.setdefault("metrics", {})[args.write_card] = {
            "dataset": str(args.dataset), "split": args.split or "all", "images": metrics["images"],
            "patients": metrics["patients"], "refined_by": metrics.get("refined_by"),
            "stack_fill": metrics["stack_fill"],
            "detection_rate": metrics["detection_rate"], "mean_mm": metrics["mean_mm"],
            "landmarks": {n: {k: v[k] for k in ("mean_mm", "sd_mm", "median_mm", "missed", "false_positives")}
                          for n, v in metrics["landmarks"].items()},
            **{k: metrics[k] for k in ("lv_length", "arvi_angle", "display") if k in metrics},
        }
        card_path.write_text(json.dumps(data, indent=2) + "\n")
    rate = metrics["detection_rate"]
    print(f"{shown}: {metrics['images']} images, detection rate {100 * rate:.2f}%, mean distance "
          f"{_fmt(metrics['mean_mm'])} mm -> {args.json}")
    for name, row in metrics["landmarks"].items():
        print(f"  {name:<24} mean {_fmt(row['mean_mm'])} mm, median {_fmt(row['median_mm'])} mm, "
              f"missed {row['missed']}, false positives {row['false_positives']}")
    if "display_by_anatomy" in metrics:
        decided = metrics["display_by_anatomy"]
        print(f"  display by anatomy: {len(decided['mirrored'])} of {decided['cases']} cases mirrored, "
              "the rest standard")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
