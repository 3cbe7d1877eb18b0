"""Check the shipped models: every card in the models folder is valid and its file matches its sha256.

Run as ``python -m inline_ai.model_check [--models DIR] [--load] [--quiet]``; the container runs it
before Gadgetron starts and as its health check. Exit status 0 when every model is good, 1 when any
card is invalid, a model file is missing or changed, or (``--load``) a model fails a dry run, and 2
when the folder holds no model at all.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inline_ai.paths import models_dir
from inline_ai.runtime import LandmarkModel, ModelCard, ModelError, refinement_chain


@dataclass(frozen=True)
class ModelStatus:
    """The result of checking one card."""

    card: Path
    ok: bool
    message: str


def check_card(card_path: Path, *, load: bool = False) -> ModelStatus:
    """Validate one card and its model file's sha256; with ``load``, also run the model once on zeros."""
    try:
        card = ModelCard.from_json(card_path)
        model_path = card.verified_model_path()
        detail = f"{card.format} {model_path.name} sha256 {card.sha256[:16]}... ok"
        if card.float_file:  # a quantised card: its float model (run on a GPU) must be there too
            detail += f", float {card.verified_model_path(float_model=True).name} ok"
        refiners = [ModelCard.from_json(path) for path in refinement_chain(card)]
        for refiner in refiners:
            refiner.verified_model_path()
        if refiners:
            detail += f", refined by {' + '.join(refiner.name for refiner in refiners)}"
        if load:
            detail += f", dry run ok on {_dry_run(card)}"
    except ModelError as error:
        return ModelStatus(card_path, False, " ".join(str(error).split()))
    return ModelStatus(card_path, True, detail)


def _dry_run(card: ModelCard) -> str:
    """Load the model and run it once on zeros; return its execution providers."""
    try:
        model = LandmarkModel(card)
        probabilities = model.predict(np.zeros((1, card.input_channels, *card.input_size), dtype=np.float32))
    except ModelError:
        raise
    except Exception as error:  # a missing runtime (ImportError) or a runtime failure
        raise ModelError(f"{card.file}: dry run failed: {type(error).__name__}: {error}") from error
    if not np.all(np.isfinite(probabilities)):
        raise ModelError(f"{card.file}: dry run produced non-finite outputs")
    return ", ".join(model.providers)


def check_models(folder: Path, *, load: bool = False) -> list[ModelStatus]:
    """Check every ``*.json`` card in ``folder`` (sorted by name)."""
    return [check_card(card, load=load) for card in sorted(folder.glob("*.json"))]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; prints one line per model."""
    parser = argparse.ArgumentParser(prog="python -m inline_ai.model_check", description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=None,
                        help="models folder (default: $INLINE_AI_MODELS or models/ beside the package)")
    parser.add_argument("--load", action="store_true", help="also load each model and run it once on zeros")
    parser.add_argument("--quiet", action="store_true", help="print only problems")
    args = parser.parse_args(argv)

    folder = args.models or models_dir()
    if not folder.is_dir():
        print(f"model_check: models folder {folder} does not exist", file=sys.stderr)
        return 2
    statuses = check_models(folder, load=args.load)
    if not statuses:
        print(f"model_check: no model cards (*.json) in {folder}", file=sys.stderr)
        return 2
    for status in statuses:
        if not status.ok:
            print(f"FAIL {status.card.name}: {status.message}", file=sys.stderr)
        elif not args.quiet:
            print(f"OK   {status.card.name}: {status.message}")
    return 0 if all(status.ok for status in statuses) else 1


if __name__ == "__main__":
    raise SystemExit(main())
