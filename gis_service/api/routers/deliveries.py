"""Deliveries: upload or preview (surveyor), report, preview map, version history, diff, approve and reject (admin)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import Message

from gis_service.api.deps import (
    Caller,
    CatalogueDep,
    CheckSessionDep,
    ClockDep,
    ImportSessionDep,
    SessionDep,
    SettingsDep,
    Viewer,
    allowed,
    app_clock,
    app_settings,
    check_action,
)
from gis_service.api.params import MAX_ID, IdPath
from gis_service.api.schemas import deliveries as shapes
from gis_service.catalogue import catalogue_for
from gis_service.errors import BadRequest, PayloadTooLarge
from gis_service.ingest.pipeline import ImportOptions, check_delivery, target_layer
from gis_service.ledger.intake import approve_chosen, approve_delivery, run_import
from gis_service.store.current import LayerVersions
from gis_service.store.deliveries import (
    CHOSEN_MAX,
    delivery_dict,
    get_delivery,
    range_diff,
    reject_delivery,
)
from gis_service.store.history import DeliveryHistory
from gis_service.webmap.base import MapSetup
from gis_service.webmap.preview import checked_delivery_html, delivery_preview_html

router = APIRouter(prefix="/api/v1/deliveries", tags=["deliveries"])
CHUNK = 1024 * 1024
TRUE = {"1", "true", "yes", "on"}


def _too_large(limit: int) -> PayloadTooLarge:
    """Return the error for an upload over the size limit."""
    return PayloadTooLarge(
        f"上传文件超过上限 {limit / 1024 / 1024:.0f} MB；请分河流或分图层交付。",
        code="upload_too_large",
        details={"limit_bytes": limit},
    )


def limited_request(request: Request, limit: int) -> Request:
    """Return the request with a body reader that stops at ``limit`` bytes (413), whatever the headers say."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    received = 0
    receive = request.receive

    async def counting() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise _too_large(limit)
        return message

    return Request(request.scope, receive=counting)


async def save_upload(upload: UploadFile, folder: FsPath, limit: int) -> FsPath:
    """Copy the uploaded file into ``folder`` under a safe name (its extension kept), counting bytes."""
    name = upload.filename or "upload"
    suffix = "".join(FsPath(name).suffixes[-1:]).lower()
    target = folder / f"upload{suffix if suffix.isascii() and len(suffix) <= 8 else ''}"
    size = 0
    with target.open("wb") as out:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            out.write(chunk)
    return target


@asynccontextmanager
async def received_delivery(
    request: Request, layer: str, caller: Caller, *, storing: bool
) -> AsyncIterator[tuple[ImportOptions, FsPath]]:
    """Receive a delivery's multipart form (size-limited); yield its options and the file, kept until the end.

    Form fields: ``file``, ``crs``, ``encoding``, ``river``, ``layer`` (source layer), ``swap_xy``, ``fix``;
    when ``storing``, also ``dry_run`` and ``approve`` (admin only).
    """
    settings = app_settings(request.app)
    target_layer(catalogue_for(settings), layer)
    limit = int(settings.max_upload_mb * 1024 * 1024)
    async with limited_request(request, limit).form(max_files=1, max_fields=20) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("请以 multipart/form-data 上传文件，字段名为 file", code="missing_file")

        def text(name: str) -> str | None:
            value = form.get(name)
            return value.strip() or None if isinstance(value, str) else None

        def flag(name: str) -> bool:
            return (text(name) or "").lower() in TRUE

        if storing and flag("approve"):
            check_action(caller, "delivery.approve_on_upload", app_settings(request.app))
        options = ImportOptions(
            layer=layer,
            crs=text("crs"),
            encoding=text("encoding"),
            river=text("river"),
            source_layer=text("layer"),
            swap_xy=flag("swap_xy"),
            dry_run=storing and flag("dry_run"),
            fix=flag("fix"),
            approve=storing and flag("approve"),
            actor=caller.name,
            filename=FsPath(upload.filename or "upload").name,
        )
        with tempfile.TemporaryDirectory(prefix="rivergis-upload-") as tmp:
            yield options, await save_upload(upload, FsPath(tmp), limit)


