"""The ledger board (``/problems``), a site's page with a button a step (``/problems/{id}``), ``/problems/new``.

The pages call the ledger's services (``ledger.service``): its filter, list, statistics, transitions
with optimistic locking and role rules, and reporting; each write is audited like the API's.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from gis_service.api.deps import ClockDep, SessionDep, SettingsDep, app_catalogue, app_settings
from gis_service.api.routers.problems import photo_response
from gis_service.catalogue import catalogue_for
from gis_service.clock import BusinessClock
from gis_service.db.models import Attachment, ProblemEvent
from gis_service.district import district_for
from gis_service.errors import BadRequest, Conflict, NotFound, ServiceError
from gis_service.ledger import service
from gis_service.ledger.location import POINT_ONLY, site_geometry
from gis_service.ledger.states import ACTIONS, status_label
from gis_service.store.current import river_names, town_names
from gis_service.web.deps import PAGE, CsrfForm, PageSurveyor, PageViewer, RoleRequired, WebUser, commit_now
from gis_service.web.problem_view import EVENT_LABELS, ProblemLabels, action_views, may_act, status_colour
from gis_service.web.templating import render
from gis_service.web.uploads import PhotoForm, text

router = APIRouter(dependencies=PAGE, include_in_schema=False)
PAGE_SIZE = 50
FILTER_PARAMS = ("status", "category", "town", "river", "unit", "from", "to", "overdue")
MAP_PARAMS = ("status", "category", "town", "river", "from", "to", "overdue")
NEW_FIELDS = ("category", "description", "found_date", "source", "lon", "lat", "note")


def _filter(request: Request) -> service.ProblemFilter:
    """Read the issue map's filter from the query string (status and category repeatable or comma-separated)."""
    params: dict[str, Any] = {}
    for name in FILTER_PARAMS:
        values = [v for v in request.query_params.getlist(name) if v.strip()]
        if values:
            params[name] = values if name in {"status", "category"} else values[-1]
    return service.ProblemFilter.parse(params, app_catalogue(request.app)["problems"])


def _labels(request: Request) -> ProblemLabels:
    """Return the problems layer's words, of the app's catalogue."""
    return ProblemLabels(app_catalogue(request.app)["problems"])


def _page_number(request: Request) -> int:
    """Return the 1-based page asked for (bad values: the first page)."""
    raw = request.query_params.get("page", "1")
    return max(int(raw), 1) if raw.isdigit() else 1


@router.get("/problems")
def board(request: Request, session: SessionDep, clock: ClockDep, user: PageViewer) -> Response:
    """The ledger board: the issue map's filters, counts, a page of sites, and the map with the same filter."""
    flt = _filter(request)
    catalogue = app_catalogue(request.app)
    words = ProblemLabels(catalogue["problems"])
    page = _page_number(request)
    stats = service.statistics(session, problems=words.spec, flt=flt, clock=clock)
    pages = max(math.ceil(stats["total"] / PAGE_SIZE), 1)
    page = min(page, pages)
    items, _more = service.list_problems(
        session,
        flt,
        sort="-found_date",
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        problems=words.spec,
        clock=clock,
    )
    query = flt.query()
    map_query = urlencode({k: v for k, v in query.items() if k in MAP_PARAMS})
    context = {
        "items": items,
        "stats": stats,
        "flt": flt,
        "query": query,
        "page": page,
        "pages": pages,
        "page_link": lambda n: "/problems?" + urlencode({**query, "page": n}),
        "map_href": "/maps/problems" + (f"?{map_query}" if map_query else ""),
        "statuses": words.choices("status"),
        "categories": words.choices("category"),
        "towns": town_names(session, catalogue),
        "rivers": sorted(river_names(session, catalogue).items()),
        "status_colour": status_colour,
        "value_label": words.value_label,
        "can_report": may_act(user),
    }
    return render(request, "problems_list.html", user, context)


def _new_form(
    request: Request, user: WebUser, values: dict[str, str], error: dict[str, str] | None, status: int
) -> Response:
    """Render the report form, keeping what the user typed and any error above it."""
    district = district_for(app_settings(request.app))
    words = _labels(request)
    context = {
        "values": values,
        "error": error,
        "categories": words.choices("category"),
        "sources": words.choices("source"),
        "bbox": list(district.bbox),
        "district": district.name,
    }
    return render(request, "problem_new.html", user, context, status=status)


@router.get("/problems/new")
def new_form(request: Request, clock: ClockDep, user: PageSurveyor) -> Response:
    """Report a site: click on the map or type 经度 / 纬度, choose 类别, describe it."""
    values = {name: "" for name in NEW_FIELDS} | {"found_date": clock.today().isoformat(), "source": "patrol"}
    return _new_form(request, user, values, None, 200)


def _coordinate(values: dict[str, str], name: str, label: str) -> float:
    """Return a typed coordinate as a number, or say what to type."""
    try:
        value = float(values[name])
    except ValueError:
        raise BadRequest(
            f"{label}“{values[name]}”不是数字；请在地图上点选位置，或输入如 106.93 的度数", code="bad_coordinate"
        ) from None
    if not math.isfinite(value):
        raise BadRequest(f"{label}不是有效数字", code="bad_coordinate")
    return value


