"""The patrols page (``/patrols``, 巡河): the patrols with length, duration and coverage, the overdue reaches,
and (for surveyors) the upload of a track from the phone: GPX, GeoJSON or KML with the chief and the river.
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
from gis_service.catalogue import Catalogue
from gis_service.chiefs import patrols
from gis_service.chiefs.rules import PatrolRules
from gis_service.chiefs.stats import patrol_towns, reach_towns
from gis_service.chiefs.tracks import read_track
from gis_service.clock import BusinessClock
from gis_service.errors import BadRequest, ServiceError
from gis_service.ledger.jurisdiction import layer_frame
from gis_service.web.deps import PAGE, PageSurveyor, PageViewer, WebUser, commit_now
from gis_service.web.file_upload import FileForm, file_bytes
from gis_service.web.templating import render
from gis_service.web.uploads import text

router = APIRouter(dependencies=PAGE, include_in_schema=False)


def duration_text(seconds: float | None) -> str:
    """Return a duration as 时/分 ("" when the track had no times: the page shows it blank)."""
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    return f"{minutes // 60} 小时 {minutes % 60} 分" if minutes >= 60 else f"{minutes} 分"


def _page(
    request: Request,
    session: Session,
    user: WebUser,
    clock: BusinessClock,
    *,
    error: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """Render the patrols (newest first), the overdue reaches and the upload form (of one town when asked)."""
    today = clock.today()
    rows = patrols.list_patrols(session, limit=200)
    overdue = patrols.overdue_reaches(session, today, PatrolRules.of(app_settings(request.app)))
    town = (request.query_params.get("town") or "").strip()
    if town:
        rows, overdue = _in_town(session, app_catalogue(request.app), town, today, rows, overdue)
    for r in rows:
        r["duration"] = duration_text(r["duration_s"])
    context = {
        "added": _added(session, request.query_params.get("added")),
        "rows": rows,
        "overdue": overdue,
        "town": town,
        "today": today.isoformat(),
        "can_upload": user.may(Role.SURVEYOR),
        "error": error,
        "form": form or {},
    }
    return render(request, "patrols.html", user, context, status=status)


def _added(session: Session, raw: str | None) -> dict[str, Any] | None:
    """Return the patrol just uploaded (``?added=ID`` after the upload) for its figures, or None."""
    if not raw or not raw.isdigit():
        return None
    try:
        record = patrols.get_patrol(session, int(raw))
    except ServiceError:
        return None
    return {**record, "duration": duration_text(record["duration_s"])}


def _in_town(
    session: Session,
    catalogue: Catalogue,
    town: str,
    today: dt.date,
    rows: list[dict[str, Any]],
    overdue: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Keep the patrols and overdue reaches of ``town`` (as the dashboard counts them), or name the towns."""
    towns = layer_frame(session, catalogue["towns"], ["name"])
    reach_town = reach_towns(session, today, towns)
    known = set(reach_town.values()) | set(towns["name"].astype(str))
    if town not in known:
        names = "、".join(sorted(known)) or "（镇街图层为空）"
        raise BadRequest(f"镇街 {town!r} 不在镇街图层中；可选：{names}", code="unknown_town")
    patrol_town = patrol_towns(session, towns, [int(r["id"]) for r in rows])
    mine = [r for r in rows if patrol_town.get(int(r["id"])) == town]
    late = [o for o in overdue if reach_town.get(int(o["assignment_id"])) == town]
    return mine, late


@router.get("/patrols")
def patrol_list(request: Request, session: SessionDep, clock: ClockDep, user: PageViewer) -> Response:
    """The patrols and the reaches whose chief is overdue (超期未巡)."""
    return _page(request, session, user, clock)


@router.post("/patrols")
async def upload(
    request: Request, session: SessionDep, clock: ClockDep, user: PageSurveyor, upload: FileForm
) -> Response:
    """Surveyors: store a patrol track with its chief and river; a bad file is named with the fix, nothing stored."""
    form, file = upload
    typed = {k: text(form, k, limit=200) for k in ("chief", "river", "joint_units", "notes")}
    try:
        content = await file_bytes(file, "巡河轨迹（.gpx、.geojson 或 .kml）", app_settings(request.app).max_upload_mb)
        name = Path(file.filename if file and file.filename else "track.gpx").name
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / ("track" + Path(name).suffix.lower())
            path.write_bytes(content)
            track = read_track(path, name, settings=app_settings(request.app))
        with session.begin_nested():
            record = patrols.add_patrol(
                session,
                track,
                settings=app_settings(request.app),
                chief_name=typed["chief"] or None,
                river_code=typed["river"] or None,
                actor=user.username,
                clock=clock,
                notes=typed["notes"] or None,
                joint_units=typed["joint_units"] or None,
            )
    except ServiceError as exc:
        if exc.http_status >= 500:
            raise
        error = {"message": exc.message, "code": exc.code}
        return _page(request, session, user, clock, error=error, form=typed, status=exc.http_status)
    user.caller.audit(session, "patrol.add", "patrol", record["id"], file=name, coverage=record["coverage"])
    commit_now(session)
    return RedirectResponse(f"/patrols?added={record['id']}#patrol-{record['id']}", status_code=303)
