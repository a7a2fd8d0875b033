"""The wheel carries the map assets: installed from it, the maps work with no Node.js and no npm step."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from gis_service.webmap.assets import VENDOR_ASSETS, vendor_dir

ROOT = Path(__file__).resolve().parents[1]
INSIDE = "gis_service/_data/maps/vendor/node_modules"


def sha256(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def test_wheel_carries_the_installed_map_assets(tmp_path: Path) -> None:
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*build, str(ROOT)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("rivergis-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for asset in VENDOR_ASSETS:
            # The same bytes as the npm packages the lock file pins (installed here by scripts/setup.sh).
            packaged = vendor_dir(None) / asset.path
            assert sha256(archive.read(f"{INSIDE}/{asset.path}")) == sha256(packaged.read_bytes())
        archive.extractall(tmp_path / "site")
    # Imported from the unpacked wheel, with no assets folder configured and no node/npm on the PATH,
    # the service finds the assets inside its own package.
    env = {k: v for k, v in os.environ.items() if k != "RIVERGIS_ASSETS_DIR"}
    env.update(PYTHONPATH=str(tmp_path / "site"), PATH="/nonexistent")
    probe = (
        "from gis_service.webmap.assets import candidate_dirs, VENDOR_ASSETS;"
        "inside = candidate_dirs(None)[-1];"
        "print(inside);"
        "print(all((inside / a.path).is_file() for a in VENDOR_ASSETS))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, cwd=tmp_path
    )
    folder, found = out.stdout.split()
    assert Path(folder).is_relative_to(tmp_path / "site") and found == "True"
