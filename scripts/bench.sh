#!/usr/bin/env bash
# The benchmark suite: service vs reference side by side, province scale. Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export RIVERGIS_BENCH_POSTGIS_URL
RIVERGIS_BENCH_POSTGIS_URL=$(scripts/postgis.sh)
mkdir -p benchmarks/results
for bench in benchmarks/bench_*.py; do
  [ -e "$bench" ] || continue
  name=$(basename "$bench" .py)
  echo "== $name"
  .venv/bin/python -m "benchmarks.$name" "$@"
done
