#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need, starts PostGIS, then runs
# ruff, mypy and pytest against both SpatiaLite and PostGIS. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export RIVERGIS_TEST_POSTGIS_URL
RIVERGIS_TEST_POSTGIS_URL=$(scripts/postgis.sh)
echo "PostGIS: ${RIVERGIS_TEST_POSTGIS_URL%%:*}://…@127.0.0.1"
.venv/bin/ruff check gis_service tests benchmarks
.venv/bin/ruff format --check gis_service tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
