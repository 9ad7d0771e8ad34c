#!/usr/bin/env bash
# Install everything the tests need, start the services they use, run lint, types and the
# test suite, and stop what was started (also on failure).
#   bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=1 WANDB_MODE=offline
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
PY=.venv/bin/python

# A real S3-compatible server (moto) on loopback for the S3 registry tests.
NK_TEST_S3_ENDPOINT=$(bash scripts/s3-server.sh start)
export NK_TEST_S3_ENDPOINT
trap 'bash scripts/s3-server.sh stop' EXIT

echo "== ruff"; "$PY" -m ruff check . && "$PY" -m ruff format --check .
echo "== mypy"; "$PY" -m mypy
echo "== pytest"; "$PY" -m pytest "$@"
