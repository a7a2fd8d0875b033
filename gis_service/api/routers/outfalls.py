"""The outfall register (一口一档) over HTTP: list with flags, stats, its file, register, change, photos, delete."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse
from pydantic import Field

from gis_service.api.deps import Caller, ClockDep, SessionDep, SettingsDep, Viewer, allowed, check_action
from gis_service.api.params import MAX_ID, IdPath
from gis_service.api.responses import file_responses
from gis_service.api.routers.problems import PHOTO_TYPES, PHOTOS_BODY, photo_response, photo_uploads
from gis_service.api.schemas import outfalls as shapes
from gis_service.catalogue import catalogue_for
from gis_service.district import district_for
from gis_service.errors import NotFound
from gis_service.export import geojson
from gis_service.ledger import outfalls
from gis_service.ledger.location import POINT_ONLY, Location
from gis_service.ledger.photos import PhotoUpload

router = APIRouter(prefix="/api/v1/outfalls", tags=["outfalls"])


class NewOutfall(Location):
    """An outfall to register, at lon/lat (or a GeoJSON point) in ``crs`` (default EPSG:4490)."""

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=256)
    outfall_type: str = Field(description="industrial | municipal | agricultural | other（或中文）")
    river_code: str | None = Field(default=None, description="受纳河流编码；不填则取最近的河流")
    stage: str | None = None
    responsible: str | None = Field(default=None, max_length=256)


class OutfallChange(Location):
    """A change to an outfall's file, against the version the editor saw."""

    expected_version: int = Field(ge=0, le=MAX_ID)
    name: str | None = Field(default=None, max_length=256)
    river_code: str | None = None
    outfall_type: str | None = None
    stage: str | None = Field(default=None, description="survey → monitor → trace → fix（只能向前）")
    outcome: str | None = Field(default=None, description="ban | merge | regularise | closed（销号）")
    responsible: str | None = Field(default=None, max_length=256)
    note: str | None = Field(default=None, max_length=4000)


def _items(frame: Any) -> list[dict[str, Any]]:
    """Return register rows as GeoJSON features with flag labels."""
    features = geojson.features(frame)
    for feature in features:
        props = feature["properties"]
        props["flag_labels"] = [outfalls.FLAG_LABELS[f] for f in props.get("flags") or []]
    return features


River = Annotated[str | None, Query(description="河流编码")]


@router.get("", response_model=shapes.OutfallCollection, response_model_exclude_unset=True)
def list_register(
    session: SessionDep,
    _caller: Viewer,
    settings: SettingsDep,
    river: River = None,
    outfall_type: str | None = None,
    stage: str | None = None,
    status: str | None = None,
    flagged: Annotated[bool | None, Query(description="true: 只看有问题标记的")] = None,
) -> dict[str, Any]:
    """List the register as a GeoJSON FeatureCollection, each outfall with its zone and flags."""
    frame = outfalls.list_outfalls(
        session,
        river_code=river,
        outfall_type=outfall_type,
        stage=stage,
        status=status,
        flagged=flagged,
        settings=settings,
    )
    items = _items(frame)
    return {"type": "FeatureCollection", "features": items, "numberReturned": len(items)}


