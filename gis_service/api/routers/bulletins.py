"""Bulletins (定期通报) over HTTP: the Word document and its Excel annex for a month or quarter."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from gis_service.api.deps import ClockDep, SessionDep, SettingsDep, Viewer
from gis_service.api.responses import file_responses
from gis_service.quality.assessment import parse_period
from gis_service.quality.bulletin import build_bulletin
from gis_service.quality.bulletin_files import annex_bytes, word_bytes

router = APIRouter(prefix="/api/v1/bulletins", tags=["bulletins"])
MEDIA = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get("/{period}.{fmt}", response_class=Response, responses=file_responses(*MEDIA.values()))
def bulletin(
    session: SessionDep,
    _caller: Viewer,
    clock: ClockDep,
    settings: SettingsDep,
    period: Annotated[str, Path(description="2024-06（月）或 2024-Q2（季度）")],
    fmt: Annotated[Literal["docx", "xlsx"], Path(description="docx（通报）| xlsx（附件）")],
    town: Annotated[str | None, Query(description="镇街名称（默认全区）")] = None,
) -> Response:
    """Download the period's bulletin (docx) or its annex (xlsx), for the district or one town."""
    chosen = parse_period(period)
    built = build_bulletin(session, chosen, town, clock, settings)
    data = word_bytes(built) if fmt == "docx" else annex_bytes(built)
    name = f"河长制工作通报_{chosen.label}{'_' + town if town else ''}{'' if fmt == 'docx' else '_附件'}.{fmt}"
    disposition = f"attachment; filename=\"bulletin.{fmt}\"; filename*=UTF-8''{quote(name)}"
    return Response(data, media_type=MEDIA[fmt], headers={"Content-Disposition": disposition})
