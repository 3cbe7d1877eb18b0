"""Write the phantom cases of one split of a training run (e.g. the held-out subjects) as a dataset folder.

``python scripts/phantom_split_cases.py config/training/lax_cine.yaml runs/lax_cine/split.json --split val
--out data_cache/eval/lax_cine_val`` regenerates exactly the subjects the run held out (the phantom is
deterministic in its seeds), so ``inline-ai evaluate`` can score them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from inline_ai.training.config import load_config
from inline_ai.training.phantom_source import _pool_map, case_path, make_case, phantom_jobs


def _make(item: tuple) -> str:
    job, directory = item
    make_case(job, Path(directory))
    return str(case_path(Path(directory), job[0], job[2]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config", type=Path)
    parser.add_argument("split_file", type=Path)
    parser.add_argument("--split", default="val")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    wanted = set(json.loads(args.split_file.read_text())[args.split])
    config = load_config(args.config)
    args.out.mkdir(parents=True, exist_ok=True)
    items = []
    for source in config.sources:
        if source.phantom is None:
            continue
        for job in phantom_jobs(source.phantom):
            if f"phantom_s{job[2]:05d}" in wanted:
                items.append((job, str(args.out)))
    paths = _pool_map(_make, items, args.workers)
    print(f"{len(paths)} cases of split {args.split!r} in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
