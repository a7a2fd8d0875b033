"""Deliveries: upload with its report (``/deliveries/new``), the queue (``/deliveries``), review (``/deliveries/{id}``).

The pages call what the API's deliveries router calls (the import pipeline, ``store.deliveries``) and audit
each write the same way.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from gis_service.access import Role
from gis_service.api.deps import ClockDep, SessionDep, SettingsDep, app_catalogue, app_clock, app_settings
from gis_service.api.routers.deliveries import limited_request, save_upload
from gis_service.clock import BusinessClock
from gis_service.db.models import Delivery
from gis_service.errors import BadRequest, DeliveryRejected, ServiceError
from gis_service.ingest.pipeline import ImportOptions
from gis_service.ledger.intake import approve_chosen, approve_delivery, run_import
from gis_service.settings import Settings
from gis_service.store.current import river_names
from gis_service.store.deliveries import get_delivery, range_diff, reject_delivery
from gis_service.store.history import DeliveryHistory
from gis_service.web.delivery_map import version_map_html
from gis_service.web.deps import (
    PAGE,
    CsrfForm,
    CsrfRejected,
    PageAdmin,
    PageSurveyor,
    PageViewer,
    WebUser,
    commit_now,
    csrf_matches,
)
from gis_service.web.templating import PAGE_HEADERS, render
from gis_service.webmap.base import MapSetup
from gis_service.webmap.preview import checked_delivery_html

router = APIRouter(dependencies=PAGE, include_in_schema=False)
# What surveyors deliver per river; rivers, outfalls and problems come in through the CLI or the API.
DELIVERED_LAYERS = ("boundaries", "zones", "stakes")
ENCODINGS = ("UTF-8", "GBK")
STATUS_LABELS = {"submitted": "待审核", "approved": "已批准（现行）", "rejected": "已退回", "superseded": "已被替代"}
STATUS_COLOURS = {"submitted": "yellow", "approved": "green", "rejected": "red", "superseded": "secondary"}


def _form_page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    values: dict[str, str] | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render the upload form, with what the user chose kept and any report or error below it."""
    catalogue = app_catalogue(request.app)
    body = {
        "layers": [(name, catalogue[name].label) for name in DELIVERED_LAYERS],
        "rivers": sorted(river_names(session, catalogue).items()),
        "encodings": ENCODINGS,
        "values": values or {},
        "error": None,
        "report": None,
        "preview": None,
        "max_upload_mb": app_settings(request.app).max_upload_mb,
        **context,
    }
    return render(request, "deliveries_new.html", user, body, status=status)


@router.get("/deliveries/new")
def new_delivery_form(request: Request, session: SessionDep, user: PageSurveyor) -> Response:
    """The upload form: 图层, 河流, 成果文件, optional 坐标系 and 编码, the button 提交."""
    return _form_page(request, session, user)


