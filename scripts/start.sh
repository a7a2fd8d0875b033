#!/usr/bin/env bash
# One command for a newcomer: install, initialise the embedded SpatiaLite database, load the demo
# data and serve it at http://127.0.0.1:8000 (API docs at /docs, issue map at /maps/problems).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/rivergis init
.venv/bin/rivergis demo
exec .venv/bin/rivergis serve "$@"
