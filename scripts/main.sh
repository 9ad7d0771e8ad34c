#!/usr/bin/env bash
# Set up .venv and run the main job on the embedded defaults (local registry, local executor,
# built-in data): prepare data, pretrain, fine-tune and evaluate a tiny GPT on this CPU, with
# every artifact versioned and the lineage printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=1
exec .venv/bin/python -m nemotron_kit +pipeline=tiny "$@"
