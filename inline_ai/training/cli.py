"""``inline-ai train CONFIG.yaml``: train a landmark model, then export ONNX + TorchScript + card."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import yaml

from inline_ai.paths import REPO_DIR, models_dir


def _parse_overrides(items: list[str]) -> dict:
    overrides = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        overrides[key] = yaml.safe_load(value)
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inline-ai train", description=__doc__)
    parser.add_argument("config", type=Path, help="training config (YAML), e.g. config/training/sax_cine.yaml")
    parser.add_argument("--run-dir", type=Path, help="checkpoints and logs (default runs/NAME)")
    parser.add_argument("--export-dir", type=Path, help="where NAME.onnx/.pt/.json go (default: models/)")
    parser.add_argument("--no-export", action="store_true", help="train only")
    parser.add_argument("--export-checkpoint", choices=("best", "last"), default="best",
                        help="export the best validation epoch (default) or the final weights (when the validation "
                             "images are also the evaluation's, choosing on them would flatter the model)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint_last.pt")
    parser.add_argument("--max-minutes", type=float, help="stop after the epoch that passes this wall time")
    parser.add_argument("--workers", type=int, help="processes for making phantom cases")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (YAML value), e.g. --set epochs=5")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    try:
        import torch
    except ImportError:
        print("inline-ai train needs torch: pip install 'inline-ai[train]'", file=sys.stderr)
        return 2
    from inline_ai.training.config import load_config
    from inline_ai.training.export import export_model
    from inline_ai.training.trainer import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        config = load_config(args.config, _parse_overrides(args.overrides))
        config.overrides = list(args.overrides)
    except (FileNotFoundError, ValueError) as error:
        print(f"inline-ai train: {error}", file=sys.stderr)
        return 2
    run_dir = args.run_dir or (REPO_DIR / "runs" / config.name)
    trainer = Trainer(config, run_dir, device=args.device, max_minutes=args.max_minutes, workers=args.workers,
                      progress=not args.quiet)
    metrics = trainer.train(resume=args.resume)
    if trainer.dist.is_main and not args.no_export:
        checkpoint = torch.load(Path(run_dir) / f"checkpoint_{args.export_checkpoint}.pt", map_location="cpu",
                                weights_only=False)
        if args.export_checkpoint == "last":  # the final epoch's validation, not the best one's
            metrics = (checkpoint.get("history") or [{}])[-1]
        card = export_model(checkpoint, args.export_dir or models_dir(), metrics={"training_validation": metrics},
                            extra_card={"exported_checkpoint": args.export_checkpoint})
        logging.info("exported %s", card)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
