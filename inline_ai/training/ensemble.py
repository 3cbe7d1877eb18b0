"""Several trained checkpoints of one recipe exported as one model that averages their probabilities.

Networks trained from different seeds disagree most on the hard calls (is an RV insertion in this basal
slice?); the mean of their softmax maps is steadier than any one of them. The ensemble is one ONNX graph
whose output is ``log(mean_k softmax(logits_k))``: a softmax of it gives the mean probabilities back
exactly, so the runtime treats it as any other ``logits`` model (heat maps or label masks alike).

``python -m inline_ai.training.ensemble runs/a/checkpoint_best.pt runs/b/checkpoint_best.pt --out models
--name sax_cine``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from inline_ai.training.export import export_network, model_from_checkpoint, sha256_of

# metadata the members must share: what the runtime reads off the card, what the points mean, and the
# data texts the card takes from the first member
SHARED_METADATA = ("view_family", "views", "sequence", "input_size", "pixel_size_mm", "channels",
                   "context_slices", "crop", "mask_rule", "sigma_mm", "threshold", "depth",
                   "trained_on", "validated_on")
PROBABILITY_FLOOR = 1e-12  # keeps log() finite where every member gives a class zero probability


class ProbabilityEnsemble(torch.nn.Module):
    """``log`` of the members' mean softmax probabilities (a logits tensor whose softmax is that mean)."""

    def __init__(self, members: list[torch.nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = torch.nn.ModuleList(members)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        mean = torch.stack([torch.softmax(member(image), dim=1) for member in self.members]).mean(dim=0)
        return torch.log(mean.clamp_min(PROBABILITY_FLOOR))


def load_members(checkpoints: list[str | Path]) -> tuple[ProbabilityEnsemble, list[dict[str, Any]]]:
    """The ensemble of these checkpoints and each one's metadata; a member that differs from the first in
    :data:`SHARED_METADATA` raises ``ValueError``."""
    members, metas = [], []
    for checkpoint in checkpoints:
        model, meta = model_from_checkpoint(checkpoint)
        members.append(model)
        metas.append(meta)
    for checkpoint, meta in zip(checkpoints[1:], metas[1:], strict=True):
        differs = [key for key in SHARED_METADATA if meta.get(key) != metas[0].get(key)]
        if differs:
            raise ValueError(f"{checkpoint} differs from {checkpoints[0]} in {differs}: not members of one ensemble")
    return ProbabilityEnsemble(members).eval(), metas


def export_ensemble(checkpoints: list[str | Path], out_dir: str | Path, name: str | None = None,
                    metrics: dict[str, Any] | None = None, training_command: str | None = None) -> Path:
    """Export the ensemble of ``checkpoints`` (ONNX + TorchScript + card); returns the card path."""
    model, metas = load_members(checkpoints)
    members = [{"checkpoint": str(checkpoint), "checkpoint_sha256": sha256_of(checkpoint),
                **({"seed": meta["seed"]} if meta.get("seed") is not None else {}),
                "base_channels": meta["base_channels"], "training_command": meta["training_command"],
                "parameters": sum(p.numel() for p in member.parameters())}
               for checkpoint, meta, member in zip(checkpoints, metas, model.members, strict=True)]
    widths = sorted({m["base_channels"] for m in members})
    extra: dict[str, Any] = {
        "ensemble": {"combine": "mean of softmax probabilities", "members": members},
        "architecture": {"type": f"ensemble of {len(members)} unet", "depth": metas[0]["depth"],
                         "base_channels": widths[0] if len(widths) == 1 else widths,
                         "parameters": sum(m["parameters"] for m in members)},
    }
    if training_command:
        extra["training_command"] = training_command
    return export_network(model, metas[0], out_dir, name, metrics, extra_card=extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inline_ai.training.ensemble", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint_best.pt of each member")
    parser.add_argument("--out", type=Path, required=True, help="folder for NAME.onnx / .pt / .json")
    parser.add_argument("--name", help="model name (default: the first member's)")
    parser.add_argument("--training-command", help="the card's training_command (default: the first member's)")
    args = parser.parse_args(argv)
    try:
        card = export_ensemble(args.checkpoints, args.out, args.name, training_command=args.training_command)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"ensemble: {error}", file=sys.stderr)
        return 2
    print(card)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
