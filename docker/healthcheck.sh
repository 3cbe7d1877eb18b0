#!/bin/bash
# Container health: the shipped models still match their sha256, and Gadgetron listens on its
# port (read from /proc, so the check opens no connection and leaves no error in Gadgetron's log).
set -eo pipefail

# shellcheck disable=SC1091
. "${CONDA_SH:-/opt/conda/etc/profile.d/conda.sh}"
conda activate gadgetron
python -m inline_ai.model_check --quiet

port_hex=$(printf '%04X' "${GADGETRON_PORT:-9002}")
grep -q -E "^ *[0-9]+: [0-9A-F]+:${port_hex} [0-9A-F]+:0000 0A " /proc/net/tcp /proc/net/tcp6
