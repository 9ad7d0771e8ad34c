#!/usr/bin/env bash
# Refresh the screenshots in docs/ui/: the browser test of the served pages takes them while it
# clicks through a registry made by `+pipeline=tiny` and a 3-job sweep (tests/test_ui.py).
#   bash scripts/ui-screenshots.sh        (needs `apt-get install chromium`; scripts/test.sh does)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 WANDB_MODE=offline NK_TEST_BROWSER=1 NK_UI_SCREENSHOTS="$PWD/docs/ui"
unset NEMOTRON_KIT_HOME
.venv/bin/python -m pytest -q -p no:cacheprovider tests/test_ui.py -k test_browser_pages_of_the_server
ls -l docs/ui/*.png
