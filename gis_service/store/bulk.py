"""Bulk writes: the one path by which features enter their tables, and an import's deliveries.

Imports, the demo loader, the ledger and the province loader all write features through
:func:`insert_features`, in the caller's transaction (an import's batches through
:func:`prepare_features`: the same write, made ready on one thread and sent on another). PostGIS
gets one ``COPY`` per table (binary by :mod:`gis_service.db.backends.pgbinary` where the table's
types allow, else text by :mod:`gis_service.db.backends.pgcopy`), SpatiaLite an executemany
(:mod:`gis_service.db.backends.sqlite_rows`), both from the same columns (:func:`column_values`): the
backend says which (``copy_load``) and spells the filters. Here: which values go to which column
(catalogue fields, ``attrs``, defaults COPY would bypass), geometries shaped for their column, the
deliveries of a versioned import and their reports, and filters on thousands of keys (:func:`member_of`).
Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeAlias, overload

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from geoalchemy2.elements import WKBElement
from sqlalchemy import Connection, Table, insert
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec
from gis_service.db.backend import backend_for, session_backend
from gis_service.db.backends import pgbinary, pgcopy, sqlite_rows
from gis_service.db.backends.base import IndexWork
from gis_service.db.backends.columns import FeatureColumns, column_default, json_default, json_text, plain
from gis_service.db.models import SRID, Delivery, DeliveryReport, utcnow
from gis_service.store.tables import table_of

ColumnValues: TypeAlias = "np.ndarray | pa.Array"
REPORT_CHUNK = 1000  # delivery reports a COPY chunk (a report's JSON is about a kilobyte)
# Column type → (shapely type id of the single part, constructor of the multi geometry).
MULTI: dict[str, tuple[int, Callable[..., Any]]] = {
    "MULTILINESTRING": (1, shapely.multilinestrings),
    "MULTIPOLYGON": (3, shapely.multipolygons),
}


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
    out: np.ndarray = geoms
    return out


def table_values(
    table: Table, layer: LayerSpec, gdf: gpd.GeoDataFrame, extra: Mapping[str, Any]
) -> tuple[dict[str, ColumnValues], list[str]]:
    """Return the typed column values to write and the fields kept in ``attrs``.

    Text columns stay Arrow strings (as GDAL's Arrow stream read them); others are object arrays
    with None for null.
    """
    n = len(gdf)
    names = [f.name for f in layer.fields if f.name in gdf.columns]
    own = [c for c in names if c in table.c and c not in extra and c not in {"id", "geom", "attrs"}]
    rest = [c for c in names if c not in table.c]
    values = {c: _column_values(gdf[c]) for c in own}
    for name, value in extra.items():
        values[name] = _column_values(pd.Series(value)) if _per_row(value) else np.full(n, value, dtype=object)
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
            if isinstance(column_values, pa.Array):
                values[column.key] = pc.fill_null(column_values, pa.scalar(str(default), column_values.type))
            else:
                column_values[pd.isna(column_values)] = default
    return values, rest


def _per_row(value: Any) -> bool:
    """Tell whether an ``extra`` value holds one value per feature (a Series or an array)."""
    return isinstance(value, pd.Series | np.ndarray | list)


def _column_values(series: pd.Series) -> ColumnValues:
    """Return a column's values to write: Arrow strings for text, else an object array with None for null."""
    if isinstance(series.dtype, pd.StringDtype) or pd.api.types.infer_dtype(series, skipna=True) in {"string"}:
        texts = pa.array(series, type=pa.large_string(), from_pandas=True)
        # An Arrow-backed column comes as a chunked array: one array, so that chunks of rows slice it.
        return texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    return _nullable(series)


def _nullable(series: pd.Series) -> np.ndarray:
    """Return ``series`` as an object array of plain values with None for NaN/NaT/NA."""
    out = np.array(series.to_numpy(dtype=object), dtype=object, copy=True)
    out[pd.isna(out)] = None
    return out


def features_copy(
    conn: Connection, table: Table, layer: LayerSpec, gdf: gpd.GeoDataFrame, extra: Mapping[str, Any]
) -> Callable[[], int]:
    """Return what writes ``gdf`` (EPSG:4490, catalogue fields) and ``extra`` columns into ``table`` with one COPY
    when called (it returns how many rows).

    It holds what the COPY encodes (the columns' values, the geometries), not ``gdf``; a binary COPY lets
    go of them once its last rows are encoded, while the server may still be writing them.
    """
    columns = column_values(table, layer, gdf, extra)
    # Binary where the table's columns allow (zone sets, stakes): no text to escape, EWKB not hex.
    return pgbinary.features_copy(conn, table, columns) or functools.partial(pgcopy.copy_features, conn, table, columns)


def column_values(table: Table, layer: LayerSpec, gdf: gpd.GeoDataFrame, extra: Mapping[str, Any]) -> FeatureColumns:
    """Return what a bulk write of ``gdf`` into ``table`` writes, column by column."""
    gdf = gdf.reset_index(drop=True)
    values, rest = table_values(table, layer, gdf, extra)
    column_type = table.c.geom.type.geometry_type  # type: ignore[attr-defined]
    return FeatureColumns(
        values=values,
        rest={name: _nullable(gdf[name]) for name in rest},
        geoms=np.asarray(gdf.geometry.values, dtype=object),
        shape=lambda part: geometries_for_column(part, column_type),  # a chunk at a time
    )


class PreparedFeatures:
    """Features made ready for their table by :func:`prepare_features`, written by :meth:`insert`."""

    def __init__(self, write: Callable[[], int]) -> None:
        self._write: Callable[[], int] | None = write

    @property
    def rows(self) -> pgbinary.BinaryRows | None:
        """The features as binary COPY rows (PostGIS, a table this COPY writes), which a COPY already open may take."""
        return self._write if isinstance(self._write, pgbinary.BinaryRows) else None

    def insert(self, stream: pgbinary.CopyStream | None = None) -> int:
        """Write the features (once): into ``stream``, a COPY open for their :attr:`rows`' columns, or by their own
        statement; return how many."""
        write, self._write = self._write, None  # what it holds goes as the write lets go of it
        if write is None:
            raise RuntimeError("these features were inserted already")
        if stream is None:
            return write()
        if not isinstance(write, pgbinary.BinaryRows):
            raise TypeError("only binary COPY rows go into an open COPY")
        return write.into(stream)


def prepare_features(
    session: Session | Connection,
    layer: LayerSpec,
    gdf: gpd.GeoDataFrame,
    extra: Mapping[str, Any] | None = None,
    index: IndexWork | None = None,
) -> PreparedFeatures:
    """Make ``gdf``'s features ready to insert as :func:`insert_features` does, written when :meth:`insert` is called.

    On PostGIS the COPY is made ready now and holds what it encodes, not ``gdf``; a binary COPY lets go
    of that too once its last rows are encoded. A worker that writes a batch while the server falls
    behind then holds the batch's encoded rows, not its frame (``ingest.write.DeliveryWriter``). Elsewhere
    the insert itself waits for :meth:`insert`.
    """
    conn = session.connection() if isinstance(session, Session) else session
    if gdf.empty or not backend_for(conn).copy_load:
        return PreparedFeatures(functools.partial(insert_features, conn, layer, gdf, extra, index=index))
    return PreparedFeatures(features_copy(conn, table_of(layer), layer, gdf, extra or {}))


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
    per_row = {k: [plain(x) for x in v] for k, v in (extra or {}).items() if k not in scalars}
    rows = []
    for i, (record, wkb) in enumerate(zip(records, wkbs, strict=True)):
        row: dict[str, Any] = {"attrs": {}}
        for name, value in record.items():
            value = plain(value)
            if name in columns:
                row[name] = value
            elif value is not None:
                row["attrs"][name] = value.isoformat() if isinstance(value, dt.date) else value
        row.update(scalars)
        row.update({k: v[i] for k, v in per_row.items()})
        row["geom"] = WKBElement(wkb, srid=SRID)
        rows.append(row)
    return rows


@overload
def insert_features(
    session: Session | Connection,
    layer: LayerSpec,
    gdf: gpd.GeoDataFrame,
    extra: Mapping[str, Any] | None = None,
    *,
    ids: Literal[False] = False,
    index: IndexWork | None = None,
) -> int: ...


@overload
def insert_features(
    session: Session | Connection,
    layer: LayerSpec,
    gdf: gpd.GeoDataFrame,
    extra: Mapping[str, Any] | None = None,
    *,
    ids: Literal[True],
    index: IndexWork | None = None,
) -> np.ndarray: ...


def insert_features(
    session: Session | Connection,
    layer: LayerSpec,
    gdf: gpd.GeoDataFrame,
    extra: Mapping[str, Any] | None = None,
    *,
    ids: bool = False,
    index: IndexWork | None = None,
) -> int | np.ndarray:
    """Insert the features of ``gdf`` into the layer's table; return how many, or with ``ids`` their new ids in order.

    The one entry point of every bulk writer (imports, the demo, the ledger, the province loader):
    PostGIS gets a single ``COPY``, SpatiaLite an executemany; with ``ids`` they are drawn first
    (:meth:`~gis_service.db.backends.base.SpatialSQL.serial_ids`). ``index``: the table's index upkeep the
    caller set aside (:meth:`~gis_service.db.backends.base.SpatialSQL.deferred_index`), left to it.
    ``extra`` values are scalars or per-row sequences.
    """
    if gdf.empty:
        return np.empty(0, dtype=np.int64) if ids else 0
    conn = session.connection() if isinstance(session, Session) else session
    table = table_of(layer)
    backend = backend_for(conn)
    new_ids = backend.serial_ids(conn, table, len(gdf)) if ids else None
    more = {**(extra or {}), "id": new_ids} if new_ids is not None else extra or {}
    if backend.copy_load:
        count = features_copy(conn, table, layer, gdf, more)()
    else:  # SpatiaLite: one executemany on the driver's cursor, its rows made column by column
        count = sqlite_rows.insert_rows(conn, table, column_values(table, layer, gdf, more), index)
    return new_ids if new_ids is not None else count


def insert_deliveries(
    session: Session, layer: str, rows: list[dict[str, Any]], *, actor: str, meta: Mapping[str, Any]
) -> np.ndarray:
    """Insert submitted delivery rows (river_code, version, feature_count); return their ids in order."""
    common = {
        "layer": layer,
        "status": "submitted",
        "submitted_by": actor,
        "submitted_at": utcnow(),
        "filename": meta.get("filename"),
        "source_encoding": meta.get("encoding"),
        "source_crs": meta.get("crs"),
    }
    backend = session_backend(session)
    # Ids drawn in one go, then one COPY (PostGIS) or one executemany (SpatiaLite), not a statement a row
    # returning its id: a province's 10 000 rivers took SpatiaLite 0.5 s so.
    table: Table = Delivery.__table__  # type: ignore[assignment]
    conn = session.connection()
    ids = backend.serial_ids(conn, table, len(rows))
    values = {"id": ids.astype(object), **{k: np.full(len(rows), v, dtype=object) for k, v in common.items()}}
    for key in ("river_code", "version", "feature_count"):
        values[key] = np.empty(len(rows), dtype=object)
        values[key][:] = [r[key] for r in rows]
    if backend.copy_load:
        pgcopy.copy_values(conn, table, values)
    else:
        backend.insert_columns(conn, table, values)
    return ids


class ReportTexts:
    """Each delivery's report (keyed by river code) as JSON text (UTF-8), made when asked, for :func:`write_reports`.

    Made chunk by chunk as the reports are copied, so that a province's 10 000 texts (~25 MB) are never
    whole in memory. A member whose value is the very same object as in the report before (how the file
    was read, shared by every river of an import) is encoded once and spliced in: 10 000 reports differ
    only in their own. Encoded by orjson (compact, Chinese kept, numpy values and dates as
    :func:`json_text` writes them): a province's 10 000 reports took the import's main thread 0.16–0.17 s
    with the standard library's encoder, 0.09 s with orjson. The texts are read back as JSON, never
    compared as text.
    """

    def __init__(self, reports: Mapping[str, dict[str, Any]]) -> None:
        self.reports = reports
        # Per member name, the value of the report before (by identity: ``reports`` keeps it alive) and its text.
        self.last: dict[str, tuple[int, bytes]] = {}

    def text(self, code: str) -> bytes:
        """Return river ``code``'s report as JSON (``{}`` when it has none)."""
        body = self.reports.get(code)
        if body is None:
            return b"{}"
        parts = []
        for key, value in body.items():
            before = self.last.get(key)
            if before is not None and before[0] == id(value):
                parts.append(before[1])
                continue
            text = orjson.dumps(key) + b":" + _report_json(value)
            self.last[key] = (id(value), text)
            parts.append(text)
        return b"{" + b",".join(parts) + b"}"


def _report_json(value: Any) -> bytes:
    """Return ``value`` as JSON by orjson (numpy values as :func:`json_text` writes them, any key type); what it
    cannot write (an integer past 64 bits) as :func:`json_text` does."""
    try:
        return orjson.dumps(value, default=json_default, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json_text(value).encode()


def write_reports(
    session: Session,
    ids: Mapping[str, int],
    reports: Mapping[str, dict[str, Any]],
    texts: ReportTexts | None = None,
) -> None:
    """Store each delivery's validation report: ``ids`` maps river code to delivery id, ``reports`` to its report.

    ``texts``: ``reports`` as :class:`ReportTexts` (the caller's, made while the features were still copying).
    """
    if not ids:
        return
    table = DeliveryReport.__table__
    if session_backend(session).copy_load:
        made = texts if texts is not None else ReportTexts(reports)
        codes = list(ids)

        def chunk(rows: slice) -> list[bytes]:
            return [made.text(code) for code in codes[rows]]

        # Binary where the table's types allow: the reports' JSON goes as it is, not escaped.
        if pgbinary.copy_reports(session.connection(), table, [int(i) for i in ids.values()], chunk, REPORT_CHUNK):  # type: ignore[arg-type]
            return
        delivery_ids = [str(int(i)) for i in ids.values()]

        def report_column(rows: slice) -> pa.Array:
            return pgcopy.escaped(pa.array([text.decode() for text in chunk(rows)], type=pgcopy.STRING))

        columns = {
            "delivery_id": lambda rows: pa.array(delivery_ids[rows], type=pgcopy.STRING),
            "report": report_column,
        }
        # Reports are long texts: a chunk of them at a time is escaped and sent, not all 10 000 at once.
        pgcopy.copy_rows(session.connection(), table, columns, len(ids), REPORT_CHUNK)  # type: ignore[arg-type]
        return
    session.connection().execute(
        insert(table),  # type: ignore[arg-type]
        [{"delivery_id": i, "report": reports.get(code, {})} for code, i in ids.items()],
    )


def member_of(session: Session, column: Any, values: list[Any]) -> list[Any]:
    """Return WHERE clauses that together keep rows whose ``column`` is one of ``values``.

    PostGIS: one ``= ANY(array)`` clause (10 000 keys as one parameter, not 10 000 placeholders);
    SpatiaLite: IN lists of a few thousand values, each clause to run as its own query.
    """
    return session_backend(session).member_of(column, values)
