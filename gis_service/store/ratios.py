"""Read the current inputs of the shoreline ratio check from the store and run it.

The check itself is pure (:mod:`gis_service.analysis.shoreline.ratios`); this module only fetches the
approved zone sets, the centerlines, the towns and the bank range lines, one query a layer,
with the geometries as WKB decoded by shapely in one vectorised call. Rows come straight from
the database driver as tuples: at 200 000 zones, SQLAlchemy's Row objects would cost more than
the query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Boolean, Connection, Select, select
from sqlalchemy.orm import Session

from gis_service.analysis.shoreline.ratio_report import RatioReport
from gis_service.analysis.shoreline.ratios import RatioRules, ratio_check
from gis_service.catalogue import get_catalogue
from gis_service.db.backend import backend_for
from gis_service.errors import NotFound
from gis_service.runtime import collector_paused
from gis_service.settings import Settings
from gis_service.store.features import CRS, current_filter, table_of
from gis_service.store.spatial import geom_wkb

FETCH_BATCH = 20_000
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
    data = driver_rows(conn, query, len(columns) + 1)
    frame = pd.DataFrame({name: data[:, i] for i, name in enumerate(columns)}).infer_objects()
    for name in columns:
        # The driver's own values: SQLite keeps booleans as 0/1.
        if isinstance(table.c[name].type, Boolean) and frame[name].dtype != bool:
            frame[name] = frame[name].astype("boolean")
    geometry = shapely.from_wkb(data[:, -1]) if len(data) else []
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=CRS), crs=CRS)


def driver_rows(conn: Session | Connection, query: Select[Any], width: int) -> np.ndarray:
    """Run ``query`` in the caller's transaction; return its rows as an object array straight from the driver.

    The backend's cursor (psycopg's binary one: WKB arrives as bytes rather than hex text to decode).
    Rows are taken in batches so that only one batch of row tuples is alive at a time.
    """
    connection = conn.connection() if isinstance(conn, Session) else conn
    with backend_for(connection).driver_cursor(connection, query) as cursor:
        return _batched(cursor, width)


def _batched(cursor: Any, width: int) -> np.ndarray:
    """Return all rows of a DBAPI ``cursor`` as an (n, width) object array."""
    blocks = []
    while batch := cursor.fetchmany(FETCH_BATCH):
        block = np.empty((len(batch), width), dtype=object)
        block[:] = batch
        blocks.append(block)
    return np.concatenate(blocks) if blocks else np.empty((0, width), dtype=object)


def ratio_rules(settings: Settings) -> RatioRules:
    """Return the check's rules as the settings give them (``RIVERGIS_RATIO_THRESHOLD``, ``…_GAP_TOLERANCE_M``)."""
    return RatioRules(threshold=settings.ratio_threshold, gap_tolerance_m=settings.gap_tolerance_m)


def current_report(conn: Session | Connection, rules: RatioRules, *, river: str | None = None) -> RatioReport:
    """Return the ratio check of the current (approved) zone sets, of one river when ``river`` is given."""
    with collector_paused():
        where = {"river_code": river} if river else None
        rivers = fetch(conn, "rivers", {"code": river} if river else None)
        if river and rivers.empty:
            raise NotFound(
                f"没有河流编码为 {river} 的河流；请用 `rivergis rivers list` 查看河流编码",
                code="river_not_found",
                details={"river": river},
            )
        zones = fetch(conn, "zones", where)
        towns = fetch(conn, "towns")
        ranges = fetch(conn, "boundaries", where)
        return ratio_check(zones, rivers, rules, ranges=ranges, towns=towns)
