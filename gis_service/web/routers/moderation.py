"""The moderation page (``/moderation``, admins): citizens' reports awaiting review, with their photos.

Accepting files the report in the ledger as a site (source 群众举报, jurisdiction derived); declining needs
a reason, which the reporter sees on the public status page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gis_service.api.deps import ClockDep, SessionDep, SettingsDep, app_catalogue, app_settings
from gis_service.api.routers.problems import photo_response
from gis_service.chiefs import public_reports
from gis_service.errors import NotFound, ServiceError
from gis_service.web.deps import PAGE, CsrfForm, PageAdmin, WebUser, commit_now
from gis_service.web.templating import china_time, render
from gis_service.web.uploads import text

router = APIRouter(dependencies=PAGE, include_in_schema=False)
SHOWN = {"pending", "accepted", "declined"}
CHANNELS = {"web": "网页", "wechat": "微信公众号", "hotline": "热线电话"}


def _page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    error: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """Render the queue of one status (待审核 by default) with each report's photos and decision forms."""
    shown = request.query_params.get("status") or "pending"
    shown = shown if shown in SHOWN else "pending"
    category = app_catalogue(request.app)["problems"].field("category")
    rows = public_reports.queue(session, shown)
    for r in rows:
        r["category_label"] = category.value_label(r["category"])
        r["status_label"] = public_reports.STATUS_LABELS.get(r["status"], r["status"])
        r["channel_label"] = CHANNELS.get(r["channel"] or "", r["channel"])
        r["created_text"] = china_time(dt.datetime.fromisoformat(r["created_at"])) if r["created_at"] else None
    context: dict[str, Any] = {
        "rows": rows,
        "shown": shown,
        "labels": public_reports.STATUS_LABELS,
        "error": error,
    }
    return render(request, "moderation.html", user, context, status=status)


@router.get("/moderation")
def moderation(request: Request, session: SessionDep, user: PageAdmin) -> Response:
    """The reports awaiting review (or those accepted or declined), oldest first."""
    return _page(request, session, user)


@router.post("/moderation/{reference}/accept")
def accept(
    request: Request, session: SessionDep, clock: ClockDep, user: PageAdmin, _form: CsrfForm, reference: str
) -> Response:
    """Admins: accept a report; it becomes a ledger site and the page links to it."""
    try:
        with session.begin_nested():
            result = public_reports.accept(
                session, reference, actor=user.username, settings=app_settings(request.app), clock=clock
            )
    except ServiceError as exc:
        if exc.http_status >= 500 or exc.http_status == 404:
            raise
        return _page(request, session, user, error={"message": exc.message, "code": exc.code}, status=exc.http_status)
    problem_id = result["problem"]["id"]
    user.caller.audit(session, "public_report.accept", "public_report", reference, problem_id=problem_id)
    commit_now(session)
    return RedirectResponse(f"/moderation?accepted={problem_id}", status_code=303)


@router.post("/moderation/{reference}/decline")
def decline(
    request: Request, session: SessionDep, clock: ClockDep, user: PageAdmin, form: CsrfForm, reference: str
) -> Response:
    """Admins: decline a report with a reason the reporter sees."""
    try:
        reason = text(form, "reason", "不予受理原因", 2000)
        with session.begin_nested():
            public_reports.decline(session, reference, reason=reason, actor=user.username, clock=clock)
    except ServiceError as exc:
        if exc.http_status >= 500 or exc.http_status == 404:
            raise
        return _page(request, session, user, error={"message": exc.message, "code": exc.code}, status=exc.http_status)
    user.caller.audit(session, "public_report.decline", "public_report", reference, reason=reason)
    commit_now(session)
    return RedirectResponse("/moderation?declined=1", status_code=303)


@router.get("/moderation/{reference}/photos/{index}")
def photo(session: SessionDep, _user: PageAdmin, settings: SettingsDep, reference: str, index: int) -> FileResponse:
    """A photo sent with a report (EXIF removed when stored), for the moderators."""
    found = [r for r in public_reports.queue(session, None) if r["reference"] == reference]
    photos = (found[0]["photos"] or []) if found else []
    if not 0 <= index < len(photos):
        raise NotFound(f"举报 {reference} 没有第 {index + 1} 张照片", code="photo_not_found")
    item = photos[index]
    return photo_response(item["path"], item["content_type"], item["filename"], settings.data_dir)
