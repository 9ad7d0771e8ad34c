#!/usr/bin/env bash
# A real S3-compatible server on loopback for tests and for trying registry=s3 on a laptop:
# moto in server mode, one request at a time (no real S3 server installs from Debian or PyPI;
# see docs/registry.md).
#   scripts/s3-server.sh start    # prints the endpoint; idempotent
#   scripts/s3-server.sh stop     # stops exactly the server this script started
#   scripts/s3-server.sh status
# Env: NK_S3_PORT (default 5055), NK_S3_DIR (pid and log, default /tmp/nk-s3), NK_VENV (.venv)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${NK_S3_PORT:-5055}
DIR=${NK_S3_DIR:-/tmp/nk-s3}
VENV=${NK_VENV:-.venv}
PIDFILE=$DIR/moto.pid
ENDPOINT=http://127.0.0.1:$PORT

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

up() { "$VENV/bin/python" - "$ENDPOINT" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=1)
except Exception:
    sys.exit(1)
PY
}

case "${1:?start|stop|status}" in
  start)
    mkdir -p "$DIR"
    if ! running; then
      # Something else answers there: it would get the tests' buckets, and `stop` would not
      # stop it.
      if up; then echo "port $PORT is taken by another server: set NK_S3_PORT" >&2; exit 1; fi
      # moto, one request at a time: conditional writes as atomic as S3's (see s3_server.py)
      setsid "$VENV/bin/python" scripts/s3_server.py 127.0.0.1 "$PORT" >"$DIR/moto.log" 2>&1 </dev/null &
      echo $! >"$PIDFILE"
    fi
    for _ in $(seq 100); do up && break; running || break; sleep 0.1; done
    running && up || { echo "moto server did not come up; see $DIR/moto.log" >&2; exit 1; }
    echo "$ENDPOINT"
    ;;
  stop)
    if running; then
      kill "$(cat "$PIDFILE")"
      for _ in $(seq 50); do running || break; sleep 0.1; done
    fi
    rm -f "$PIDFILE"
    ;;
  status)
    if running && up; then echo "up at $ENDPOINT"; else echo "down"; exit 1; fi
    ;;
esac
