"""Write a layer's features, mapping catalogue fields to typed columns or ``attrs``; a shorthand read for tests.

Helpers here never commit: the caller owns the transaction (one request, one command). Reading
is :mod:`gis_service.store.current`'s (the one read path); the table helpers are
:mod:`gis_service.store.tables`' and stay importable from here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geoalchemy2.elements import WKBElement
from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec, get_catalogue
from gis_service.db.backend import backend_for
from gis_service.db.models import SRID
from gis_service.store.bulk import copy_features, geometries_for_column
from gis_service.store.current import CurrentFeatures, LayerVersions
from gis_service.store.spatial import BBox
from gis_service.store.tables import CRS, SYSTEM_COLUMNS, feature_columns, property_names, rows_to_frame, table_of

__all__ = [
    "CRS",
    "SYSTEM_COLUMNS",
    "feature_columns",
    "feature_rows",
    "insert_features",
    "property_names",
    "read_features",
    "rows_to_frame",
    "table_of",
]


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


def feature_rows(
    layer: LayerSpec, gdf: gpd.GeoDataFrame, extra: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Turn a normalised GeoDataFrame (EPSG:4490, catalogue field names) into insertable rows.

    ``extra`` values are scalars (the same for every row) or sequences aligned with ``gdf``'s rows.
    """
    table = table_of(layer)
    columns = set(table.c.keys())
    column_type = table.c.geom.type.geometry_type  # type: ignore[attr-defined]
    wkbs = shapely.to_wkb(geometries_for_column(gdf.geometry.values, column_type))
    names = [f.name for f in layer.fields if f.name in gdf.columns]
    records = gdf[names].to_dict("records") if names else [{} for _ in range(len(gdf))]
    scalars = {k: v for k, v in (extra or {}).items() if not isinstance(v, pd.Series | np.ndarray | list)}
    per_row = {k: [_plain(x) for x in v] for k, v in (extra or {}).items() if k not in scalars}
    rows = []
    for i, (record, wkb) in enumerate(zip(records, wkbs, strict=True)):
        row: dict[str, Any] = {"attrs": {}}
        for name, value in record.items():
            value = _plain(value)
            if name in columns:
                row[name] = value
            elif value is not None:
                row["attrs"][name] = value.isoformat() if isinstance(value, dt.date) else value
        row.update(scalars)
        row.update({k: v[i] for k, v in per_row.items()})
        row["geom"] = WKBElement(wkb, srid=SRID)
        rows.append(row)
    return rows


def insert_features(
    session: Session | Connection,
    layer: LayerSpec,
    gdf: gpd.GeoDataFrame,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """Insert the features of ``gdf`` into the layer's table; return how many were written.

    One entry point for every bulk writer (imports, the demo loader, benchmarks): PostGIS gets a
    single ``COPY``, SpatiaLite an executemany. ``extra`` values are scalars or per-row sequences.
    """
    if gdf.empty:
        return 0
    conn = session.connection() if isinstance(session, Session) else session
    if backend_for(conn).copy_load:
        return copy_features(conn, table_of(layer), layer, gdf, extra or {})
    rows = feature_rows(layer, gdf, extra)
    conn.execute(insert(table_of(layer)), rows)
    return len(rows)


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
    """Read a layer's features as a GeoDataFrame in EPSG:4490 (a shorthand of :class:`CurrentFeatures` for tests).

    The current features, or one delivery's (``delivery_id``), or every version (``current_only=False``).
    """
    spec = get_catalogue()[layer] if isinstance(layer, str) else layer
    common: dict[str, Any] = {"bbox": bbox, "where": where or {}, "limit": limit, "offset": offset, "fid": fid}
    if spec.versioned and (delivery_id is not None or not current_only):
        return LayerVersions(spec, delivery_id=delivery_id, **common).frame(conn)
    return CurrentFeatures(spec, **common).frame(conn)
