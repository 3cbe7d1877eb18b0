#!/usr/bin/env bash
# One GPU session that trains every shipped model in parallel on one GPU (see docs/training.md).
#   real-data SAX models start at once (the ACDC cache data_cache/device/*.npz travels with the repo);
#   phantom data is made meanwhile on the CPU cores; then the phantom-trained models start.
# $OUT/results.tar.gz.part* (one archive cut into 15 MiB parts) hold the best checkpoints, the cards
# exported there, logs and splits (the ONNX / TorchScript files are re-exported from the checkpoints afterwards).
# SMOKE=1 runs the same steps with tiny settings on CPU (to test this script before the GPU run).
# TRAIN_GROUPS="real phantom" (default both): real = the ACDC-trained SAX models and the sigma study;
# phantom = phantom data + lax_cine, sax_sim2real (+ a strong-augmentation variant), sax_cine_mixed;
# real2 = sax_cine with a longer LR-plateau patience (12 epochs).
# context = sax_cine (neighbouring slices as input) with seeds 0 and 1 (the shipped one), and
#   sax_cine_single with seed 1 as the same-session baseline; sim2real4 = round-4 phantom data + sax_sim2real_r4 from scratch, also
#   twice as wide (base_channels 32) (SIM4_MIN minutes, after the data is made).
# sim2real5 = round-4 and round-5 phantom data (the same subjects; round 5 adds per-tissue contrast
#   jitter), made first with nothing else running, then four trainings of SIM5_MIN minutes: round 4 and
#   round 5 from scratch (paired), round 5 from the round-3 weights (runs/sim2real_r3/checkpoint_best.pt,
#   carried) and round 5 with neighbouring-slice context.
# group = the three sax_cine stages on the split with three patients per ACDC diagnosis group
#   (config/training/splits/acdc_sax_cine_by_group.json, in the configs since session 12; session 12 ran this
#   with the split and card texts still given as --set overrides), as scripts/train_sax_cine_chain.sh does on
#   the CPU, plus the first and the segmenting stage twice as wide (base_channels 32), GROUP_MIN minutes
#   each. The ACDC caches travel as .device/acdc_caches.tar.xz (uncompressed .npz in an xz tar: the
#   two compressed caches plus the tree are over the 64 MiB carry limit); the refine cache is the
#   segmenting stage's cache without its masks. Make the archive with scripts/pack_device_caches.sh.
# budget = ways to keep the ensemble's robustness within one 90-min CPU training (docs/training.md):
#   sax_cine seeds 0, 1, 2 with a moving average of the weights (ema_decay 0.999: one network, ~84 min on
#   the CPU), and seeds 0, 1, 2 at 38 epochs, cosine schedule, ema_decay 0.998 (three members in ~85 min;
#   half-width members were measured on the CPU in session 13), GROUP_MIN each; the ACDC caches as for group.
set -u
OUT=${OUT:-out/device}
WORK=${WORK:-runs/device}
DEVICE=${DEVICE:-cuda}
REAL_MIN=${REAL_MIN:-6.5}       # wall-clock limit of the real-data trainings (minutes, checked after each epoch)
PHANTOM_MIN=${PHANTOM_MIN:-5.5} # ... of the phantom-trained ones (they start after the phantom data is made)
SIM4_MIN=${SIM4_MIN:-5.5}       # ... of sax_sim2real_r4
SIM5_MIN=${SIM5_MIN:-5.5}       # ... of the sim2real5 group
GROUP_MIN=${GROUP_MIN:-6.5}     # ... of the group-split trainings
PREP_S=${PREP_S:-150}           # limit of the sim2real5 data preparation (trainers make what is missing)
HARD_S=${HARD_S:-500}           # every training is interrupted (SIGINT) this many seconds after the start
WORKERS=${WORKERS:-12}
TRAIN_GROUPS=${TRAIN_GROUPS:-real phantom}
if [ -d .whl ]; then  # wheels carried for packages the GPU image lacks (ismrmrd for inline_ai.mrd_files)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$WORK/logs" "$WORK/models"
OUT=$(cd "$OUT" && pwd)
LOGS=$WORK/logs
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*" | tee -a "$LOGS/driver.log"; }

