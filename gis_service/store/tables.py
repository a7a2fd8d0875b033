"""Which table stores a layer, and how its selected rows become property columns and GeoDataFrames."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Table

from gis_service.catalogue import LayerSpec
from gis_service.db.models import LAYER_MODELS, SRID

CRS = f"EPSG:{SRID}"
# Columns that belong to storage, not to the catalogue; shown with every feature.
SYSTEM_COLUMNS = ("id", "delivery_id", "lock_version")


def table_of(layer: LayerSpec) -> Table:
    """Return the SQL table that stores ``layer``."""
    return LAYER_MODELS[layer.table].__table__  # type: ignore[return-value]


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
