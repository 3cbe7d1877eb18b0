"""``inline-ai evaluate`` with test-time flip averaging, to measure it without changing the runtime.

``python scripts/flip_average_eval.py lr DATASET --model sax_cine ...`` (any ``inline-ai evaluate``
arguments after the mode) averages the heat maps of each image and its mirror image (``lr``), or
of the image and its three flips (``lrud``); ``none`` is plain evaluation.
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
    if len(sys.argv) < 2 or sys.argv[1] not in FLIPS:
        raise SystemExit(f"usage: {sys.argv[0]} {{{','.join(FLIPS)}}} DATASET --model MODEL [evaluate options]")
    flips = FLIPS[sys.argv[1]]
    plain_predict = runtime.LandmarkModel.predict

    def averaged_predict(self: runtime.LandmarkModel, batch: np.ndarray) -> np.ndarray:
        maps = [plain_predict(self, np.ascontiguousarray(batch[flip]))[flip] for flip in flips]
        return np.mean(maps, axis=0)

    runtime.LandmarkModel.predict = averaged_predict
    return evaluate.main(sys.argv[2:])


if __name__ == "__main__":
    raise SystemExit(main())
