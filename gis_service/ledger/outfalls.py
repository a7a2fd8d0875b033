"""The outfall register (入河排污口, 一口一档): register, campaign stage and outcome, the file of changes, photos.

Campaign stages go forward only: 排查 survey → 监测 monitor → 溯源 trace → 整治 fix; the outcome
(依法取缔 ban, 清理合并 merge, 规范整治 regularise, 销号 closed) is set at the fix stage, and
销号 closes the file. Every change is an event of the outfall's file, and an event may carry
evidence photos. Reading the register (flags, lists, statistics) is in :mod:`.outfall_reports`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import shapely
from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session

from gis_service.catalogue import Catalogue, LayerSpec, catalogue_for
from gis_service.db.models import Outfall, OutfallEvent
from gis_service.errors import BadRequest, Conflict, InvalidTransition, NotFound
from gis_service.ledger.common import (
    Clock,
    as_utc,
    catalogue_record,
    json_value,
    locked_update,
    plain,
)
from gis_service.ledger.jurisdiction import jurisdiction_of
from gis_service.ledger.outfall_reports import (  # reading the register, re-exported for callers
    COUNTED as COUNTED,
)
from gis_service.ledger.outfall_reports import FLAG_LABELS as FLAG_LABELS
from gis_service.ledger.outfall_reports import flag_outfalls as flag_outfalls
from gis_service.ledger.outfall_reports import list_outfalls as list_outfalls
from gis_service.ledger.outfall_reports import outfall_statistics as outfall_statistics
from gis_service.ledger.photos import PhotoUpload, check_photo, store_photo
from gis_service.settings import Settings
from gis_service.store.bulk import feature_rows, insert_features

TABLE: Table = Outfall.__table__  # type: ignore[assignment]
STAGES = ("survey", "monitor", "trace", "fix")
EDITABLE = ("name", "river_code", "outfall_type", "stage", "outcome", "responsible")
PHOTOS = "photos"  # the key of an event's evidence photos in its ``changes``


def outfall_frame(layer: LayerSpec, geometry: shapely.Geometry, fields: Mapping[str, Any]) -> gpd.GeoDataFrame:
    """Return a one-outfall frame of catalogue fields, values checked (codes, labels or aliases)."""
    return catalogue_record(layer, geometry, fields, skip_derived=False)


def _check_register(session: Session, layer: LayerSpec, frame: gpd.GeoDataFrame) -> None:
    """Refuse outfalls missing a code, name or type, or whose code is already registered."""
    for name in ("code", "name", "outfall_type"):
        if name not in frame.columns or frame[name].isna().any():
            spec = layer.field(name)
            raise BadRequest(f"排污口的“{spec.label}”({name}) 必填", code="missing_field", details={"field": name})
    codes = frame["code"].astype(str)
    dupes = sorted(set(codes[codes.duplicated()]))
    taken = list(session.scalars(select(TABLE.c.code).where(TABLE.c.code.in_(codes.tolist()))))
    if dupes or taken:
        raise Conflict(
            f"排污口编码重复或已登记：{', '.join(sorted(set(dupes + taken))[:20])}；一口一档，请使用新编码",
            code="duplicate_outfall_code",
            details={"codes": sorted(set(dupes + taken))},
        )


def register_outfalls(
    session: Session, frame: gpd.GeoDataFrame, *, actor: str, settings: Settings, clock: Clock
) -> list[int]:
    """Register normalised outfalls (EPSG:4490); a missing receiving river is the nearest one. Return ids."""
    if frame.empty:
        return []
    frame = frame.reset_index(drop=True)
    catalogue = catalogue_for(settings)
    layer = catalogue["outfalls"]
    _check_register(session, layer, frame)
    if "river_code" not in frame.columns:
        frame["river_code"] = None
    missing = frame["river_code"].isna()
    if missing.any():
        derived = jurisdiction_of(session, catalogue, frame.loc[missing], settings.jurisdiction_distance_m)
        frame.loc[missing, "river_code"] = derived["river_code"]
    now = clock()
    rows = feature_rows(layer, frame, {"lock_version": 1})  # the values as stored, for the first events
    ids = [int(i) for i in insert_features(session, layer, frame, {"lock_version": 1}, ids=True)]
    session.execute(
        insert(OutfallEvent),
        [
            {
                "outfall_id": outfall_id,
                "action": "register",
                "actor": actor,
                "at": now,
                "note": None,
                "changes": {k: json_value(row.get(k)) for k in EDITABLE},
            }
            for outfall_id, row in zip(ids, rows, strict=True)
        ],
    )
    return ids


def _outfall(session: Session, outfall_id: int) -> Outfall:
    """Return the outfall or raise NotFound."""
    outfall = session.get(Outfall, outfall_id)
    if outfall is None:
        raise NotFound(f"排污口 {outfall_id} 不存在", code="outfall_not_found")
    return outfall


def _stage_checked(outfall: Outfall, values: dict[str, Any]) -> None:
    """Refuse moving the campaign stage backwards, or an outcome before the fix stage; 销号 closes the file."""
    stage = values.get("stage") or outfall.stage or "survey"
    old_stage = outfall.stage or "survey"
    if STAGES.index(stage) < STAGES.index(old_stage):
        later = STAGES[STAGES.index(old_stage) :]
        raise InvalidTransition(
            f"排查整治阶段只能向前推进：当前为 {old_stage}，可设为 {', '.join(later)}",
            code="stage_backwards",
            details={"stage": old_stage, "allowed": list(later)},
        )
    if values.get("outcome") and stage != "fix":
        raise InvalidTransition(
            "整治方式（outcome）须在整治阶段（stage=fix）填写；请同时把 stage 设为 fix",
            code="outcome_before_fix",
            details={"stage": stage},
        )
    if values.get("outcome") == "closed":
        values["status"] = "closed"


def _action(values: Mapping[str, Any], moved: bool) -> str:
    """Return the name of a change's event: close, outcome, stage, move or edit."""
    if values.get("status") == "closed":
        return "close"
    for name in ("outcome", "stage"):
        if name in values:
            return name
    return "move" if moved else "edit"


