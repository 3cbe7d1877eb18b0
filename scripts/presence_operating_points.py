"""Detection of a SAX chain (first stage -> crop mask stage) at other presence operating points, one knob at a time.

Knobs: the labels' rule applied to the mask stage's *predicted* masks (``--rv-pixels``: an RV smaller than this has
no insertion points, labels 30; ``--arc-deg``: nor one touching the septum over a smaller arc, labels 20), the first
stage's LV-centre threshold (``--lv-thresholds``; card 0.3) and the mask card's crop-placement threshold
(``--crop-thresholds``; card 0.05). Each value is run with every other knob at its default and printed with the
detection rate, false positives / misses and means. Meant for patients that no stage of the chain learned from
(e.g. a ``train_fraction`` run's ``left_out`` patients); calibrating on training patients is biased.

    python scripts/presence_operating_points.py ../shared/data/acdc_sax_cine --chain runs/s25/lc_export/half_half \\
        --split left_out --split-file runs/s25/lc_first_half/split.json --rv-pixels 20 40 --crop-thresholds 0.02 0.1
"""

from __future__ import annotations

import argparse
import json
import tempfile
from contextlib import contextmanager
from pathlib import Path

import inline_ai.mask_landmarks as mask_rule
from inline_ai.dataset import list_cases, load_case
from inline_ai.detector import LandmarkDetector
from inline_ai.evaluate import evaluate_cases, score_results, select_cases

FIRST_CARD = "sax_cine.json"
MASK_CARD = "sax_cine_refine_mask.json"


@contextmanager
def rule_limits(rv_pixels: float, arc_deg: float):
    """The rule's RV-size and arc limits changed for everything that reads predicted masks in this process."""
    saved = mask_rule.mask_landmarks.__defaults__
    cavity, _, _, *rest = saved
    mask_rule.mask_landmarks.__defaults__ = (cavity, rv_pixels, arc_deg, *rest)
    try:
        yield
    finally:
        mask_rule.mask_landmarks.__defaults__ = saved


def chain_copy(chain: Path, folder: Path, lv_threshold: float | None, crop_threshold: float | None) -> Path:
    """The chain's cards written to ``folder`` with the thresholds changed (model files linked); the first card."""
    for path in chain.iterdir():
        if path.suffix != ".json":
            (folder / path.name).symlink_to(path.resolve())
    first = json.loads((chain / FIRST_CARD).read_text())
    mask = json.loads((chain / MASK_CARD).read_text())
    if lv_threshold is not None:
        first["thresholds"] = {**first.get("thresholds", {}), "lv_centre": lv_threshold}
    if crop_threshold is not None:
        mask["threshold"] = crop_threshold
    (folder / FIRST_CARD).write_text(json.dumps(first))
    (folder / MASK_CARD).write_text(json.dumps(mask))
    return folder / FIRST_CARD


def score(chain: Path, cases, rv_pixels: float = mask_rule.MIN_RV_PIXELS, arc_deg: float = mask_rule.MIN_ARC_DEG,
          lv_threshold: float | None = None, crop_threshold: float | None = None) -> dict:
    """``inline-ai evaluate``'s metrics for the chain at one operating point."""
    with tempfile.TemporaryDirectory() as folder, rule_limits(rv_pixels, arc_deg):
        detector = LandmarkDetector(str(chain_copy(chain, Path(folder), lv_threshold, crop_threshold)), threads=2)
        return score_results(evaluate_cases(detector, cases), list(detector.names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="SAX folder in the landmark dataset format")
    parser.add_argument("--chain", type=Path, required=True,
                        help=f"a folder with {FIRST_CARD} (refine_with {MASK_CARD}) and their model files")
    parser.add_argument("--split")
    parser.add_argument("--split-file", type=Path)
    parser.add_argument("--rv-pixels", type=float, nargs="*", default=[])
    parser.add_argument("--arc-deg", type=float, nargs="*", default=[])
    parser.add_argument("--lv-thresholds", type=float, nargs="*", default=[])
    parser.add_argument("--crop-thresholds", type=float, nargs="*", default=[])
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no data folder at {args.data}")
    if not (args.chain / FIRST_CARD).is_file() or not (args.chain / MASK_CARD).is_file():
        raise SystemExit(f"{args.chain} needs {FIRST_CARD} and {MASK_CARD}")
    cases = [load_case(path) for path in select_cases(list_cases(args.data), args.split_file, args.split)]
    points = [{}] + [{"rv_pixels": v} for v in args.rv_pixels] + [{"arc_deg": v} for v in args.arc_deg]
    points += [{"lv_threshold": v} for v in args.lv_thresholds] + [{"crop_threshold": v} for v in args.crop_thresholds]
    for knobs in points:
        metrics = score(args.chain, cases, **knobs)
        marks = metrics["landmarks"]
        print(f"{json.dumps(knobs) if knobs else 'defaults':28s} detection {100 * metrics['detection_rate']:.2f} % "
              f"(failed {metrics['failed_images']}); false positives / misses "
              + ", ".join(f"{v['false_positives']}/{v['missed']}" for v in marks.values())
              + "; means " + " / ".join(f"{v['mean_mm']:.2f}" for v in marks.values()) + " mm", flush=True)


if __name__ == "__main__":
    main()
