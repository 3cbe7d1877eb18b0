#!/usr/bin/env bash
# Build (unless --no-build) and start Gadgetron with the inline AI chains, detached, on port 9002.
#
# usage: docker/run.sh [--cuda] [--port PORT] [--no-build] [--name NAME]
#
# Then replay a sample into it from a machine with the inline-ai package installed:
#   inline-ai replay SAMPLE.h5 --out out --gadgetron localhost:9002
# Logs: docker logs -f inline-ai    Stop: docker stop inline-ai
set -euo pipefail

flavor=nocuda
port=9002
build=1
name=inline-ai
while [[ $# -gt 0 ]]; do
    case "$1" in
        --cuda) flavor=cuda; shift ;;
        --port) port="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        --name) name="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="inline-ai-gadgetron:${flavor}"

if [[ "${build}" == 1 ]]; then
    docker build -f "${repo_root}/docker/Dockerfile" --build-arg "FLAVOR=${flavor}" -t "${image}" "${repo_root}"
fi

gpu_args=()
if [[ "${flavor}" == cuda ]]; then
    gpu_args=(--gpus all)
fi

docker run --detach --rm --name "${name}" -p "${port}:9002" "${gpu_args[@]}" "${image}"
echo "Gadgetron with inline AI is starting in container '${name}' on port ${port}."
echo "Replay a sample:  inline-ai replay SAMPLE.h5 --out out --gadgetron localhost:${port}"
