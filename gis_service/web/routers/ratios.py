"""``/ratios``: the shoreline ratio check per river and bank, filters, 达标 / 不达标 with reasons, downloads.

The downloads (``/ratios/export.xlsx|csv|geojson``) stream the same files as ``/api/v1/ratios/export.*``
under the page session, so a logged-in user downloads them when public reading is off.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from gis_service.api.deps import SessionDep, SettingsDep
from gis_service.catalogue import catalogue_for
from gis_service.district import district_for
from gis_service.export.ratios import MEDIA_TYPES, zone_labels
from gis_service.export.ratios import render as render_export
from gis_service.store.current import river_towns, town_names
from gis_service.store.ratios import current_report, ratio_rules
from gis_service.web.deps import PAGE, PageViewer
from gis_service.web.ratio_view import river_rows
from gis_service.web.templating import render

router = APIRouter(dependencies=PAGE, include_in_schema=False)
TRUE_WORDS = {"1", "true", "on", "是"}


@router.get("/ratios")
def ratios_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageViewer,
    town: str = "",
    important: str = "",
) -> Response:
    """The check per river and bank: verdicts, reasons, each river's map, and the downloads."""
    important_only = important.strip().lower() in TRUE_WORDS
    town = town.strip()
    catalogue = catalogue_for(settings)
    report = current_report(session, catalogue, ratio_rules(settings))
    towns = river_towns(session, catalogue)
    rows = river_rows(report, towns, zone_labels(catalogue), important_only=important_only, town=town or None)
    download = urlencode({"important_only": "true"}) if important_only else ""
    context = {
        "rows": rows,
        "towns": town_names(session, catalogue),
        "town": town,
        "important_only": important_only,
        "threshold": report.threshold,
        "total": report.total(important_only),
        "failing": sum(1 for r in rows if not r.compliant),
        "warnings": report.warnings,
        "download_query": f"?{download}" if download else "",
    }
    return render(request, "ratios.html", user, context)


@router.get("/ratios/export.{fmt}")
def ratios_download(
    session: SessionDep,
    settings: SettingsDep,
    _user: PageViewer,
    fmt: Annotated[Literal["xlsx", "csv", "geojson"], Path()],
    river: str | None = None,
    important_only: bool = False,
) -> Response:
    """下载 Excel / CSV / GeoJSON: the files of ``/api/v1/ratios/export.*``, for the page's logged-in user."""
    report = current_report(session, catalogue_for(settings), ratio_rules(settings), river=river or None)
    labels = zone_labels(catalogue_for(settings))
    data = render_export(report, labels, fmt, important_only, district=district_for(settings).name)
    name = f"岸线功能区核算{'_' + river if river else ''}.{fmt}"
    disposition = f"attachment; filename=\"ratios.{fmt}\"; filename*=UTF-8''{quote(name)}"
    return Response(data, media_type=MEDIA_TYPES[fmt], headers={"Content-Disposition": disposition})
