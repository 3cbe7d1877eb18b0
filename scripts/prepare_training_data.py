"""Prepare (and cache) the data sources of training configs: resampled real data and phantom cases.

Run before a training session so that every trainer finds its ``prepared:`` cache ready, e.g.
``python scripts/prepare_training_data.py config/training/lax_cine.yaml --workers 12``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

# one BLAS / OpenMP thread per worker process (set before numpy loads): the workers already use
# every core, and nested threads made phantom data 1.6x slower on 2 cores and stalled a 16-core run
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

from inline_ai.training.cli import _parse_overrides  # noqa: E402
from inline_ai.training.config import load_config  # noqa: E402
from inline_ai.training.trainer import load_sources  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--workers", type=int, help="processes for phantom cases (default: all cores)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key of every config (YAML value)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    for path in args.configs:
        start = time.monotonic()
        sets = load_sources(load_config(path, _parse_overrides(args.overrides)), workers=args.workers)
        logging.info("%s: %s images prepared in %.1f s", path, [len(s) for s in sets], time.monotonic() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
