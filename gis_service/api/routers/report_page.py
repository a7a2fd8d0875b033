"""The public report page ``/report``: no login, usable on a phone, posting to ``/api/v1/public-reports``."""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, Template, select_autoescape

from gis_service.api.deps import SettingsDep
from gis_service.catalogue import catalogue_for
from gis_service.district import district_for
from gis_service.webmap.assets import VENDOR_ASSETS

router = APIRouter(tags=["public-reports"])


@lru_cache
def _template() -> Template:
    """Return the page template (autoescaped: nothing a user typed is ever markup)."""
    env = Environment(loader=PackageLoader("gis_service.api", "templates"), autoescape=select_autoescape())
    return env.get_template("report.html")


@router.get("/report", response_class=HTMLResponse, include_in_schema=False)
def report_page(settings: SettingsDep) -> HTMLResponse:
    """Return the citizen's report form: place (map or phone position), category, description, photos."""
    assets = {a.key: a.url for a in VENDOR_ASSETS}
    category = catalogue_for(settings)["problems"].field("category")
    district = district_for(settings)
    html = _template().render(
        district=district.name,
        hotline=settings.hotline,
        categories=category.choices(),
        max_photos=settings.public_report_max_photos,
        bbox=district.bbox,
        api="/api/v1/public-reports",
        leaflet_css=assets["leaflet_css"],
        leaflet_js=assets["leaflet"],
    )
    return HTMLResponse(html)
