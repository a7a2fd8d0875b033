"""The outfall register (入河排污口, 一口一档): register, campaign stage and outcome, flagged checks.

Campaign stages go forward only: 排查 survey → 监测 monitor → 溯源 trace → 整治 fix; the outcome
(依法取缔 ban, 清理合并 merge, 规范整治 regularise, 销号 closed) is set at the fix stage, and
销号 closes the file. Every change is an event of the outfall's file. Flags: an outfall on a
protected-zone stretch; a banned outfall still marked active.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from gis_service.analysis.jurisdiction import zone_of_sites
from gis_service.catalogue import get_catalogue
from gis_service.db.models import Outfall, OutfallEvent
from gis_service.errors import BadRequest, Conflict, InvalidTransition, NotFound
from gis_service.ledger.service import Clock, _context, _json, as_utc, jurisdiction_of, system_clock
from gis_service.settings import get_settings
from gis_service.store.features import feature_rows, read_features

STAGES = ("survey", "monitor", "trace", "fix")
EDITABLE = ("name", "river_code", "outfall_type", "stage", "outcome", "responsible")
FLAG_LABELS = {"on_protected_zone": "位于岸线保护区岸段", "banned_still_active": "已依法取缔但仍为在用状态"}


def _layer():  # type: ignore[no-untyped-def]
    """Return the outfalls layer spec."""
    return get_catalogue()["outfalls"]


def outfall_frame(geometry: shapely.Geometry, fields: Mapping[str, Any]) -> gpd.GeoDataFrame:
    """Return a one-outfall frame of catalogue fields, values checked (codes, labels or aliases)."""
    from gis_service.ingest.normalise import coerce

    layer = _layer()
    record: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in layer.field_names:
            continue
        spec = layer.field(name)
        try:
            record[name] = coerce(spec, value)
        except (ValueError, TypeError):
            allowed = "、".join(f"{v.label}({v.code})" for v in spec.values.values())
            hint = f"；可选：{allowed}" if allowed else ""
            raise BadRequest(f"字段“{spec.label}”({name}) 的值 {value!r} 无法识别{hint}",
                             code="bad_field_value", details={"field": name}) from None
    for spec in layer.fields:
        if record.get(spec.name) is None and spec.default is not None:
            record[spec.name] = spec.default
    return gpd.GeoDataFrame([record], geometry=[geometry], crs="EPSG:4490")


def _check_register(session: Session, frame: gpd.GeoDataFrame) -> None:
    """Refuse outfalls missing a code, name or type, or whose code is already registered."""
    for name in ("code", "name", "outfall_type"):
        if name not in frame.columns or frame[name].isna().any():
            spec = _layer().field(name)
            raise BadRequest(f"排污口的“{spec.label}”({name}) 必填", code="missing_field", details={"field": name})
    codes = [str(c) for c in frame["code"]]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    taken = list(session.scalars(select(Outfall.code).where(Outfall.code.in_(codes))))
    if dupes or taken:
        raise Conflict(f"排污口编码重复或已登记：{', '.join(sorted(set(dupes + taken))[:20])}；一口一档，请使用新编码",
                       code="duplicate_outfall_code", details={"codes": sorted(set(dupes + taken))})


def register_outfalls(session: Session, frame: gpd.GeoDataFrame, *, actor: str,
                      clock: Clock = system_clock) -> list[int]:
    """Register normalised outfalls (EPSG:4490); a missing receiving river is the nearest one. Return ids."""
    if frame.empty:
        return []
    frame = frame.reset_index(drop=True)
    _check_register(session, frame)
    if "river_code" not in frame.columns:
        frame["river_code"] = None
    missing = frame["river_code"].isna()
    if missing.any():
        derived = jurisdiction_of(session, frame.loc[missing])
        frame.loc[missing, "river_code"] = derived["river_code"]
    now = clock()
    rows = feature_rows(_layer(), frame)
    for row in rows:
        row["lock_version"] = 1
    table = Outfall.__table__
    result = session.execute(insert(table).returning(table.c.id, table.c.code), rows)  # type: ignore[arg-type]
    ids = {r.code: r.id for r in result}
    session.execute(insert(OutfallEvent), [
        {"outfall_id": ids[row["code"]], "action": "register", "actor": actor, "at": now, "note": None,
         "changes": {k: _json(row.get(k)) for k in EDITABLE}} for row in rows])
    return [ids[row["code"]] for row in rows]


def _outfall(session: Session, outfall_id: int) -> Outfall:
    """Return the outfall or raise NotFound."""
    outfall = session.get(Outfall, outfall_id)
    if outfall is None:
        raise NotFound(f"排污口 {outfall_id} 不存在", code="outfall_not_found")
    return outfall


def update_outfall(session: Session, outfall_id: int, *, actor: str, expected_version: int | None,
                   fields: Mapping[str, Any], geometry: shapely.Geometry | None = None, note: str | None = None,
                   clock: Clock = system_clock) -> OutfallEvent:
    """Change an outfall's file: fields, campaign stage (forward only), outcome; 销号 closes it."""
    outfall = _outfall(session, outfall_id)
    if outfall.status == "closed":
        raise Conflict(f"排污口 {outfall.code} 已销号，档案不可修改", code="outfall_closed")
    if expected_version is not None and expected_version != outfall.lock_version:
        raise Conflict(f"排污口 {outfall.code} 已被他人修改（当前版本 {outfall.lock_version}）；请刷新后再操作",
                       code="version_conflict", details={"current_version": outfall.lock_version})
    unknown = sorted(set(fields) - set(EDITABLE))
    if unknown:
        raise BadRequest(f"字段 {unknown} 不能修改；可修改：{', '.join(EDITABLE)}", code="field_not_editable")
    frame = outfall_frame(geometry if geometry is not None else shapely.Point(0, 0), fields)
    values = {k: frame[k].iloc[0] for k in fields}
    values = {k: (None if v is None or (not isinstance(v, str) and pd.isna(v)) else v) for k, v in values.items()}
    stage = values.get("stage") or outfall.stage or "survey"
    old_stage = outfall.stage or "survey"
    if STAGES.index(stage) < STAGES.index(old_stage):
        later = STAGES[STAGES.index(old_stage):]
        raise InvalidTransition(
            f"排查整治阶段只能向前推进：当前为 {old_stage}，可设为 {', '.join(later)}",
            code="stage_backwards", details={"stage": old_stage, "allowed": list(later)})
    if values.get("outcome") and stage != "fix":
        raise InvalidTransition("整治方式（outcome）须在整治阶段（stage=fix）填写；请同时把 stage 设为 fix",
                                code="outcome_before_fix", details={"stage": stage})
    if values.get("outcome") == "closed":
        values["status"] = "closed"
    if geometry is not None:
        values["geom"] = func.ST_GeomFromWKB(shapely.to_wkb(geometry), 4490)
    changes = {k: {"from": _json(getattr(outfall, k)), "to": _json(v)} for k, v in values.items() if k != "geom"}
    if geometry is not None:
        changes["geometry"] = {"to": shapely.geometry.mapping(geometry)}
    if not changes:
        raise BadRequest("没有要修改的内容", code="nothing_to_change")
    table = Outfall.__table__
    result = session.execute(
        update(table).where(table.c.id == outfall_id, table.c.lock_version == outfall.lock_version)  # type: ignore[arg-type]
        .values(lock_version=table.c.lock_version + 1, **values)  # type: ignore[attr-defined]
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"排污口 {outfall.code} 已被他人修改；请刷新后再操作", code="version_conflict")
    action = "close" if values.get("status") == "closed" else "outcome" if "outcome" in values else \
        "stage" if "stage" in values else "move" if geometry is not None else "edit"
    event = OutfallEvent(outfall_id=outfall_id, action=action, actor=actor, at=clock(), note=note, changes=changes)
    session.add(event)
    session.flush()
    session.expire(outfall)
    return event


