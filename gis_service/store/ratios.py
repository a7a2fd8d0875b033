"""Read the current inputs of the shoreline ratio check from the store and run it.

The check itself is pure (:mod:`gis_service.analysis.ratios`); this module only fetches the
approved zone sets, the centerlines, the towns and the bank range lines, one query a layer,
with the geometries as WKB decoded by shapely in one vectorised call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from gis_service.analysis.ratio_report import RatioReport
from gis_service.analysis.ratios import shoreline_ratios
from gis_service.catalogue import get_catalogue
from gis_service.errors import NotFound
from gis_service.settings import get_settings
from gis_service.store.features import CRS, current_filter, table_of
from gis_service.store.spatial import geom_wkb

# The columns the check reads, per layer (all typed columns, so no ``attrs`` JSON to decode).
COLUMNS = {
    "rivers": ("code", "name", "important"),
    "zones": ("id", "code", "river_code", "bank", "zone_type", "basis"),
    "towns": ("code", "name"),
    "boundaries": ("river_code", "bank"),
}


def fetch(conn: Session | Connection, layer: str, where: Mapping[str, Any] | None = None) -> gpd.GeoDataFrame:
    """Return the current features of ``layer`` with the columns the check needs, in one query."""
    spec = get_catalogue()[layer]
    table = table_of(spec)
    columns = COLUMNS[layer]
    query = select(*(table.c[c] for c in columns), geom_wkb(table)).order_by(table.c.id)
    if spec.versioned:
        query = query.where(current_filter(table))
    for name, value in (where or {}).items():
        query = query.where(table.c[name] == value)
    # Plain tuples: building a DataFrame from Row objects probes each row for attributes (slow at 200 000).
    rows = [tuple(r) for r in conn.execute(query)]
    frame = pd.DataFrame(rows, columns=[*columns, "wkb"])
    geometry = shapely.from_wkb(np.asarray(frame.pop("wkb").to_numpy(), dtype=object)) if len(frame) else []
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=CRS), crs=CRS)


def current_report(conn: Session | Connection, *, river: str | None = None) -> RatioReport:
    """Return the ratio check of the current (approved) zone sets, of one river when ``river`` is given."""
    where = {"river_code": river} if river else None
    rivers = fetch(conn, "rivers", {"code": river} if river else None)
    if river and rivers.empty:
        raise NotFound(f"没有河流编码为 {river} 的河流；请用 `rivergis export rivers` 查看河流编码",
                       code="river_not_found", details={"river": river})
    zones = fetch(conn, "zones", where)
    towns = fetch(conn, "towns")
    ranges = fetch(conn, "boundaries", where)
    lines = ranges[ranges.geometry.geom_type.isin(["LineString", "MultiLineString"]) & ranges["bank"].notna()]
    settings = get_settings()
    return shoreline_ratios(zones, rivers, towns, threshold=settings.ratio_threshold,
                            gap_tolerance_m=settings.gap_tolerance_m, bank_lines=lines)