LayerPath = Annotated[str, Path(description="rivers, boundaries, stakes, zones, outfalls, problems")]


class Approvals(BaseModel):
    """The waiting versions to approve at once (one a river's layer)."""

    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=CHOSEN_MAX)


# Before ``/{layer}``, which would take ``approve`` for a layer's name.
@router.post("/approve", response_model=shapes.DeliveryList, response_model_exclude_unset=True)
def approve_several(
    session: SessionDep,
    caller: Annotated[Caller, allowed("delivery.approve")],
    settings: SettingsDep,
    clock: ClockDep,
    body: Approvals,
) -> dict[str, Any]:
    """Approve several waiting versions at once, all or none: each becomes its river's current version (what it
    replaces superseded, as one approval does). Two versions of one river's layer: 400 ``one_version_per_river``;
    one no longer waiting: 409 ``delivery_not_submitted``, nothing approved."""
    approved = approve_chosen(session, body.ids, actor=caller.name, settings=settings, clock=clock)
    for d in approved:
        caller.audit(
            session, "delivery.approve", "delivery", d.id, river_code=d.river_code, layer=d.layer, version=d.version
        )
    return {"deliveries": [delivery_dict(d) for d in approved]}


@router.post(
    "/{layer}",
    status_code=201,
    response_model=shapes.ImportReport,
    responses={
        200: {"description": "dry_run：只检查，未入库；检查报告", "model": shapes.ImportReport},
        422: {"description": "交付未通过检查"},
    },
)
async def upload_delivery(
    request: Request,
    session: ImportSessionDep,
    caller: Annotated[Caller, allowed("delivery.upload")],
    layer: LayerPath,
) -> JSONResponse:
    """Upload a delivery (multipart ``file`` + form options); answer with the validation report.

    Form fields: ``crs``, ``encoding``, ``river``, ``layer`` (source layer), ``swap_xy``, ``dry_run``,
    ``fix``, ``approve`` (admin only). A rejected delivery answers 422 with the report in ``details``.
    """
    async with received_delivery(request, layer, caller, storing=True) as (options, path):
        settings = app_settings(request.app)
        clock = app_clock(request.app)
        report = await run_in_threadpool(lambda: run_import(session, path, options, settings=settings, clock=clock))
    if not options.dry_run:
        caller.audit(
            session,
            "delivery.import",
            layer,
            options.filename,
            stored=report.get("stored"),
            deliveries=[d["id"] for d in report.get("deliveries", [])],
            approved=options.approve,
        )
    return JSONResponse(report, status_code=200 if options.dry_run else 201)


@router.post("/{layer}/preview", response_class=HTMLResponse)
async def preview_upload(
    request: Request,
    session: CheckSessionDep,
    caller: Annotated[Caller, allowed("delivery.preview")],
    layer: LayerPath,
) -> HTMLResponse:
    """Check an uploaded delivery and answer with its preview map, accepted or rejected; nothing is stored.

    The same form as the upload (``file``, ``crs``, ``encoding``, ``river``, ``layer``, ``swap_xy``, ``fix``).
    The page's title says whether the delivery would be accepted; an unreadable file answers the usual error.
    """
    async with received_delivery(request, layer, caller, storing=False) as (options, path):
        settings = app_settings(request.app)
        features, report, accepted = await run_in_threadpool(
            lambda: check_delivery(session, path, options, settings=settings)
        )
    setup = MapSetup.of(settings)
    return HTMLResponse(await run_in_threadpool(checked_delivery_html, features, report, accepted, setup))


