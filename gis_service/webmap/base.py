"""The Folium map every page starts from: offline assets, basemaps from settings, GCJ-02 display shift.

Overlay data is stored in EPSG:4490 (CGCS2000, within centimetres of WGS84, so it lines up with
OpenStreetMap and Tianditu as is). Gaode tiles are drawn in GCJ-02, offset by hundreds of metres;
on a Gaode basemap the overlay coordinates are shifted for display only, never in storage.
"""

from __future__ import annotations

import html
import json
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import branca.element
import folium
import geopandas as gpd
import jinja2
import numpy as np
import shapely
from folium.utilities import JsCode

from gis_service.catalogue import Catalogue, catalogue_for
from gis_service.district import District, district_for
from gis_service.errors import BadRequest
from gis_service.resources import data_path
from gis_service.settings import Settings
from gis_service.webmap.assets import served_urls

DISPLAY_CRS = "EPSG:4326"


@dataclass(frozen=True)
class MapSetup:
    """What every map takes from the service's settings: the district's first view, the layers, the basemaps."""

    district: District
    catalogue: Catalogue
    basemap: str = "none"  # RIVERGIS_BASEMAP: the default basemap
    tianditu_key: str = ""  # RIVERGIS_TIANDITU_KEY
    assets_dir: Path | None = None  # RIVERGIS_ASSETS_DIR: where the npm map packages are, if not with the service

    @classmethod
    def of(cls, settings: Settings) -> MapSetup:
        """Return the setup the settings give (the app's, or the CLI's)."""
        return cls(
            district_for(settings),
            catalogue_for(settings),
            settings.basemap or "none",
            settings.tianditu_key,
            settings.assets_dir,
        )


@dataclass(frozen=True)
class Basemap:
    """A basemap choice: its tile layers (URL templates) and the datum its tiles are drawn in."""

    name: str
    label: str
    crs: str
    layers: tuple[dict[str, Any], ...]
    needs_key: bool = False


@lru_cache
def load_basemaps() -> dict[str, Basemap]:
    """Return the basemap definitions of ``maps/basemaps.toml``, by name."""
    with (data_path("maps") / "basemaps.toml").open("rb") as fh:
        raw = tomllib.load(fh)
    return {
        name: Basemap(
            name, body["label"], body["crs"], tuple(body.get("layers", ())), bool(body.get("needs_key", False))
        )
        for name, body in raw.items()
    }


def choose_basemaps(setup: MapSetup, name: str | None = None) -> list[Basemap]:
    """Return the basemaps a page offers: the chosen one first, then those drawn in the same datum.

    ``none`` offers nothing else, so that an offline page never names an outside host.
    """
    name = name or setup.basemap or "none"
    basemaps = load_basemaps()
    if name not in basemaps:
        raise BadRequest(
            f"未知底图 {name!r}：可选 {', '.join(basemaps)}（设置 RIVERGIS_BASEMAP 或页面参数 basemap）",
            code="unknown_basemap",
            details={"allowed": list(basemaps)},
        )
    chosen = basemaps[name]
    if chosen.needs_key and not setup.tianditu_key:
        raise BadRequest(
            f"底图 {chosen.label} 需要天地图密钥：请设置 RIVERGIS_TIANDITU_KEY，或改用 basemap=none",
            code="basemap_key_missing",
        )
    if chosen.name == "none":
        return [chosen]
    others = [
        b
        for b in basemaps.values()
        if b.name not in {"none", chosen.name} and b.crs == chosen.crs and (setup.tianditu_key or not b.needs_key)
    ]
    return [chosen, *others]


def gcj02_from_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 (or CGCS2000) lon/lat to GCJ-02 for display on Gaode tiles, vectorised.

    GCJ-02 is an obfuscation published as code, not as a datum: no maintained library or PROJ
    definition carries it, so this is the widely published algorithm (accurate to ~1 m); points
    outside China are left as they are, as Gaode does.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1 - ee * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (a / sqrt_magic * np.cos(rad) * np.pi)
    inside = (lon > 73.66) & (lon < 135.05) & (lat > 3.86) & (lat < 53.55)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def to_display(gdf: gpd.GeoDataFrame, datum: str = "wgs84") -> gpd.GeoDataFrame:
    """Return ``gdf`` in lon/lat for the web map, shifted to GCJ-02 when ``datum`` is ``gcj02``."""
    out = gdf.to_crs(DISPLAY_CRS) if gdf.crs is not None else gdf.set_crs(DISPLAY_CRS)
    if datum == "gcj02" and len(out):

        def shift(coords: np.ndarray) -> np.ndarray:
            x, y = gcj02_from_wgs84(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])

        out = out.set_geometry(shapely.transform(out.geometry.values, shift))
    return out


