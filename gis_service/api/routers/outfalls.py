"""The outfall register (一口一档) over HTTP: list with flags, read with its file, register, update, delete."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gis_service.api.deps import Admin, SessionDep, Surveyor, Viewer
from gis_service.api.routers.problems import ClockDep, site_geometry
from gis_service.errors import NotFound
from gis_service.export import geojson
from gis_service.ledger import outfalls

router = APIRouter(prefix="/api/v1/outfalls", tags=["outfalls"])


class NewOutfall(BaseModel):
    """An outfall to register, at lon/lat (or a GeoJSON point) in ``crs`` (default EPSG:4490)."""

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=256)
    outfall_type: str = Field(description="industrial | municipal | agricultural | other（或中文）")
    river_code: str | None = Field(default=None, description="受纳河流编码；不填则取最近的河流")
    stage: str | None = None
    responsible: str | None = Field(default=None, max_length=256)
    lon: float | None = None
    lat: float | None = None
    geometry: dict[str, Any] | None = None
    crs: str | None = None


class OutfallChange(BaseModel):
    """A change to an outfall's file, against the version the editor saw."""

    expected_version: int
    name: str | None = Field(default=None, max_length=256)
    river_code: str | None = None
    outfall_type: str | None = None
    stage: str | None = Field(default=None, description="survey → monitor → trace → fix（只能向前）")
    outcome: str | None = Field(default=None, description="ban | merge | regularise | closed（销号）")
    responsible: str | None = Field(default=None, max_length=256)
    lon: float | None = None
    lat: float | None = None
    geometry: dict[str, Any] | None = None
    crs: str | None = None
    note: str | None = Field(default=None, max_length=4000)


def _items(frame: Any) -> list[dict[str, Any]]:
    """Return register rows as GeoJSON features with flag labels."""
    features = geojson.features(frame)
    for feature in features:
        props = feature["properties"]
        props["flag_labels"] = [outfalls.FLAG_LABELS[f] for f in props.get("flags") or []]
    return features


@router.get("")
def list_register(
    session: SessionDep, _caller: Viewer,
    river: Annotated[str | None, Query(description="河流编码")] = None,
    outfall_type: str | None = None, stage: str | None = None, status: str | None = None,
    flagged: Annotated[bool | None, Query(description="true: 只看有问题标记的")] = None,
) -> dict[str, Any]:
    """List the register as a GeoJSON FeatureCollection, each outfall with its zone and flags."""
    frame = outfalls.list_outfalls(session, river_code=river, outfall_type=outfall_type, stage=stage,
                                   status=status, flagged=flagged)
    items = _items(frame)
    return {"type": "FeatureCollection", "features": items, "numberReturned": len(items)}


@router.get("/{outfall_id}")
def read_outfall(outfall_id: int, session: SessionDep, _caller: Viewer) -> dict[str, Any]:
    """Return one outfall with its zone, flags and file (every change)."""
    frame = outfalls.list_outfalls(session, fid=outfall_id)
    if frame.empty:
        raise NotFound(f"排污口 {outfall_id} 不存在", code="outfall_not_found")
    feature = _items(frame)[0]
    feature["history"] = outfalls.outfall_history(session, outfall_id)
    return feature


@router.post("", status_code=201)
def register(body: NewOutfall, session: SessionDep, caller: Surveyor, clock: ClockDep) -> dict[str, Any]:
    """Register an outfall (一口一档)."""
    geom = site_geometry(body.lon, body.lat, body.geometry, body.crs)
    fields = body.model_dump(include={"code", "name", "outfall_type", "river_code", "stage", "responsible"},
                             exclude_none=True)
    oid = outfalls.register_outfalls(session, outfalls.outfall_frame(geom, fields), actor=caller.name,
                                     clock=clock)[0]
    caller.audit(session, "outfall.register", "outfall", oid, code=body.code)
    return read_outfall(oid, session, caller)


@router.patch("/{outfall_id}")
def change(outfall_id: int, body: OutfallChange, session: SessionDep, caller: Surveyor,
           clock: ClockDep) -> dict[str, Any]:
    """Change an outfall's file: fields, campaign stage (forward only), outcome (销号 closes it)."""
    fields = body.model_dump(include=set(outfalls.EDITABLE), exclude_none=True)
    moved = body.lon is not None or body.lat is not None or body.geometry is not None
    geom = site_geometry(body.lon, body.lat, body.geometry, body.crs) if moved else None
    event = outfalls.update_outfall(session, outfall_id, actor=caller.name, expected_version=body.expected_version,
                                    fields=fields, geometry=geom, note=body.note, clock=clock)
    caller.audit(session, f"outfall.{event.action}", "outfall", outfall_id, changes=event.changes)
    return read_outfall(outfall_id, session, caller)


@router.delete("/{outfall_id}")
def remove(outfall_id: int, session: SessionDep, caller: Admin) -> dict[str, Any]:
    """Remove an outfall registered in error (admin); closed files are kept. The audit log keeps its state."""
    snapshot = outfalls.delete_outfall(session, outfall_id)
    caller.audit(session, "outfall.delete", "outfall", outfall_id, snapshot=snapshot,
                 at=dt.datetime.now(dt.UTC).isoformat())
    return {"deleted": outfall_id, "snapshot": snapshot}