def _text(form: FormData, name: str) -> str:
    """Return a text field of the form, trimmed (empty when absent)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _import(
    session: Session, path: Path, options: Any, features: list[Any], settings: Settings, clock: BusinessClock
) -> dict[str, Any]:
    """Run the import in a savepoint, so that a refusal leaves nothing behind while the page still answers."""
    with session.begin_nested():
        return run_import(session, path, options, settings=settings, clock=clock, seen=features.append)


@router.post("/deliveries/new")
async def upload(request: Request, session: SessionDep, user: PageSurveyor) -> Response:
    """Check and store a delivery; answer its report: a stored one opens its page, a refused one shows why."""
    limit = int(app_settings(request.app).max_upload_mb * 1024 * 1024)
    async with limited_request(request, limit).form(max_files=1, max_fields=20) as form:
        if not csrf_matches(user.csrf, form.get("csrf_token")):
            raise CsrfRejected
        values = {k: _text(form, k) for k in ("layer", "river", "crs", "encoding")}
        upload_file = form.get("file")
        features: list[Any] = []
        try:
            if values["layer"] not in DELIVERED_LAYERS:
                raise BadRequest("请选择图层（管理范围、岸线功能分区或界桩）", code="unknown_layer")
            if not isinstance(upload_file, UploadFile) or not upload_file.filename:
                raise BadRequest("请选择要上传的成果文件", code="missing_file")
            options = ImportOptions(
                layer=values["layer"],
                crs=values["crs"] or None,
                encoding=values["encoding"] or None,
                river=values["river"] or None,
                actor=user.username,
                filename=Path(upload_file.filename).name,
            )
            with tempfile.TemporaryDirectory(prefix="rivergis-upload-") as tmp:
                path = await save_upload(upload_file, Path(tmp), limit)
                report = await run_in_threadpool(
                    _import, session, path, options, features, app_settings(request.app), app_clock(request.app)
                )
        except DeliveryRejected as exc:
            return await _refused(request, session, user, values, exc, features)
        except ServiceError as exc:
            if exc.http_status >= 500:
                raise
            error = {"message": exc.message, "code": exc.code}
            return _form_page(request, session, user, values=values, error=error, status=exc.http_status)
    ids = [d["id"] for d in report.get("deliveries", [])]
    user.caller.audit(
        session, "delivery.import", values["layer"], options.filename, stored=report.get("stored"), deliveries=ids,
        approved=False,
    )  # fmt: skip
    commit_now(session)
    # Several rivers' deliveries: the list opens on a summary of this upload's (their ids' range, see _this_upload).
    target = f"/deliveries/{ids[0]}?submitted=1" if len(ids) == 1 else f"/deliveries?submitted={_id_range(ids)}"
    if request.headers.get("hx-request"):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _refused(
    request: Request,
    session: Session,
    user: WebUser,
    values: dict[str, str],
    exc: DeliveryRejected,
    features: list[Any],
) -> Response:
    """Answer a refused delivery: its report, and the preview map with the problems marked (nothing stored)."""
    report = exc.details if isinstance(exc.details, dict) else {}
    frame = features[-1] if features else None
    setup = MapSetup.of(app_settings(request.app))
    preview = await run_in_threadpool(checked_delivery_html, frame, report, False, setup)
    context = {"report": report, "preview": preview, "error": {"message": exc.message, "code": exc.code}}
    return _form_page(request, session, user, values=values, status=422, **context)


def _id_range(ids: list[int]) -> str:
    """Return the range of an upload's delivery ids, as the list page reads it (``first-last``), or ``1`` for none."""
    return f"{min(ids)}-{max(ids)}" if ids else "1"


UPLOAD_ROWS = 200  # the rivers of one upload listed on the page; the rest are counted


def _this_upload(session: Session, user: WebUser, submitted: str | None) -> dict[str, Any] | None:
    """Return the summary of the upload the page was sent to after (``?submitted=first-last``): the caller's
    deliveries in that range, by river, with each report's counts; None without a range, or when none is theirs."""
    found = re.fullmatch(r"(\d{1,18})-(\d{1,18})", submitted or "")
    if found is None:
        return None
    first, last = int(found[1]), int(found[2])
    rows, count, features = DeliveryHistory().submitted_together(session, first, last, user.username, UPLOAD_ROWS)
    if not rows:
        return None
    reports = [d.report for d in rows]
    return {
        "rows": list(zip(rows, [r.get("counts") or {} for r in reports], strict=True)),
        "count": count,
        "features": features,
        "source": next((r.get("source") for r in reports if r.get("source")), None) or {},
        "first": rows[0],
    }


@router.get("/deliveries")
def queue(request: Request, session: SessionDep, user: PageSurveyor) -> Response:
    """Admins: the deliveries waiting per river, and recent decisions. Surveyors: their own, with outcome and reason.
    After an upload of several rivers, a summary of what it made comes first."""
    admin = user.may(Role.ADMIN)
    rows = DeliveryHistory().newest(session, limit=1000)
    if not admin:
        rows = [d for d in rows if d.submitted_by == user.username]
    waiting: dict[str, list[Delivery]] = {}
    newest: set[int] = set()  # each river's newest waiting version of each layer (the rows come newest first)
    for d in rows:
        if d.status == "submitted":
            if not any(w.layer == d.layer for w in waiting.get(d.river_code, [])):
                newest.add(d.id)
            waiting.setdefault(d.river_code, []).append(d)
    context = {
        "admin": admin,
        "waiting": sorted(waiting.items()),
        "newest": newest,
        "rows": rows[:200],
        "upload": _this_upload(session, user, request.query_params.get("submitted")),
        "labels": {spec.name: spec.label for spec in app_catalogue(request.app)},
        "status_labels": STATUS_LABELS,
        "status_colours": STATUS_COLOURS,
    }
    return render(request, "deliveries_list.html", user, context)


