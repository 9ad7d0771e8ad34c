#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with everything installed.
# Used by scripts/main.sh and scripts/test.sh; safe to run again (fast when nothing changed).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${NK_VENV:-.venv}
PY=${PYTHON:-python3}

# Graphviz renders lineage pictures (nemotron-kit lineage --output graph.png).
if ! command -v dot >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends graphviz >/dev/null
  else
    echo "note: Graphviz (dot) is missing; install Debian's graphviz to render lineage pictures" >&2
  fi
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
# torch first and pinned: this machine carries a CPU wheel of 2.13.0; a looser requirement
# would download a multi-GB CUDA build.
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  "${PIP[@]}" "torch==2.13.0"
fi
# Exact pins for everything else: fast, repeatable installs (no resolver backtracking).
"${PIP[@]}" -c constraints/ci.txt -e ".[all,test]"
# pip byte-compiles what it installs, but not this editable checkout; with PYTHONDONTWRITEBYTECODE=1
# (set on this machine) Python never writes a .pyc itself, so every process would compile the
# package again: 0.1-0.3 s each, thousands of times in the tests. A changed source is still
# compiled afresh (the .pyc records its source's mtime).
"$VENV/bin/python" -m compileall -q nemotron_kit hydra_plugins tests >/dev/null