def delete_outfall(session: Session, outfall_id: int) -> dict[str, Any]:
    """Remove an outfall registered in error; a closed file (销号) is kept. Return its last state."""
    outfall = _outfall(session, outfall_id)
    if outfall.status == "closed":
        raise Conflict(f"排污口 {outfall.code} 已销号，档案须保留，不能删除", code="outfall_closed")
    snapshot = {k: _json(getattr(outfall, k)) for k in ("code", "name", *EDITABLE, "status")}
    session.execute(delete(OutfallEvent).where(OutfallEvent.outfall_id == outfall_id))
    session.delete(outfall)
    session.flush()
    return snapshot


def flag_outfalls(session: Session, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add ``zone_type`` and the register's check flags to outfalls read from the store."""
    out = frame.copy()
    if out.empty:
        out["zone_type"] = []
        out["flags"] = []
        return out
    zones = _context(session)["zones"]
    out["zone_type"] = zone_of_sites(out, out["river_code"], zones, get_settings().jurisdiction_distance_m)
    flags = []
    for zone, outcome, status in zip(out["zone_type"], out["outcome"], out["status"], strict=True):
        found = []
        if zone == "protected" and status == "active":
            found.append("on_protected_zone")
        if outcome == "ban" and status == "active":
            found.append("banned_still_active")
        flags.append(found)
    out["flags"] = flags
    return out


def list_outfalls(session: Session, *, river_code: str | None = None, outfall_type: str | None = None,
                  stage: str | None = None, status: str | None = None, flagged: bool | None = None,
                  fid: int | None = None) -> gpd.GeoDataFrame:
    """Return the register (filtered) with zone and flags."""
    where = {"river_code": river_code, "outfall_type": outfall_type, "stage": stage, "status": status}
    layer = _layer()
    for name in ("outfall_type", "stage", "status"):
        value = where[name]
        if value is not None and value not in layer.field(name).values:
            raise BadRequest(f"{layer.field(name).label}（{name}）的值 {value!r} 无效；"
                             f"可选：{', '.join(layer.field(name).values)}", code=f"bad_{name}")
    frame = flag_outfalls(session, read_features(session, layer, where=where, fid=fid))
    if flagged is not None:
        frame = frame[frame["flags"].map(bool) == flagged]
    return frame


def outfall_history(session: Session, outfall_id: int) -> list[dict[str, Any]]:
    """Return the outfall's file: every change, oldest first."""
    _outfall(session, outfall_id)
    events = session.scalars(select(OutfallEvent).where(OutfallEvent.outfall_id == outfall_id)
                             .order_by(OutfallEvent.at, OutfallEvent.id))
    return [{"id": e.id, "action": e.action, "actor": e.actor, "at": as_utc(e.at), "note": e.note,
             "changes": e.changes}
            for e in events]
