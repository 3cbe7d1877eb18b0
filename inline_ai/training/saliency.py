"""``inline-ai saliency``: where a model looks — the gradient of the training loss w.r.t. the input image
(as the paper's Figure E6), for images of a landmark ``.npz`` case.

The model runs as TorchScript (``NAME.pt`` beside its card) or from a training checkpoint. The loss is
the training loss (KL + soft Dice) against heat maps at the labelled landmarks (or, without labels, at
the model's own detections). The figure shows each image with labelled (green) and detected (red)
points next to the smoothed absolute gradient; the JSON gives, per image, the share of saliency within
``--radius-mm`` of the landmarks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def load_torch_model(model: str | Path):
    """``(torch module, card-like metadata)`` from a card/name (uses its TorchScript file) or a checkpoint."""
    import torch

    path = Path(str(model))
    if path.suffix == ".ckpt" and path.is_file():
        from inline_ai.training.export import model_from_checkpoint

        return model_from_checkpoint(path)
    from inline_ai.runtime import ModelCard, ModelError, resolve_model

    card_path = resolve_model(model)
    card = ModelCard.from_json(card_path)
    data = json.loads(card_path.read_text())
    script = (data.get("torchscript") or {}).get("file") or f"{card.name}.pt"
    script_path = card_path.parent / script
    if not script_path.is_file():
        raise ModelError(f"saliency needs the TorchScript model {script_path} beside the card")
    net = torch.jit.load(str(script_path), map_location="cpu").eval()
    meta = {"name": card.name, "channels": list(card.channels), "input_size": list(card.input_size),
            "pixel_size_mm": card.pixel_size_mm, "sigma_mm": data.get("heatmap_sigma_mm", 4.0),
            "threshold": card.threshold, "context_slices": card.context_slices}
    return net, meta


def saliency_maps(
    net, batch: np.ndarray, points_model: np.ndarray, sigma_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(|d loss / d input| [N, H, W], probabilities [N, C, H, W])`` for a model-grid batch ``[N, I, H, W]``
    (the gradient of the image itself, channel 0, for a model with neighbouring-slice channels)."""
    import torch

    from inline_ai.training.losses import HeatmapLoss
    from inline_ai.training.targets import render_heatmaps

    x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).requires_grad_(True)
    logits = net(x)
    points = torch.from_numpy(points_model.astype(np.float32))
    target = render_heatmaps(points, batch.shape[2], batch.shape[3], sigma_px)
    loss, _ = HeatmapLoss()(logits, target)
    loss.backward()
    return x.grad.detach().abs().numpy()[:, 0], torch.softmax(logits.detach(), dim=1).numpy()


def local_share(saliency: np.ndarray, points: np.ndarray, radius_px: float) -> float:
    """Share of the saliency mass within ``radius_px`` of any present point."""
    rows, cols = np.mgrid[0:saliency.shape[0], 0:saliency.shape[1]]
    near = np.zeros(saliency.shape, dtype=bool)
    for row, col in points:
        if np.isfinite(row):
            near |= (rows - row) ** 2 + (cols - col) ** 2 <= radius_px**2
    total = float(saliency.sum())
    return float(saliency[near].sum() / total) if total > 0 else float("nan")


