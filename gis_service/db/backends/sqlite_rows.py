"""SpatiaLite bulk writes: one executemany on the driver's cursor, its rows made column by column.

SQLAlchemy's executemany made a dict a row, and GeoAlchemy2 turned each geometry from WKB into a
shapely object, then into EWKT text that SpatiaLite parsed again: of a province's 200 000 zone
stretches (24.5 s in all on this machine), about 12 s were that Python work a row. Here each column
is one list (SQLAlchemy's own bind processor of the column's type applied, as its executemany would),
the ``attrs`` JSON is joined in Arrow (:func:`~gis_service.db.backends.columns.attrs_json`, the text
PostGIS stores), and the geometries go as WKB into ``GeomFromWKB``: the same geometry, exactly, and
no text. It runs on the caller's connection, in its transaction (``exec_driver_sql``).

SpatiaLite checks a geometry column, keeps its R*Tree and stamps its time by triggers that fire a row; for
the length of one bulk insert they are set aside, and their work is done once for all the new rows
(:func:`spatial_triggers_deferred`).
Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from sqlalchemy import Column, Connection, Table
from sqlalchemy.exc import IntegrityError

from gis_service.db.backends.columns import FeatureColumns, attrs_json, plain
from gis_service.db.models import SRID

# What the driver binds as it is; any other value (a numpy scalar, a pandas timestamp) is made plain first.
PLAIN = (str, int, float, bool, bytes, dt.date, type(None))


def insert_rows(conn: Connection, table: Table, columns: FeatureColumns) -> int:
    """Insert ``columns`` (the typed columns, the ``attrs`` fields, the geometries) into ``table``; return how many
    rows."""
    n = len(columns.geoms)
    names = [*columns.values, "attrs", "geom"]
    cells = [_bound(table.c[name], values, conn) for name, values in columns.values.items()]
    cells.append(attrs_json(columns.rest, n).to_pylist())
    cells.append(shapely.to_wkb(columns.shape(columns.geoms)).tolist())  # None stays None: GeomFromWKB(NULL) is NULL
    quoted = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join(["?"] * (len(names) - 1) + [f"GeomFromWKB(?, {SRID})"])
    # Names from the table's metadata, never from a file; every value is bound.
    statement = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})'  # noqa: S608
    rows = list(zip(*cells, strict=True))
    del cells
    with spatial_triggers_deferred(conn, table.name, "geom"):
        # SQLAlchemy's driver-level executemany: no compiling and no processing a row, its events still fire.
        conn.exec_driver_sql(statement, rows)
    return n


@contextmanager
def spatial_triggers_deferred(conn: Connection, table: str, column: str) -> Iterator[None]:
    """Insert into ``table`` without SpatiaLite's row triggers on ``column``; then do their work once, for all the
    new rows, and put the triggers back, in the caller's transaction.

    SpatiaLite checks each new geometry's type and SRID (``ggi_…``), adds its box to the R*Tree (``gii_…``,
    an ``RTreeAlign`` call that prepares its own statement) and stamps ``geometry_columns_time`` (``tmi_…``),
    a row at a time. A statement that fires a trigger keeps a statement journal, and inside a savepoint
    (an import writes in one) that journal grows with the transaction: the province's 32 768-stretch
    batches took 0.31 s, then 0.65, … 1.21 s, where without the triggers each takes ~0.12 s. So the three
    triggers are set aside for the insert (as GDAL's GeoPackage driver sets its R*Tree triggers aside
    for a bulk append), and afterwards one statement each checks the new geometries against the column's
    constraint, puts their boxes into the R*Tree (the same entries, float32 rounding included: SQLite's
    R*Tree rounds a box outwards as ``RTreeAlign`` does) and stamps the time.

    The new rows are those above the table's largest rowid before the insert: the transaction holds
    SQLite's one write lock, and a new rowid is always above the largest. The triggers are dropped and
    made again from their own text inside the transaction, so no other connection ever sees them missing,
    and a rollback brings them back by itself. A geometry the constraint refuses raises ``IntegrityError``
    (the trigger's own message) once the triggers are back; the caller rolls back, as after the trigger.
    """
    kinds = ("ggi", "gii", "tmi")  # SpatiaLite's names: constraint, index and time triggers on insert
    names = {f"{kind}_{table}_{column}".lower(): kind for kind in kinds}
    found = conn.exec_driver_sql(
        "SELECT lower(name), sql FROM sqlite_master WHERE type = 'trigger' AND lower(name) IN (?, ?, ?) ORDER BY rowid",
        tuple(names),
    ).all()
    rtree = f"idx_{table}_{column}"
    has_rtree = conn.exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND lower(name) = lower(?)", (rtree,)
    ).scalar()
    triggers = {names[name]: (name, sql) for name, sql in found if names[name] != "gii" or has_rtree}
    if not triggers:
        yield
        return
    raw: Any = conn.connection.driver_connection
    # Table and column names come from the table's metadata, never from a file; values are bound.
    (last,) = conn.exec_driver_sql(f'SELECT coalesce(max(rowid), 0) FROM "{table}"').one()  # noqa: S608
    for name, _sql in triggers.values():
        conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    refused = 0
    try:
        yield
    finally:
        if raw.in_transaction:  # otherwise SQLite rolled the transaction back, and the triggers with it
            if "ggi" in triggers:
                refused = _refused(conn, table, column, last)
            if "gii" in triggers:
                conn.exec_driver_sql(
                    f'INSERT OR REPLACE INTO "{rtree}" (pkid, xmin, xmax, ymin, ymax)'  # noqa: S608
                    f' SELECT rowid, MbrMinX("{column}"), MbrMaxX("{column}"), MbrMinY("{column}"),'
                    f' MbrMaxY("{column}") FROM "{table}" WHERE rowid > ? AND MbrMinX("{column}") IS NOT NULL',
                    (last,),
                )
            if "tmi" in triggers:
                conn.exec_driver_sql(
                    "UPDATE geometry_columns_time SET last_insert = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
                    " WHERE lower(f_table_name) = lower(?) AND lower(f_geometry_column) = lower(?)",
                    (table, column),
                )
            for _name, sql in triggers.values():
                conn.exec_driver_sql(sql)
    if refused:
        message = f"{table}.{column} violates Geometry constraint [geom-type or SRID not allowed]"
        raise IntegrityError(f"{refused} new rows of {table}", None, conn.dialect.loaded_dbapi.IntegrityError(message))


def _refused(conn: Connection, table: str, column: str, last: int) -> int:
    """Count the rows above ``last`` whose geometry the column's constraint refuses (what ``ggi_…`` tests)."""
    statement = (
        f'SELECT count(*) FROM "{table}" AS t WHERE t.rowid > ? AND coalesce(('  # noqa: S608
        f'SELECT GeometryConstraints(t."{column}", g.geometry_type, g.srid) FROM geometry_columns AS g'
        " WHERE lower(g.f_table_name) = lower(?) AND lower(g.f_geometry_column) = lower(?)), 0) != 1"
    )
    return int(conn.exec_driver_sql(statement, (last, table, column)).scalar() or 0)


def _bound(column: Column[Any], values: np.ndarray | pa.Array, conn: Connection) -> list[Any]:
    """Return a column's values as the driver is to bind them: plain Python values, then the column type's own
    bind processor (dates as SQLite's texts, JSON as text, ...) where it has one."""
    if isinstance(values, pa.Array):
        items = values.to_pylist()  # Arrow's values come plain
    else:
        items = np.asarray(values, dtype=object).tolist()
        if any(not isinstance(v, PLAIN) for v in items):
            items = [plain(v) for v in items]
    process = column.type.bind_processor(conn.dialect)
    return [process(v) for v in items] if process is not None else items
