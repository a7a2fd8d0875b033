"""The problem ledger over HTTP: report, read, list, transitions with evidence, history, overdue, stats.

Viewers read; surveyors (and admins) report sites and record field steps; the state machine
says which steps need an admin (assign, dismiss, close, reopen). Every write is audited.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from gis_service.api.deps import (
    Caller,
    CatalogueDep,
    ClockDep,
    SessionDep,
    SettingsDep,
    Viewer,
    allowed,
    app_settings,
    check_action,
)
from gis_service.api.params import MAX_ID, IdPath, Offset
from gis_service.api.responses import file_responses
from gis_service.api.routers.layers import parse_bbox
from gis_service.api.schemas import problems as shapes
from gis_service.db.models import Attachment, ProblemEvent
from gis_service.district import district_for
from gis_service.errors import BadRequest, NotFound, PayloadTooLarge
from gis_service.export import geojson
from gis_service.ledger import service
from gis_service.ledger.location import Location
from gis_service.ledger.photos import PhotoUpload, photo_file
from gis_service.roles import ROLES

router = APIRouter(prefix="/api/v1/problems", tags=["problems"])
MAX_PHOTOS = 10
MAX_PAGE = 1000
PHOTO_TYPES = ("image/jpeg", "image/png")


class NewProblem(Location):
    """A problem site reported from the map or from coordinates (lon/lat, or a GeoJSON geometry)."""

    category: str = Field(description="occupation | mining | dumping | construction | flood_obstruction（或中文）")
    description: str | None = Field(default=None, max_length=4000)
    code: str | None = Field(default=None, max_length=64, description="编号；不填则自动生成")
    found_date: dt.date | None = None
    source: str | None = Field(default=None, description="patrol | unannounced_visit | public_report | remote_sensing")
    note: str | None = Field(default=None, max_length=4000)


class ProblemEdit(Location):
    """A correction of a site's fields or position, against the version the editor saw."""

    expected_version: int = Field(ge=0, le=MAX_ID)
    description: str | None = Field(default=None, max_length=4000)
    category: str | None = None
    found_date: dt.date | None = None
    source: str | None = None
    measures: str | None = Field(default=None, max_length=4000)
    note: str | None = Field(default=None, max_length=4000)


class TransitionInput(BaseModel):
    """One ledger step: the action, the version the actor saw, a note and the step's fields."""

    action: str = Field(description="confirm | dismiss | assign | start | rectify | reject | close | reopen")
    expected_version: int = Field(ge=0, le=MAX_ID, description="问题当前的 lock_version（乐观锁）")
    note: str | None = Field(default=None, max_length=4000)
    data: dict[str, Any] = Field(
        default_factory=dict, description="deadline, responsible_unit, measures, verifier, evidence ..."
    )


def json_response(data: Any) -> Response:
    """Return API data as JSON, encoded in one pass (FastAPI's generic encoder costs ~5x more on a page of sites)."""
    return Response(geojson.dumps(data), media_type="application/json")


def page_links(request: Request, offset: int, limit: int, more: bool) -> list[dict[str, str]]:
    """Return the paging links of a list: ``next`` when more items follow."""
    if not more:
        return []
    return [{"rel": "next", "href": str(request.url.include_query_params(offset=offset + limit))}]


