"""Make (and cache) a phantom landmark dataset for training with ``inline_ai.phantom.generate_case``."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from inline_ai.dataset import save_case


def _case_path(directory: Path, view: str, seed: int) -> Path:
    # patient id = first two parts of the case id, so one subject's views share it (split by subject)
    return directory / f"phantom_s{seed:05d}_{view}.npz"


def _make_one(job: tuple[str, str, int, int, dict[str, Any], str]) -> str:
    view, sequence, seed, phases, options, directory = job
    from inline_ai.phantom import generate_case

    path = _case_path(Path(directory), view, seed)
    if not path.exists():
        case = generate_case(view=view, sequence=sequence, subject_seed=seed, phases=phases, **options)
        case.case_id = path.stem
        tmp = path.with_suffix(".tmp.npz")
        save_case(tmp, case)
        os.replace(tmp, path)
    return str(path)


def generate_phantom_dataset(directory: str | Path, spec: dict[str, Any], workers: int | None = None) -> list[Path]:
    """Write ``subjects x views`` phantom cases into ``directory`` (existing files are kept).

    ``spec`` keys: ``views`` (list), ``sequence``, ``subjects``, ``first_seed`` (default 0), ``phases``
    (default 8), ``options`` (further ``generate_case`` keyword arguments).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    unknown = set(spec) - {"views", "sequence", "subjects", "first_seed", "phases", "options"}
    if unknown:
        raise ValueError(f"unknown phantom spec keys {sorted(unknown)}")
    views = list(spec.get("views", ["sax"]))
    sequence = str(spec.get("sequence", "cine"))
    first = int(spec.get("first_seed", 0))
    subjects = int(spec.get("subjects", 20))
    phases = int(spec.get("phases", 8))
    options = dict(spec.get("options", {}))
    jobs = [(view, sequence, seed, phases, options, str(directory))
            for seed in range(first, first + subjects) for view in views]
    workers = workers or max(1, min(len(jobs), (os.cpu_count() or 1)))
    if workers == 1:
        return [Path(_make_one(job)) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [Path(p) for p in pool.map(_make_one, jobs, chunksize=1)]
