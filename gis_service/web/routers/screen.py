"""``/screen``: the dispatch room's large screen (调度大屏), 1920×1080, refreshing its figures itself.

A viewer page (anonymous while ``RIVERGIS_PUBLIC_READ`` is on): the figures come from
``GET /api/v1/quality/screen`` every ``RIVERGIS_SCREEN_REFRESH_S`` seconds, the map's layers are
drawn once with the page. Assets are the service's own (Leaflet, ECharts from ``/static/vendor``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gis_service.api.deps import CatalogueDep, ClockDep, SessionDep, SettingsDep
from gis_service.district import district_for
from gis_service.quality.screen import screen_figures
from gis_service.web.deps import PAGE, PageViewer
from gis_service.web.templating import render
from gis_service.webmap.screen_map import screen_layers

router = APIRouter(dependencies=PAGE, include_in_schema=False)


@router.get("/screen")
def screen_page(
    request: Request,
    session: SessionDep,
    catalogue: CatalogueDep,
    user: PageViewer,
    settings: SettingsDep,
    clock: ClockDep,
) -> Response:
    """The large screen: the map and every live figure (the first ones in the page, then fetched again)."""
    figures = screen_figures(session, settings, clock=clock)
    context = {
        "district": district_for(settings).name,
        "figures": figures,
        "layers": screen_layers(session, catalogue, settings.quality_assessment),
    }
    return render(request, "screen.html", user, context)
