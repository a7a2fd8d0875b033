"""Bulk writes on PostGIS: a layer's features (and a delivery's rows) by one ``COPY … FROM STDIN``.

A province-scale zone set (200 000 stretches, 10 000 deliveries) goes through a single ``COPY``
in text format with hex EWKB geometries, inside the caller's transaction. Each column is encoded
once per distinct value (a zone set has two banks and four zone types) and the rows are joined by
``map``/``str.join`` in C, so no Python code runs per feature. Rows are sent in chunks, so the
server parses and indexes one chunk while the next is being encoded. SpatiaLite gets
executemany. Also here: filters on thousands of keys (:func:`member_of`). Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    Table,
    any_,
    bindparam,
    insert,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON

from gis_service.catalogue import LayerSpec
from gis_service.db.models import SRID, Delivery, utcnow

CHUNK_ROWS = 20_000  # rows a COPY chunk: big enough to amortise, small enough to overlap with the server
CHUNK = 5000  # values an IN list on SpatiaLite (its bound-parameter limit is far above)
NULL = "\\N"
ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
SPECIAL = ("\\", "\t", "\n", "\r")
# Column type → (shapely type id of the single part, constructor of the multi geometry).
MULTI: dict[str, tuple[int, Callable[..., Any]]] = {
    "MULTILINESTRING": (1, shapely.multilinestrings),
    "MULTIPOLYGON": (3, shapely.multipolygons),
}
EWKB_SRID_FLAG = 0x20000000


def geometries_for_column(geoms: Any, column_type: str) -> np.ndarray:
    """Return ``geoms`` as a column stores them: 2D, and single parts made multi where the column is multi."""
    geoms = np.asarray(geoms, dtype=object)
    if shapely.has_z(geoms).any():
        geoms = shapely.force_2d(geoms)
    if column_type in MULTI:
        single_id, make_multi = MULTI[column_type]
        single = shapely.get_type_id(geoms) == single_id
        if single.any():
            geoms = geoms.copy()
            geoms[single] = make_multi(geoms[single], indices=np.arange(int(single.sum())))
    return geoms


def column_default(column: Column[Any]) -> tuple[bool, Any]:
    """Return whether ``column`` has a Python-side default, and its value (COPY bypasses SQLAlchemy's)."""
    default = column.default
    if default is None or not hasattr(default, "arg"):
        return False, None
    return True, default.arg(None) if callable(default.arg) else default.arg


def table_values(table: Table, layer: LayerSpec, gdf: gpd.GeoDataFrame,
                 extra: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Return the typed column values to write (object arrays, None for null) and the fields kept in ``attrs``."""
    n = len(gdf)
    names = [f.name for f in layer.fields if f.name in gdf.columns]
    own = [c for c in names if c in table.c and c not in extra and c not in {"id", "geom", "attrs"}]
    rest = [c for c in names if c not in table.c]
    values = {c: _nullable(gdf[c]) for c in own}
    for name, value in extra.items():
        values[name] = (_nullable(pd.Series(np.asarray(value, dtype=object))) if _per_row(value)
                        else np.full(n, value, dtype=object))
    for column in table.c:
        if column.key in {"id", "geom", "attrs"}:
            continue
        has_default, default = column_default(column)
        if not has_default:
            continue
        if column.key not in values:
            values[column.key] = np.full(n, default, dtype=object)
        elif not column.nullable:
            column_values = values[column.key]
            column_values[pd.isna(column_values)] = default
    return values, rest


def _per_row(value: Any) -> bool:
    """Tell whether an ``extra`` value holds one value per feature (a Series or an array)."""
    return isinstance(value, pd.Series | np.ndarray | list)


def _nullable(series: pd.Series) -> np.ndarray:
    """Return ``series`` as an object array of plain values with None for NaN/NaT/NA."""
    out = np.array(series.to_numpy(dtype=object), dtype=object, copy=True)
    out[pd.isna(out)] = None
    return out


def _text(value: Any) -> str:
    """Encode a string-typed value."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bool(value: Any) -> str:
    """Encode a boolean (True/False, or 1/0); anything else is refused, as SQLAlchemy's Boolean does."""
    if isinstance(value, bool | np.bool_) or value in (0, 1):
        return "t" if value else "f"
    raise ValueError(f"不是布尔值：{value!r}")


def _date(value: Any) -> str:
    """Encode a date (a datetime keeps only its date)."""
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def json_default(value: Any) -> Any:
    """Serialise dates and numpy scalars inside JSON columns."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


ENCODERS: list[tuple[type, Callable[[Any], str]]] = [
    (Boolean, _bool),
    (Integer, lambda v: str(int(v))),
    (Float, lambda v: repr(float(v))),
    (DateTime, lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)),
    (Date, _date),
    (JSON, lambda v: json.dumps(v, ensure_ascii=False, default=json_default)),
]


def encoder_for(column: Column[Any]) -> Callable[[Any], str]:
    """Return the function writing one value of ``column`` as COPY text (before escaping)."""
    for kind, encode in ENCODERS:
        if isinstance(column.type, kind):
            return encode
    return _text


def copy_text(values: np.ndarray, encode: Callable[[Any], str]) -> np.ndarray:
    """Return each value as escaped COPY text, encoding each distinct value once; None becomes ``\\N``."""
    if encode is _text and pd.api.types.infer_dtype(values, skipna=True) in {"string", "empty"}:
        return _string_text(values)
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists, dicts): encode each one
        codes, uniques = np.arange(len(values)), values
        codes[pd.isna(values)] = -1
    texts = np.empty(len(uniques) + 1, dtype=object)
    encoded = list(map(encode, uniques))
    if any(ch in "".join(encoded) for ch in SPECIAL):
        encoded = [t.translate(ESCAPES) for t in encoded]
    texts[:-1] = encoded
    texts[-1] = NULL
    return texts[codes]


def _string_text(values: np.ndarray) -> np.ndarray:
    """Return strings (None for null) as COPY text: as they are unless one needs escaping."""
    missing = pd.isna(values)
    texts = values.copy()
    texts[missing] = NULL
    if any(ch in "".join(values[~missing]) for ch in SPECIAL):
        texts[~missing] = [t.translate(ESCAPES) for t in values[~missing]]
    return texts


def _attr_fragment(key: str) -> Callable[[Any], str]:
    """Return the encoder of one ``attrs`` member: ``, "key": value`` (dates as ISO text)."""
    def encode(value: Any) -> str:
        value = value.isoformat() if isinstance(value, dt.date) else value
        return f", {key}: " + json.dumps(value, ensure_ascii=False, default=json_default)
    return encode


def attrs_text(rest: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Return each row's ``attrs`` JSON (fields without a column, nulls left out) as escaped COPY text."""
    if not rest:
        return np.full(n, "{}", dtype=object)
    # Each field contributes ', "name": value' (or nothing when null); the leading ", " is cut once.
    parts = np.full(n, "", dtype=object)
    for name, values in rest.items():
        fragment = copy_text(values, _attr_fragment(json.dumps(name, ensure_ascii=False)))
        parts = parts + np.where(fragment == NULL, "", fragment)
    return "{" + pd.Series(parts, dtype=object).str.slice(2).to_numpy(dtype=object) + "}"


EWKB_HEADERS = {
    bytes([1, kind, 0, 0, 0]): (bytes([1]) + (kind | EWKB_SRID_FLAG).to_bytes(4, "little")
                                + SRID.to_bytes(4, "little")).hex()
    for kind in range(1, 8)
}


def ewkb_hex(geoms: np.ndarray) -> np.ndarray:
    """Return hex EWKB (SRID 4490) of each geometry for COPY text (``\\N`` where missing)."""
    out = np.full(len(geoms), NULL, dtype=object)
    present = ~shapely.is_missing(geoms)
    wkb = shapely.to_wkb(geoms[present], byte_order=1)
    # Little-endian WKB: byte 0 is the byte order, bytes 1-4 the type; EWKB flags the type and adds the SRID.
    head = map(EWKB_HEADERS.__getitem__, map(itemgetter(slice(0, 5)), wkb))
    body = map(bytes.hex, map(itemgetter(slice(5, None)), wkb))
    out[present] = list(map(str.__add__, head, body))
    return out


Texts = np.ndarray | Callable[[slice], np.ndarray]  # a column's COPY texts, or a function making a chunk's


def copy_rows(conn: Connection, table: Table, columns: Mapping[str, Texts], n: int) -> int:
    """Send ``n`` rows of COPY texts into ``table`` in chunks; a callable column is encoded chunk by chunk."""
    names = ", ".join(f'"{c}"' for c in columns)
    raw = conn.connection.driver_connection
    statement = f'COPY "{table.name}" ({names}) FROM STDIN'
    with raw.cursor() as cursor, cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:  # type: ignore[union-attr]
        for start in range(0, n, CHUNK_ROWS):
            rows = slice(start, start + CHUNK_ROWS)
            chunk = [(texts(rows) if callable(texts) else texts[rows]).tolist() for texts in columns.values()]
            copy.write("\n".join(map("\t".join, zip(*chunk, strict=True))) + "\n")
    return n


def copy_values(conn: Connection, table: Table, values: Mapping[str, np.ndarray]) -> int:
    """Write typed column values (object arrays, None for null) into ``table`` with one COPY."""
    n = len(next(iter(values.values()))) if values else 0
    return copy_rows(conn, table, {name: copy_text(v, encoder_for(table.c[name])) for name, v in values.items()}, n)


def copy_features(conn: Connection, table: Table, layer: LayerSpec, gdf: gpd.GeoDataFrame,
                  extra: Mapping[str, Any]) -> int:
    """Write ``gdf`` (EPSG:4490, catalogue fields) and ``extra`` columns into ``table`` with one COPY."""
    gdf = gdf.reset_index(drop=True)
    values, rest = table_values(table, layer, gdf, extra)
    attrs = {name: _nullable(gdf[name]) for name in rest}
    geoms = geometries_for_column(gdf.geometry.values, table.c.geom.type.geometry_type)  # type: ignore[attr-defined]
    # Every column is encoded chunk by chunk: the server starts on the first rows at once, and the
    # hex EWKB (the bulk of the data) never all sits in memory.
    columns: dict[str, Texts] = {name: _chunks(v, encoder_for(table.c[name])) for name, v in values.items()}
    columns["attrs"] = lambda rows: attrs_text({k: v[rows] for k, v in attrs.items()}, len(range(len(gdf))[rows]))
    columns["geom"] = lambda rows: ewkb_hex(geoms[rows])
    return copy_rows(conn, table, columns, len(gdf))


def _chunks(values: np.ndarray, encode: Callable[[Any], str]) -> Callable[[slice], np.ndarray]:
    """Return the function encoding a chunk of ``values`` as COPY text."""
    return lambda rows: copy_text(values[rows], encode)


def insert_deliveries(session: Session, layer: str, rows: list[dict[str, Any]], *, actor: str,
                      meta: Mapping[str, Any]) -> np.ndarray:
    """Insert submitted delivery rows (river_code, version, feature_count, report); return their ids in order."""
    common = {"layer": layer, "status": "submitted", "submitted_by": actor, "submitted_at": utcnow(),
              "filename": meta.get("filename"), "source_encoding": meta.get("encoding"),
              "source_crs": meta.get("crs")}
    if session.get_bind().dialect.name != "postgresql":
        statement = insert(Delivery).returning(Delivery.id, sort_by_parameter_order=True)
        return np.array(session.scalars(statement, [{**common, **r} for r in rows]).all(), dtype=np.int64)
    # PostGIS: ids drawn from the sequence in one go, then one COPY (10 000 rivers, each with its report).
    ids = np.array(session.scalars(text("SELECT nextval(pg_get_serial_sequence('deliveries', 'id'))"
                                        " FROM generate_series(1, :n)"), {"n": len(rows)}).all(), dtype=np.int64)
    values = {"id": ids.astype(object), **{k: np.full(len(rows), v, dtype=object) for k, v in common.items()}}
    for key in ("river_code", "version", "feature_count", "report"):
        values[key] = np.empty(len(rows), dtype=object)
        values[key][:] = [r[key] for r in rows]
    copy_values(session.connection(), Delivery.__table__, values)  # type: ignore[arg-type]
    return ids


def reports_json(reports: Mapping[str, dict[str, Any]]) -> str:
    """Return the reports of an import's deliveries, keyed by river code, as one JSON object (see set_reports)."""
    return json.dumps(reports, ensure_ascii=False, default=json_default)


def set_reports(session: Session, ids: Mapping[str, int], reports: Mapping[str, dict[str, Any]],
                encoded: str | None = None) -> None:
    """Attach each delivery's validation report: ``ids`` maps river code to delivery id, ``reports`` to its report.

    ``encoded`` is ``reports`` already made :func:`reports_json` (done while the features were still copying).
    """
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        # One statement: the reports travel as one JSON object keyed by river code, the ids as arrays.
        session.execute(text("UPDATE deliveries SET report = r.value FROM json_each(CAST(:reports AS json)) r,"
                             " unnest(CAST(:codes AS text[]), CAST(:ids AS integer[])) d(code, id)"
                             " WHERE r.key = d.code AND deliveries.id = d.id"),
                        {"reports": encoded if encoded is not None else reports_json(reports),
                         "codes": list(ids), "ids": [int(i) for i in ids.values()]})
        return
    table = Delivery.__table__
    session.connection().execute(update(table).where(table.c.id == bindparam("_id")),  # type: ignore[arg-type]
                                 [{"_id": i, "report": reports.get(code, {})} for code, i in ids.items()])


def member_of(session: Session, column: Any, values: list[Any]) -> list[Any]:
    """Return WHERE clauses that together keep rows whose ``column`` is one of ``values``.

    PostGIS: one ``= ANY(array)`` clause (10 000 keys as one parameter, not 10 000 placeholders);
    SpatiaLite: IN lists of :data:`CHUNK` values, each clause to run as its own query.
    """
    if session.get_bind().dialect.name == "postgresql":
        return [column == any_(bindparam(None, values, type_=ARRAY(column.type)))]
    return [column.in_(values[start:start + CHUNK]) for start in range(0, len(values), CHUNK)]