def _current(session: Session, delivery: Delivery) -> Delivery | None:
    """Return the river's approved version of the delivery's layer, if any."""
    return DeliveryHistory(delivery.river_code, delivery.layer).current_one(session)


@router.get("/deliveries/{delivery_id}")
def delivery_page(request: Request, session: SessionDep, user: PageViewer, delivery_id: int) -> Response:
    """A delivery: its report, the map of it over the current version, the diff, and 批准 / 退回 for admins."""
    d = get_delivery(session, delivery_id)
    current = _current(session, d)
    diff = None
    if d.layer == "boundaries" and current is not None and current.id != d.id:
        diff = range_diff(session, app_catalogue(request.app), current.id, d.id)
    waiting = DeliveryHistory(d.river_code, d.layer, "submitted").newest(session, limit=1)
    context = {
        "d": d,
        "report": d.report or {},
        "current": current,
        "newer": waiting[0] if waiting and waiting[0].version > d.version else None,
        "diff": diff,
        "layer_label": app_catalogue(request.app)[d.layer].label,
        "status_labels": STATUS_LABELS,
        "status_colours": STATUS_COLOURS,
        "can_decide": user.may(Role.ADMIN) and d.status == "submitted",
    }
    return render(request, "delivery.html", user, context)


@router.get("/deliveries/{delivery_id}/map")
def delivery_map(session: SessionDep, settings: SettingsDep, _user: PageViewer, delivery_id: int) -> Response:
    """The delivery's map (new version over the current one), shown in a frame of its page."""
    d = get_delivery(session, delivery_id)
    return HTMLResponse(version_map_html(session, MapSetup.of(settings), d, _current(session, d)), headers=PAGE_HEADERS)


@router.post("/deliveries/approve")
def approve_several(
    session: SessionDep, user: PageAdmin, settings: SettingsDep, clock: ClockDep, form: CsrfForm
) -> Response:
    """批准所选: the versions ticked in the queue become their rivers' current versions at once, all or none."""
    values = [str(value) for value in form.getlist("ids")]
    if not all(re.fullmatch(r"[1-9]\d{0,9}", v) and int(v) < 2**31 for v in values):  # the ids' column is 32 bits
        raise BadRequest("所选版本编号无效，请刷新页面后重新勾选", code="invalid_choice")
    ids = [int(v) for v in values]
    approved = approve_chosen(session, ids, actor=user.username, settings=settings, clock=clock)
    for d in approved:
        user.caller.audit(
            session, "delivery.approve", "delivery", d.id, river_code=d.river_code, layer=d.layer, version=d.version
        )
    commit_now(session)
    return RedirectResponse(f"/deliveries?approved={len(approved)}", status_code=303)


@router.post("/deliveries/{delivery_id}/approve")
def approve(
    session: SessionDep, user: PageAdmin, settings: SettingsDep, clock: ClockDep, _form: CsrfForm, delivery_id: int
) -> Response:
    """批准: the delivery becomes the river's current version (the API's approve, audited the same way)."""
    d = approve_delivery(session, delivery_id, actor=user.username, settings=settings, clock=clock)
    user.caller.audit(
        session, "delivery.approve", "delivery", d.id, river_code=d.river_code, layer=d.layer, version=d.version
    )
    commit_now(session)
    return RedirectResponse(f"/deliveries/{d.id}", status_code=303)


@router.post("/deliveries/{delivery_id}/reject")
def reject(session: SessionDep, user: PageAdmin, form: CsrfForm, delivery_id: int) -> Response:
    """退回 with a reason (退回原因), which the surveyor sees on their list."""
    reason = _text(form, "reason")
    if not reason or len(reason) > 2000:
        raise BadRequest("请填写退回原因（不超过 2000 字），测绘单位将看到它", code="missing_reason")
    d = reject_delivery(session, delivery_id, actor=user.username, reason=reason)
    user.caller.audit(session, "delivery.reject", "delivery", d.id, reason=reason)
    commit_now(session)
    return RedirectResponse(f"/deliveries/{d.id}", status_code=303)
