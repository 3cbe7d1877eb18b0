"""Minibatch composition: sources mixed by weight, views stratified so every batch holds each view."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class GroupSampler:
    """Draw batches from index groups with fixed shares.

    Each batch gets ``floor(share * batch_size)`` images from every group (at least one from each
    group with a positive share when the batch is large enough), the remainder drawn by share. With
    the long-axis views as separate groups, every minibatch mixes 2CH, 3CH and 4CH.
    """

    def __init__(self, groups: Sequence[np.ndarray], weights: Sequence[float], seed: int = 0) -> None:
        kept = [(np.asarray(g), float(w)) for g, w in zip(groups, weights, strict=True) if len(g) and w > 0]
        if not kept:
            raise ValueError("no training images: every group is empty or has zero weight")
        self.groups = [g for g, _ in kept]
        total = sum(w for _, w in kept)
        self.shares = np.array([w / total for _, w in kept])
        self.rng = np.random.default_rng(seed)

    def counts(self, batch_size: int) -> np.ndarray:
        """How many images each group contributes to one batch."""
        counts = np.floor(self.shares * batch_size).astype(int)
        if batch_size >= len(self.groups):
            counts = np.maximum(counts, 1)
        while counts.sum() > batch_size:
            counts[np.argmax(counts)] -= 1
        remainder = batch_size - counts.sum()
        if remainder > 0:
            counts += self.rng.multinomial(remainder, self.shares)
        return counts

    def batch(self, batch_size: int) -> np.ndarray:
        """Indices of one batch (shuffled)."""
        parts = [self.rng.choice(group, size=count, replace=True)
                 for group, count in zip(self.groups, self.counts(batch_size), strict=True) if count]
        indices = np.concatenate(parts)
        self.rng.shuffle(indices)
        return indices
