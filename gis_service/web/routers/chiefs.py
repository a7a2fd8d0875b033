"""The river chiefs' roster page (``/chiefs``): who is in office on a date, the coverage check, the admins' import;
and a chief's patrol calendar (``/chiefs/{id}/calendar``).

Phones are shown only to logged-in staff (as the API does); the import is the same as ``rivergis import chiefs``
and a refused roster shows its report of bad rows, nothing stored.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from gis_service.access import Role
from gis_service.api.deps import ClockDep, SessionDep, app_catalogue, app_settings
from gis_service.api.params import IdPath
from gis_service.chiefs import assignments, patrols
from gis_service.chiefs.roster import RosterRejected, read_roster
from gis_service.chiefs.rules import PatrolRules
from gis_service.chiefs.signboards import refresh_flags
from gis_service.clock import BusinessClock
from gis_service.errors import BadRequest, ServiceError
from gis_service.web.deps import (
    PAGE,
    PageAdmin,
    PageViewer,
    WebUser,
    commit_now,
)
from gis_service.web.file_upload import FileForm, file_bytes
from gis_service.web.templating import render

router = APIRouter(dependencies=PAGE, include_in_schema=False)


def _day(raw: str | None, today: dt.date) -> dt.date:
    """Return the date asked for (``YYYY-MM-DD``), today when none, or a clear 400."""
    if not raw:
        return today
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise BadRequest(f"日期 {raw!r} 无法识别；请用 YYYY-MM-DD，如 2025-03-18", code="bad_date") from None


def _page(
    request: Request,
    session: Session,
    user: WebUser,
    clock: BusinessClock,
    day: dt.date,
    *,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """Render the roster of ``day``, the coverage check and (for admins) the import form."""
    staff = user.logged_in
    rows = [assignments.assignment_record(a, c, staff=staff) for a, c in assignments.assignments_on(session, day)]
    context = {
        "day": day.isoformat(),
        "today": clock.today().isoformat(),
        "rows": rows,
        "staff": staff,
        "coverage": assignments.coverage_check(
            session, app_catalogue(request.app), day, app_settings(request.app).gap_tolerance_m
        ),
        "can_import": user.may(Role.ADMIN),
        "result": result,
        "error": error,
    }
    return render(request, "chiefs.html", user, context, status=status)


@router.get("/chiefs")
def roster(request: Request, session: SessionDep, clock: ClockDep, user: PageViewer) -> Response:
    """The roster in force on a date (today by default) and the coverage of each river's levels."""
    day = _day(request.query_params.get("on"), clock.today())
    return _page(request, session, user, clock, day)


@router.post("/chiefs/import")
async def import_roster(
    request: Request, session: SessionDep, clock: ClockDep, user: PageAdmin, upload: FileForm
) -> Response:
    """Admins: import a roster workbook (.xlsx); a refused one shows its report and stores nothing."""
    _form, file = upload
    today = clock.today()
    try:
        content = await file_bytes(file, " .xlsx 格式的河长名录", app_settings(request.app).max_upload_mb)
        name = Path(file.filename if file and file.filename else "roster.xlsx").name
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / (name if name.lower().endswith(".xlsx") else "roster.xlsx")
            path.write_bytes(content)
            rivers = assignments.rivers_frame(session, app_catalogue(request.app))
            facts = assignments.river_facts(rivers)
            tolerance = app_settings(request.app).gap_tolerance_m
            rows = read_roster(path, facts, today, tolerance)
        with session.begin_nested():
            result: dict[str, Any] = assignments.apply_roster(session, rows, rivers, tolerance)
            result["signboards_outdated"] = len(refresh_flags(session, app_settings(request.app), today))
    except ServiceError as exc:
        if exc.http_status >= 500:
            raise
        problems = exc.details.get("problems", []) if isinstance(exc, RosterRejected) and exc.details else []
        error = {"message": exc.message, "code": exc.code, "problems": problems}
        return _page(request, session, user, clock, today, error=error, status=exc.http_status)
    user.caller.audit(session, "chiefs.import", "roster", name, **result)
    commit_now(session)
    return RedirectResponse(f"/chiefs?imported={int(result.get('added', 0))}", status_code=303)


@router.get("/chiefs/{chief_id}/calendar")
def patrol_calendar(
    request: Request, session: SessionDep, clock: ClockDep, user: PageViewer, chief_id: IdPath
) -> Response:
    """A chief's patrol calendar (巡河日历): each period of the level met or missed, and the chief's patrols."""
    body = patrols.calendar(session, chief_id, clock.today(), PatrolRules.of(app_settings(request.app)))
    context = {"cal": body, "today": clock.today().isoformat(), "periods": list(reversed(body["periods"]))}
    return render(request, "chief_calendar.html", user, context)
