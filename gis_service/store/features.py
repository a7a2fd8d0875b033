"""Read a layer's features, mapping typed columns and ``attrs`` back to catalogue fields.

Writes go through :func:`gis_service.store.bulk.insert_features`. Nothing here commits: the caller
owns the transaction (one request, one command).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Connection, Select, Table, select
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec, get_catalogue
from gis_service.db.backend import SpatialBackend, session_backend
from gis_service.db.models import LAYER_MODELS, SRID, Delivery
from gis_service.store.spatial import BBox, geom_wkb

CRS = f"EPSG:{SRID}"
# Columns that belong to storage, not to the catalogue; shown with every feature.
SYSTEM_COLUMNS = ("id", "delivery_id", "lock_version")


def table_of(layer: LayerSpec) -> Table:
    """Return the SQL table that stores ``layer``."""
    return LAYER_MODELS[layer.table].__table__  # type: ignore[return-value]


def current_filter(table: Table) -> Any:
    """Return the clause keeping only features of approved deliveries (versioned layers)."""
    approved = select(Delivery.id).where(Delivery.status == "approved")
    return table.c.delivery_id.in_(approved)


def with_filters(
    query: Select[Any],
    layer: LayerSpec,
    backend: SpatialBackend,
    *,
    bbox: Sequence[Any] | None = None,
    where: Mapping[str, Any] | None = None,
    current_only: bool = True,
    delivery_id: Any = None,
    fid: Any = None,
) -> Select[Any]:
    """Add the bbox, equality, version and id filters of a feature read to ``query`` (values or bound parameters)."""
    table = table_of(layer)
    if bbox is not None:
        query = query.where(backend.bbox_filter(table, bbox))
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


def feature_query(
    layer: LayerSpec,
    backend: SpatialBackend,
    *,
    bbox: BBox | None = None,
    where: Mapping[str, Any] | None = None,
    current_only: bool = True,
    delivery_id: int | None = None,
    fid: int | None = None,
) -> Select[Any]:
    """Build the SELECT of a layer's features with optional bbox, equality filters and version."""
    table = table_of(layer)
    # ``attrs`` only when a catalogue field lives there: decoding its JSON a row is not free.
    needs_attrs = any(name not in table.c for name in layer.field_names)
    cols = [c for c in table.c if c.key != "geom" and (c.key != "attrs" or needs_attrs)]
    query = select(*cols, geom_wkb(table)).order_by(table.c.id)
    return with_filters(
        query, layer, backend, bbox=bbox, where=where, current_only=current_only, delivery_id=delivery_id, fid=fid
    )


def property_names(layer: LayerSpec) -> list[str]:
    """Return the names a feature's properties carry, in order: system columns, then catalogue fields."""
    table = table_of(layer)
    return [*(c for c in SYSTEM_COLUMNS if c in table.c), *layer.field_names]


def feature_columns(layer: LayerSpec, rows: Iterable[Mapping[Any, Any]]) -> tuple[dict[str, list[Any]], list[Any]]:
    """Split selected rows into property columns (see :func:`property_names`) and their WKB geometries."""
    rows = rows if isinstance(rows, Sequence) else list(rows)
    if not rows:
        return {name: [] for name in layer.field_names}, []
    first = rows[0]
    data = {c: [row[c] for row in rows] for c in SYSTEM_COLUMNS if c in first}
    attrs: list[Mapping[Any, Any]] | None = None
    for name in layer.field_names:
        if name in first:
            data[name] = [row[name] for row in rows]
            continue
        if attrs is None:
            attrs = [row.get("attrs") or {} for row in rows]
        data[name] = [values.get(name) for values in attrs]
    return data, [row["wkb"] for row in rows]


def rows_to_frame(layer: LayerSpec, rows: Iterable[Mapping[Any, Any]]) -> gpd.GeoDataFrame:
    """Turn selected rows (columns, ``attrs`` and ``wkb``) into a GeoDataFrame of catalogue fields."""
    data, wkbs = feature_columns(layer, rows)
    geometry = shapely.from_wkb(np.asarray(wkbs, dtype=object)) if wkbs else []
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=CRS), crs=CRS)


def read_rows(
    conn: Session | Connection,
    layer: LayerSpec,
    *,
    limit: int | None = None,
    offset: int = 0,
    **filters: Any,
) -> Sequence[Mapping[Any, Any]]:
    """Read a page of a layer's rows (columns, ``attrs`` and ``wkb``) in id order; ``filters`` as in feature_query."""
    query = feature_query(layer, session_backend(conn), **filters).limit(limit).offset(offset or None)
    return conn.execute(query).mappings().all()


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
    rows = read_rows(
        conn,
        spec,
        limit=limit,
        offset=offset,
        bbox=bbox,
        where=where,
        current_only=current_only,
        delivery_id=delivery_id,
        fid=fid,
    )
    return rows_to_frame(spec, rows)
