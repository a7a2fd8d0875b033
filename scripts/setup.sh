#!/usr/bin/env bash
# Install what rivergis needs on a fresh Debian/Ubuntu machine: system packages (SpatiaLite, and with
# --test PostGIS, GDAL's command-line tools, Chromium and QGIS) and a virtualenv in .venv with the pinned
# Python packages. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}

# Noto CJK: the Chinese labels of the bulletin's charts (without it the bulletin keeps only its tables).
packages=(libsqlite3-mod-spatialite fonts-noto-cjk)
# npm installs the map assets (Leaflet); Debian's package when the machine has no Node.js of its own.
command -v npm >/dev/null || packages+=(npm)
if [ "$mode" = "--test" ]; then
  # python3-qgis: QGIS's own OGC API client, run from the system Python by tests/test_ogc_clients.py.
  packages+=(postgresql-15-postgis-3 postgresql-15 gdal-bin chromium python3-qgis)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "Installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
extras=""
[ "$mode" = "--test" ] && extras="[test]"
.venv/bin/python -m pip install -q -c constraints.txt -e ".${extras}"
# Map assets (Leaflet and its plugins), pinned by maps/vendor/package-lock.json, installed outside git
# where the service looks for them (sys.prefix/share/rivergis/node_modules); the maps never use a CDN.
if [ ! -f .venv/share/rivergis/node_modules/.package-lock.json ] \
   || ! cmp -s maps/vendor/package-lock.json .venv/share/rivergis/package-lock.json; then
  mkdir -p .venv/share/rivergis
  cp maps/vendor/package.json maps/vendor/package-lock.json .venv/share/rivergis/
  npm ci --prefix .venv/share/rivergis --no-audit --no-fund --loglevel=error >/dev/null
fi
.venv/bin/python -c "import gis_service" 
