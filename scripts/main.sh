#!/usr/bin/env bash
# Set up .venv and run the main job on the embedded defaults (local registry, local executor).
# Until the built-in recipes land this composes the pretrain recipe's run and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=1
exec .venv/bin/python -m nemotron_kit +recipe=pretrain --cfg job "$@"
