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
import json
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


def load_members(checkpoints: list[str | Path]) -> tuple[ProbabilityEnsemble, dict[str, Any]]:
    """The ensemble of these checkpoints and the first one's metadata; a member that differs in
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
    return ProbabilityEnsemble(members).eval(), metas[0]


def export_ensemble(checkpoints: list[str | Path], out_dir: str | Path, name: str | None = None,
                    metrics: dict[str, Any] | None = None, training_command: str | None = None) -> Path:
    """Export the ensemble of ``checkpoints`` (ONNX + TorchScript + card); returns the card path."""
    model, meta = load_members(checkpoints)
    members = []
    for checkpoint, member in zip(checkpoints, model.members, strict=True):
        member_meta = torch.load(checkpoint, map_location="cpu", weights_only=False)["metadata"]
        members.append({"checkpoint": str(checkpoint), "checkpoint_sha256": sha256_of(checkpoint),
                        **({"seed": member_meta["seed"]} if member_meta.get("seed") is not None else {}),
                        "base_channels": member_meta["base_channels"],
                        "training_command": member_meta["training_command"],
                        "parameters": sum(p.numel() for p in member.parameters())})
    extra = {"ensemble": {"combine": "mean of softmax probabilities", "members": members}}
    if training_command:
        extra["training_command"] = training_command
    card = export_network(model, meta, out_dir, name, metrics, extra_card=extra)
    data = json.loads(card.read_text())
    data["architecture"]["type"] = f"ensemble of {len(members)} unet"
    card.write_text(json.dumps(data, indent=2) + "\n")
    return card


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