@router.get("", response_model=shapes.DeliveryList, response_model_exclude_unset=True)
def deliveries(
    session: SessionDep,
    _caller: Viewer,
    river_code: str | None = None,
    layer: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """List deliveries, newest first, filtered by river, layer and status."""
    rows = DeliveryHistory(river_code, layer, status).newest(session, limit=limit)
    return {"deliveries": [delivery_dict(d) for d in rows]}


@router.get("/diff", response_model=shapes.RangeDiff)
def diff(
    session: SessionDep,
    catalogue: CatalogueDep,
    _caller: Viewer,
    from_id: Annotated[int, Query(alias="from", ge=1, le=MAX_ID, description="旧版本的交付编号")],
    to_id: Annotated[int, Query(alias="to", ge=1, le=MAX_ID, description="新版本的交付编号")],
) -> dict[str, Any]:
    """Compare two versions of a river's range: area added, area removed (m²), largest shift (m)."""
    return range_diff(session, catalogue, from_id, to_id)


@router.get("/rivers/{river_code}", response_model=shapes.RiverHistory, response_model_exclude_unset=True)
def river_history(session: SessionDep, _caller: Viewer, river_code: str, layer: str | None = None) -> dict[str, Any]:
    """Return a river's version history (all layers unless ``layer``), oldest first."""
    history = DeliveryHistory(river_code, layer)
    rows = history.versions(session)
    current = {key[1]: d.version for key, d in history.current(session).items()}
    return {"river_code": river_code, "current": current, "deliveries": [delivery_dict(d) for d in rows]}


@router.get("/{delivery_id}", response_model=shapes.Delivery, response_model_exclude_unset=True)
def delivery(session: SessionDep, _caller: Viewer, delivery_id: IdPath) -> dict[str, Any]:
    """Return one delivery with its validation report."""
    return delivery_dict(get_delivery(session, delivery_id), report=True)


@router.get("/{delivery_id}/preview", response_class=HTMLResponse)
def preview(session: SessionDep, settings: SettingsDep, _caller: Viewer, delivery_id: IdPath) -> HTMLResponse:
    """Return the preview map of a stored delivery with its findings marked."""
    setup = MapSetup.of(settings)
    catalogue = setup.catalogue
    d = get_delivery(session, delivery_id)
    features = LayerVersions(catalogue[d.layer], delivery_id=d.id).frame(session)
    findings = list((d.report or {}).get("findings", []))
    title = f"{d.river_code} {catalogue[d.layer].label} 第 {d.version} 版"
    return HTMLResponse(delivery_preview_html(features, findings, setup, title=title))


class Rejection(BaseModel):
    """A reviewer's reason for rejecting a delivery."""

    reason: str = Field(min_length=1, max_length=2000)


@router.post("/{delivery_id}/approve", response_model=shapes.Delivery, response_model_exclude_unset=True)
def approve(
    session: SessionDep,
    caller: Annotated[Caller, allowed("delivery.approve")],
    settings: SettingsDep,
    clock: ClockDep,
    delivery_id: IdPath,
) -> dict[str, Any]:
    """Approve a submitted delivery: it becomes the river's current version; the previous one, and any older one still
    waiting, are superseded."""
    d = approve_delivery(session, delivery_id, actor=caller.name, settings=settings, clock=clock)
    caller.audit(
        session, "delivery.approve", "delivery", d.id, river_code=d.river_code, layer=d.layer, version=d.version
    )
    return delivery_dict(d)


@router.post("/{delivery_id}/reject", response_model=shapes.Delivery, response_model_exclude_unset=True)
def reject(
    session: SessionDep, caller: Annotated[Caller, allowed("delivery.reject")], delivery_id: IdPath, body: Rejection
) -> dict[str, Any]:
    """Reject a submitted delivery with a reason (it is kept)."""
    d = reject_delivery(session, delivery_id, actor=caller.name, reason=body.reason)
    caller.audit(session, "delivery.reject", "delivery", d.id, reason=body.reason)
    return delivery_dict(d)