@router.post("", status_code=201, response_model=shapes.Problem, response_model_exclude_unset=True)
def report_problem(
    body: NewProblem,
    session: SessionDep,
    catalogue: CatalogueDep,
    caller: Annotated[Caller, allowed("problem.report")],
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Report a problem site; its river, town, range and zone are derived at once."""
    fields = body.model_dump(include={"category", "description", "code", "found_date", "source"}, exclude_none=True)
    frame = service.site_frame(catalogue["problems"], body.location(district_for(settings)), fields)
    pid = service.report_new(session, frame, actor=caller.name, settings=settings, clock=clock, note=body.note)[0]
    caller.audit(session, "problem.report", "problem", pid, category=frame["category"].iloc[0])
    return service.get_problem(session, pid, problems=catalogue["problems"], clock=clock)


def _filter(
    catalogue: CatalogueDep,
    status: Annotated[list[str] | None, Query(description="状态，可多个")] = None,
    category: Annotated[list[str] | None, Query(description="类别，可多个")] = None,
    town: str | None = None,
    river: Annotated[str | None, Query(description="河流编码")] = None,
    unit: Annotated[str | None, Query(description="责任单位")] = None,
    found_from: dt.date | None = None,
    found_to: dt.date | None = None,
    overdue: bool | None = None,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (EPSG:4490)")] = None,
) -> service.ProblemFilter:
    """Read the list filters from the query string (status and category codes checked against the catalogue)."""
    flt = service.ProblemFilter(
        status=tuple(status or ()),
        category=tuple(category or ()),
        town=town,
        river_code=river,
        responsible_unit=unit,
        found_from=found_from,
        found_to=found_to,
        overdue=overdue,
        bbox=parse_bbox(bbox),
    )
    return flt.checked(catalogue["problems"])


FilterDep = Annotated[service.ProblemFilter, Depends(_filter)]


@router.get("", response_model=shapes.ProblemPage)
def list_problems(
    request: Request,
    session: SessionDep,
    catalogue: CatalogueDep,
    _caller: Viewer,
    clock: ClockDep,
    flt: FilterDep,
    sort: Annotated[str, Query(description="排序字段，逗号分隔，前加 - 为倒序，如 -found_date,code")] = "-id",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Offset = 0,
) -> Response:
    """List problems with filters, sorting and paging (a ``next`` link when more follow)."""
    items, more = service.list_problems(
        session, flt, sort=sort, limit=limit, offset=offset, problems=catalogue["problems"], clock=clock
    )
    return json_response(
        {
            "items": items,
            "numberReturned": len(items),
            "offset": offset,
            "links": page_links(request, offset, limit, more),
        }
    )


@router.get("/overdue", response_model=shapes.OverdueProblems)
def overdue_problems(
    request: Request,
    session: SessionDep,
    catalogue: CatalogueDep,
    _caller: Viewer,
    clock: ClockDep,
    flt: FilterDep,
    sort: Annotated[str, Query(description="排序字段，默认 deadline（超期最久的在前），如 town,deadline")] = "deadline",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
    offset: Offset = 0,
) -> Response:
    """List the overdue items (sorted, paged), with counts per town, river and responsible unit."""
    data = service.overdue(
        session, problems=catalogue["problems"], flt=flt, clock=clock, sort=sort, limit=limit, offset=offset
    )
    links = page_links(request, offset, limit, data["truncated"])
    return json_response({**data, "numberReturned": len(data["items"]), "links": links})


@router.get("/stats", response_model=shapes.ProblemStats, response_model_exclude_unset=True)
def problem_stats(
    session: SessionDep,
    catalogue: CatalogueDep,
    _caller: Viewer,
    clock: ClockDep,
    flt: FilterDep,
    by: Annotated[str | None, Query(description="town | river | unit")] = None,
) -> dict[str, Any]:
    """Return counts by status and category, closure rate and on-time rate, overall and per group."""
    return service.statistics(session, problems=catalogue["problems"], by=by, flt=flt, clock=clock)


@router.get("/{problem_id}", response_model=shapes.Problem, response_model_exclude_unset=True)
def read_problem(
    problem_id: IdPath, session: SessionDep, catalogue: CatalogueDep, _caller: Viewer, clock: ClockDep
) -> dict[str, Any]:
    """Return one problem with its derived jurisdiction, overdue flag and allowed actions."""
    return service.get_problem(session, problem_id, problems=catalogue["problems"], clock=clock)


@router.patch("/{problem_id}", response_model=shapes.Problem, response_model_exclude_unset=True)
def edit_problem(
    problem_id: IdPath,
    body: ProblemEdit,
    session: SessionDep,
    catalogue: CatalogueDep,
    caller: Annotated[Caller, allowed("problem.edit")],
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Correct a site's fields or move it (jurisdiction re-derived); refused once closed or dismissed."""
    fields, geom = body.edit(service.EDITABLE, district_for(settings))
    event = service.edit_problem(
        session,
        problem_id,
        settings=settings,
        actor=caller.name,
        expected_version=body.expected_version,
        fields=fields,
        geometry=geom,
        note=body.note,
        clock=clock,
    )
    caller.audit(session, f"problem.{event.action}", "problem", problem_id, changes=event.data.get("changes"))
    return service.get_problem(session, problem_id, problems=catalogue["problems"], clock=clock)


async def _uploads(form: Any, max_mb: float) -> list[PhotoUpload]:
    """Read the ``photos`` files of a multipart form, refusing too many."""
    files = [f for f in form.getlist("photos") if hasattr(f, "read")]
    if len(files) > MAX_PHOTOS:
        raise PayloadTooLarge(f"一次最多上传 {MAX_PHOTOS} 张照片，收到 {len(files)} 张", code="too_many_photos")
    limit = int(max_mb * 1024 * 1024)
    uploads = []
    for f in files:
        # Read one byte past the limit: enough to refuse an oversized photo without holding it all.
        content = await f.read(limit + 1)
        uploads.append(PhotoUpload(filename=f.filename or "photo", content=content))
    return uploads


async def transition_input(request: Request) -> tuple[TransitionInput, list[PhotoUpload]]:
    """Parse a transition from JSON, or from a multipart form with ``photos`` files as evidence."""
    kind = request.headers.get("content-type", "")
    try:
        if kind.startswith("multipart/form-data"):
            form = await request.form(max_files=MAX_PHOTOS + 1)
            raw_data = form.get("data") or "{}"
            fields = {
                "action": form.get("action"),
                "expected_version": form.get("expected_version"),
                "note": form.get("note"),
                "data": json.loads(str(raw_data)),
            }
            return TransitionInput.model_validate(fields), await _uploads(form, app_settings(request.app).max_photo_mb)
        return TransitionInput.model_validate(await request.json()), []
    except (ValueError, ValidationError) as exc:
        raise BadRequest(
            "流转请求不正确：需要 action、expected_version（整数），可选 note、data（对象）；"
            f"附照片时用 multipart 表单（字段 photos）。详情：{str(exc)[:300]}",
            code="bad_transition_request",
        ) from None


TRANSITION_BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": TransitionInput.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "action": {"type": "string"},
                        "expected_version": {"type": "integer"},
                        "note": {"type": "string"},
                        "data": {"type": "string", "description": "JSON 对象"},
                        "photos": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            },
        },
        "required": True,
    },
}


