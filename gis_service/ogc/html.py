"""HTML answers of the OGC API for a browser: one autoescaped Jinja2 template, a small offline Leaflet map."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from gis_service.web.labels import show
from gis_service.webmap.assets import VENDOR_PREFIX

# Nothing reads as an empty cell, as these pages always showed it: a lone "—" reads as 一 (one) in a CJK font.
NOTHING = ""


def number(value: float) -> str:
    """Return a measured number without float noise: three decimals, more for a small one, no trailing zeros."""
    if not math.isfinite(value):
        return NOTHING if math.isnan(value) else str(value)
    if value == 0:
        return "0"
    places = max(3, 2 - math.floor(math.log10(abs(value))))  # a small number keeps three significant digits
    return f"{value:.{places}f}".rstrip("0").rstrip(".")


def cell(value: Any) -> str:
    """Return a property value as the pages show it: 是/否 (as the workbench), numbers rounded, JSON as 键：值.

    Plain text, never markup: the template escapes what it returns.
    """
    if value is None or value == "":
        return NOTHING
    if isinstance(value, float):
        return number(value)
    if isinstance(value, dict):
        return "；".join(f"{key}：{cell(v)}" for key, v in value.items())
    if isinstance(value, list):
        return "、".join(cell(v) for v in value)
    return show(value)


@lru_cache
def _environment() -> Environment:
    """Return the template environment (autoescaping every ``.html`` template, ``cell`` for property values)."""
    env = Environment(loader=PackageLoader("gis_service.ogc", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["cell"] = cell
    return env


def page(base: str, title: str, links: list[dict[str, Any]], **context: Any) -> HTMLResponse:
    """Render a page: ``links`` as navigation, ``features`` (a GeoJSON document) on a map, ``rows`` as a table."""
    leaflet = f"{base}{VENDOR_PREFIX}/leaflet/dist"
    html = (
        _environment()
        .get_template("page.html")
        .render(
            title=title,
            links=links,
            leaflet_js=f"{leaflet}/leaflet.js",
            leaflet_css=f"{leaflet}/leaflet.css",
            **context,
        )
    )
    return HTMLResponse(html)
