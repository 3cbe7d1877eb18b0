"""Write a patient split of ACDC that holds out the same number of patients from each diagnosis group.

ACDC numbers its 100 training patients in blocks of 20 by diagnosis (001-020 dilated cardiomyopathy,
021-040 hypertrophic cardiomyopathy, 041-060 previous myocardial infarction, 061-080 normal, 081-100
abnormal right ventricle; ``../shared/data`` holds 001-080). A validation set drawn from one block only
measures one kind of heart, so this draws ``--per-group`` patients from every block with a fixed seed.

    python scripts/acdc_group_split.py --out config/training/splits/acdc_sax_cine_by_group.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from inline_ai.dataset import list_cases, load_case
from inline_ai.training.data import split_by_groups, write_split

GROUPS = {"dilated": range(1, 21), "hypertrophic": range(21, 41), "infarction": range(41, 61),
          "normal": range(61, 81), "abnormal_rv": range(81, 101)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/acdc_sax_cine"))
    parser.add_argument("--per-group", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    patients = {load_case(path).patient_id for path in list_cases(args.data)}
    if not patients:
        raise SystemExit(f"no ACDC cases in {args.data}")
    groups = [[f"acdc_patient{n:03d}" for n in members] for members in GROUPS.values()]
    split = split_by_groups(patients, groups, args.per_group, args.seed)
    write_split(args.out, split)
    print(f"{len(split['train'])} train / {len(split['val'])} val patients -> {args.out}: {', '.join(split['val'])}")


if __name__ == "__main__":
    main()
