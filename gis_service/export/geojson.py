"""GeoJSON documents of a layer's features, as the API and the maps serve them.

Feature pages of the API are assembled from ready Feature texts: a backend that ``writes_geojson``
(PostGIS: ``ST_AsGeoJSON`` and ``row_to_json``) writes them in SQL, otherwise (SpatiaLite) rows go
through shapely's vectorised writer, so that no feature is parsed back into Python objects just
to be written out again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Connection, Float, Integer, Select, bindparam, select, true
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec
from gis_service.db.backend import SpatialBackend, session_backend
from gis_service.store.features import feature_columns, property_names, read_rows, table_of, with_filters
from gis_service.store.spatial import BBox


def _json_default(value: Any) -> Any:
    """Serialise dates and numpy scalars."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def features(gdf: gpd.GeoDataFrame, id_column: str = "id", precision: int | None = None) -> list[dict[str, Any]]:
    """Return GeoJSON Feature dicts of ``gdf`` (properties: every column but the geometry)."""
    geoms = gdf.geometry.values
    if precision is not None:
        geoms = shapely.set_precision(geoms, 10.0**-precision)
    texts = shapely.to_geojson(geoms)
    props = gdf.drop(columns=gdf.geometry.name)
    props = props.astype(object).where(props.notna(), None)
    out = []
    for text, record in zip(texts, props.to_dict("records"), strict=True):
        feature: dict[str, Any] = {"type": "Feature", "geometry": json.loads(text) if text else None}
        if id_column in record:
            feature["id"] = record[id_column]
        feature["properties"] = record
        out.append(feature)
    return out


# One encoder for all: json.dumps with options builds a new one a call, which shows on feature pages.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)


def dumps(document: Any) -> str:
    """Serialise a GeoJSON document compactly, dates as ISO strings, Chinese as is."""
    return _ENCODER.encode(document)


# Built PostGIS page statements by query shape: building one costs more than running it.
_JSON_STATEMENTS: dict[tuple[Any, ...], Select[Any]] = {}
BBOX_PARAMS = ("bbox_minx", "bbox_miny", "bbox_maxx", "bbox_maxy")


