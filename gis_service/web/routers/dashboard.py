"""``/``: the dashboard (一张图首页)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gis_service.api.deps import ClockDep, SessionDep, SettingsDep
from gis_service.catalogue import catalogue_for
from gis_service.quality.assessment import quality_report
from gis_service.web.dashboard import ledger_figures, outfall_figures, ratio_figures, river_rows
from gis_service.web.deps import PAGE, PageViewer
from gis_service.web.patrol_dashboard import patrol_panel
from gis_service.web.templating import render

router = APIRouter(dependencies=PAGE, include_in_schema=False)


@router.get("/")
def dashboard(
    request: Request, session: SessionDep, clock: ClockDep, user: PageViewer, settings: SettingsDep
) -> Response:
    """The dashboard: rivers and their ranges, ratio compliance, the ledger, overdue items, outfalls, patrols.

    The water-quality card is the assessed (国控/市控) sections' 优良 of the newest sample's year.
    """
    catalogue = catalogue_for(settings)
    quality = quality_report(session, None, settings.quality_assessment)
    ratio_charts, ratio_total, ratios = ratio_figures(session, settings)
    ledger_charts, ledger = ledger_figures(session, catalogue, clock)
    outfall_charts, outfalls = outfall_figures(session, settings)
    context = {
        "rivers": river_rows(session, catalogue, ratios),
        "ratio_total": ratio_total,
        "ledger": ledger,
        "outfalls": outfalls,
        "figures": ratio_charts + ledger_charts + outfall_charts,
        "patrols": patrol_panel(session, settings, clock.today()),
        "quality": {"period": quality["period"], **quality["summary"]},
    }
    return render(request, "dashboard.html", user, context)
