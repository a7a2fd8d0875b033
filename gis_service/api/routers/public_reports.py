"""Public reports (群众举报) over HTTP: intake with no token (web page or a WeChat bridge), public status, moderation.

Intake: ``POST /api/v1/public-reports`` as JSON ``{"lon", "lat", "category", "description",
"contact"?}`` or as a multipart form with the same fields and ``photos`` files (JPEG/PNG, EXIF
removed when stored); ``"use_photo_location": true`` lets a photo's EXIF position stand for the
place. Answers 201 ``{"reference", "status", "status_label"}``; too many from one address within
the window: 429. Moderation (admin): list, accept (a ledger site), decline with a reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from gis_service.api.deps import Admin, ClockDep, SessionDep, SettingsDep, app_catalogue, app_settings
from gis_service.api.schemas import chiefs as shapes
from gis_service.chiefs import public_reports
from gis_service.errors import BadRequest, PayloadTooLarge
from gis_service.ledger.photos import PhotoUpload

router = APIRouter(prefix="/api/v1/public-reports", tags=["public-reports"])


class PublicReportIn(BaseModel):
    """A citizen's report: the place (lon/lat, EPSG:4490), the category, what was seen, an optional contact."""

    lon: float | None = Field(default=None, description="经度")
    lat: float | None = Field(default=None, description="纬度")
    category: str = Field(description="乱占 | 乱采 | 乱堆 | 乱建 | 妨碍河道行洪（或英文代码）")
    description: str = Field(max_length=public_reports.MAX_DESCRIPTION, description="问题描述")
    contact: str | None = Field(default=None, max_length=public_reports.MAX_CONTACT, description="联系方式（不公开）")
    use_photo_location: bool = Field(default=False, description="没有 lon/lat 时，用照片中的拍摄位置")
    channel: str = Field(default="web", max_length=16, description="web | wechat | hotline")


class Decision(BaseModel):
    """A moderator's decision: a reason when declining, optionally a corrected category when accepting."""

    reason: str | None = Field(default=None, max_length=2000)
    category: str | None = None


INTAKE_BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": PublicReportIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        **{k: {"type": "string"} for k in ("lon", "lat", "category", "description", "contact")},
                        "use_photo_location": {"type": "boolean"},
                        "photos": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                    "required": ["category", "description"],
                }
            },
        },
        "required": True,
    }
}


async def intake(request: Request) -> tuple[PublicReportIn, list[PhotoUpload]]:
    """Parse a report from JSON, or from a multipart form with ``photos``."""
    kind = request.headers.get("content-type", "")
    limit = app_settings(request.app).public_report_max_photos
    try:
        if kind.startswith("multipart/form-data"):
            form = await request.form(max_files=limit + 1)
            fields = {k: v for k, v in form.items() if isinstance(v, str) and v.strip() != ""}
            body = PublicReportIn.model_validate(fields)
            files = [f for f in form.getlist("photos") if not isinstance(f, str)]
            if len(files) > limit:
                raise PayloadTooLarge(f"一次最多上传 {limit} 张照片，收到 {len(files)} 张", code="too_many_photos")
            size = int(app_settings(request.app).max_photo_mb * 1024 * 1024) + 1
            return body, [PhotoUpload(f.filename or "photo", await f.read(size)) for f in files]
        return PublicReportIn.model_validate(await request.json()), []
    except (ValueError, ValidationError) as exc:
        raise BadRequest(
            "举报内容不正确：需要 category、description，以及位置 lon、lat（或允许使用照片位置）；"
            f"附照片时用 multipart 表单（字段 photos）。详情：{str(exc)[:300]}",
            code="bad_public_report",
        ) from None


@router.post(
    "",
    status_code=201,
    openapi_extra=INTAKE_BODY,
    response_model=shapes.PublicReport,
    response_model_exclude_unset=True,
)
def submit(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    parsed: Annotated[tuple[PublicReportIn, list[PhotoUpload]], Depends(intake)],
) -> JSONResponse:
    """Take a citizen's report (no token); answer its reference to follow its status."""
    body, photos = parsed
    address = request.client.host if request.client else "unknown"
    result = public_reports.submit(
        session,
        lon=body.lon,
        lat=body.lat,
        category=body.category,
        description=body.description,
        contact=body.contact,
        photos=photos,
        address=address,
        settings=settings,
        clock=clock,
        channel=body.channel,
        use_photo_location=body.use_photo_location,
    )
    result["links"] = [{"rel": "status", "href": f"/api/v1/public-reports/{result['reference']}"}]
    return JSONResponse(result, status_code=201)


@router.get("", response_model=shapes.PublicReports, response_model_exclude_unset=True)
def moderation_queue(
    session: SessionDep,
    _caller: Admin,
    status: Annotated[str | None, Query(description="pending（默认）| accepted | declined")] = "pending",
) -> dict[str, Any]:
    """Return the reports awaiting moderation (staff: with contacts)."""
    items = public_reports.queue(session, status)
    return {"reports": items, "numberReturned": len(items)}


@router.get("/{reference}", response_model=shapes.PublicReport, response_model_exclude_unset=True)
def public_status(reference: str, request: Request, session: SessionDep) -> dict[str, Any]:
    """Return a report's public status (never the contact)."""
    return public_reports.public_status(session, app_catalogue(request.app)["problems"], reference)


@router.post("/{reference}/accept", response_model=shapes.PublicReport, response_model_exclude_unset=True)
def accept(
    reference: str,
    session: SessionDep,
    caller: Admin,
    clock: ClockDep,
    settings: SettingsDep,
    body: Decision | None = None,
) -> dict[str, Any]:
    """Accept a report: it becomes a ledger site (source 群众举报, jurisdiction derived)."""
    result = public_reports.accept(
        session, reference, actor=caller.name, settings=settings, clock=clock, category=body.category if body else None
    )
    caller.audit(session, "public_report.accept", "public_report", reference, problem_id=result["problem"]["id"])
    return result


@router.post("/{reference}/decline", response_model=shapes.PublicReport, response_model_exclude_unset=True)
def decline(reference: str, body: Decision, session: SessionDep, caller: Admin, clock: ClockDep) -> dict[str, Any]:
    """Decline a report with a reason the reporter sees."""
    result = public_reports.decline(session, reference, reason=body.reason or "", actor=caller.name, clock=clock)
    caller.audit(session, "public_report.decline", "public_report", reference, reason=body.reason)
    return result
