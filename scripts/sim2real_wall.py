"""SAX mask models against the experts' masks on real images, each on a crop placed by the image's true points.

Tells whether a (phantom-trained) segmenting model draws the real LV wall too thick or thin: per model, the
median ratio of predicted to expert area and the median Dice of each class, and the median difference of the
LV's equivalent outer (myocardium + cavity) and inner (cavity) radii, in mm, over every image with all three
landmarks (as ``sim2real_true_crops.py``, which scores the points read off the same masks).

    python scripts/sim2real_wall.py ../shared/data/acdc_sax_cine \\
        --models runs/s17/r12s0/export/sax_sim2real_r12_dark.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from inline_ai.crop import axis_crop
from inline_ai.dataset import list_cases, load_case
from inline_ai.mask_landmarks import LABEL_LV_CAVITY, LABEL_LV_MYOCARDIUM, LABEL_RV_CAVITY, crop_label_window
from inline_ai.normalise import normalise
from inline_ai.runtime import load_model

CLASSES = {"RV cavity": LABEL_RV_CAVITY, "LV myocardium": LABEL_LV_MYOCARDIUM, "LV cavity": LABEL_LV_CAVITY}


def predicted_mask(model, image: np.ndarray, points: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """The model's label mask on ``image``'s own grid from a crop placed by ``points`` (background outside it)."""
    crop = axis_crop(points, spacing, model.card.pixel_size_mm, model.card.input_size)
    mask, origin = crop_label_window(model.predict(crop.sample(normalise(image))[None, None])[0], crop, image.shape)
    out = np.zeros(image.shape, dtype=np.uint8)
    row0, col0 = origin.astype(int)
    out[row0:row0 + mask.shape[0], col0:col0 + mask.shape[1]] = mask
    return out


def wall_rows(model, folder: Path) -> np.ndarray:
    """Per image ``[N, 3, 3]``: for each class, predicted area, expert area (mm^2) and Dice."""
    rows = []
    for path in list_cases(folder):
        case = load_case(path)
        spacing = case.pixel_spacing.astype(float)
        for index in np.flatnonzero(np.isfinite(case.landmarks).all(axis=(1, 2))):
            found = predicted_mask(model, case.image[index], case.landmarks[index].astype(float), spacing)
            row = []
            for label in CLASSES.values():
                ours, theirs = found == label, case.mask[index] == label
                total = ours.sum() + theirs.sum()
                row.append((ours.sum() * spacing.prod(), theirs.sum() * spacing.prod(),
                            2.0 * (ours & theirs).sum() / total if total else np.nan))
            rows.append(row)
    return np.asarray(rows, dtype=np.float64)


def report(rows: np.ndarray) -> None:
    """Print the medians (see the module notes)."""
    for k, name in enumerate(CLASSES):
        ratio = rows[:, k, 0] / np.maximum(rows[:, k, 1], 1e-9)
        print(f"| {name} | {np.median(ratio):.3f} x | {np.nanmedian(rows[:, k, 2]):.3f} |")
    outer = np.sqrt((rows[:, 1] + rows[:, 2]) / np.pi)  # [N, 3]: predicted, expert, (Dice, unused)
    inner = np.sqrt(rows[:, 2] / np.pi)
    outer_diff, inner_diff = outer[:, 0] - outer[:, 1], inner[:, 0] - inner[:, 1]
    low, high = np.percentile(outer_diff, [25, 75])
    print(f"\n{len(rows)} images; LV outer radius {np.median(outer_diff):+.2f} mm [p25 {low:+.2f}, p75 {high:+.2f}], "
          f"inner radius {np.median(inner_diff):+.2f} mm (median, predicted - expert)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="ACDC folder in the landmark dataset format")
    parser.add_argument("--models", nargs="+", required=True, help="mask model cards (mask_rule sax, sax_axis crop)")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no data folder at {args.data}")
    for card in args.models:
        print(f"## {card}\n| class | area, predicted / expert (median) | Dice (median) |\n|---|---|---|")
        report(wall_rows(load_model(card, threads=2), args.data))


if __name__ == "__main__":
    main()
