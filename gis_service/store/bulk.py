"""Bulk writes of many features at once: PostgreSQL ``COPY`` (psycopg 3), SpatiaLite executemany.

Per-row ORM objects are far too slow for a province-scale zone set (200 000 stretches); on
PostGIS the rows go through one ``COPY … FROM STDIN (FORMAT csv)`` with EWKB geometries, inside
the caller's transaction. Nothing here commits.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec
from gis_service.db.models import SRID
from gis_service.store.features import insert_features, table_of

MULTI = {"MULTILINESTRING": ("LineString", shapely.MultiLineString),
         "MULTIPOLYGON": ("Polygon", shapely.MultiPolygon)}


def _json_default(value: Any) -> Any:
    """Serialise dates and numpy scalars inside ``attrs``."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def copy_frame(layer: LayerSpec, gdf: gpd.GeoDataFrame, extra: Mapping[str, Any]) -> pd.DataFrame:
    """Return the rows of ``gdf`` as table columns (+ ``attrs`` JSON, EWKB hex ``geom``) ready for COPY."""
    table = table_of(layer)
    columns = set(table.c.keys())
    names = [f.name for f in layer.fields if f.name in gdf.columns]
    own = [n for n in names if n in columns and n not in extra]
    rest = [n for n in names if n not in columns]
    out = pd.DataFrame({n: gdf[n].to_numpy(dtype=object) for n in own})
    for name, value in extra.items():
        out[name] = value.to_numpy() if isinstance(value, pd.Series) else value
    if rest:
        records = gdf[rest].to_dict("records")
        out["attrs"] = [json.dumps({k: v for k, v in r.items() if v is not None and not pd.isna(v)},
                                   ensure_ascii=False, default=_json_default) for r in records]
    else:
        out["attrs"] = "{}"
    geoms = shapely.force_2d(gdf.geometry.values)
    kind = table.c.geom.type.geometry_type  # type: ignore[attr-defined]
    if kind in MULTI:
        single, multi = MULTI[kind]
        mask = shapely.get_type_id(geoms) == shapely.get_type_id(shapely.from_wkt(f"{single.upper()} EMPTY"))
        geoms = geoms.copy()
        geoms[mask] = [multi([g]) for g in geoms[mask]]
    for column in table.c:
        default = column.default
        if column.key in {"id", "geom", "attrs"} or default is None or not hasattr(default, "arg"):
            continue
        # COPY bypasses SQLAlchemy's Python-side defaults (e.g. important=False, created_at=now).
        value = default.arg(None) if callable(default.arg) else default.arg
        if column.key not in out:
            out[column.key] = value
        elif not column.nullable:
            out[column.key] = out[column.key].where(out[column.key].notna(), value)
    out["geom"] = shapely.to_wkb(shapely.set_srid(geoms, SRID), hex=True, include_srid=True)
    return out


def bulk_insert(session: Session, layer: LayerSpec, gdf: gpd.GeoDataFrame, extra: Mapping[str, Any]) -> int:
    """Insert ``gdf`` (EPSG:4490, catalogue fields) with ``extra`` columns (scalars or aligned Series)."""
    if gdf.empty:
        return 0
    if session.get_bind().dialect.name != "postgresql":
        return _insert_sqlite(session, layer, gdf, extra)
    rows = copy_frame(layer, gdf.reset_index(drop=True), {k: _aligned(v, gdf) for k, v in extra.items()})
    buffer = io.StringIO()
    rows.to_csv(buffer, header=False, index=False)
    columns = ", ".join(f'"{c}"' for c in rows.columns)
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
        f'COPY "{table_of(layer).name}" ({columns}) FROM STDIN WITH (FORMAT csv)'
    ) as copy:
        copy.write(buffer.getvalue())
    return len(rows)


def _aligned(value: Any, gdf: gpd.GeoDataFrame) -> Any:
    """Return a per-row Series re-indexed like ``gdf.reset_index``, or a scalar unchanged."""
    return value.reset_index(drop=True) if isinstance(value, pd.Series) else value


def _insert_sqlite(session: Session, layer: LayerSpec, gdf: gpd.GeoDataFrame, extra: Mapping[str, Any]) -> int:
    """Insert through SQLAlchemy executemany, one group of equal ``extra`` values at a time."""
    series = {k: v for k, v in extra.items() if isinstance(v, pd.Series)}
    scalars = {k: v for k, v in extra.items() if not isinstance(v, pd.Series)}
    if not series:
        return insert_features(session, layer, gdf, scalars)
    keys = pd.DataFrame(series)
    count = 0
    for values, index in keys.groupby(list(series), sort=False).groups.items():
        values = values if isinstance(values, tuple) else (values,)
        group_extra = {**scalars, **{k: v.item() if isinstance(v, np.generic) else v
                                      for k, v in zip(series, values, strict=True)}}
        count += insert_features(session, layer, gdf.loc[index], group_extra)
    return count
