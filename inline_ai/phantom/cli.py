"""``inline-ai phantom``: synthetic cardiac MR series with exact landmarks (npz and/or ISMRMRD)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inline_ai.landmarks import SEQUENCES, VIEWS
from inline_ai.phantom.anatomy import VARIANTS
from inline_ai.phantom.generate import generate_case
from inline_ai.phantom.writer import write_mrd, write_npz


def _phases(text: str) -> int | str:
    if text == "ed_es":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--phases must be a positive integer or 'ed_es', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--phases must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inline-ai phantom",
        description="Make synthetic cardiac MR series (SAX stacks or 2CH/3CH/4CH) with exact landmarks.")
    parser.add_argument("--view", choices=VIEWS, default="ch4")
    parser.add_argument("--sequence", choices=SEQUENCES, default="cine")
    parser.add_argument("--subjects", type=int, default=1, help="number of subjects (seeds seed..seed+N-1)")
    parser.add_argument("--phases", type=_phases, default=None,
                        help="cardiac phases over the R-R interval, or 'ed_es' (default: 25 for cine, else 1)")
    parser.add_argument("--seed", type=int, default=0, help="first subject seed")
    parser.add_argument("--image-seed", type=int, default=0, help="planning / contrast / noise seed")
    parser.add_argument("--variant", choices=VARIANTS, default=None, help="force a heart variant")
    parser.add_argument("--field-strength", type=float, choices=(1.5, 3.0), default=None)
    parser.add_argument("--format", choices=("npz", "h5", "both"), default=None,
                        help="for a directory --out: what to write (default npz)")
    parser.add_argument("--out", help="output directory, or FILE.h5 for ISMRMRD")
    parser.add_argument("--bench", action="store_true", help="print rendering speed (images/s) and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.bench:
        from inline_ai.phantom.bench import run_bench

        run_bench()
        return 0
    if not args.out:
        print("inline-ai phantom: --out DIR or --out FILE.h5 is required", file=sys.stderr)
        return 2
    if args.subjects < 1:
        print("inline-ai phantom: --subjects must be >= 1", file=sys.stderr)
        return 2
    phases = args.phases if args.phases is not None else (25 if args.sequence == "cine" else 1)
    out = Path(args.out)
    single_file = out.suffix.lower() in (".h5", ".mrd")
    fmt = "h5" if single_file else (args.format or "npz")
    for k in range(args.subjects):
        seed = args.seed + k
        case = generate_case(args.view, args.sequence, seed, phases, image_seed=args.image_seed,
                             variant=args.variant, field_strength_t=args.field_strength)
        if single_file:
            target = out if args.subjects == 1 else out.with_name(f"{out.stem}_{seed:05d}{out.suffix}")
            written = [write_mrd(target, case)]
        else:
            written = []
            if fmt in ("npz", "both"):
                written.append(write_npz(out / f"{case.case_id}.npz", case))
            if fmt in ("h5", "both"):
                written.append(write_mrd(out / f"{case.case_id}.h5", case))
        for path in written:
            print(f"{path}  ({case.image.shape[0]} images {case.image.shape[1]}x{case.image.shape[2]}, "
                  f"{case.extra['variant']}, {case.extra['series_description']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
