#!/bin/bash
# Container entry point: activate Gadgetron's conda environment, check the shipped models
# (card, sha256 and one dry run each), then run Gadgetron with the given arguments.
# Set INLINE_AI_SKIP_MODEL_CHECK=1 to start without the check (not recommended).
set -eo pipefail

# shellcheck disable=SC1091
. "${CONDA_SH:-/opt/conda/etc/profile.d/conda.sh}"
conda activate gadgetron

# CUDA image: ONNX Runtime finds cuDNN (pip wheel) and the CUDA libraries of the environment.
cudnn_lib=$(compgen -G "${CONDA_PREFIX}/lib/python3*/site-packages/nvidia/cudnn/lib" || true)
if [ -n "${cudnn_lib}" ]; then
    export LD_LIBRARY_PATH="${cudnn_lib}:${CONDA_PREFIX}/lib${LD_LIBRARY_PATH:+:${LD_LIBRARY_PATH}}"
fi

if [ "${INLINE_AI_SKIP_MODEL_CHECK:-0}" != "1" ]; then
    echo "inline-ai: checking models in ${INLINE_AI_MODELS}"
    python -m inline_ai.model_check --load
fi

exec gadgetron "$@"
