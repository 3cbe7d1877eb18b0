"""SAX mask models on real images, each on a crop placed by the image's *true* points.

Separates how well a (phantom-trained) segmenting second look outlines real hearts from how well
its crops are placed: every image with all three landmarks gets a ``sax_axis`` crop around its true
points, the model's mask is read by the labels' rule on the image's own grid (the two RV ends named
like the truth's, so naming is not measured), and the distances are summarised per block of 20 ACDC
patients (the challenge's pathology groups: dilated, hypertrophic, infarction, normal), with the ends'
signed errors along the LV (positive: the RV reaches further round it than the experts' masks) and radial.

    python scripts/sim2real_true_crops.py ../shared/data/acdc_sax_cine \\
        --models runs/s15/r7/export/sax_sim2real_r7_mask.json --json runs/s15/true_crops_r7.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from acdc_group_split import GROUPS  # the script beside this one

from inline_ai.crop import axis_crop
from inline_ai.dataset import list_cases, load_case
from inline_ai.mask_landmarks import crop_mask_landmarks
from inline_ai.normalise import normalise
from inline_ai.runtime import load_model

NAMES = ("anterior RVI", "inferior RVI", "LV centre")
GROUP_OF = {f"acdc_patient{n:03d}": f"{name} ({members.start:03d}-{members.stop - 1:03d})"
            for name, members in GROUPS.items() for n in members}


def signed_end_errors(found: np.ndarray, truth: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """``[2, 2]``: per RV end, (along the LV, radial) error in mm. Along is positive where the found end lies
    beyond the true one, away from the middle of the true arc (the RV reaching further round the LV); radial
    is positive away from the true LV centre."""
    centre = truth[2] * spacing
    true_ends, found_ends = truth[:2] * spacing - centre, found[:2] * spacing - centre
    middle = np.arctan2(*(true_ends / np.linalg.norm(true_ends, axis=1, keepdims=True)).sum(axis=0))
    out = np.full((2, 2), np.nan)
    for k in range(2):
        true_angle = np.angle(np.exp(1j * (np.arctan2(*true_ends[k]) - middle)))
        found_angle = np.angle(np.exp(1j * (np.arctan2(*found_ends[k]) - middle)))
        radius = np.linalg.norm(true_ends[k])
        out[k] = ((abs(found_angle) - abs(true_angle)) * radius, np.linalg.norm(found_ends[k]) - radius)
    return out


def true_crop_errors(model, folder: Path, batch: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances (mm, NaN where the mask gave no point) ``[N, 3]``, ACDC diagnosis groups ``[N]`` and the RV
    ends' signed errors ``[N, 2, 2]`` (:func:`signed_end_errors`)."""
    errors, groups, signed = [], [], []
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
                groups.append(GROUP_OF.get(case.patient_id, "other"))
                signed.append(signed_end_errors(found, truth, case.pixel_spacing.astype(float)))
    return np.asarray(errors), np.asarray(groups), np.asarray(signed)


def summarise(errors: np.ndarray, groups: np.ndarray, signed: np.ndarray) -> dict[str, dict[str, dict[str, float]]]:
    """Per block and landmark: images, share found, mean and median distance of those found; for the RV
    ends also the median signed along / radial error and the spread (p25-p75) of the along error."""
    out = {}
    for label in (*sorted(set(groups)), "all"):
        keep = np.ones(len(groups), dtype=bool) if label == "all" else groups == label
        rows = errors[keep]
        block = {}
        for k, name in enumerate(NAMES):
            found = rows[np.isfinite(rows[:, k]), k]
            block[name] = {"images": int(rows.shape[0]), "found": float(found.size / max(rows.shape[0], 1)),
                           "mean_mm": float(found.mean()) if found.size else float("nan"),
                           "median_mm": float(np.median(found)) if found.size else float("nan")}
            if k < 2:
                along, radial = (v[np.isfinite(v)] for v in (signed[keep, k, 0], signed[keep, k, 1]))
                if along.size:
                    low, high = np.percentile(along, [25, 75])
                    block[name].update(along_median_mm=float(np.median(along)), along_p25_mm=float(low),
                                       along_p75_mm=float(high), radial_median_mm=float(np.median(radial)))
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
        print("\n| block | RVI ant. along median [p25, p75] / radial median | RVI inf. along median [p25, p75] / "
              "radial median |\n|---|---|---|")
        for label, block in results[card].items():
            cells = [f"{b['along_median_mm']:+.2f} [{b['along_p25_mm']:+.2f}, {b['along_p75_mm']:+.2f}] / "
                     f"{b['radial_median_mm']:+.2f} mm" for b in (block[NAMES[0]], block[NAMES[1]])]
            print(f"| {label} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
