"""The bulletins page (``/bulletins``, 定期通报): choose a month or quarter (and a town), download Word and Excel.

The documents are ``quality.bulletin``'s, the same as the API's and the CLI's; the page only offers them.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gis_service.api.deps import ClockDep, SessionDep, SettingsDep, app_catalogue
from gis_service.api.routers.bulletins import MEDIA
from gis_service.errors import BadRequest
from gis_service.quality.assessment import parse_period
from gis_service.quality.bulletin import build_bulletin
from gis_service.quality.bulletin_files import annex_bytes, word_bytes
from gis_service.store.current import town_names
from gis_service.web.deps import PAGE, PageViewer
from gis_service.web.templating import render

router = APIRouter(dependencies=PAGE, include_in_schema=False)


def _chosen(request: Request) -> tuple[str, str]:
    """Return the period (``2024-06`` or ``2024-Q2``) and town asked by the form (empty when none)."""
    q = request.query_params
    year, part = (q.get("year") or "").strip(), (q.get("part") or "").strip()
    if not year:
        return "", (q.get("town") or "").strip()
    period = f"{year}-{part}" if part.startswith("Q") else f"{year}-{int(part):02d}" if part.isdigit() else year
    return period, (q.get("town") or "").strip()


@router.get("/bulletins")
def bulletins_page(request: Request, session: SessionDep, user: PageViewer) -> Response:
    """The period and town form, and for a chosen period the two download links."""
    period, town = _chosen(request)
    label = parse_period(period).label if period else ""
    if period and "-" not in period:
        raise BadRequest(f"期间 {period!r} 无效；通报按月或按季度，请选择月份或季度。", code="bad_period")
    query = "?" + urlencode({"town": town}) if town else ""
    context = {
        "period": label,
        "town": town,
        "towns": town_names(session, app_catalogue(request.app)),
        "year": request.query_params.get("year", ""),
        "part": request.query_params.get("part", ""),
        "word": f"/bulletins/{quote(label)}.docx{query}" if label else "",
        "annex": f"/bulletins/{quote(label)}.xlsx{query}" if label else "",
    }
    return render(request, "bulletins.html", user, context)


@router.get("/bulletins/{period}.{fmt}")
def bulletin_file(
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    _user: PageViewer,
    period: str,
    fmt: str,
    town: str | None = None,
) -> Response:
    """Download the period's bulletin (docx) or its annex (xlsx), for the district or one town."""
    if fmt not in MEDIA:
        raise BadRequest(f"格式 {fmt!r} 无效；请下载 docx（通报）或 xlsx（附件）。", code="bad_format")
    chosen = parse_period(period)
    built = build_bulletin(session, chosen, town or None, clock, settings)
    data = word_bytes(built) if fmt == "docx" else annex_bytes(built)
    name = f"河长制工作通报_{chosen.label}{'_' + town if town else ''}{'' if fmt == 'docx' else '_附件'}.{fmt}"
    disposition = f"attachment; filename=\"bulletin.{fmt}\"; filename*=UTF-8''{quote(name)}"
    return Response(data, media_type=MEDIA[fmt], headers={"Content-Disposition": disposition})