def feature_json_query(
    layer: LayerSpec,
    backend: SpatialBackend,
    *,
    bbox: BBox | None = None,
    where: Mapping[str, Any] | None = None,
    current_only: bool = True,
    delivery_id: int | None = None,
    fid: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[Select[Any], dict[str, Any]]:
    """Return the SELECT of one GeoJSON Feature text a row, in id order, and its parameters.

    Filters are those of ``read_features``. Only for a backend that ``writes_geojson``; the statement
    is built once a query shape (layer and which filters are set) with bound parameters, then reused.
    """
    table = table_of(layer)
    equal = {name: value for name, value in (where or {}).items() if value is not None and name in table.c}
    shape = (
        bbox is not None,
        tuple(equal),
        current_only,
        delivery_id is not None,
        fid is not None,
        limit is not None,
        bool(offset),
    )
    key = (layer.table, tuple(layer.field_names), layer.versioned, *shape)
    statement = _JSON_STATEMENTS.get(key)
    if statement is None:
        if len(_JSON_STATEMENTS) > 512:  # only a bound on pathological callers; real shapes are few
            _JSON_STATEMENTS.clear()
        statement = _JSON_STATEMENTS[key] = _json_statement(layer, backend, *shape)
    params: dict[str, Any] = {f"where_{name}": value for name, value in equal.items()}
    params.update({"delivery_id": delivery_id, "fid": fid, "limit": limit, "offset": offset or None})
    if bbox is not None:
        params.update(zip(BBOX_PARAMS, bbox, strict=True))
    return statement, {name: value for name, value in params.items() if value is not None}


def _json_statement(
    layer: LayerSpec,
    backend: SpatialBackend,
    bbox: bool,
    where: tuple[str, ...],
    current_only: bool,
    delivery: bool,
    fid: bool,
    limit: bool,
    offset: bool,
) -> Select[Any]:
    """Build the statement of :func:`feature_json_query` for one query shape, with bound parameters.

    The page is cut first and serialised after, so that deep offsets skip rows without
    serialising them; ``row_to_json`` keeps the properties in catalogue order, compactly.
    """
    table = table_of(layer)
    names = property_names(layer)
    stored = [table.c[name] for name in names if name in table.c]
    attrs = [table.c.attrs] if len(stored) < len(names) else []
    inner = select(*stored, *attrs, table.c.geom).order_by(table.c.id)
    filtered = with_filters(
        inner,
        layer,
        backend,
        bbox=[bindparam(name, type_=Float) for name in BBOX_PARAMS] if bbox else None,
        where={name: bindparam(f"where_{name}", type_=table.c[name].type) for name in where},
        current_only=current_only,
        delivery_id=bindparam("delivery_id", type_=Integer) if delivery else None,
        fid=bindparam("fid", type_=Integer) if fid else None,
    )
    # A bound LIMIT or OFFSET only where given: a plain statement keeps PostgreSQL's cached generic plan.
    cut = filtered.limit(bindparam("limit", type_=Integer) if limit else None)
    page = cut.offset(bindparam("offset", type_=Integer) if offset else None).subquery("page")
    props = (
        select(*(page.c[name] if name in page.c else page.c.attrs[name].label(name) for name in names))
        .correlate(page)
        .lateral("properties")
    )
    feature = backend.feature_json(page, props)
    return select(feature.label("feature")).select_from(page.join(props, true())).order_by(page.c.id)


def _feature_texts(layer: LayerSpec, rows: Sequence[Mapping[Any, Any]]) -> list[str]:
    """Return GeoJSON Feature texts of selected rows (columns, ``attrs``, ``wkb``): geometry text from shapely."""
    data, wkbs = feature_columns(layer, rows)
    if not wkbs:
        return []
    geometries = shapely.to_geojson(shapely.from_wkb(np.asarray(wkbs, dtype=object)))
    names = list(data)
    ids = data.get("id") or [None] * len(wkbs)
    return [
        f'{{"type":"Feature","geometry":{geometry or "null"},"id":{"null" if fid is None else int(fid)},'
        f'"properties":{dumps(dict(zip(names, values, strict=True)))}}}'
        for geometry, fid, values in zip(geometries, ids, zip(*data.values(), strict=True), strict=True)
    ]


def read_feature_texts(
    conn: Session | Connection,
    layer: LayerSpec,
    *,
    limit: int | None = None,
    offset: int = 0,
    **filters: Any,
) -> list[str]:
    """Read a page of a layer's features as GeoJSON Feature texts in id order (filters as in ``read_features``).

    Each parses to the document :func:`features` gives for the same feature (PostGIS may spell
    a number differently, e.g. ``106`` for ``106.0``, never with another value).
    """
    backend = session_backend(conn)
    if backend.writes_geojson:
        statement, params = feature_json_query(layer, backend, limit=limit, offset=offset, **filters)
        # Core execution: the ORM layer of a Session adds nothing to a plain SELECT of text.
        connection = conn.connection() if isinstance(conn, Session) else conn
        return list(connection.execute(statement, params).scalars())
    return _feature_texts(layer, read_rows(conn, layer, limit=limit, offset=offset, **filters))


def collection_text(features: list[str], **members: Any) -> str:
    """Return a FeatureCollection around ready Feature texts, followed by ``members`` (in order)."""
    head = '{"type":"FeatureCollection","features":[' + ",".join(features) + "]"
    return head + ("," + dumps(members)[1:] if members else "}")


def with_members(feature: str, **members: Any) -> str:
    """Return a ready Feature (or other object) text with ``members`` added at its end."""
    return feature[:-1] + ("," + dumps(members)[1:] if members else "}")
