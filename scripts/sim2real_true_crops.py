"""SAX mask models on real images, each on a crop placed by the image's *true* points.

Separates how well a (phantom-trained) segmenting second look outlines real hearts from how well
its crops are placed: every image with all three landmarks gets a ``sax_axis`` crop around its true
points, the model's mask is read by the labels' rule on the image's own grid (the two RV ends named
like the truth's, so naming is not measured), and the distances are summarised per block of 20 ACDC
patients (the challenge's pathology groups: dilated, hypertrophic, infarction, normal).

    python scripts/sim2real_true_crops.py ../shared/data/acdc_sax_cine \\
        --models runs/s15/r7/export/sax_sim2real_r7_mask.json --json runs/s15/true_crops_r7.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from inline_ai.crop import axis_crop
from inline_ai.dataset import list_cases, load_case
from inline_ai.mask_landmarks import crop_mask_landmarks
from inline_ai.normalise import normalise
from inline_ai.runtime import load_model

BLOCKS = ((1, 20, "001-020 dilated"), (21, 40, "021-040 hypertrophic"), (41, 60, "041-060 infarction"),
          (61, 80, "061-080 normal"))
NAMES = ("anterior RVI", "inferior RVI", "LV centre")


def patient_number(case_id: str) -> int:
    """ACDC patient number from a case name such as ``acdc_patient011_frame01``."""
    found = re.search(r"patient(\d+)", case_id)
    if found is None:
        raise ValueError(f"not an ACDC case name: {case_id!r}")
    return int(found.group(1))


def true_crop_errors(model, folder: Path, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm, NaN where the mask gave no point) ``[N, 3]`` and patient numbers ``[N]``."""
    errors, patients = [], []
    for path in list_cases(folder):
        case = load_case(path)
        complete = np.flatnonzero(np.isfinite(case.landmarks).all(axis=(1, 2)))
        crops = [axis_crop(case.landmarks[i].astype(float), case.pixel_spacing, model.card.pixel_size_mm,
                           model.card.input_size) for i in complete]
        pixels = np.stack([crop.sample(normalise(case.image[i])) for crop, i in zip(crops, complete, strict=True)]
                          ) if crops else np.zeros((0,))
        for start in range(0, len(crops), batch):
            probabilities = model.predict(pixels[start:start + batch, None])
            for k, p in enumerate(probabilities):
                index = complete[start + k]
                truth = case.landmarks[index].astype(float)
                found = crop_mask_landmarks(p, crops[start + k], case.image[index].shape).points(truth)
                errors.append(np.hypot(*((found - truth) * case.pixel_spacing).T))
                patients.append(patient_number(path.stem))
    return np.asarray(errors), np.asarray(patients)


def summarise(errors: np.ndarray, patients: np.ndarray) -> dict[str, dict[str, dict[str, float]]]:
    """Per block and landmark: images, share found, mean and median distance of those found."""
    out = {}
    for first, last, label in (*BLOCKS, (1, 80, "all")):
        rows = errors[(patients >= first) & (patients <= last)]
        block = {}
        for k, name in enumerate(NAMES):
            found = rows[np.isfinite(rows[:, k]), k]
            block[name] = {"images": int(rows.shape[0]), "found": float(found.size / max(rows.shape[0], 1)),
                           "mean_mm": float(found.mean()) if found.size else float("nan"),
                           "median_mm": float(np.median(found)) if found.size else float("nan")}
        out[label] = block
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="ACDC folder in the landmark dataset format")
    parser.add_argument("--models", nargs="+", required=True, help="mask model cards (mask_rule sax, sax_axis crop)")
    parser.add_argument("--json", type=Path, help="write the summaries here")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no data folder at {args.data}")
    results = {}
    for card in args.models:
        model = load_model(card, threads=2)
        results[card] = summarise(*true_crop_errors(model, args.data))
        print(f"## {card}\n| block | images | RVI ant. found, mean / median | RVI inf. found, mean / median "
              "| LV centre found, mean / median |\n|---|---|---|---|---|")
        for label, block in results[card].items():
            cells = [f"{b['found']:.1%}, {b['mean_mm']:.2f} / {b['median_mm']:.2f} mm" for b in block.values()]
            print(f"| {label} | {block[NAMES[0]]['images']} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
