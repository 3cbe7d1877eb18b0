"""``inline-ai evaluate`` with test-time flip averaging, to measure it without changing the runtime.

``python scripts/flip_average_eval.py lr DATASET --model sax_cine ...`` (any ``inline-ai evaluate``
arguments after the mode) averages the heat maps of each image and its mirror image (``lr``), or
of the image and its three flips (``lrud``); ``none`` is plain evaluation. A mode ending in
``-refiner`` (``lr-refiner``) averages only the refinement model's maps (the second look on the
axis crop; ``inline_ai.refine``), not the first model's; the runtime does ``lr-refiner`` itself for a
refinement card with ``mirror_average: true`` (session 22).
"""

from __future__ import annotations

import sys

import numpy as np

from inline_ai import evaluate, runtime

FLIPS = {
    "none": [(...,)],
    "lr": [(...,), (..., slice(None, None, -1))],
    "lrud": [(...,), (..., slice(None, None, -1)), (..., slice(None, None, -1), slice(None)),
             (..., slice(None, None, -1), slice(None, None, -1))],
}


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    refiner_only = mode.endswith("-refiner")
    mode = mode.removesuffix("-refiner")
    if mode not in FLIPS:
        raise SystemExit(f"usage: {sys.argv[0]} {{{','.join(FLIPS)}}}[-refiner] DATASET --model MODEL "
                         "[evaluate options]")
    flips = FLIPS[mode]
    plain_predict = runtime.LandmarkModel.predict

    def averaged_predict(self: runtime.LandmarkModel, batch: np.ndarray) -> np.ndarray:
        if refiner_only and not self.card.crop:
            return plain_predict(self, batch)
        maps = [plain_predict(self, np.ascontiguousarray(batch[flip]))[flip] for flip in flips]
        return np.mean(maps, axis=0)

    runtime.LandmarkModel.predict = averaged_predict
    return evaluate.main(sys.argv[2:])


if __name__ == "__main__":
    raise SystemExit(main())
