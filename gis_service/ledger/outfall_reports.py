"""Reading the outfall register: each outfall's zone and flagged checks, filtered lists, dashboard statistics.

Flags (checks the register raises): an active outfall on a protected-zone stretch
(``on_protected_zone``); a banned outfall (依法取缔) still marked active (``banned_still_active``).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from gis_service.analysis.jurisdiction import zone_of_sites
from gis_service.catalogue import Catalogue, LayerSpec, catalogue_for
from gis_service.db.models import Outfall
from gis_service.errors import BadRequest
from gis_service.ledger.common import frame_of
from gis_service.ledger.jurisdiction import buffered_bounds, layer_frame
from gis_service.settings import Settings
from gis_service.store.current import CurrentFeatures

TABLE: Table = Outfall.__table__  # type: ignore[assignment]
FLAG_LABELS = {
    "on_protected_zone": "位于岸线保护区岸段",
    "banned_still_active": "已依法取缔但仍为在用状态",
    # Issue 18: an outfall in a drinking-water source zone (一级: the red flag).
    "in_source_zone_first": "位于饮用水水源一级保护区（红色警示）",
    "in_source_zone": "位于饮用水水源二级保护区或准保护区",
}
FILTERS = ("river_code", "outfall_type", "stage", "status")
COUNTED = {"by_type": "outfall_type", "by_stage": "stage", "by_outcome": "outcome", "by_status": "status"}
UNSET = "unset"
# Drinking-water source protection levels (issue 18), the gravest first.
ZONE_LEVELS = ("first", "second", "quasi")


def flag_outfalls(
    session: Session, catalogue: Catalogue, frame: gpd.GeoDataFrame, distance_m: float
) -> gpd.GeoDataFrame:
    """Add ``zone_type`` and the register's check flags to outfalls read from the store."""
    out = frame.copy()
    if out.empty:
        out["zone_type"] = []
        out["flags"] = []
        return out
    zones = layer_frame(
        session, catalogue["zones"], ("river_code", "zone_type"), buffered_bounds(out.geometry, distance_m)
    )
    out["zone_type"] = zone_of_sites(out, out["river_code"], zones, distance_m)
    active = (out["status"] == "active").to_numpy()
    on_protected = active & (out["zone_type"] == "protected").to_numpy()
    banned = active & (out["outcome"] == "ban").to_numpy()
    level = np.asarray(zone_levels(session, catalogue["source_zones"], out.geometry), dtype=object)
    in_first = active & (level == "first")
    in_zone = active & np.isin(level, ["second", "quasi"])
    # The few outfalls of a register: one small list per row is what the API and exports show.
    out["flags"] = [
        [name for name, hit in zip(FLAG_LABELS, hits, strict=True) if hit]
        for hits in zip(on_protected, banned, in_first, in_zone, strict=True)
    ]
    return out


def zone_levels(session: Session, source_zones: LayerSpec, geoms: gpd.GeoSeries) -> list[str | None]:
    """Return, for each geometry, the gravest protection-zone level it lies in (``first`` … ``quasi``) or None."""
    zones = CurrentFeatures(source_zones).frame(session)
    levels: list[str | None] = [None] * len(geoms)
    if zones.empty or geoms.empty:
        return levels
    frame = gpd.GeoDataFrame({"i": range(len(geoms))}, geometry=geoms.reset_index(drop=True), crs=zones.crs)
    hits = gpd.sjoin(frame, zones[["level", "geometry"]], how="inner", predicate="intersects")
    for i, level in zip(hits["i"], hits["level"], strict=True):
        current = levels[int(i)]
        if current is None or ZONE_LEVELS.index(str(level)) < ZONE_LEVELS.index(current):
            levels[int(i)] = str(level)
    return levels


def check_filters(layer: LayerSpec, where: dict[str, Any]) -> None:
    """Refuse a filter value the outfalls ``layer`` does not allow, naming the allowed ones."""
    for name in ("outfall_type", "stage", "status"):
        value = where.get(name)
        if value is not None and value not in layer.field(name).values:
            raise BadRequest(
                f"{layer.field(name).label}（{name}）的值 {value!r} 无效；可选：{', '.join(layer.field(name).values)}",
                code=f"bad_{name}",
            )


def list_outfalls(
    session: Session,
    *,
    river_code: str | None = None,
    outfall_type: str | None = None,
    stage: str | None = None,
    status: str | None = None,
    flagged: bool | None = None,
    fid: int | None = None,
    settings: Settings,
) -> gpd.GeoDataFrame:
    """Return the register (filtered) with zone and flags."""
    where = {"river_code": river_code, "outfall_type": outfall_type, "stage": stage, "status": status}
    catalogue = catalogue_for(settings)
    check_filters(catalogue["outfalls"], where)
    register = CurrentFeatures(catalogue["outfalls"], where=where, fid=fid).frame(session)
    frame = flag_outfalls(session, catalogue, register, settings.jurisdiction_distance_m)
    if flagged is not None:
        frame = frame[frame["flags"].map(bool) == flagged]
    return frame


def _tally(values: pd.Series, codes: list[str]) -> dict[str, int]:
    """Return counts of every allowed value (zeros included) and of unset ones."""
    counts = values.fillna(UNSET).value_counts()
    out = {code: int(counts.get(code, 0)) for code in codes}
    if counts.get(UNSET, 0):
        out[UNSET] = int(counts[UNSET])
    return out


def outfall_statistics(session: Session, *, settings: Settings, **where: Any) -> dict[str, Any]:
    """Return the register's counts by type, stage, outcome and status, and how many outfalls each check flags."""
    where = {k: v for k, v in where.items() if v is not None}
    unknown = sorted(set(where) - set(FILTERS))
    if unknown:
        raise BadRequest(f"不能按 {unknown} 筛选；可用：{', '.join(FILTERS)}", code="bad_filter")
    catalogue = catalogue_for(settings)
    layer = catalogue["outfalls"]
    check_filters(layer, where)
    columns = [TABLE.c[c] for c in COUNTED.values()]
    query = select(*columns, func.count()).where(*(TABLE.c[k] == v for k, v in where.items())).group_by(*columns)
    counts = frame_of(session.execute(query), [*COUNTED.values(), "n"])
    out: dict[str, Any] = {"total": int(counts["n"].sum())}
    for key, column in COUNTED.items():
        out[key] = _tally(counts[column].repeat(counts["n"].tolist()), list(layer.field(column).values))
    # Only active outfalls can be flagged; reading those (with their zone) is a small query.
    flags = pd.Series([], dtype=object)
    if where.get("status", "active") == "active":
        active = CurrentFeatures(layer, where={**where, "status": "active"}).frame(session)
        flags = flag_outfalls(session, catalogue, active, settings.jurisdiction_distance_m)["flags"]
    out["flagged"] = int(flags.map(bool).sum())
    out["flags"] = {name: int(sum(name in f for f in flags)) for name in FLAG_LABELS}
    out["flag_labels"] = dict(FLAG_LABELS)
    return out
