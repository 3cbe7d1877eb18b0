#!/usr/bin/env bash
# Reproduce the shipped short-axis chain from its configs (which hold the all-group split):
# sax_cine = the mean of three runs of config/training/sax_cine_standard.yaml (seeds 12, 13, 14, final weights;
# inline_ai.training.ensemble; since session 24, before: sax_cine.yaml seeds 0-2, best checkpoints),
# then sax_cine_refine_mask (the second look that segments); exported into EXPORT (default runs/sax_chain/models)
# with the cards linked as shipped (refine_with, combine). About 2 h 15 min on 2 CPU cores (27 + 27 + 27 + 54 min);
# then python -m inline_ai.training.quantize for the int8 first stage;
# DEVICE=cuda on a GPU. STAGES picks stages (default "s12 s13 s14 mask ensemble"); RESUME=1 resumes;
# TRAIN_ARGS adds arguments to every training (a smoke test: TRAIN_ARGS="--set epochs=1 --set steps_per_epoch=2").
# (Until session 13 a heat-map second look, config/training/sax_cine_refine.yaml, ran between the two: stage
# "refine" still trains it, but no shipped card names it; docs/training.md, "session 13".)
#   bash scripts/train_sax_cine_chain.sh && inline-ai evaluate ../shared/data/acdc_sax_cine \
#     --model runs/sax_chain/models/sax_cine.json --split val --split-file config/training/splits/acdc_sax_cine_by_group.json --json out/chain.json
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/sax_chain}
EXPORT=${EXPORT:-$RUNS/models}
DEVICE=${DEVICE:-cpu}
mkdir -p "$RUNS" "$EXPORT"
train() {  # RUN CONFIG [extra args...]
  local run=$1 config=$2; shift 2
  mkdir -p "$RUNS/$run"
  inline-ai train "config/training/$config.yaml" --device "$DEVICE" --threads 2 --run-dir "$RUNS/$run" --quiet \
    ${RESUME:+--resume} ${TRAIN_ARGS:-} "$@" >> "$RUNS/$run/train.log" 2>&1
}
for stage in ${STAGES:-s12 s13 s14 mask ensemble}; do
  case $stage in
    s12|s13|s14) train "sax_cine_$stage" sax_cine_standard --set "seed=${stage#s}" --no-export ;;
    refine) train sax_cine_refine sax_cine_refine --export-dir "$EXPORT" ;;
    mask) train sax_cine_refine_mask sax_cine_refine_mask --export-dir "$EXPORT" ;;
    ensemble)
      python -m inline_ai.training.ensemble "$RUNS"/sax_cine_s{12,13,14}/checkpoint_last.pt --out "$EXPORT" --name sax_cine
      python - "$EXPORT" <<'PY'
import json, sys
from pathlib import Path
links = {"sax_cine.json": ("refine_with", "sax_cine_refine_mask.json"),
         "sax_cine_refine_mask.json": ("combine", "average")}
for name, (key, value) in links.items():
    path = Path(sys.argv[1]) / name
    if path.is_file():
        card = json.loads(path.read_text())
        card[key] = value
        path.write_text(json.dumps(card, indent=2) + "\n")
PY
      ;;
    *) echo "unknown stage $stage (s12 s13 s14 refine mask ensemble)" >&2; exit 2 ;;
  esac
done