class Script(branca.element.MacroElement):
    """A piece of JavaScript run after the map and its layers exist (``{map}`` is the map's variable)."""

    _template = jinja2.Template("{% macro script(this, kwargs) %}\n{{ this.code }}\n{% endmacro %}")

    def __init__(self, code: str) -> None:
        super().__init__()
        self._name = "Script"
        self.code = code


def js_literal(value: Any) -> str:
    """Return ``value`` as a JavaScript literal safe inside ``<script>`` (no ``</script>`` breakout)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    # Any user text ("</script><script>…") must not close the element: escape the characters HTML sees.
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def make_map(title: str, setup: MapSetup, basemap: str | None = None) -> tuple[folium.Map, str]:
    """Return a full-page Folium map (``title`` as plain text) on the service's own assets, and its display datum."""
    bases = choose_basemaps(setup, basemap)
    # branca writes the title into <title> unescaped; a river or file name may hold "</title><script>".
    figure = branca.element.Figure(title=html.escape(title, quote=False))
    # markercluster needs the map to know its max zoom, which an offline map (no tiles) does not set.
    district = setup.district
    fmap = folium.Map(
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
        location=list(district.map_center),
        maxZoom=19,
        zoom_start=district.zoom,
    )
    js, css = served_urls(setup.assets_dir)
    # Replace Folium's CDN links (Leaflet, jQuery, Bootstrap, Font Awesome) by the service's own files.
    fmap.default_js = js
    fmap.default_css = css
    figure.add_child(fmap)
    # No icon of its own, as the workbench's pages: the browser would ask for /favicon.ico and log its 404.
    figure.header.add_child(branca.element.Element('<link rel="icon" href="data:,">'), name="rg_icon")
    key = setup.tianditu_key
    for i, base in enumerate(bases):
        if not base.layers:
            continue
        group = folium.FeatureGroup(name=base.label, overlay=False, control=True, show=i == 0)
        for spec in base.layers:
            kwargs: dict[str, Any] = {"max_zoom": spec.get("max_zoom", 18)}
            if spec.get("subdomains"):
                kwargs["subdomains"] = spec["subdomains"]
            folium.TileLayer(
                tiles=spec["url"].replace("{key}", key),
                attr=spec.get("attribution") or " ",
                overlay=False,
                control=False,
                **kwargs,
            ).add_to(group)
        group.add_to(fmap)
    return fmap, bases[0].crs


def fit_to(fmap: folium.Map, frames: list[gpd.GeoDataFrame]) -> None:
    """Fit the map's initial view to the features of ``frames`` (already in display lon/lat)."""
    boxes = [f.total_bounds for f in frames if len(f) and not f.geometry.is_empty.all()]
    if not boxes:
        return
    stacked = np.vstack(boxes)
    minx, miny = np.nanmin(stacked[:, 0]), np.nanmin(stacked[:, 1])
    maxx, maxy = np.nanmax(stacked[:, 2]), np.nanmax(stacked[:, 3])
    if np.isfinite([minx, miny, maxx, maxy]).all():
        fmap.fit_bounds([[float(miny), float(minx)], [float(maxy), float(maxx)]])


def add_layer_control(fmap: folium.Map) -> None:
    """Add the list of layers to switch on and off (after every layer): open beside the map on a wider screen; on a
    phone (``RiverGIS.onPhone`` in ``maps/js/rivergis.js``, which folds the legend there too) Leaflet's layers
    button that opens it, since open it covers the map's top third and the filter's button."""
    control = folium.LayerControl()
    # Leaflet's option as the map script answers it in the browser (folium writes a JsCode as its code).
    control.options["collapsed"] = cast(Any, JsCode("RiverGIS.onPhone()"))
    control.add_to(fmap)


def add_html(fmap: folium.Map, html: str) -> None:
    """Add an HTML fragment (already escaped) to the page body, e.g. a legend or a panel."""
    root = fmap.get_root()
    assert isinstance(root, branca.element.Figure)  # make_map always puts the map in a Figure
    root.html.add_child(branca.element.Element(html))


def render(fmap: folium.Map) -> str:
    """Render the whole page."""
    return fmap.get_root().render()