@router.get("/stats", response_model=shapes.OutfallStats, response_model_exclude_unset=True)
def register_stats(
    session: SessionDep,
    _caller: Viewer,
    settings: SettingsDep,
    river: River = None,
    outfall_type: str | None = None,
    stage: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """Return the register's counts by type, stage, outcome and status, and the flagged checks, for dashboards."""
    where = {"river_code": river, "outfall_type": outfall_type, "stage": stage, "status": status}
    return outfalls.outfall_statistics(session, settings=settings, **where)


@router.get("/{outfall_id}", response_model=shapes.OutfallFile, response_model_exclude_unset=True)
def read_outfall(outfall_id: IdPath, session: SessionDep, _caller: Viewer, settings: SettingsDep) -> dict[str, Any]:
    """Return one outfall with its zone, flags and file (every change, with its photos)."""
    frame = outfalls.list_outfalls(session, fid=outfall_id, settings=settings)
    if frame.empty:
        raise NotFound(f"排污口 {outfall_id} 不存在", code="outfall_not_found")
    feature = _items(frame)[0]
    feature["history"] = outfalls.outfall_history(session, outfall_id)
    return feature


@router.post("", status_code=201, response_model=shapes.OutfallFile, response_model_exclude_unset=True)
def register(
    body: NewOutfall,
    session: SessionDep,
    caller: Annotated[Caller, allowed("outfall.register")],
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Register an outfall (一口一档)."""
    fields = body.model_dump(
        include={"code", "name", "outfall_type", "river_code", "stage", "responsible"}, exclude_none=True
    )
    oid = outfalls.register_outfalls(
        session,
        outfalls.outfall_frame(
            catalogue_for(settings)["outfalls"], body.location(district_for(settings), POINT_ONLY), fields
        ),
        actor=caller.name,
        settings=settings,
        clock=clock,
    )[0]
    caller.audit(session, "outfall.register", "outfall", oid, code=body.code)
    return read_outfall(oid, session, caller, settings)


@router.patch("/{outfall_id}", response_model=shapes.OutfallFile, response_model_exclude_unset=True)
def change(
    outfall_id: IdPath,
    body: OutfallChange,
    session: SessionDep,
    caller: Annotated[Caller, allowed("outfall.edit")],
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Change an outfall's file: fields, campaign stage (forward only), outcome (销号 closes it: admin)."""
    fields, geom = body.edit(outfalls.EDITABLE, district_for(settings), POINT_ONLY)
    if fields.get("outcome") == "closed":
        check_action(caller, "outfall.close", settings)
    event = outfalls.update_outfall(
        session,
        outfall_id,
        actor=caller.name,
        expected_version=body.expected_version,
        fields=fields,
        geometry=geom,
        catalogue=catalogue_for(settings),
        note=body.note,
        clock=clock,
    )
    caller.audit(session, f"outfall.{event.action}", "outfall", outfall_id, changes=event.changes)
    return read_outfall(outfall_id, session, caller, settings)


@router.post(
    "/{outfall_id}/events/{event_id}/photos",
    status_code=201,
    openapi_extra=PHOTOS_BODY,
    response_model=shapes.OutfallPhotos,
)
def upload_photos(
    outfall_id: IdPath,
    event_id: IdPath,
    session: SessionDep,
    caller: Annotated[Caller, allowed("outfall.photo")],
    clock: ClockDep,
    settings: SettingsDep,
    uploads: Annotated[list[PhotoUpload], Depends(photo_uploads)],
) -> dict[str, Any]:
    """Attach evidence photos (JPEG/PNG) to an event of the outfall's file; their EXIF position and time are read."""
    stored = outfalls.attach_photos(session, outfall_id, event_id, uploads, settings=settings, clock=clock)
    caller.audit(
        session, "outfall.photo", "outfall", outfall_id, event_id=event_id, photos=[p["index"] for p in stored]
    )
    return {"attachments": stored}


@router.get(
    "/{outfall_id}/events/{event_id}/photos/{index}",
    response_class=FileResponse,
    responses=file_responses(*PHOTO_TYPES),
)
def download_photo(
    outfall_id: IdPath,
    event_id: IdPath,
    index: Annotated[int, Path(ge=0, le=1000)],
    session: SessionDep,
    _caller: Viewer,
    settings: SettingsDep,
) -> FileResponse:
    """Return an evidence photo of an event of the outfall's file."""
    photo = outfalls.event_photo(session, outfall_id, event_id, index)
    return photo_response(photo["path"], photo["content_type"], photo["filename"], settings.data_dir)


@router.delete("/{outfall_id}", response_model=shapes.OutfallDeleted)
def remove(
    outfall_id: IdPath, session: SessionDep, caller: Annotated[Caller, allowed("outfall.delete")]
) -> dict[str, Any]:
    """Remove an outfall registered in error (admin); closed files are kept. The audit log keeps its state."""
    snapshot = outfalls.delete_outfall(session, outfall_id)
    caller.audit(
        session, "outfall.delete", "outfall", outfall_id, snapshot=snapshot, at=dt.datetime.now(dt.UTC).isoformat()
    )
    return {"deleted": outfall_id, "snapshot": snapshot}
