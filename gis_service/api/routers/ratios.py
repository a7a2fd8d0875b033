"""The shoreline ratio check over HTTP: JSON, and the XLSX, CSV and GeoJSON downloads."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from gis_service.api.deps import SessionDep, SettingsDep, Viewer
from gis_service.api.responses import file_responses
from gis_service.api.schemas import ratios as shapes
from gis_service.catalogue import catalogue_for
from gis_service.district import district_for
from gis_service.export.ratios import MEDIA_TYPES, render, zone_labels
from gis_service.store.ratios import current_report, ratio_rules

router = APIRouter(prefix="/api/v1/ratios", tags=["ratios"])
RiverQuery = Annotated[str | None, Query(description="只核算这条河流（河流编码）")]
ImportantQuery = Annotated[bool, Query(description="只统计重要河道")]


@router.get("", response_model=shapes.RatioReport, response_model_exclude_unset=True)
def ratios(
    session: SessionDep,
    _caller: Viewer,
    settings: SettingsDep,
    river: RiverQuery = None,
    important_only: ImportantQuery = False,
) -> dict[str, Any]:
    """Return the ratio check per river and bank, the total and per-town totals (JSON of `rivergis ratios`)."""
    return current_report(session, catalogue_for(settings), ratio_rules(settings), river=river).to_json(important_only)


@router.get("/export.{fmt}", response_class=Response, responses=file_responses(*MEDIA_TYPES.values()))
def ratios_export(
    session: SessionDep,
    _caller: Viewer,
    settings: SettingsDep,
    fmt: Annotated[Literal["xlsx", "csv", "geojson"], Path(description="xlsx | csv | geojson")],
    river: RiverQuery = None,
    important_only: ImportantQuery = False,
) -> Response:
    """Download the check as an XLSX workbook, a CSV table (UTF-8 BOM) or GeoJSON of the zone stretches."""
    report = current_report(session, catalogue_for(settings), ratio_rules(settings), river=river)
    data = render(
        report, zone_labels(catalogue_for(settings)), fmt, important_only, district=district_for(settings).name
    )
    name = f"岸线功能区核算{'_' + river if river else ''}.{fmt}"
    disposition = f"attachment; filename=\"ratios.{fmt}\"; filename*=UTF-8''{quote(name)}"
    return Response(data, media_type=MEDIA_TYPES[fmt], headers={"Content-Disposition": disposition})
