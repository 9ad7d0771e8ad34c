#!/usr/bin/env bash
# Install everything the tests need, start the services they use, run lint, types and the
# test suite, and stop what was started (also on failure).
#   bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh
bash scripts/setup.sh
export OMP_NUM_THREADS=1 WANDB_MODE=offline
export AWS_ACCESS_KEY_ID=nk-test-access AWS_SECRET_ACCESS_KEY=nk-test-secret-key AWS_DEFAULT_REGION=us-east-1
PY=.venv/bin/python

# A real S3-compatible server (moto) on loopback for the S3 registry tests, a real
# single-node Slurm (munge, slurmctld, slurmd, slurmdbd + MariaDB so sacct works), podman.
stop_services() {
  [ -n "${PODMAN_PID:-}" ] && kill "$PODMAN_PID" 2>/dev/null || true  # lint failed first
  rm -f "${PODMAN_OUT:-}"
  bash scripts/s3-server.sh stop || true
  [ "${NK_MADE_S3_DIR:-0}" = 1 ] && rm -rf "$NK_S3_DIR" || true
  [ "${NK_STARTED_SLURM:-0}" = 1 ] && bash scripts/local-slurm.sh stop || true
}
# A free port and a directory of this run's own: a server someone else started (on 5055, say)
# is never taken for ours. Chosen before the trap, which then stops only this run's server.
NK_MADE_S3_DIR=0
NK_S3_PORT=${NK_S3_PORT:-$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
[ -n "${NK_S3_DIR:-}" ] || { NK_S3_DIR=$(mktemp -d /tmp/nk-s3.XXXXXX); NK_MADE_S3_DIR=1; }
export NK_S3_PORT NK_S3_DIR
trap stop_services EXIT
NK_TEST_S3_ENDPOINT=$(bash scripts/s3-server.sh start)
export NK_TEST_S3_ENDPOINT
# Real containers: podman with runc and capped ulimits (a private containers.conf), and a small
# test image built from Debian packages and the project's wheel. The build takes minutes on a
# fresh machine: it runs beside the rest of the set-up and lint, and is waited for before pytest.
PODMAN_PID=
if [ "$(id -u)" = 0 ] && [ "${NK_SKIP_CONTAINER:-0}" != 1 ]; then
  PODMAN_OUT=$(mktemp /tmp/nk-podman-conf.XXXXXX)
  bash scripts/podman-setup.sh > "$PODMAN_OUT" &
  PODMAN_PID=$!
fi
# Azurite, the Azure Storage emulator, from npm (3.35 is the newest that runs on node 20); the
# tests start it on a free port in memory and stop it (tests/conftest.py: azurite).
AZURITE_DIR=${NK_AZURITE_DIR:-/tmp/nk-azurite}
if [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ] && command -v npm >/dev/null; then
  npm install --silent --no-audit --no-fund --prefix "$AZURITE_DIR" --cache "$AZURITE_DIR/.npm" \
    azurite@3.35.0 >&2
fi
[ -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ] \
  && export NK_AZURITE="$AZURITE_DIR/node_modules/.bin/azurite-blob"
if [ "$(id -u)" = 0 ] && [ "${NK_SKIP_SLURM:-0}" != 1 ]; then
  bash scripts/local-slurm.sh setup
  bash scripts/local-slurm.sh start
  NK_STARTED_SLURM=1
  bash scripts/local-slurm.sh health >/dev/null
  export NK_TEST_SLURM=1
fi
# Headless Chromium for the browser tests (tests/browser.py drives Debian's chromium through
# Playwright; Playwright's own browser download cannot work offline): system-packages.sh.
[ "${NK_SKIP_BROWSER:-0}" != 1 ] && command -v chromium >/dev/null && export NK_TEST_BROWSER=1

echo "== ruff"; "$PY" -m ruff check . && "$PY" -m ruff format --check .
echo "== mypy"; "$PY" -m mypy
if [ -n "$PODMAN_PID" ]; then
  wait "$PODMAN_PID"  # a failed set-up fails the run here (set -e)
  PODMAN_PID=
  CONTAINERS_CONF=$(tail -1 "$PODMAN_OUT")
  rm -f "$PODMAN_OUT"
  export CONTAINERS_CONF NK_TEST_CONTAINER=1
fi
# Every real component is up: a test that would skip for want of one fails instead (CI=true,
# tests/conftest.py). Set CI yourself to choose otherwise.
if [ "${NK_STARTED_SLURM:-0}" = 1 ] && [ "${NK_TEST_CONTAINER:-0}" = 1 ]; then
  export CI=${CI:-true}
fi
echo "== set-up and lint took ${SECONDS} s"
# Two processes, a file to each (module fixtures such as a built venv run once): most tests
# wait on subprocesses, Slurm or a server, and the suite takes 30 minutes in one process. Files
# go out in tests/conftest.py's order, the longest first (xdist would sort them by test count);
# the 25 slowest tests are listed at the end, to keep the run within its 30 minutes.
echo "== pytest"; "$PY" -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=25 "$@"
