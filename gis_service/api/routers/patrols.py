"""Patrols (巡河) over HTTP: upload a track (GPX, GeoJSON, KML), problems found on it, list, overdue reaches."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from gis_service.api.deps import (
    ClockDep,
    SessionDep,
    SettingsDep,
    Surveyor,
    Viewer,
    app_settings,
)
from gis_service.api.params import MAX_ID, IdPath
from gis_service.api.schemas import chiefs as shapes
from gis_service.catalogue import catalogue_for
from gis_service.chiefs import patrols
from gis_service.chiefs.rules import PatrolRules
from gis_service.chiefs.stats import patrol_stats
from gis_service.chiefs.tracks import read_track
from gis_service.district import district_for
from gis_service.errors import BadRequest, PayloadTooLarge
from gis_service.ledger.location import Location
from gis_service.ledger.queries import get_problem

router = APIRouter(prefix="/api/v1/patrols", tags=["patrols"])
TRACK_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "track": {"type": "string", "format": "binary", "description": ".gpx .geojson .kml"},
                        "chief": {"type": "string", "description": "河长姓名"},
                        "river": {"type": "string", "description": "河流编码"},
                        "notes": {"type": "string"},
                        "joint_units": {"type": "string", "description": "联合巡河的镇街或区县"},
                    },
                    "required": ["track"],
                }
            }
        },
        "required": True,
    }
}


def _field(form: Any, name: str) -> str | None:
    """Return a text field of the form, None when blank."""
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


@router.post(
    "", status_code=201, openapi_extra=TRACK_BODY, response_model=shapes.Patrol, response_model_exclude_unset=True
)
async def add_patrol(request: Request, session: SessionDep, caller: Surveyor, clock: ClockDep) -> dict[str, Any]:
    """Store a patrol track: JSON ``{"id", "chief", "river_code", "length_m", "duration_s", "coverage"}`` and more."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest("请以 multipart/form-data 上传，轨迹文件放在字段 track 中", code="not_multipart")
    form = await request.form(max_files=1)
    upload = form.get("track")
    if upload is None or isinstance(upload, str):
        raise BadRequest("没有收到轨迹文件（字段 track：.gpx、.geojson 或 .kml）", code="missing_file")
    limit = int(app_settings(request.app).max_upload_mb * 1024 * 1024)
    content = await upload.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(f"轨迹文件超过 {app_settings(request.app).max_upload_mb:g} MB", code="track_too_large")
    name = Path(upload.filename or "track.gpx").name
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("track" + Path(name).suffix.lower())
        path.write_bytes(content)
        track = read_track(path, name, settings=app_settings(request.app))
    record = patrols.add_patrol(
        session,
        track,
        settings=app_settings(request.app),
        chief_name=_field(form, "chief"),
        river_code=_field(form, "river"),
        actor=caller.name,
        clock=clock,
        notes=_field(form, "notes"),
        joint_units=_field(form, "joint_units"),
    )
    caller.audit(session, "patrol.add", "patrol", record["id"], file=name, coverage=record["coverage"])
    return record


@router.get("", response_model=shapes.Patrols, response_model_exclude_unset=True)
def list_patrols(
    session: SessionDep,
    _caller: Viewer,
    chief_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    river: Annotated[str | None, Query(description="河流编码")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    """Return patrols, newest first (of a chief or a river)."""
    items = patrols.list_patrols(session, chief_id=chief_id, river_code=river, limit=limit)
    return {"patrols": items, "numberReturned": len(items)}


@router.get("/overdue", response_model=shapes.OverduePatrols, response_model_exclude_unset=True)
def overdue(session: SessionDep, settings: SettingsDep, _caller: Viewer, clock: ClockDep) -> dict[str, Any]:
    """Return the reaches whose chief has not patrolled within the period of the level (超期未巡)."""
    rows = patrols.overdue_reaches(session, clock.today(), PatrolRules.of(settings))
    by_level: dict[str, int] = {}
    for row in rows:
        by_level[row["level_label"]] = by_level.get(row["level_label"], 0) + 1
    return {"date": clock.today().isoformat(), "overdue": rows, "count": len(rows), "by_level": by_level}


class FoundProblem(Location):
    """A problem found on the patrol: where (lon/lat or GeoJSON), its category and description."""

    category: str = Field(description="occupation | mining | dumping | construction | flood_obstruction（或中文）")
    description: str | None = Field(default=None, max_length=4000)


@router.post(
    "/{patrol_id}/problems", status_code=201, response_model=shapes.PatrolFinding, response_model_exclude_unset=True
)
def report_found_problem(
    patrol_id: IdPath, body: FoundProblem, session: SessionDep, caller: Surveyor, clock: ClockDep, settings: SettingsDep
) -> dict[str, Any]:
    """File a problem found on this patrol in the ledger (source 巡河, linked to the patrol)."""
    fields = body.model_dump(include={"category", "description"}, exclude_none=True)
    location = body.location(district_for(settings))
    pid = patrols.report_found_problem(
        session, patrol_id, location, fields, actor=caller.name, settings=settings, clock=clock
    )
    caller.audit(session, "patrol.problem", "patrol", patrol_id, problem_id=pid)
    return {
        "patrol": patrols.get_patrol(session, patrol_id),
        "problem": get_problem(session, pid, problems=catalogue_for(settings)["problems"], clock=clock),
    }


@router.get("/stats", response_model=shapes.PatrolStats, response_model_exclude_unset=True)
def stats(session: SessionDep, settings: SettingsDep, _caller: Viewer, clock: ClockDep) -> dict[str, Any]:
    """Return per town: reaches in force, overdue reaches, patrols of the last 30 days and their mean coverage."""
    return patrol_stats(session, settings, clock.today())


@router.get("/{patrol_id}", response_model=shapes.Patrol, response_model_exclude_unset=True)
def read_patrol(patrol_id: IdPath, session: SessionDep, _caller: Viewer) -> dict[str, Any]:
    """Return one patrol."""
    return patrols.get_patrol(session, patrol_id)
