#!/usr/bin/env bash
# Install everything the tests need, run lint, types and the test suite, stop what was started.
#   bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=1 WANDB_MODE=offline
PY=.venv/bin/python
echo "== ruff"; "$PY" -m ruff check . && "$PY" -m ruff format --check .
echo "== mypy"; "$PY" -m mypy
echo "== pytest"; "$PY" -m pytest "$@"
