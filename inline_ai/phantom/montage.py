"""Montage PNGs of phantom images (with their landmarks) beside real images, for the docs.

``python -m inline_ai.phantom.montage --out docs/img`` writes ``phantom_<view>_<sequence>.png``
for every view and sequence; SAX cine and SAX LGE get a first row of real ACDC / MS-CMRSeg
images from the shared data folder when it is present.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from inline_ai.dataset import LandmarkCase, list_cases, load_case  # noqa: E402
from inline_ai.landmarks import SEQUENCES, VIEWS  # noqa: E402
from inline_ai.paths import shared_data_dir  # noqa: E402
from inline_ai.phantom.generate import generate_case  # noqa: E402

REAL_SETS = {("sax", "cine"): "acdc_sax_cine", ("sax", "lge"): "mscmr_sax_lge"}
COLOURS = ("#ff3b30", "#1e90ff", "#ffd60a")
COLUMNS = 4


def _show(ax, image: np.ndarray, points: np.ndarray, title: str, sequence: str) -> None:
    if sequence == "t1":
        ax.imshow(image, cmap="viridis", vmin=0, vmax=2000)
    else:
        ax.imshow(image, cmap="gray", vmin=float(np.percentile(image, 0.5)), vmax=float(np.percentile(image, 99.5)))
    for k, (row, col) in enumerate(points):
        if np.isfinite(row):
            ax.plot(col, row, "+", color=COLOURS[k % 3], ms=7, mew=1.5)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def _middle_with_landmarks(case: LandmarkCase, offset: int = 0) -> int:
    present = [n for n in range(case.image.shape[0]) if np.isfinite(case.landmarks[n]).all()]
    if not present:
        return case.image.shape[0] // 2
    return present[int(np.clip(len(present) // 2 + offset, 0, len(present) - 1))]


def _real_row(view: str, sequence: str) -> list[tuple[np.ndarray, np.ndarray, str]]:
    folder = shared_data_dir() / REAL_SETS.get((view, sequence), "")
    if (view, sequence) not in REAL_SETS or not folder.is_dir():
        return []
    files = list_cases(folder)
    picks = [files[int(k)] for k in np.linspace(0, len(files) - 1, COLUMNS)]
    row = []
    for path in picks:
        case = load_case(path)
        n = _middle_with_landmarks(case)
        row.append((case.image[n].astype(np.float32), case.landmarks[n], f"REAL {path.stem}"))
    return row


def _phantom_rows(view: str, sequence: str, seeds: list[int]) -> list[list[tuple[np.ndarray, np.ndarray, str]]]:
    first, second = [], []
    for seed in seeds:
        if view == "sax":
            case = generate_case(view, sequence, seed, "ed_es" if sequence == "cine" else 1)
            slices = int(case.slice_index.max()) + 1
            n = _middle_with_landmarks(case)
            label = f"phantom s{seed} {case.extra['variant']}"
            first.append((case.image[n], case.landmarks[n], f"{label} mid"))
            n2 = _middle_with_landmarks(case, offset=-2) if sequence != "cine" else n % slices + slices
            second.append((case.image[n2], case.landmarks[n2], f"{label} {'ES' if sequence == 'cine' else 'basal'}"))
        else:
            case = generate_case(view, sequence, seed, "ed_es" if sequence == "cine" else 1)
            label = f"phantom s{seed} {case.extra['variant']}"
            first.append((case.image[0], case.landmarks[0], f"{label} {case.phase[0] or 'diastole'}"))
            if sequence == "cine":
                second.append((case.image[1], case.landmarks[1], f"{label} ES"))
    return [first] + ([second] if second else [])


def make_montage(view: str, sequence: str, out_dir: str | Path, first_seed: int = 100) -> Path:
    """Write ``phantom_<view>_<sequence>.png``: real row (if any) then phantom rows."""
    seeds = list(range(first_seed, first_seed + COLUMNS * (1 if view == "sax" or sequence == "cine" else 2)))
    rows = []
    real = _real_row(view, sequence)
    if real:
        rows.append(real)
    phantom = _phantom_rows(view, sequence, seeds)
    if view != "sax" and sequence != "cine":  # single-frame long axis: two rows of subjects
        flat = phantom[0]
        phantom = [flat[:COLUMNS], flat[COLUMNS:]]
    rows += phantom
    fig, axes = plt.subplots(len(rows), COLUMNS, figsize=(3.0 * COLUMNS, 2.9 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(COLUMNS):
            if c < len(row):
                _show(axes[r, c], *row[c], sequence)
            else:
                axes[r, c].axis("off")
    fig.suptitle(f"{view.upper()} {sequence}: + landmarks (red/blue = anterior/inferior or mv pair, yellow = "
                 f"{'LV centre' if view == 'sax' else 'apex'})", fontsize=9)
    fig.tight_layout()
    out = Path(out_dir) / f"phantom_{view}_{sequence}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=50)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inline_ai.phantom.montage", description=__doc__)
    parser.add_argument("--out", default="docs/img")
    parser.add_argument("--views", nargs="+", default=list(VIEWS), choices=VIEWS)
    parser.add_argument("--sequences", nargs="+", default=list(SEQUENCES), choices=SEQUENCES)
    args = parser.parse_args(argv)
    for view in args.views:
        for sequence in args.sequences:
            path = make_montage(view, sequence, args.out)
            print(f"{path}  ({path.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
