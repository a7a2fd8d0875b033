"""The outfall register (``/outfalls``, 一口一档) and each outfall's page: stage, outcome, file and photos.

Admins move the campaign stage forward (排查 → 监测 → 溯源 → 整治) and set the outcome from the page,
with photos; the register's rules (``ledger.outfalls``) refuse a stage going back or an outcome too early.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gis_service.access import Role
from gis_service.api.deps import ClockDep, SessionDep, SettingsDep, app_catalogue, app_settings
from gis_service.api.routers.problems import photo_response
from gis_service.errors import BadRequest, NotFound, ServiceError
from gis_service.export.ratios import zone_labels
from gis_service.ledger import outfalls
from gis_service.web.deps import PAGE, PageAdmin, PageViewer, WebUser, commit_now
from gis_service.web.labels import BLANK_SHORT, LayerLabels, show
from gis_service.web.templating import render
from gis_service.web.uploads import PhotoForm, text

router = APIRouter(dependencies=PAGE, include_in_schema=False)
FILTERS = ("river_code", "outfall_type", "stage", "status")
EVENT_LABELS = {
    "register": "登记",
    "stage": "推进阶段",
    "outcome": "确定整治方式",
    "close": "销号",
    "edit": "修改",
    "move": "移动",
}


def _labels(request: Request) -> LayerLabels:
    """Return the outfalls layer's words, of the app's catalogue."""
    return LayerLabels(app_catalogue(request.app)["outfalls"])


def _change_rows(words: LayerLabels, changes: dict[str, Any]) -> list[tuple[str, str]]:
    """Return an event's changes as (label, text): a registered value, or ``from → to``."""
    out = []
    for name, value in changes.items():
        if name == "geometry":
            out.append(("位置", "已移动"))
            continue
        known = name in words.spec.field_names
        label = words.spec.field(name).label if known else name
        coded = known and bool(words.spec.field(name).values)

        def shown(v: Any, coded: bool = coded, name: str = name) -> str:
            # Plain text in a sentence: an unset value in words, as the page's placeholder says it.
            return (words.value_label(name, v) if coded else show(v)) or BLANK_SHORT

        if isinstance(value, dict) and "to" in value:
            out.append((label, f"{shown(value.get('from'))} → {shown(value.get('to'))}"))
        elif value not in (None, ""):
            out.append((label, shown(value)))
    return out


@router.get("/outfalls")
def register(request: Request, session: SessionDep, user: PageViewer) -> Response:
    """The register: filters (river, type, stage, status, flagged), counts, and every outfall with its flags."""
    words = _labels(request)
    where = {k: (request.query_params.get(k) or "").strip() or None for k in FILTERS}
    flagged = {"1": True, "0": False}.get(request.query_params.get("flagged", ""))
    frame = outfalls.list_outfalls(
        session,
        river_code=where["river_code"],
        outfall_type=where["outfall_type"],
        stage=where["stage"],
        status=where["status"],
        flagged=flagged,
        settings=app_settings(request.app),
    )
    stats = outfalls.outfall_statistics(session, settings=app_settings(request.app), **where)
    rows = [
        {
            "id": int(r["id"]),
            "code": r["code"],
            "name": r["name"],
            "river_code": r["river_code"] or "",
            "type": words.value_label("outfall_type", r["outfall_type"]),
            "stage": r["stage"],
            "stage_label": words.value_label("stage", r["stage"]),
            "outcome": words.value_label("outcome", r["outcome"]),
            "status": r["status"],
            "status_label": words.value_label("status", r["status"]),
            "flags": [outfalls.FLAG_LABELS[f] for f in r["flags"] or []],
        }
        for r in frame.drop(columns="geometry").to_dict("records")
    ]
    context = {
        "rows": sorted(rows, key=lambda r: r["code"]),
        "stats": stats,
        "where": where,
        "flagged": request.query_params.get("flagged", ""),
        "types": words.choices("outfall_type"),
        "stages": words.choices("stage"),
        "statuses": words.choices("status"),
        "label_of": words.value_label,
    }
    return render(request, "outfalls_list.html", user, context)


