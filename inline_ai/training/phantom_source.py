"""Phantom training data: make cases with ``inline_ai.phantom.generate_case`` in worker processes,
save them as a landmark dataset, and prepare them (resample to the model grid) in the same workers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from inline_ai.dataset import LandmarkCase, load_case, save_case

SPEC_KEYS = {"views", "sequence", "subjects", "first_seed", "phases", "options"}


def case_path(directory: Path, view: str, seed: int) -> Path:
    """File of one subject's view; the patient id (first two parts) is shared by the subject's views."""
    return directory / f"phantom_s{seed:05d}_{view}.npz"


def phantom_jobs(spec: dict[str, Any]) -> list[tuple[str, str, int, Any, dict[str, Any]]]:
    """``(view, sequence, seed, phases, options)`` for every subject and view of a spec.

    ``spec`` keys: ``views`` (list), ``sequence``, ``subjects``, ``first_seed`` (default 0), ``phases``
    (count or ``"ed_es"``, default 8), ``options`` (further ``generate_case`` keyword arguments).
    """
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ValueError(f"unknown phantom spec keys {sorted(unknown)}; known: {sorted(SPEC_KEYS)}")
    views = list(spec.get("views", ["sax"]))
    first, subjects = int(spec.get("first_seed", 0)), int(spec.get("subjects", 20))
    phases = spec.get("phases", 8)
    return [(view, str(spec.get("sequence", "cine")), seed, phases, dict(spec.get("options", {})))
            for seed in range(first, first + subjects) for view in views]


def make_case(job: tuple[str, str, int, Any, dict[str, Any]], directory: Path) -> LandmarkCase:
    """Load the job's case from ``directory`` or generate and save it there."""
    view, sequence, seed, phases, options = job
    path = case_path(directory, view, seed)
    if path.exists():
        return load_case(path)
    from inline_ai.phantom.generate import generate_case

    case = generate_case(view=view, sequence=sequence, subject_seed=seed, phases=phases, **options)
    case.case_id = path.stem
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")  # processes may make the same case at once
    save_case(tmp, case)
    os.replace(tmp, path)
    return case


def _generate_one(args: tuple) -> str:
    job, directory = args
    return str(case_path(Path(directory), job[0], job[2])) if make_case(job, Path(directory)) else ""


def _prepare_one(args: tuple):
    job, directory, names, pixel_size_mm, work_size, crop, with_masks, crop_incomplete = args
    from inline_ai.training.data import prepare_cases

    return prepare_cases([make_case(job, Path(directory))], names, pixel_size_mm, work_size, "synthetic", crop,
                         with_masks, crop_incomplete)


def _pool_map(function, items: list, workers: int | None) -> list:
    workers = workers or max(1, min(len(items), os.cpu_count() or 1))
    if workers == 1 or len(items) == 1:
        return [function(item) for item in items]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items, chunksize=max(1, len(items) // (8 * workers))))


def generate_phantom_dataset(directory: str | Path, spec: dict[str, Any], workers: int | None = None) -> list[Path]:
    """Write the spec's cases into ``directory`` (existing files are kept); returns their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return [Path(p) for p in _pool_map(_generate_one, [(job, str(directory)) for job in phantom_jobs(spec)], workers)]


def prepare_phantom(directory: str | Path, spec: dict[str, Any], landmark_names: Sequence[str], pixel_size_mm: float,
                    work_size: tuple[int, int], workers: int | None = None, crop: str = "", with_masks: bool = False,
                    crop_incomplete: bool = False):
    """Generate (or load) the spec's cases in ``directory`` and prepare them, in parallel workers
    (``crop``, ``with_masks`` and ``crop_incomplete`` as ``inline_ai.training.data.prepare_cases``; the
    phantom's label maps have the experts' four classes)."""
    from inline_ai.training.data import PreparedSet

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    items = [(job, str(directory), tuple(landmark_names), float(pixel_size_mm), tuple(work_size), crop, with_masks,
              crop_incomplete) for job in phantom_jobs(spec)]
    return PreparedSet.concatenate(_pool_map(_prepare_one, items, workers))
