#!/usr/bin/env bash
# Train (or, with RESUME=1, resume) the three sax_cine stages on the split that holds out three ACDC
# patients per diagnosis group (config/training/splits/acdc_sax_cine_by_group.json), into runs/group_sax*.
# The configs are the shipped ones with only the validation patients and the cards' texts changed; once
# all three stages are trained and evaluated they replace the shipped models and the configs take the split.
#   STAGES="refine mask" RESUME=1 bash scripts/train_sax_group_split.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VAL="[$(python -c 'import json; print(", ".join(json.load(open("config/training/splits/acdc_sax_cine_by_group.json"))["val"]))')]"
VALIDATED='"real: ACDC patients 001, 004, 016 (dilated), 022, 028, 029 (hypertrophic), 055, 056, 060 (infarction), 064, 074, 077 (normal): 3 per diagnosis group, held out by patient (config/training/splits/acdc_sax_cine_by_group.json)"'
DATA="real: ACDC SAX bSSFP cine, ED and ES, 68 patients from all four diagnosis groups (1.5 T and 3 T, Dijon)"
declare -A CONFIG=([first]=sax_cine [refine]=sax_cine_refine [mask]=sax_cine_refine_mask)
declare -A RUN=([first]=runs/group_sax [refine]=runs/group_sax_refine [mask]=runs/group_sax_mask)
declare -A TRAINED=(
  [first]="\"$DATA, expert masks -> landmarks; input = slice + its two neighbouring slices\""
  [refine]="\"$DATA, expert masks -> landmarks; axis crops around the true points\""
  [mask]="\"$DATA, expert masks; axis crops around the true points\"")
for stage in ${STAGES:-first refine mask}; do
  run=${RUN[$stage]}
  mkdir -p "$run"
  /usr/bin/time -v inline-ai train "config/training/${CONFIG[$stage]}.yaml" --device cpu --threads 2 \
    --run-dir "$run" --export-dir "$run/export" --quiet ${RESUME:+--resume} \
    --set "val_patients=$VAL" --set "validated_on=$VALIDATED" --set "trained_on=${TRAINED[$stage]}" \
    >> "$run/train.log" 2>&1
done
