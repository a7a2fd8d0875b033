"""SpatiaLite bulk writes: one executemany on the driver's cursor, its rows made column by column.

SQLAlchemy's executemany made a dict a row, and GeoAlchemy2 turned each geometry from WKB into a
shapely object, then into EWKT text that SpatiaLite parsed again: of a province's 200 000 zone
stretches (24.5 s in all on this machine), about 12 s were that Python work a row. Here each column
is one list (SQLAlchemy's own bind processor of the column's type applied, as its executemany would),
the ``attrs`` JSON is joined in Arrow (:func:`~gis_service.db.backends.columns.attrs_json`, the text
PostGIS stores), and the geometries go as WKB into ``GeomFromWKB``: the same geometry, exactly, and
no text. It runs on the caller's connection, in its transaction (``exec_driver_sql``).
Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from sqlalchemy import Column, Connection, Table

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
    # SQLAlchemy's driver-level executemany: no compiling and no processing a row, its events still fire.
    conn.exec_driver_sql(statement, list(zip(*cells, strict=True)))
    return n


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
