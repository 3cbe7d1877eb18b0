"""Write left-right mirrored copies of labelled cases (image, mask and points), e.g. of a validation split.

Scanners store short-axis images in either handedness; a model that learned one fails on the other
(docs/training.md, "Flips are worth their cost"). The mirrored copy of the validation patients checks that:
``python scripts/mirror_cases.py ../shared/data/acdc_sax_cine data_cache/eval/acdc_val_mirrored
--split-file config/training/splits/acdc_sax_cine_by_group.json --split val``.
Landmark names stay as they are: anterior and inferior RV insertion are anatomical, not image sides.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from inline_ai.dataset import list_cases
from inline_ai.evaluate import select_cases


def mirror_case(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The case with its images' columns reversed; points (row, col) follow: col -> width - 1 - col."""
    mirrored = dict(data)
    width = data["image"].shape[-1]
    mirrored["image"] = data["image"][..., ::-1].copy()
    if "mask" in data:
        mirrored["mask"] = data["mask"][..., ::-1].copy()
    points = data["landmarks"].copy()
    points[..., 1] = width - 1 - points[..., 1]  # NaN (absent) stays NaN
    mirrored["landmarks"] = points
    return mirrored


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path, help="landmark dataset directory (.npz cases)")
    parser.add_argument("out", type=Path, help="directory for the mirrored cases (same file names)")
    parser.add_argument("--split-file", type=Path, help="split JSON (patient lists) choosing the patients")
    parser.add_argument("--split", default="val", help="which list of --split-file (default val)")
    args = parser.parse_args()
    try:
        paths = select_cases(list_cases(args.dataset), args.split_file, args.split if args.split_file else None)
    except (OSError, ValueError) as error:
        raise SystemExit(f"mirror_cases: {error}") from error
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        with np.load(path, allow_pickle=False) as case:
            np.savez_compressed(args.out / path.name, **mirror_case({key: case[key] for key in case.files}))
    print(f"{len(paths)} mirrored cases -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
