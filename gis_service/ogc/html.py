"""HTML answers of the OGC API for a browser: one autoescaped Jinja2 template, a small offline Leaflet map."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from gis_service.webmap.assets import VENDOR_PREFIX


@lru_cache
def _environment() -> Environment:
    """Return the template environment (autoescaping every ``.html`` template)."""
    return Environment(loader=PackageLoader("gis_service.ogc", "templates"), autoescape=select_autoescape(["html"]))


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