def update_outfall(
    session: Session,
    outfall_id: int,
    *,
    actor: str,
    expected_version: int | None,
    fields: Mapping[str, Any],
    geometry: shapely.Geometry | None = None,
    note: str | None = None,
    catalogue: Catalogue,
    clock: Clock,
) -> OutfallEvent:
    """Change an outfall's file: fields, campaign stage (forward only), outcome; 销号 closes it."""
    outfall = _outfall(session, outfall_id)
    if outfall.status == "closed":
        raise Conflict(f"排污口 {outfall.code} 已销号，档案不可修改", code="outfall_closed")
    if expected_version is not None and expected_version != outfall.lock_version:
        raise Conflict(
            f"排污口 {outfall.code} 已被他人修改（当前版本 {outfall.lock_version}）；请刷新后再操作",
            code="version_conflict",
            details={"current_version": outfall.lock_version},
        )
    unknown = sorted(set(fields) - set(EDITABLE))
    if unknown:
        raise BadRequest(f"字段 {unknown} 不能修改；可修改：{', '.join(EDITABLE)}", code="field_not_editable")
    frame = outfall_frame(catalogue["outfalls"], geometry if geometry is not None else shapely.Point(0, 0), fields)
    values = {k: plain(frame[k].iloc[0]) for k in fields}
    _stage_checked(outfall, values)
    changes = {k: {"from": json_value(getattr(outfall, k)), "to": json_value(v)} for k, v in values.items()}
    if geometry is not None:
        values["geom"] = func.ST_GeomFromWKB(shapely.to_wkb(geometry), 4490)
        changes["geometry"] = {"to": shapely.geometry.mapping(geometry)}
    if not changes:
        raise BadRequest("没有要修改的内容", code="nothing_to_change")
    if not locked_update(session, TABLE, outfall_id, outfall.lock_version, values):
        raise Conflict(f"排污口 {outfall.code} 已被他人修改；请刷新后再操作", code="version_conflict")
    event = OutfallEvent(
        outfall_id=outfall_id,
        action=_action(values, geometry is not None),
        actor=actor,
        at=clock(),
        note=note,
        changes=changes,
    )
    session.add(event)
    session.flush()
    session.expire(outfall)
    return event