EXTRA=()
STRONG="rotation_deg: 30, scale_range: [0.8, 1.25], shift_px: 10, flip_lr_p: 0.5, flip_ud_p: 0.5, noise_p: 0.7, \
noise_fraction: [0.05, 0.4], blur_p: 0.7, shading_p: 0.7, shading_strength: [0.2, 0.9], gamma_p: 0.7, gamma_range: [0.5, 2.0]"
if [ "${SMOKE:-0}" = 1 ]; then
  EXTRA=(--set epochs=2 --set steps_per_epoch=2 --set base_channels=4)
  PHANTOM_SUBJECTS=(--set "sources=[{path: $WORK/ph_lax, prepared: $WORK/ph_lax.npz, kind: synthetic, phantom: {views: [ch2, ch3, ch4], subjects: 4, phases: 2}}]")
fi

{ nvidia-smi || true; python3 -c "import torch, onnx, onnxruntime, scipy, yaml, tqdm; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; nproc; } > "$LOGS/environment.txt" 2>&1
stamp "environment: $(tail -2 "$LOGS/environment.txt" | tr '\n' ' ')"

train() {  # NAME MINUTES CONFIG [extra args...]
  local name=$1 minutes=$2 config=$3; shift 3
  local left=$(( HARD_S - ($(date +%s) - start) ))
  stamp "start $name (limit $minutes min, hard stop in $left s)"
  timeout -s INT "$left" python3 -m inline_ai.training.cli "$config" --run-dir "$WORK/$name" \
    --export-dir "$WORK/models" --device "$DEVICE" --max-minutes "$minutes" --quiet --threads 2 \
    --set "name=$name" "${EXTRA[@]}" "$@" > "$LOGS/$name.log" 2>&1
  stamp "end $name (exit $?)"
}

# 1) real-data SAX models and the heat-map sigma study (same recipe, sigma 2 / 4 / 6 mm)
if [[ " $TRAIN_GROUPS " == *" real "* ]]; then
train sax_cine "$REAL_MIN" config/training/sax_cine.yaml &
train sax_sigma2mm "$REAL_MIN" config/training/sax_cine_single.yaml --set sigma_mm=2.0 &
train sax_sigma6mm "$REAL_MIN" config/training/sax_cine_single.yaml --set sigma_mm=6.0 &
train sax_cine_noflip "$REAL_MIN" config/training/sax_cine_single.yaml \
  --set "augment={rotation_deg: 20, scale_range: [0.9, 1.1], shift_px: 8, flip_lr_p: 0.0, flip_ud_p: 0.0}" &
fi

if [[ " $TRAIN_GROUPS " == *" group "* || " $TRAIN_GROUPS " == *" budget "* ]]; then
  if [ -f .device/acdc_caches.tar.xz ] && [ ! -f data_cache/device/acdc_sax_cine_2mm_160.npz ]; then
    mkdir -p data_cache/device && tar -xJf .device/acdc_caches.tar.xz -C data_cache/device
    python3 -c "import numpy as np, sys; d = dict(np.load(sys.argv[1])); d.pop('masks'); np.savez(sys.argv[2], **d)" \
      data_cache/device/acdc_sax_cine_refine_mask_1mm_160.npz data_cache/device/acdc_sax_cine_refine_1mm_160.npz
    stamp "ACDC caches unpacked: $(ls data_cache/device | tr '\n' ' ')"
  fi
fi
if [[ " $TRAIN_GROUPS " == *" group "* ]]; then
  train group_sax "$GROUP_MIN" config/training/sax_cine.yaml &
  train group_sax_refine "$GROUP_MIN" config/training/sax_cine_refine.yaml &
  train group_sax_mask "$GROUP_MIN" config/training/sax_cine_refine_mask.yaml &
  train group_sax_w32 "$GROUP_MIN" config/training/sax_cine.yaml --set base_channels=32 &
  train group_sax_mask_w32 "$GROUP_MIN" config/training/sax_cine_refine_mask.yaml --set base_channels=32 &
fi
if [[ " $TRAIN_GROUPS " == *" budget "* ]]; then
  for seed in 0 1 2; do
    train "sax_ema_s$seed" "$GROUP_MIN" config/training/sax_cine.yaml --set "seed=$seed" --set ema_decay=0.999 &
    train "sax_cos38ema_s$seed" "$GROUP_MIN" config/training/sax_cine.yaml --set "seed=$seed" --set epochs=38 \
      --set lr_schedule=cosine --set ema_decay=0.998 &
  done
fi

if [[ " $TRAIN_GROUPS " == *" real2 "* ]]; then
train sax_cine_p12 "$REAL_MIN" config/training/sax_cine_single.yaml --set plateau_patience=12 &
fi

if [[ " $TRAIN_GROUPS " == *" context "* ]]; then
train sax_cine_ctx "$REAL_MIN" config/training/sax_cine.yaml --set seed=0 &
train sax_cine_ctx_s1 "$REAL_MIN" config/training/sax_cine.yaml &
train sax_cine_s1 "$REAL_MIN" config/training/sax_cine_single.yaml --set seed=1 &
fi

if [[ " $TRAIN_GROUPS " == *" sim2real4 "* ]]; then
  if [ "${SMOKE:-0}" = 1 ]; then
    SIM4=(--set "sources=[{path: $WORK/ph_sax4, prepared: $WORK/ph_sax4.npz, kind: synthetic, phantom: {views: [sax], subjects: 3, phases: ed_es, first_seed: 300000}}]")
  else
    SIM4=()
  fi
  stamp "round-4 phantom data"
  timeout 240 python3 scripts/prepare_training_data.py config/training/sax_sim2real_r4.yaml --workers "$WORKERS" \
    "${SIM4[@]}" > "$LOGS/prepare_r4.log" 2>&1
  stamp "round-4 phantom data done (exit $?)"
  train sax_sim2real_r4 "$SIM4_MIN" config/training/sax_sim2real_r4.yaml "${SIM4[@]}" &
  train sax_sim2real_r4_wide "$SIM4_MIN" config/training/sax_sim2real_r4.yaml "${SIM4[@]}" --set base_channels=32 &
fi

if [[ " $TRAIN_GROUPS " == *" sim2real5 "* ]]; then
  if [ "${SMOKE:-0}" = 1 ]; then
    R4=(--set "sources=[{path: $WORK/ph_r4, prepared: $WORK/ph_r4.npz, kind: synthetic, phantom: {views: [sax], subjects: 3, phases: ed_es, first_seed: 300000}}]")
    R5=(--set "sources=[{path: $WORK/ph_r5, prepared: $WORK/ph_r5.npz, kind: synthetic, phantom: {views: [sax], subjects: 3, phases: ed_es, first_seed: 300000, options: {contrast_jitter: 0.6}}}]")
  else
    R4=(); R5=()
  fi
  WARM=(--set init_from=runs/sim2real_r3/checkpoint_best.pt --set lr=5.0e-4)
  [ "${SMOKE:-0}" = 1 ] && WARM+=(--set base_channels=16)  # the carried checkpoint's width
  [ -f runs/sim2real_r3/checkpoint_best.pt ] || stamp "WARNING: runs/sim2real_r3/checkpoint_best.pt not carried"
  stamp "round-4 and round-5 phantom data"
  half=$(( WORKERS / 2 > 0 ? WORKERS / 2 : 1 ))
  # one BLAS / OpenMP thread per worker: session 5's run (no limit, 16 workers on 16 cores) made too
  # little of the data in 170 s, and the four trainers then each made the rest and never trained
  (export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
   timeout "$PREP_S" python3 scripts/prepare_training_data.py config/training/sax_sim2real_r4.yaml --workers "$half" \
     "${R4[@]}" > "$LOGS/prepare_r4.log" 2>&1 &
   timeout "$PREP_S" python3 scripts/prepare_training_data.py config/training/sax_sim2real_r5.yaml --workers "$half" \
     "${R5[@]}" > "$LOGS/prepare_r5.log" 2>&1 &
   wait)
  stamp "round-4 and round-5 phantom data done: $(ls data_cache/cpu/phantom_sax_cine_r[45]_*.npz "$WORK"/ph_r[45].npz 2>/dev/null | wc -l) of 2 prepared sets"
  # a trainer whose prepared set is missing is not started (it would spend its time making data)
  if [ -f data_cache/cpu/phantom_sax_cine_r4_s400_2mm_160.npz ] || [ -f "$WORK/ph_r4.npz" ]; then
    train sax_sim2real_r4g "$SIM5_MIN" config/training/sax_sim2real_r4.yaml "${R4[@]}" &
  fi
  if [ -f data_cache/cpu/phantom_sax_cine_r5_s400_2mm_160.npz ] || [ -f "$WORK/ph_r5.npz" ]; then
    train sax_sim2real_r5 "$SIM5_MIN" config/training/sax_sim2real_r5.yaml "${R5[@]}" &
    train sax_sim2real_r5_warm "$SIM5_MIN" config/training/sax_sim2real_r5.yaml "${R5[@]}" "${WARM[@]}" &
    train sax_sim2real_r5_ctx "$SIM5_MIN" config/training/sax_sim2real_r5.yaml "${R5[@]}" --set context_slices=1 &
  fi
fi

# 2) phantom data on the CPU cores (cached as compact prepared sets)
if [[ " $TRAIN_GROUPS " == *" phantom "* ]]; then
stamp "phantom data"
if [ "${SMOKE:-0}" = 1 ]; then
  SIM=(--set "sources=[{path: $WORK/ph_sax, prepared: $WORK/ph_sax.npz, kind: synthetic, phantom: {views: [sax], subjects: 3, phases: 1, first_seed: 100000}}]")
  MIX=(--set "sources=[{path: ../shared/data/acdc_sax_cine, prepared: data_cache/device/acdc_sax_cine_2mm_160.npz, kind: real, weight: 0.7}, {path: $WORK/ph_sax, prepared: $WORK/ph_sax.npz, kind: synthetic, weight: 0.3, use_for_validation: false, phantom: {views: [sax], subjects: 3, phases: 1, first_seed: 100000}}]")
  LAX=("${PHANTOM_SUBJECTS[@]}")
else
  SIM=(); MIX=(); LAX=()
fi
timeout 150 python3 scripts/prepare_training_data.py config/training/lax_cine.yaml --workers "$WORKERS" "${LAX[@]}" \
  > "$LOGS/prepare.log" 2>&1
timeout 150 python3 scripts/prepare_training_data.py config/training/sax_sim2real.yaml --workers "$WORKERS" "${SIM[@]}" \
  >> "$LOGS/prepare.log" 2>&1
stamp "phantom data done (exit $?)"

# 3) phantom-trained models
train lax_cine "$PHANTOM_MIN" config/training/lax_cine.yaml "${LAX[@]}" &
train sax_sim2real "$PHANTOM_MIN" config/training/sax_sim2real.yaml "${SIM[@]}" &
train sax_sim2real_strongaug "$PHANTOM_MIN" config/training/sax_sim2real.yaml "${SIM[@]}" --set "augment={$STRONG}" &
train sax_cine_mixed "$PHANTOM_MIN" config/training/sax_cine_mixed.yaml "${MIX[@]}" &
fi
wait
stamp "all trainings finished"

# 4) pack: best checkpoints, cards, logs (environment, driver, each training's log, per-epoch log and split)
# in one archive, cut into 15 MiB parts (files back are <= 16 MiB each, 8 at most; a base-32 checkpoint alone
# is 8 MB): `cat results.tar.gz.part* | tar xz`. ONNX / TorchScript files are re-exported here from the checkpoints.
for run in "$WORK"/*/; do
  name=$(basename "$run")
  [ -f "$run/checkpoint_best.pt" ] && cp "$run/checkpoint_best.pt" "$WORK/models/$name.ckpt"
  [ -f "$run/log.jsonl" ] && cp "$run/log.jsonl" "$LOGS/$name.jsonl"
  [ -f "$run/split.json" ] && cp "$run/split.json" "$LOGS/$name.split.json"
done
(cd "$WORK" && tar czf - $(ls models/*.ckpt models/*.json 2>/dev/null) logs) | split -b 15m -d - "$OUT/results.tar.gz.part"
cp "$LOGS/driver.log" "$OUT/driver.log"
stamp "packed: $(cd "$OUT" && du -ch -- results.tar.gz.part* | tail -1 | cut -f1) in $(ls "$OUT"/results.tar.gz.part* | wc -l) part(s)"
