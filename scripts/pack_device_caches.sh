#!/usr/bin/env bash
# Pack the ACDC caches that scripts/device_train_all.sh (TRAIN_GROUPS=group) trains from into
# .device/acdc_caches.tar.xz: the first stage's (2 mm) and the segmenting stage's (1 mm crops, masks)
# caches as uncompressed .npz in an xz tar (35 MB where the two compressed .npz files are 42 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
python scripts/prepare_training_data.py config/training/sax_cine.yaml config/training/sax_cine_refine_mask.yaml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python -c "import numpy as np, sys
for name in sys.argv[2:]:
    np.savez(f'{sys.argv[1]}/{name}', **dict(np.load(f'data_cache/device/{name}')))" "$tmp" \
  acdc_sax_cine_2mm_160.npz acdc_sax_cine_refine_mask_1mm_160.npz
mkdir -p .device
tar -C "$tmp" -cf - . | xz -9 -T2 > .device/acdc_caches.tar.xz
ls -l .device/acdc_caches.tar.xz
