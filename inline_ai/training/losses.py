"""Loss for heat-map regression: KL divergence (target || softmax) plus soft Dice on landmark channels."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def kl_divergence(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """KL(target || softmax(logits)) summed over channels and pixels, averaged over the batch."""
    log_p = F.log_softmax(logits.float(), dim=1)
    log_t = torch.log(target.clamp_min(1e-12))
    return (target * (log_t - log_p)).sum(dim=(1, 2, 3)).mean()


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice over landmark channels (1..C-1), per image and channel, averaged.

    Dice uses squared terms in the denominator, ``2 sum(p t) / (sum p^2 + sum t^2)``, so it is
    exactly 1 when the prediction equals the soft (Gaussian) target. The smoothing term makes an
    absent landmark with an empty prediction score 1 (no loss), so a prediction where nothing is
    present costs loss.
    """
    probabilities = F.softmax(logits.float(), dim=1)[:, 1:]
    target = target[:, 1:]
    overlap = (probabilities * target).sum(dim=(2, 3))
    total = (probabilities**2).sum(dim=(2, 3)) + (target**2).sum(dim=(2, 3))
    dice = (2.0 * overlap + smooth) / (total + smooth)
    return 1.0 - dice.mean()


@dataclass
class HeatmapLoss:
    """``kl_weight * KL + dice_weight * (1 - soft Dice)``; returns the total and its parts."""

    kl_weight: float = 0.01
    dice_weight: float = 1.0

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        kl = kl_divergence(logits, target)
        dice = soft_dice_loss(logits, target)
        total = self.kl_weight * kl + self.dice_weight * dice
        return total, {"kl": float(kl.detach()), "dice": float(dice.detach())}