@router.post(
    "/{problem_id}/transitions",
    status_code=201,
    openapi_extra=TRANSITION_BODY,
    response_model=shapes.TransitionResult,
    response_model_exclude_unset=True,
)
def transition_problem(
    problem_id: IdPath,
    session: SessionDep,
    catalogue: CatalogueDep,
    caller: Annotated[Caller, allowed("problem.report")],
    clock: ClockDep,
    parsed: Annotated[tuple[TransitionInput, list[PhotoUpload]], Depends(transition_input)],
    settings: SettingsDep,
) -> dict[str, Any]:
    """Take one ledger step (403 when the role table refuses it; 409 when the state or version does not allow it)."""
    body, photos = parsed
    if f"problem.{body.action}" in ROLES:
        check_action(caller, f"problem.{body.action}", settings)
    event = service.transition(
        session,
        problem_id,
        body.action,
        actor=caller.name,
        role=caller.role,
        expected_version=body.expected_version,
        note=body.note,
        data=body.data,
        attachments=photos,
        settings=settings,
        clock=clock,
    )
    caller.audit(
        session,
        f"problem.{body.action}",
        "problem",
        problem_id,
        event_id=event.id,
        from_status=event.from_status,
        to_status=event.to_status,
        photos=len(photos),
    )
    return {
        "event": service.history(session, problem_id)[-1],
        "problem": service.get_problem(session, problem_id, problems=catalogue["problems"], clock=clock),
    }


@router.get("/{problem_id}/history", response_model=shapes.ProblemHistory, response_model_exclude_unset=True)
def problem_history(problem_id: IdPath, session: SessionDep, _caller: Viewer) -> dict[str, Any]:
    """Return every step of the problem's ledger: who, when, what, and the evidence."""
    return {"problem_id": problem_id, "events": service.history(session, problem_id)}


async def photo_uploads(request: Request) -> list[PhotoUpload]:
    """Parse the ``photos`` files of a multipart upload."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest("请以 multipart/form-data 上传，照片放在字段 photos 中", code="not_multipart")
    form = await request.form(max_files=MAX_PHOTOS + 1)
    return await _uploads(form, app_settings(request.app).max_photo_mb)


PHOTOS_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"photos": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                }
            }
        },
        "required": True,
    }
}


@router.post(
    "/{problem_id}/events/{event_id}/photos",
    status_code=201,
    openapi_extra=PHOTOS_BODY,
    response_model=shapes.Attachments,
    response_model_exclude_unset=True,
)
def upload_photos(
    problem_id: IdPath,
    event_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, allowed("problem.photo")],
    clock: ClockDep,
    settings: SettingsDep,
    uploads: Annotated[list[PhotoUpload], Depends(photo_uploads)],
) -> dict[str, Any]:
    """Attach evidence photos (JPEG/PNG) to a ledger event; their EXIF position and time are read."""
    stored = service.attach_to_event(session, problem_id, event_id, uploads, settings=settings, clock=clock)
    caller.audit(session, "problem.photo", "problem", problem_id, event_id=event_id, attachments=[a.id for a in stored])
    return {"attachments": [service.attachment_data(a) for a in stored]}


@router.get(
    "/{problem_id}/attachments/{attachment_id}",
    response_class=FileResponse,
    responses=file_responses(*PHOTO_TYPES),
)
def download_photo(
    problem_id: IdPath, attachment_id: IdPath, session: SessionDep, _caller: Viewer, settings: SettingsDep
) -> FileResponse:
    """Return an evidence photo."""
    row = session.execute(
        select(Attachment)
        .join(ProblemEvent, ProblemEvent.id == Attachment.event_id)
        .where(Attachment.id == attachment_id, ProblemEvent.problem_id == problem_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"问题 {problem_id} 没有编号为 {attachment_id} 的附件", code="attachment_not_found")
    return photo_response(row.path, row.content_type, row.filename, settings.data_dir)


def photo_response(relative: str, content_type: str, filename: str, data_dir: Path) -> FileResponse:
    """Return a stored evidence photo (under ``data_dir``) as a download, or a clear 404 when its file is gone."""
    path = photo_file(relative, data_dir)
    if not path.exists():
        raise NotFound("附件文件已不在数据目录中；请联系管理员", code="attachment_missing")
    return FileResponse(path, media_type=content_type, filename=filename)
