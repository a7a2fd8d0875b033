"""The drinking-water sources page (``/sources``): compliance per source and type, and the protection zone checks.

City sources must be 100% compliant and township sources 93% (``quality.zones``); the checks list the
active outfalls and open problem sites lying inside a zone, the gravest first.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gis_service.api.deps import CatalogueDep, SessionDep
from gis_service.quality.assessment import latest_period, parse_period
from gis_service.quality.zones import LEVEL_LABELS, TYPE_LABELS, source_compliance, zone_checks
from gis_service.web.deps import PAGE, PageViewer
from gis_service.web.routers.quality import period_text
from gis_service.web.templating import render

router = APIRouter(dependencies=PAGE, include_in_schema=False)
SEVERITY_LABELS = {"red": "严重", "orange": "较重", "yellow": "关注"}


@router.get("/sources")
def sources_page(request: Request, session: SessionDep, catalogue: CatalogueDep, user: PageViewer) -> Response:
    """Each source's samples and compliance in the chosen period, the rates per type, and the zone checks."""
    asked = period_text(request)
    period = parse_period(asked) if asked else latest_period(session)
    context = {
        "compliance": source_compliance(session, catalogue, period) if period else None,
        "checks": zone_checks(session, catalogue),
        "year": request.query_params.get("year", ""),
        "month": request.query_params.get("month", ""),
        "type_labels": TYPE_LABELS,
        "level_labels": LEVEL_LABELS,
        "severity_labels": SEVERITY_LABELS,
    }
    return render(request, "sources.html", user, context)
