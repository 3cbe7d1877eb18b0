"""Montage of SAX mask models on crops placed by the true points, beside the experts' masks.

One row per case (its middle slice with all three landmarks unless ``CASE:SLICE`` names one): the crop,
the expert mask, then each model's arg-max mask, with the true RV insertion points (green +) and the
rule's points from each mask (red x). For looking at where a model's RV insertions go wrong; the
output shows real images, so keep it out of the repository.

    python scripts/mask_crops_montage.py ../shared/data/acdc_sax_cine acdc_patient011_frame01:5 \\
        acdc_patient045_frame01 --models runs/sim2real_r7_mask/export/sax_sim2real_r7_mask.json \\
        models/sax_cine_refine_mask.json --out out/mask_crops.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from inline_ai.crop import axis_crop  # noqa: E402
from inline_ai.dataset import load_case  # noqa: E402
from inline_ai.mask_landmarks import crop_mask_landmarks  # noqa: E402
from inline_ai.normalise import normalise  # noqa: E402
from inline_ai.runtime import load_model  # noqa: E402


def pick_slice(landmarks: np.ndarray, wanted: int | None) -> int:
    """``wanted``, or the middle image with all three landmarks."""
    if wanted is not None:
        return wanted
    complete = np.flatnonzero(np.isfinite(landmarks).all(axis=(1, 2)))
    if complete.size == 0:
        raise SystemExit("no image of this case has all three landmarks")
    return int(complete[complete.size // 2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("cases", nargs="+", help="CASE or CASE:SLICE")
    parser.add_argument("--models", nargs="+", required=True, help="mask model cards (mask_rule sax, sax_axis crop)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    models = [load_model(card, threads=1) for card in args.models]
    fig, axes = plt.subplots(len(args.cases), 2 + len(models), figsize=(3 * (2 + len(models)), 3 * len(args.cases)),
                             squeeze=False)
    for row, item in zip(axes, args.cases, strict=True):
        name, _, wanted = item.partition(":")
        case = load_case(args.data / f"{name}.npz")
        index = pick_slice(case.landmarks, int(wanted) if wanted else None)
        truth = case.landmarks[index].astype(float)
        crop = axis_crop(truth, case.pixel_spacing, models[0].card.pixel_size_mm, models[0].card.input_size)
        pixels = crop.sample(normalise(case.image[index]))
        expert = np.argmax(np.stack([crop.sample((case.mask[index] == k).astype(np.float32)) for k in range(4)]), 0)
        panels = [(pixels, f"{name} image {index}", None), (expert, "expert mask", None)]
        for model in models:
            probabilities = model.predict(pixels[None, None])[0]
            found = crop_mask_landmarks(probabilities, crop, case.image[index].shape).points(truth)
            panels.append((np.argmax(probabilities, 0), model.card.name, crop.to_model(found)))
        marked = crop.to_model(truth)
        for ax, (picture, title, found) in zip(row, panels, strict=True):
            image = picture is pixels
            ax.imshow(picture, cmap="gray" if image else "viridis", vmin=0, vmax=1.5 if image else 3)
            ax.plot(marked[:2, 1], marked[:2, 0], "g+", ms=10, mew=2)
            if found is not None:
                ax.plot(found[:2, 1], found[:2, 0], "rx", ms=8, mew=2)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(args.out, dpi=60)
    print(f"{len(args.cases)} cases -> {args.out}")


if __name__ == "__main__":
    main()
