"""``inline-ai demo``: replay the bundled 4CH cine sample with the ``lax_cine`` model.

Prints the LV length per phase and the longitudinal shortening, and leaves every replay output
(out.h5, landmarks.json, metrics.csv, figures) in ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from inline_ai.paths import PACKAGE_DIR

from . import replay

SAMPLE = PACKAGE_DIR / "phantom" / "samples" / "ch4_cine_demo.h5"
MODEL = "lax_cine"


def check_ready(sample: Path, model: str) -> str | None:
    """Why the demo cannot run yet (missing sample or model), or None."""
    if not sample.is_file():
        return (f"the demo sample {sample} is not there yet; make it with the phantom tool "
                f"(inline-ai phantom) or pass --sample FILE.h5")
    try:
        from inline_ai.runtime import resolve_model

        resolve_model(model)
    except Exception as error:  # ModelError with the reason (not found, no card, ...)
        return f"model {model!r} is not available: {error} (train it or set INLINE_AI_MODELS)"
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="inline-ai demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="output folder (default: a new temporary folder)")
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="ISMRMRD image file to replay")
    parser.add_argument("--model", default=MODEL, help="model name or path (default lax_cine)")
    args = parser.parse_args(argv)
    problem = check_ready(args.sample, args.model)
    if problem:
        print(f"inline-ai demo: {problem}", file=sys.stderr)
        return 2
    out = args.out or tempfile.mkdtemp(prefix="inline_ai_demo_")
    print(f"inline-ai demo: replaying {args.sample.name} with {args.model} -> {out}")
    return replay.main([str(args.sample), "--out", out, "--model", args.model])
