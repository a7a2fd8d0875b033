"""Wheel build hook: carry the map assets (Leaflet and the other npm packages of maps/vendor) inside the wheel.

The maps load their JavaScript and CSS from the service itself (no CDN). They are npm packages,
installed by ``scripts/setup.sh`` outside git. A wheel must work where there is no Node.js, so
its build copies each dependency's ``dist/`` (and ``package.json``, licence) from the installed
``node_modules`` to ``gis_service/_data/maps/vendor/node_modules``, where the service looks last.
With none installed, the build runs ``npm ci`` (the lock file pins them) or stops saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

TARGET = "gis_service/_data/maps/vendor/node_modules"
KEEP = ("package.json", "LICENSE", "LICENSE.md", "LICENSE.txt")


def dependencies(vendor: Path) -> list[str]:
    """Return the npm packages the maps depend on (maps/vendor/package.json)."""
    data = json.loads((vendor / "package.json").read_text(encoding="utf-8"))
    return sorted(data.get("dependencies", {}))


def installed(root: Path, vendor: Path, names: list[str]) -> Path | None:
    """Return the first node_modules holding every package, in the order the service itself searches."""
    configured = os.environ.get("RIVERGIS_ASSETS_DIR")
    places = [Path(configured)] if configured else []
    places += [Path(sys.prefix) / "share" / "rivergis" / "node_modules", root / ".venv/share/rivergis/node_modules"]
    places += [vendor / "node_modules"]
    return next((p for p in places if all((p / n / "package.json").is_file() for n in names)), None)


def npm_ci(vendor: Path, into: Path) -> Path:
    """Install the pinned packages with npm into ``into`` and return its node_modules."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "构建 wheel 需要地图前端资源：请先运行 scripts/setup.sh（npm ci），"
            "或设置 RIVERGIS_ASSETS_DIR=<node_modules 目录>；安装 wheel 的机器则无需 Node.js。"
        )
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(vendor / name, into / name)
    subprocess.run([npm, "ci", "--prefix", str(into), "--no-audit", "--no-fund"], check=True)
    return into / "node_modules"


def files_to_carry(modules: Path, names: list[str]) -> dict[str, str]:
    """Return source → wheel path of each package's ``dist/`` and metadata files."""
    carry: dict[str, str] = {}
    for name in names:
        package = modules / name
        dist = package / "dist"
        carry[str(dist if dist.is_dir() else package)] = f"{TARGET}/{name}" + ("/dist" if dist.is_dir() else "")
        for keep in KEEP:
            if (package / keep).is_file():
                carry[str(package / keep)] = f"{TARGET}/{name}/{keep}"
    return carry


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Add the installed map assets to the wheel (not to the sdist: it builds them)."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Find (or install) the npm packages and force-include their built files."""
        if self.target_name != "wheel" or version == "editable":
            return  # an editable install serves the assets from where setup.sh put them
        root = Path(self.root)
        vendor = root / "maps" / "vendor"
        names = dependencies(vendor)
        modules = installed(root, vendor, names)
        if modules == vendor / "node_modules":
            return  # already inside maps/, which the wheel carries whole
        if modules is None:
            scratch = Path(tempfile.mkdtemp(prefix="rivergis-npm-"))
            modules = npm_ci(vendor, scratch)
        build_data["force_include"].update(files_to_carry(modules, names))