@router.post("/problems/new")
def report(request: Request, session: SessionDep, clock: ClockDep, user: PageSurveyor, form: CsrfForm) -> Response:
    """上报: add the site to the ledger (river, town, range and zone derived), then open its page."""
    labels = {"category": "类别", "description": "问题描述", "source": "来源", "note": "说明"}
    values = {name: text(form, name, labels.get(name, name)) for name in NEW_FIELDS}
    try:
        if not values["lon"] or not values["lat"]:
            raise BadRequest("请在地图上点选问题位置，或输入经度和纬度", code="missing_location")
        if not values["category"]:
            raise BadRequest("请选择问题类别", code="missing_category")
        settings = app_settings(request.app)
        lon, lat = _coordinate(values, "lon", "经度"), _coordinate(values, "lat", "纬度")
        geometry = site_geometry(lon, lat, None, None, district_for(settings), POINT_ONLY)
        fields = {k: values[k] for k in ("category", "description", "found_date", "source") if values[k]}
        with session.begin_nested():
            frame = service.site_frame(catalogue_for(settings)["problems"], geometry, fields)
            pid = service.report_new(
                session, frame, actor=user.username, settings=settings, clock=clock, note=values["note"] or None
            )[0]
    except BadRequest as exc:
        return _new_form(request, user, values, {"message": exc.message, "code": exc.code}, exc.http_status)
    user.caller.audit(session, "problem.report", "problem", pid, category=values["category"])
    commit_now(session)
    return RedirectResponse(f"/problems/{pid}?reported=1", status_code=303)


def _site_page(
    request: Request,
    session: Session,
    user: WebUser,
    clock: BusinessClock,
    problem_id: int,
    *,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """Render a site's page: record, the buttons of its status, the timeline with photos, an error if any."""
    words = _labels(request)
    item = service.get_problem(session, problem_id, problems=words.spec, clock=clock)
    events = service.history(session, problem_id)
    for e in events:
        e["label"] = EVENT_LABELS.get(e["action"], e["action_label"])
        e["fields"] = words.step_data(e["data"])
    context = {
        "p": item,
        "record": words.record_rows(item),
        "status_text": status_label(words.spec, item["status"]),
        "colour": status_colour(item["status"], item["overdue"]),
        "actions": action_views(item["status"], user),
        "events": list(reversed(events)),
        "error": error,
        "may_act": may_act(user),
        "today": clock.today().isoformat(),
        "status_label": partial(status_label, words.spec),
    }
    return render(request, "problem.html", user, context, status=status)


@router.get("/problems/{problem_id}")
def site(request: Request, session: SessionDep, clock: ClockDep, user: PageViewer, problem_id: int) -> Response:
    """A site's page: its record, history timeline and photos, and one button for each step its status allows."""
    return _site_page(request, session, user, clock, problem_id)


def _step_fields(form: FormData, action: str) -> dict[str, str]:
    """Return the step's fields the form carries (整改时限, 责任单位, 验收人, 整改措施, 证据说明)."""
    labels = {"deadline": "整改时限", "responsible_unit": "责任单位", "verifier": "验收人"}
    labels |= {"measures": "整改措施", "evidence": "证据说明"}
    return {k: v for k in labels if (v := text(form, f"{action}-{k}", labels[k]))}


@router.post("/problems/{problem_id}/actions/{action}")
def step(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    user: PageSurveyor,
    upload: PhotoForm,
    problem_id: int,
    action: str,
) -> Response:
    """Take one ledger step from its button's form, photos attached; a stale page hears the site's new status."""
    form, photos = upload
    spec = ACTIONS.get(action)
    if spec is None:
        raise NotFound(f"没有名为 {action!r} 的台账操作", code="unknown_action")
    if not user.may(spec.role):
        raise RoleRequired(spec.role)
    version = text(form, "expected_version")
    try:
        if not version.isdigit():
            raise BadRequest("表单缺少版本号（expected_version）；请刷新页面后重新操作", code="missing_version")
        with session.begin_nested():
            event = service.transition(
                session,
                problem_id,
                action,
                actor=user.username,
                role=user.role,
                expected_version=int(version),
                note=text(form, f"{action}-note", "说明") or None,
                data=_step_fields(form, action),
                attachments=photos,
                settings=app_settings(request.app),
                clock=clock,
            )
    except Conflict as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        now = details.get("status")
        message = exc.message
        if exc.code == "version_conflict" and now:
            message = (
                f"该问题已被他人更新，现在的状态是“{status_label(_labels(request).spec, now)}”；"
                f"您的“{spec.label}”未保存，请看下方最新记录后再操作。"
            )
        error = {"message": message, "code": exc.code, "action": action}
        return _site_page(request, session, user, clock, problem_id, error=error, status=409)
    except ServiceError as exc:
        if exc.http_status >= 500 or exc.http_status == 404:
            raise
        error = {"message": exc.message, "code": exc.code, "action": action}
        return _site_page(request, session, user, clock, problem_id, error=error, status=exc.http_status)
    user.caller.audit(
        session, f"problem.{action}", "problem", problem_id, event_id=event.id, from_status=event.from_status,
        to_status=event.to_status, photos=len(photos),
    )  # fmt: skip
    commit_now(session)
    return RedirectResponse(f"/problems/{problem_id}?done={action}", status_code=303)


@router.get("/problems/{problem_id}/photos/{attachment_id}")
def photo(
    session: SessionDep, _user: PageViewer, settings: SettingsDep, problem_id: int, attachment_id: int
) -> FileResponse:
    """An evidence photo of a site, for its page's timeline."""
    found = session.get(Attachment, attachment_id)
    event = session.get(ProblemEvent, found.event_id) if found else None
    if found is None or event is None or event.problem_id != problem_id:
        raise NotFound(f"问题 {problem_id} 没有编号为 {attachment_id} 的照片", code="attachment_not_found")
    return photo_response(found.path, found.content_type, found.filename, settings.data_dir)
