"""Write a patient split of ACDC that holds out the same number of patients from each diagnosis group.

ACDC numbers its 100 training patients in blocks of 20 by diagnosis (001-020 dilated cardiomyopathy,
021-040 hypertrophic cardiomyopathy, 041-060 previous myocardial infarction, 061-080 normal, 081-100
abnormal right ventricle; ``../shared/data`` holds 001-080). A validation set drawn from one block only
measures one kind of heart, so this draws ``--per-group`` patients from every block with a fixed seed.

    python scripts/acdc_group_split.py --out config/training/splits/acdc_sax_cine_by_group.json
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from inline_ai.dataset import list_cases
from inline_ai.training.data import write_split

GROUPS = {"dilated": range(1, 21), "hypertrophic": range(21, 41), "infarction": range(41, 61),
          "normal": range(61, 81), "abnormal_rv": range(81, 101)}


def patient_number(case_name: str) -> int:
    """``acdc_patient017_frame01`` -> 17."""
    match = re.search(r"patient(\d+)", case_name)
    if match is None:
        raise ValueError(f"{case_name!r} is not an ACDC case name")
    return int(match.group(1))


def group_split(numbers: set[int], per_group: int, seed: int) -> dict[str, list[str]]:
    """``{"train": [...], "val": [...]}`` patient ids, ``per_group`` validation patients per group present."""
    rng = np.random.default_rng(seed)
    val: list[int] = []
    for members in GROUPS.values():
        present = sorted(numbers & set(members))
        if present:
            val += sorted(rng.choice(present, size=min(per_group, len(present)), replace=False).tolist())
    name = "acdc_patient{:03d}".format
    return {"train": [name(n) for n in sorted(numbers - set(val))], "val": [name(n) for n in val]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/acdc_sax_cine"))
    parser.add_argument("--per-group", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    numbers = {patient_number(path.stem) for path in list_cases(args.data)}
    if not numbers:
        raise SystemExit(f"no ACDC cases in {args.data}")
    split = group_split(numbers, args.per_group, args.seed)
    write_split(args.out, split)
    print(f"{len(split['train'])} train / {len(split['val'])} val patients -> {args.out}: {', '.join(split['val'])}")


if __name__ == "__main__":
    main()
