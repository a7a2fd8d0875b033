"""``/``: the dashboard (一张图首页)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gis_service.api.deps import SessionDep
from gis_service.web.deps import PAGE, PageViewer
from gis_service.web.templating import render

router = APIRouter(dependencies=PAGE, include_in_schema=False)


@router.get("/")
def dashboard(request: Request, session: SessionDep, user: PageViewer) -> Response:
    """The dashboard: rivers and their ranges, ratio compliance, the ledger, overdue items, outfalls."""
    return render(request, "dashboard.html", user, {})
