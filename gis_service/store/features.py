"""Write and read a layer's features, mapping catalogue fields to typed columns or ``attrs``.

Helpers here never commit: the caller owns the transaction (one request, one command).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geoalchemy2.elements import WKBElement
from sqlalchemy import Connection, Select, Table, insert, select
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec, get_catalogue
from gis_service.db.models import LAYER_MODELS, SRID, Delivery
from gis_service.store.spatial import BBox, bbox_filter, geom_wkb

CRS = f"EPSG:{SRID}"
# Columns that belong to storage, not to the catalogue; shown with every feature.
SYSTEM_COLUMNS = ("id", "delivery_id", "lock_version")


def table_of(layer: LayerSpec) -> Table:
    """Return the SQL table that stores ``layer``."""
    return LAYER_MODELS[layer.table].__table__  # type: ignore[return-value]


def _plain(value: Any) -> Any:
    """Return ``value`` as a JSON- and DB-friendly Python value (None for NaN/NaT)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _geometry_for_column(geom: shapely.Geometry, column_type: str) -> shapely.Geometry:
    """Promote single geometries to multi where the column is typed as multi."""
    if column_type == "MULTILINESTRING" and geom.geom_type == "LineString":
        return shapely.MultiLineString([geom])
    if column_type == "MULTIPOLYGON" and geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    return geom


def feature_rows(
    layer: LayerSpec, gdf: gpd.GeoDataFrame, extra: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Turn a normalised GeoDataFrame (EPSG:4490, catalogue field names) into insertable rows."""
    table = table_of(layer)
    columns = set(table.c.keys())
    column_type = table.c.geom.type.geometry_type  # type: ignore[attr-defined]
    geoms = [_geometry_for_column(g, column_type) for g in shapely.force_2d(gdf.geometry.values)]
    wkbs = shapely.to_wkb(np.asarray(geoms, dtype=object))
    names = [f.name for f in layer.fields if f.name in gdf.columns]
    records = gdf[names].to_dict("records") if names else [{} for _ in range(len(gdf))]
    rows = []
    for record, wkb in zip(records, wkbs, strict=True):
        row: dict[str, Any] = {"attrs": {}}
        for name, value in record.items():
            value = _plain(value)
            if name in columns:
                row[name] = value
            elif value is not None:
                row["attrs"][name] = value.isoformat() if isinstance(value, dt.date) else value
        row.update(extra or {})
        row["geom"] = WKBElement(wkb, srid=SRID)
        rows.append(row)
    return rows


def insert_features(
    session: Session | Connection,
    layer: LayerSpec,
    gdf: gpd.GeoDataFrame,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """Insert the features of ``gdf`` into the layer's table; return how many were written."""
    rows = feature_rows(layer, gdf, extra)
    if rows:
        session.execute(insert(table_of(layer)), rows)
    return len(rows)


def current_filter(table: Table) -> Any:
    """Return the clause keeping only features of approved deliveries (versioned layers)."""
    approved = select(Delivery.id).where(Delivery.status == "approved")
    return table.c.delivery_id.in_(approved)


def feature_query(
    layer: LayerSpec,
    dialect: str,
    *,
    bbox: BBox | None = None,
    where: Mapping[str, Any] | None = None,
    current_only: bool = True,
    delivery_id: int | None = None,
    fid: int | None = None,
) -> Select[Any]:
    """Build the SELECT of a layer's features with optional bbox, equality filters and version."""
    table = table_of(layer)
    cols = [c for c in table.c if c.key != "geom"]
    query = select(*cols, geom_wkb(table)).order_by(table.c.id)
    if bbox is not None:
        query = query.where(bbox_filter(table, bbox, dialect))
    for name, value in (where or {}).items():
        if value is not None and name in table.c:
            query = query.where(table.c[name] == value)
    if layer.versioned:
        if delivery_id is not None:
            query = query.where(table.c.delivery_id == delivery_id)
        elif current_only:
            query = query.where(current_filter(table))
    if fid is not None:
        query = query.where(table.c.id == fid)
    return query


def rows_to_frame(layer: LayerSpec, rows: Iterable[Mapping[str, Any]]) -> gpd.GeoDataFrame:
    """Turn selected rows (columns, ``attrs`` and ``wkb``) into a GeoDataFrame of catalogue fields."""
    rows = list(rows)
    names = layer.field_names
    system = [c for c in SYSTEM_COLUMNS if rows and c in rows[0]]
    data: dict[str, list[Any]] = {c: [] for c in (*system, *names)}
    wkbs = []
    for row in rows:
        attrs = row.get("attrs") or {}
        for c in system:
            data[c].append(row[c])
        for name in names:
            data[name].append(row[name] if name in row else attrs.get(name))
        wkbs.append(row["wkb"])
    geometry = shapely.from_wkb(np.asarray(wkbs, dtype=object)) if wkbs else []
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=CRS), crs=CRS)


def read_features(
    conn: Session | Connection,
    layer: LayerSpec | str,
    *,
    bbox: BBox | None = None,
    where: Mapping[str, Any] | None = None,
    limit: int | None = None,
    offset: int = 0,
    current_only: bool = True,
    delivery_id: int | None = None,
    fid: int | None = None,
) -> gpd.GeoDataFrame:
    """Read a layer's features as a GeoDataFrame in EPSG:4490 with catalogue field names."""
    spec = get_catalogue()[layer] if isinstance(layer, str) else layer
    dialect = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name
    query = feature_query(
        spec, dialect, bbox=bbox, where=where, current_only=current_only, delivery_id=delivery_id, fid=fid
    )
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    result = conn.execute(query)
    return rows_to_frame(spec, (dict(r._mapping) for r in result))