def delete_outfall(session: Session, outfall_id: int) -> dict[str, Any]:
    """Remove an outfall registered in error; a closed file (销号) is kept. Return its last state."""
    outfall = _outfall(session, outfall_id)
    if outfall.status == "closed":
        raise Conflict(f"排污口 {outfall.code} 已销号，档案须保留，不能删除", code="outfall_closed")
    snapshot = {k: json_value(getattr(outfall, k)) for k in ("code", "name", *EDITABLE, "status")}
    session.execute(delete(OutfallEvent).where(OutfallEvent.outfall_id == outfall_id))
    session.delete(outfall)
    session.flush()
    return snapshot


def _photo_data(outfall_id: int, event_id: int, index: int, photo: Mapping[str, Any]) -> dict[str, Any]:
    """Return an event photo as API data: what it is and where to fetch it (never its storage path)."""
    keep = ("filename", "content_type", "size", "sha256", "lon", "lat", "taken_at")
    return {
        "index": index,
        "event_id": event_id,
        **{k: photo.get(k) for k in keep},
        "href": f"/api/v1/outfalls/{outfall_id}/events/{event_id}/photos/{index}",
    }


def _event(session: Session, outfall_id: int, event_id: int) -> OutfallEvent:
    """Return an event of the outfall's file, or raise NotFound."""
    event = session.get(OutfallEvent, event_id)
    if event is None or event.outfall_id != outfall_id:
        raise NotFound(f"排污口 {outfall_id} 没有编号为 {event_id} 的档案记录", code="event_not_found")
    return event


def attach_photos(
    session: Session,
    outfall_id: int,
    event_id: int,
    uploads: Sequence[PhotoUpload],
    *,
    settings: Settings,
    clock: Clock,
) -> list[dict[str, Any]]:
    """Add evidence photos (JPEG/PNG, EXIF position and time read) to an event of the outfall's file."""
    event = _event(session, outfall_id, event_id)
    if not uploads:
        raise BadRequest("没有收到照片；请以 multipart 字段 photos 上传 JPEG/PNG", code="no_photos")
    for upload in uploads:
        check_photo(upload, settings.max_photo_mb)  # refuse a bad photo before anything is written
    stored = [store_photo(u, settings, now=clock()) for u in uploads]
    # The event keeps its evidence with it (the attachments table belongs to the problem ledger).
    photos = [
        *event.changes.get(PHOTOS, []),
        *(
            {
                "filename": s.filename,
                "path": s.path,
                "content_type": s.content_type,
                "size": s.size,
                "sha256": s.sha256,
                "lon": s.lon,
                "lat": s.lat,
                "taken_at": json_value(as_utc(s.taken_at)),
            }
            for s in stored
        ),
    ]
    event.changes = {**event.changes, PHOTOS: photos}
    session.flush()
    first = len(photos) - len(stored)
    return [_photo_data(outfall_id, event_id, i, photos[i]) for i in range(first, len(photos))]


def event_photo(session: Session, outfall_id: int, event_id: int, index: int) -> dict[str, Any]:
    """Return the stored record (with its path under the data folder) of one photo of an event."""
    photos = _event(session, outfall_id, event_id).changes.get(PHOTOS, [])
    if not 0 <= index < len(photos):
        raise NotFound(f"排污口 {outfall_id} 的档案记录 {event_id} 没有第 {index} 张照片", code="attachment_not_found")
    return dict(photos[index])


def outfall_history(session: Session, outfall_id: int) -> list[dict[str, Any]]:
    """Return the outfall's file: every change, oldest first, each with its evidence photos."""
    _outfall(session, outfall_id)
    events = session.scalars(
        select(OutfallEvent).where(OutfallEvent.outfall_id == outfall_id).order_by(OutfallEvent.at, OutfallEvent.id)
    )
    return [
        {
            "id": e.id,
            "action": e.action,
            "actor": e.actor,
            "at": as_utc(e.at),
            "note": e.note,
            "changes": {k: v for k, v in e.changes.items() if k != PHOTOS},
            "attachments": [_photo_data(outfall_id, e.id, i, p) for i, p in enumerate(e.changes.get(PHOTOS, []))],
        }
        for e in events
    ]
