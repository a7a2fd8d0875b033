#!/usr/bin/env bash
# Screenshots of every web workbench page at desktop (1280 px) and phone (375 px) width, on the demo
# data, written to test-artifacts/screenshots/ for a person to look at. Needs what scripts/test.sh
# installs (Chromium, Playwright); runs on SpatiaLite only, so no PostGIS is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m pytest -q -p no:cacheprovider tests/test_web_browser.py tests/test_web_pages_browser.py -k "phone and spatialite" "$@"
echo "Screenshots: $(pwd)/test-artifacts/screenshots/"
