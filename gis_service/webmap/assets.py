"""The maps' JavaScript and CSS: Leaflet and its plugins from npm packages installed at set-up time,
and the service's own map scripts from ``maps/``; served at ``/static/`` or inlined into a standalone page.

Nothing here comes from a CDN: a government intranet has no internet, so the page must load
everything from the service itself (or carry it inline, for the USB-stick export).
"""

from __future__ import annotations

import base64
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from gis_service.errors import ConfigurationError, NotFound
from gis_service.resources import data_path

STATIC_PREFIX = "/static"
VENDOR_PREFIX = f"{STATIC_PREFIX}/vendor"
OWN_PREFIX = f"{STATIC_PREFIX}/maps"
SETUP_COMMAND = "scripts/setup.sh"


@dataclass(frozen=True)
class Asset:
    """One file a map page loads: its key, kind (js/css), the package and path inside node_modules."""

    key: str
    kind: str
    path: str

    @property
    def url(self) -> str:
        """Return the URL the service serves the file at."""
        return f"{VENDOR_PREFIX}/{self.path}"


# The vendor files, in load order (Leaflet before its plugins).
VENDOR_ASSETS = (
    Asset("leaflet_css", "css", "leaflet/dist/leaflet.css"),
    Asset("markercluster_css", "css", "leaflet.markercluster/dist/MarkerCluster.css"),
    Asset("markercluster_default_css", "css", "leaflet.markercluster/dist/MarkerCluster.Default.css"),
    Asset("leaflet", "js", "leaflet/dist/leaflet.js"),
    Asset("markercluster", "js", "leaflet.markercluster/dist/leaflet.markercluster.js"),
)
# The service's own map script and style, authored in maps/.
OWN_ASSETS = (
    Asset("rivergis_css", "css", "css/rivergis.css"),
    Asset("rivergis_js", "js", "js/rivergis.js"),
)
# Only these packages may be served from node_modules (not the whole folder); the web workbench's UI kit too.
VENDOR_PACKAGES = ("leaflet", "leaflet.markercluster", "@tabler/core", "htmx.org", "echarts")


def own_url(asset: Asset) -> str:
    """Return the URL of one of the service's own map files."""
    return f"{OWN_PREFIX}/{asset.path}"


def candidate_dirs(configured: Path | None) -> list[Path]:
    """Return the folders searched for ``node_modules``, first match wins (``configured``: ``RIVERGIS_ASSETS_DIR``)."""
    found = [configured] if configured else []
    found += [
        Path(sys.prefix) / "share" / "rivergis" / "node_modules",
        data_path("maps") / "vendor" / "node_modules",
    ]
    return found


@lru_cache
def vendor_dir(configured: Path | None) -> Path:
    """Return the ``node_modules`` folder holding Leaflet and its plugins, or say how to install them."""
    for folder in candidate_dirs(configured):
        if all((folder / a.path).is_file() for a in VENDOR_ASSETS):
            return folder
    searched = "、".join(str(p) for p in candidate_dirs(configured))
    raise ConfigurationError(
        f"地图前端资源（Leaflet 等）未安装：请运行 `{SETUP_COMMAND}`"
        f"（或 `npm ci --prefix <目录>` 后设置 RIVERGIS_ASSETS_DIR=<目录>/node_modules）。已查找：{searched}",
        code="map_assets_missing",
        details={"searched": [str(p) for p in candidate_dirs(configured)]},
    )


def own_dir() -> Path:
    """Return the folder of the service's own map files (``maps/``)."""
    return data_path("maps")


def served_urls(configured: Path | None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Return (js, css) lists of (key, URL) for Folium's ``default_js``/``default_css``."""
    vendor_dir(configured)  # fail early, with the fix, rather than serve a page whose scripts 404
    assets = [(a, a.url) for a in VENDOR_ASSETS] + [(a, own_url(a)) for a in OWN_ASSETS]
    js = [(a.key, url) for a, url in assets if a.kind == "js"]
    css = [(a.key, url) for a, url in assets if a.kind == "css"]
    return js, css


def _file_for_url(url: str, configured: Path | None) -> Path | None:
    """Return the file behind one of our asset URLs."""
    for asset in VENDOR_ASSETS:
        if url == asset.url:
            return vendor_dir(configured) / asset.path
    for asset in OWN_ASSETS:
        if url == own_url(asset):
            return own_dir() / asset.path
    return None


def _inline_css_images(css: str, folder: Path) -> str:
    """Replace ``url(images/x.png)`` references with data URIs so the CSS works from a file."""

    def repl(match: re.Match[str]) -> str:
        ref = match.group(1).strip("'\"")
        target = (folder / ref).resolve()
        if ref.startswith("data:") or not target.is_file() or folder.resolve() not in target.parents:
            return match.group(0)
        mime = "image/svg+xml" if target.suffix == ".svg" else f"image/{target.suffix.lstrip('.')}"
        return f"url(data:{mime};base64,{base64.b64encode(target.read_bytes()).decode()})"

    return re.sub(r"url\(([^)]+)\)", repl, css)


def _safe_script(text: str) -> str:
    """Keep an inlined script from closing its own ``<script>`` element early."""
    return text.replace("</script", "<\\/script")


def inline_assets(html: str, configured: Path | None) -> str:
    """Replace ``<script src>``/``<link href>`` of our assets with their content (standalone page)."""

    def script(match: re.Match[str]) -> str:
        path = _file_for_url(match.group(1), configured)
        if path is None:
            return match.group(0)
        return f"<script>{_safe_script(path.read_text(encoding='utf-8'))}</script>"

    def link(match: re.Match[str]) -> str:
        path = _file_for_url(match.group(1), configured)
        if path is None:
            return match.group(0)
        css = _inline_css_images(path.read_text(encoding="utf-8"), path.parent).replace("</style", "<\\/style")
        return f"<style>{css}</style>"

    html = re.sub(r'<script src="([^"]+)"></script>', script, html)
    return re.sub(r'<link rel="stylesheet" href="([^"]+)"\s*/?>', link, html)


def static_file(kind: str, path: str, configured: Path | None) -> Path:
    """Return the file for ``/static/{kind}/{path}`` (vendor package files or ``maps/``), never outside."""
    if kind == "vendor":
        parts = path.split("/")
        package = "/".join(parts[:2]) if path.startswith("@") else parts[0]
        root = vendor_dir(configured)
        if package not in VENDOR_PACKAGES:
            raise NotFound(f"静态资源 {path!r} 不存在", code="static_not_found")
    elif kind == "maps":
        root = own_dir()
    else:
        raise NotFound(f"静态资源目录 {kind!r} 不存在", code="static_not_found")
    target = (root / path).resolve()
    if root.resolve() not in target.parents or not target.is_file():
        raise NotFound(f"静态资源 {path!r} 不存在", code="static_not_found")
    return target
