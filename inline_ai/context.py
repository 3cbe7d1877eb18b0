"""Neighbouring-slice context for short-axis models.

A model whose card has ``context_slices: 1`` sees three input channels: the slice itself and its two
neighbours in the stack at the same cardiac phase (``[slice, neighbour, neighbour]``; zeros where a
neighbour does not exist, at the stack ends or for a lone image). Training swaps the two neighbours
at random, so the stack may run base-to-apex or apex-to-base.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

NO_NEIGHBOUR = -1
Context = tuple[np.ndarray | None, np.ndarray | None]


def input_channels(context_slices: int) -> int:
    """Network input channels: the image plus ``context_slices`` neighbours on each side."""
    return 1 + 2 * int(context_slices)


def neighbour_indices(stack_ids: Sequence[Hashable], positions: Sequence[float]) -> np.ndarray:
    """``[N, 2]`` indices of each image's previous and next image in its stack (``-1`` = none).

    Images with the same ``stack_ids`` entry form one stack (one phase of one series), ordered by
    ``positions`` (slice index, or the slice position along the stack normal). Images at the same
    position are not neighbours of each other.
    """
    count = len(stack_ids)
    if len(positions) != count:
        raise ValueError(f"{count} stack ids but {len(positions)} positions")
    table = np.full((count, 2), NO_NEIGHBOUR, dtype=np.int64)
    order: dict[Hashable, list[int]] = {}
    for index, stack in enumerate(stack_ids):
        order.setdefault(stack, []).append(index)
    values = np.asarray(positions, dtype=np.float64)
    for members in order.values():
        ranked = sorted(members, key=lambda i: values[i])
        for rank, index in enumerate(ranked):
            before = [i for i in ranked[:rank] if values[i] < values[index]]
            after = [i for i in ranked[rank + 1:] if values[i] > values[index]]
            table[index] = (before[-1] if before else NO_NEIGHBOUR, after[0] if after else NO_NEIGHBOUR)
    return table


def contexts_from_indices(images: Sequence[np.ndarray], table: np.ndarray) -> list[Context]:
    """Each image's neighbour arrays from a :func:`neighbour_indices` table."""
    table = np.asarray(table)
    if table.shape != (len(images), 2):
        raise ValueError(f"neighbour table must be [{len(images)}, 2], got {table.shape}")
    return [tuple(images[int(i)] if i >= 0 else None for i in row) for row in table]  # type: ignore[misc]


def case_neighbour_indices(count: int, phases: Sequence[str] | None, slice_index: Sequence[int] | None) -> np.ndarray:
    """:func:`neighbour_indices` of the ``count`` images of one landmark case (a stack, or ED and ES stacks
    of one subject): stacks by phase, ordered by slice index (by image order where either is missing)."""
    stacks = list(phases) if phases is not None else [""] * count
    positions = list(slice_index) if slice_index is not None else list(range(count))
    return neighbour_indices(stacks, positions)


def case_contexts(images: Sequence[np.ndarray], phases: Sequence[str] | None,
                  slice_index: Sequence[int] | None) -> list[Context]:
    """Neighbours of the images of one landmark case (a stack, or ED and ES stacks of one subject)."""
    return contexts_from_indices(images, case_neighbour_indices(len(images), phases, slice_index))