def _page(
    request: Request,
    session: Session,
    user: WebUser,
    outfall_id: int,
    *,
    error: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """Render an outfall's page: record, stage progress, flags, its file with photos, the admin's stage form."""
    words = _labels(request)
    frame = outfalls.list_outfalls(session, fid=outfall_id, settings=app_settings(request.app))
    if frame.empty:
        raise NotFound(f"排污口 {outfall_id} 不存在", code="outfall_not_found")
    o = frame.drop(columns="geometry").to_dict("records")[0]
    point = frame.geometry.iloc[0]
    events = outfalls.outfall_history(session, outfall_id)
    for e in events:
        e["label"] = EVENT_LABELS.get(e["action"], e["action"])
        e["rows"] = _change_rows(words, e["changes"])
    stage = o["stage"] or "survey"
    context = {
        "o": o,
        "zone": zone_labels(app_catalogue(request.app)).get(o["zone_type"], o["zone_type"])
        if isinstance(o.get("zone_type"), str)
        else "",
        "lon": point.x,
        "lat": point.y,
        "label_of": words.value_label,
        "stages": words.choices("stage"),
        "stage_index": outfalls.STAGES.index(stage),
        "later_stages": [
            (c, lbl) for c, lbl in words.choices("stage") if outfalls.STAGES.index(c) >= outfalls.STAGES.index(stage)
        ],
        "outcomes": words.choices("outcome"),
        "flags": [outfalls.FLAG_LABELS[f] for f in o["flags"] or []],
        "events": list(reversed(events)),
        "error": error,
        "can_change": user.may(Role.ADMIN) and o["status"] != "closed",
    }
    return render(request, "outfall.html", user, context, status=status)


@router.get("/outfalls/{outfall_id}")
def outfall(request: Request, session: SessionDep, user: PageViewer, outfall_id: int) -> Response:
    """One outfall: its record, stage, outcome, flags, and its file of changes with photos."""
    return _page(request, session, user, outfall_id)


@router.post("/outfalls/{outfall_id}/stage")
def change_stage(
    request: Request, session: SessionDep, clock: ClockDep, user: PageAdmin, upload: PhotoForm, outfall_id: int
) -> Response:
    """Admins: move the campaign stage forward and/or set the outcome, with a note and photos."""
    form, photos = upload
    fields = {k: v for k in ("stage", "outcome") if (v := text(form, k))}
    version = text(form, "expected_version")
    try:
        if not version.isdigit():
            raise BadRequest("表单缺少版本号（expected_version）；请刷新页面后重新操作", code="missing_version")
        with session.begin_nested():
            event = outfalls.update_outfall(
                session,
                outfall_id,
                actor=user.username,
                expected_version=int(version),
                fields=fields,
                note=text(form, "note", "说明") or None,
                catalogue=app_catalogue(request.app),
                clock=clock,
            )
            if photos:
                settings = app_settings(request.app)
                outfalls.attach_photos(session, outfall_id, event.id, photos, settings=settings, clock=clock)
    except ServiceError as exc:
        if exc.http_status >= 500 or exc.http_status == 404:
            raise
        error = {"message": exc.message, "code": exc.code}
        return _page(request, session, user, outfall_id, error=error, status=exc.http_status)
    user.caller.audit(
        session, f"outfall.{event.action}", "outfall", outfall_id, changes=event.changes, photos=len(photos)
    )
    commit_now(session)
    return RedirectResponse(f"/outfalls/{outfall_id}?done=1", status_code=303)


@router.get("/outfalls/{outfall_id}/photos/{event_id}/{index}")
def photo(
    session: SessionDep, _user: PageViewer, settings: SettingsDep, outfall_id: int, event_id: int, index: int
) -> FileResponse:
    """A photo of an outfall's file, for its page."""
    found = outfalls.event_photo(session, outfall_id, event_id, index)
    return photo_response(found["path"], found["content_type"], found["filename"], settings.data_dir)
