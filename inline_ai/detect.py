"""``inline-ai detect``: landmarks of a landmark ``.npz`` case or an ISMRMRD ``.h5`` image file, as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from inline_ai.context import Context, case_contexts
from inline_ai.display import CASE_DISPLAYS, case_mirrored, display_summary, headers_mirrored

DEFAULT_MODELS = {"sax": "sax_cine", "lax": "lax_cine"}


ImageGroup = tuple[str, list[np.ndarray], np.ndarray, str | None, list[Context], list[bool | None]]


def _image_groups(path: Path, display: str = "auto") -> list[ImageGroup]:
    """``(group name, images, spacings [N, 2], view or None, neighbouring slices, mirrored display flags)`` for each
    series in the file (the flags from the images' directions, or ``display`` for a case without them)."""
    if path.suffix == ".npz":
        from inline_ai.dataset import load_case

        case = load_case(path)
        spacing = np.broadcast_to(np.asarray(case.pixel_spacing, float), (case.image.shape[0], 2))
        return [(case.case_id, list(case.image), spacing, case.view,
                 case_contexts(case.image, case.phase, case.slice_index), case_mirrored(case, display))]
    if path.suffix in (".h5", ".mrd", ".hdf5"):
        from inline_ai.geometry import spacing_from_image
        from inline_ai.mrd_files import pixel_array, read_images
        from inline_ai.pipeline import image_contexts

        _, groups = read_images(path)
        if not groups:
            raise ValueError(f"{path}: no image groups")
        return [(name, [np.asarray(pixel_array(i)) for i in images],
                 np.array([spacing_from_image(i) for i in images]), None, image_contexts(images),
                 headers_mirrored(images))
                for name, images in groups.items() if images]
    raise ValueError(f"{path}: expected a landmark .npz case or an ISMRMRD .h5 file")


def detect_file(path: Path, model: str | None, threshold: float | None = None, threads: int = 2,
                display: str = "auto") -> dict[str, Any]:
    """Detections of every image in ``path`` (JSON-ready); ``display``: how a case without image directions is
    shown (``inline_ai.display.case_mirrored``)."""
    from inline_ai.detector import LandmarkDetector
    from inline_ai.landmarks import view_family

    series = []
    for name, images, spacings, view, context, mirrored in _image_groups(path, display):
        chosen = model or (DEFAULT_MODELS[view_family(view)] if view else None)
        if chosen is None:
            raise ValueError(f"{path}: cannot tell the view of group {name!r}; give --model")
        detector = LandmarkDetector(chosen, threads=threads)
        found = detector.detect(images, spacings, threshold=threshold, context=context, mirrored=mirrored)
        entries = []
        for n in range(len(images)):
            landmarks = {}
            for k, landmark in enumerate(found.names):
                row, col = found.points[n, k]
                present = bool(np.isfinite(row))
                landmarks[landmark] = {"present": present, "row": float(row) if present else None,
                                       "col": float(col) if present else None,
                                       "confidence": float(found.confidence[n, k])}
            entries.append({"index": n, "pixel_spacing": [float(v) for v in spacings[n]], "landmarks": landmarks})
        entry = {"group": name, "view": view, "model": detector.model.card.name,
                 "model_sha256": detector.model.card.sha256, "images": entries,
                 "timings_s": {k: float(v) for k, v in found.timings.items()}}
        if detector.model.card.display == "standard":
            entry.update(display_summary(mirrored, found.anatomy_mirrored))
        series.append(entry)
    return {"input": str(path), "series": series}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inline-ai detect", description=__doc__)
    parser.add_argument("input", type=Path, help="landmark .npz case or ISMRMRD .h5 image file")
    parser.add_argument("--model", help="model name in models/ or card path (default: by the case's view)")
    parser.add_argument("--json", type=Path, required=True, help="write detections here")
    parser.add_argument("--threshold", type=float, help="override the card's presence thresholds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--display", choices=CASE_DISPLAYS, default="auto",
                        help="how a .npz case without read_dir / phase_dir is shown (SAX): auto (default: the model's "
                             "reading of the anatomy decides), the standard view from the apex, or its mirror image; "
                             "used by a model of the standard display only")
    args = parser.parse_args(argv)
    from inline_ai.runtime import ModelError

    try:
        result = detect_file(args.input, args.model, args.threshold, args.threads, args.display)
    except (FileNotFoundError, ValueError, ModelError) as error:
        print(f"inline-ai detect: {error}", file=sys.stderr)
        return 2
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    images = sum(len(s["images"]) for s in result["series"])
    print(f"{images} images in {len(result['series'])} series -> {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