def run(case_path: Path, model: str, out_dir: Path, indices: list[int] | None, count: int,
        radius_mm: float) -> dict[str, Any]:
    """Compute saliency for chosen images of a case; write ``saliency.png`` and ``saliency.json``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import ndimage

    from inline_ai.context import case_contexts
    from inline_ai.dataset import load_case
    from inline_ai.detector import model_input
    from inline_ai.points import extract_points
    from inline_ai.training.export import input_channels

    case = load_case(case_path)
    net, meta = load_torch_model(model)
    names = [c for c in meta["channels"] if c != "background"]
    if indices is None:
        indices = np.linspace(0, case.image.shape[0] - 1, min(count, case.image.shape[0])).round().astype(int).tolist()
    bad = [i for i in indices if not 0 <= i < case.image.shape[0]]
    if bad:
        raise ValueError(f"image indices {bad} outside the case's {case.image.shape[0]} images")
    size, pixel = tuple(meta["input_size"]), float(meta["pixel_size_mm"])
    batch, truth = [], []
    contexts = case_contexts(case.image, case.phase, case.slice_index)
    channels = input_channels(meta)
    for i in indices:
        pixels, transform = model_input(case.image[i], tuple(case.pixel_spacing), pixel, size, channels, contexts[i])
        batch.append(pixels)
        labelled = np.full((len(names), 2), np.nan)
        for k, name in enumerate(names):
            if name in case.landmark_names:
                labelled[k] = case.landmarks[i, case.landmark_names.index(name)]
        truth.append(transform.to_model(labelled))
    batch_arr, truth_arr = np.stack(batch), np.stack(truth)
    sigma_px = float(meta.get("sigma_mm", 4.0)) / pixel
    _, probabilities = saliency_maps(net, batch_arr, np.full_like(truth_arr, np.nan), sigma_px)
    found, _ = extract_points(probabilities, meta["channels"], names, float(meta.get("threshold", 0.3)))
    targets = np.where(np.isfinite(truth_arr), truth_arr, found)  # unlabelled: explain the model's own detections
    saliency, _ = saliency_maps(net, batch_arr, targets, sigma_px)
    saliency = np.stack([ndimage.gaussian_filter(s, 1.0) for s in saliency])
    radius_px = radius_mm / pixel
    shares = [local_share(s, t, radius_px) for s, t in zip(saliency, targets, strict=True)]
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(indices), 2, figsize=(6, 3 * len(indices)), squeeze=False)
    for row, (i, image, sal) in enumerate(zip(indices, batch_arr[:, 0], saliency, strict=True)):
        for ax in axes[row]:
            ax.imshow(image, cmap="gray", vmin=0, vmax=1.5)
            ax.plot(truth_arr[row, :, 1], truth_arr[row, :, 0], "g+", ms=9, mew=2)
            ax.plot(found[row, :, 1], found[row, :, 0], "rx", ms=7, mew=1.5)
            ax.axis("off")
        axes[row, 1].imshow(sal / max(sal.max(), 1e-12), cmap="inferno", alpha=0.6)
        axes[row, 0].set_title(f"{case.case_id} #{i}", fontsize=8)
        axes[row, 1].set_title(f"saliency ({100 * shares[row]:.0f}% within {radius_mm:g} mm)", fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "saliency.png", dpi=80)
    plt.close(fig)
    result = {"case": str(case_path), "model": meta["name"], "images": indices, "radius_mm": radius_mm,
              "share_within_radius": shares, "mean_share_within_radius": float(np.nanmean(shares))}
    (out_dir / "saliency.json").write_text(json.dumps(result, indent=2) + "\n")
    np.savez_compressed(out_dir / "saliency_maps.npz", saliency=saliency.astype(np.float32), images=batch_arr[:, 0])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inline-ai saliency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", type=Path, help="landmark .npz case")
    parser.add_argument("--model", required=True, help="model name / card path (needs NAME.pt) or a .ckpt checkpoint")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--images", type=int, nargs="+", help="image indices (default: evenly spaced)")
    parser.add_argument("--count", type=int, default=4, help="how many evenly spaced images (default 4)")
    parser.add_argument("--radius-mm", type=float, default=20.0, help="radius for the 'local share' measure")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("inline-ai saliency needs torch: pip install 'inline-ai[train]'", file=sys.stderr)
        return 2
    from inline_ai.runtime import ModelError

    try:
        result = run(args.case, args.model, args.out, args.images, args.count, args.radius_mm)
    except (FileNotFoundError, ValueError, ModelError) as error:
        print(f"inline-ai saliency: {error}", file=sys.stderr)
        return 2
    share = 100 * result["mean_share_within_radius"]
    print(f"saliency of {result['model']} on {len(result['images'])} images: mean {share:.0f}% within "
          f"{args.radius_mm:g} mm of the landmarks -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
