"""River chiefs over HTTP: the roster (import, who answers for which reach on a date), coverage, calendar, export.

Routers of the chiefs' work live in this module and its siblings (``signboards``, ``patrols``,
``public_reports``); :data:`ROUTERS` gathers them for the app.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from gis_service.api.deps import Admin, Caller, CatalogueDep, ClockDep, SessionDep, SettingsDep, Viewer, app_settings
from gis_service.api.params import IdPath
from gis_service.api.responses import file_responses
from gis_service.api.schemas import chiefs as shapes
from gis_service.chiefs import assignments, patrols, sheets
from gis_service.chiefs.roster import read_roster
from gis_service.chiefs.rules import PatrolRules
from gis_service.chiefs.signboards import refresh_flags
from gis_service.errors import BadRequest, Unauthorized

router = APIRouter(prefix="/api/v1/chiefs", tags=["chiefs"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROSTER_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary", "description": "河长名录 .xlsx"}},
                    "required": ["file"],
                }
            }
        },
        "required": True,
    }
}


def is_staff(caller: Caller) -> bool:
    """Tell whether the caller holds a token (staff see chiefs' phones)."""
    return caller.role is not None


def require_staff(caller: Caller) -> None:
    """Refuse an anonymous caller (what only staff may read: phones)."""
    if not is_staff(caller):
        raise Unauthorized(
            "河长联系电话仅对工作人员开放：请在请求头加 `Authorization: Bearer <令牌>`", code="token_required"
        )


def xlsx_response(content: bytes, filename: str) -> Response:
    """Return workbook bytes as a download named ``filename`` (UTF-8 name per RFC 6266)."""
    from urllib.parse import quote

    return Response(
        content, media_type=XLSX, headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}
    )


@router.get("", response_model=shapes.Assignments, response_model_exclude_unset=True)
def list_assignments(
    session: SessionDep,
    caller: Viewer,
    clock: ClockDep,
    river: Annotated[str | None, Query(description="河流编码")] = None,
    on: Annotated[dt.date | None, Query(description="日期：谁在这天负责（默认今天）")] = None,
) -> dict[str, Any]:
    """Return the chiefs in office on a date with their reaches (phones for staff only)."""
    day = on or clock.today()
    rows = assignments.assignments_on(session, day, river_code=river)
    return {
        "date": day.isoformat(),
        "assignments": [assignments.assignment_record(a, c, staff=is_staff(caller)) for a, c in rows],
    }


@router.post(
    "/import", openapi_extra=ROSTER_BODY, response_model=shapes.RosterImport, response_model_exclude_unset=True
)
async def import_roster(
    request: Request, session: SessionDep, catalogue: CatalogueDep, caller: Admin, clock: ClockDep
) -> dict[str, Any]:
    """Import the Excel roster (422 with the report of bad rows; nothing stored then)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest("请以 multipart/form-data 上传，名录文件放在字段 file 中", code="not_multipart")
    form = await request.form(max_files=1)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise BadRequest("没有收到名录文件（字段 file，.xlsx）", code="missing_file")
    settings = app_settings(request.app)
    content = await upload.read(int(settings.max_upload_mb * 1024 * 1024) + 1)
    name = Path(upload.filename or "roster.xlsx").name
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (name if name.lower().endswith(".xlsx") else "roster.xlsx")
        path.write_bytes(content)
        rivers = assignments.rivers_frame(session, catalogue)
        rows = read_roster(path, assignments.river_facts(rivers), clock.today(), settings.gap_tolerance_m)
    result: dict[str, Any] = assignments.apply_roster(session, rows, rivers, settings.gap_tolerance_m)
    result["signboards_outdated"] = len(refresh_flags(session, app_settings(request.app), clock.today()))
    caller.audit(session, "chiefs.import", "roster", name, **result)
    return result


@router.get("/coverage", response_model=shapes.Coverage, response_model_exclude_unset=True)
def coverage(
    session: SessionDep, catalogue: CatalogueDep, _caller: Viewer, clock: ClockDep, settings: SettingsDep
) -> dict[str, Any]:
    """Return each important river's (and each river with chiefs') gaps and overlaps of reaches per level."""
    return assignments.coverage_check(session, catalogue, clock.today(), settings.gap_tolerance_m)


@router.get("/export.xlsx", response_class=Response, responses=file_responses(XLSX))
def export_roster(session: SessionDep, caller: Viewer, clock: ClockDep) -> Response:
    """Download the roster in force and its history as an Excel workbook (staff: it carries phones)."""
    require_staff(caller)
    content, _ = sheets.roster_bytes(session, clock.today())
    return xlsx_response(content, f"河长名录_{clock.today():%Y%m%d}.xlsx")


class ChiefEdit(BaseModel):
    """A correction of a chief's post, unit or phone (a new chief is a new roster row: a handover)."""

    post: str | None = Field(default=None, max_length=128)
    unit: str | None = Field(default=None, max_length=128)
    phone: str | None = Field(default=None, max_length=32)


class AssignmentEnd(BaseModel):
    """The day a chief leaves a reach (卸任): from this day on the reach is no longer theirs."""

    end_date: dt.date


@router.patch("/{chief_id}", response_model=shapes.ChiefEdited, response_model_exclude_unset=True)
def edit_chief(
    chief_id: IdPath, body: ChiefEdit, session: SessionDep, settings: SettingsDep, caller: Admin, clock: ClockDep
) -> dict[str, Any]:
    """Correct a chief's post, unit or phone; boards naming the chief are flagged when their text changes."""
    changes = body.model_dump(exclude_unset=True)
    chief = assignments.edit_chief(session, chief_id, changes)
    outdated = refresh_flags(session, settings, clock.today())
    caller.audit(session, "chief.edit", "chief", chief_id, changes=changes)
    return {
        "id": chief.id,
        "name": chief.name,
        "post": chief.post,
        "unit": chief.unit,
        "phone": chief.phone,
        "signboards_outdated": len(outdated),
    }


@router.post(
    "/assignments/{assignment_id}/end", response_model=shapes.AssignmentEnded, response_model_exclude_unset=True
)
def end_assignment(
    assignment_id: IdPath,
    body: AssignmentEnd,
    session: SessionDep,
    settings: SettingsDep,
    caller: Admin,
    clock: ClockDep,
) -> dict[str, Any]:
    """End a chief's term on a reach; the history keeps it, and boards naming the chief are flagged."""
    held = assignments.end_assignment(session, assignment_id, body.end_date)
    outdated = refresh_flags(session, settings, clock.today())
    caller.audit(session, "chief.end", "assignment", assignment_id, end_date=body.end_date.isoformat())
    return {**assignments.assignment_record(held), "signboards_outdated": len(outdated)}


@router.get("/{chief_id}/calendar", response_model=shapes.PatrolCalendar, response_model_exclude_unset=True)
def patrol_calendar(
    chief_id: IdPath, session: SessionDep, settings: SettingsDep, _caller: Viewer, clock: ClockDep
) -> dict[str, Any]:
    """Return a chief's patrol calendar: the periods of the level, each met or not, and the patrols."""
    return patrols.calendar(session, chief_id, clock.today(), PatrolRules.of(settings))
