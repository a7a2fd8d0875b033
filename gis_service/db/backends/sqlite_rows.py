"""SpatiaLite bulk writes: one executemany on the driver's cursor, its rows made column by column.

SQLAlchemy's executemany made a dict a row, and GeoAlchemy2 turned each geometry from WKB into a
shapely object, then into EWKT text that SpatiaLite parsed again: of a province's 200 000 zone
stretches (24.5 s in all on this machine), about 12 s were that Python work a row. Here each column
is one list (SQLAlchemy's own bind processor of the column's type applied, as its executemany would),
the ``attrs`` JSON is joined in Arrow (:func:`~gis_service.db.backends.columns.attrs_json`, the text
PostGIS stores), and the geometries go as WKB into ``GeomFromWKB``: the same geometry, exactly, and
no text. It runs on the caller's connection, in its transaction (``exec_driver_sql``).

SpatiaLite checks a geometry column, keeps its R*Tree and stamps its time by triggers that fire a row, and the
growing layers count their rows the same way; for a bulk insert these are set aside, and their work is done
once for all the new rows (:class:`InsertTriggers`).
Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from sqlalchemy import Column, Connection, Table
from sqlalchemy.exc import IntegrityError

from gis_service.db.backends.base import IndexWork
from gis_service.db.backends.columns import FeatureColumns, attrs_json, column_default, plain
from gis_service.db.models import SRID

# What the driver binds as it is; any other value (a numpy scalar, a pandas timestamp) is made plain first.
PLAIN = (str, int, float, bool, bytes, dt.date, type(None))


def insert_rows(conn: Connection, table: Table, columns: FeatureColumns, index: IndexWork | None = None) -> int:
    """Insert ``columns`` (the typed columns, the ``attrs`` fields, the geometries) into ``table``; return how many
    rows.

    The table's row triggers are set aside for the insert and their work done after it
    (:class:`InsertTriggers`); with ``index``, the caller's open set-aside of the table's triggers, that work
    waits for its :meth:`~InsertTriggers.settle`.
    """
    n = len(columns.geoms)
    cells = {name: _bound(table.c[name], values, conn) for name, values in columns.values.items()}
    cells["attrs"] = attrs_json(columns.rest, n).to_pylist()
    cells["geom"] = shapely.to_wkb(columns.shape(columns.geoms)).tolist()  # None stays None: GeomFromWKB(NULL) is NULL
    _insert(conn, table, cells, index)
    return n


def insert_values(conn: Connection, table: Table, columns: dict[str, np.ndarray | pa.Array]) -> int:
    """Insert rows given column by column (object arrays, None for null) into ``table``; return how many.

    One driver-level executemany, as :func:`insert_rows`: SQLAlchemy's made a dict a row and processed each
    (a province's 100 000 problem events: 1.14 s, the import's resident memory peaking at 537 MB as they were
    written; now 0.88 s and 485 MB). A column left out that has a Python-side default gets it, once (a
    ``COPY`` on PostGIS needs it given).
    """
    n = len(next(iter(columns.values()))) if columns else 0
    cells = {name: _bound(table.c[name], values, conn) for name, values in columns.items()}
    for column in table.c:
        has_default, value = column_default(column)
        if has_default and column.key not in cells:
            cells[column.key] = _bound(column, np.full(n, value, dtype=object), conn)
    _insert(conn, table, cells)
    return n


def _insert(conn: Connection, table: Table, cells: dict[str, list[Any]], index: IndexWork | None = None) -> None:
    """Write ``cells`` (a column's bound values by name; ``geom`` as WKB) into ``table`` by one executemany on the
    driver's cursor, the table's row triggers set aside for it (left to ``index`` when given)."""
    marks = ", ".join(f"GeomFromWKB(?, {SRID})" if name == "geom" else "?" for name in cells)
    quoted = ", ".join(f'"{name}"' for name in cells)
    # Names from the table's metadata, never from a file; every value is bound.
    statement = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})'  # noqa: S608
    rows = list(zip(*cells.values(), strict=True))
    cells.clear()  # the rows hold the values now
    with nullcontext() if index is not None else insert_triggers_deferred(conn, table.name, "geom"):
        # SQLAlchemy's driver-level executemany: no compiling and no processing a row, its events still fire.
        conn.exec_driver_sql(statement, rows)


# A row trigger that adds one to a counter (the layers' row counts, their data versions: migrations 0010 and
# 0012); for a bulk insert of k rows it is one update adding k. Matched on its whole text, spaces folded.
COUNTER = re.compile(
    r'CREATE TRIGGER "?\w+"? AFTER INSERT ON "?(?P<table>\w+)"? (?:FOR EACH ROW )?BEGIN '
    r"UPDATE (?P<target>\w+) SET (?P<column>\w+) = (?P=column) \+ 1 WHERE (?P<where>[^;]+); END",
    re.IGNORECASE,
)


class InsertTriggers:
    """The row triggers an insert into one table fires, set aside in the caller's transaction until
    :meth:`close`; :meth:`settle` does their work for the rows inserted since, one statement each.

    SpatiaLite checks each new geometry's type and SRID (``ggi_…``), adds its box to the R*Tree (``gii_…``,
    an ``RTreeAlign`` call that prepares its own statement) and stamps ``geometry_columns_time`` (``tmi_…``);
    the growing layers' own triggers add one to their row count and data version (:data:`COUNTER`). A
    statement that fires a trigger keeps a statement journal, and it grows: inside a savepoint (an import
    writes in one) with the transaction, the province's 32 768-stretch batches taking 0.31 s, then 0.65, …
    1.21 s, where without the triggers each takes ~0.12 s; and on ``problems`` the two counters alone
    (SpatiaLite's set aside) made 20 000 sites take 8–45 s into a table of 100 000, 0.34 s without. So these are
    set aside (as GDAL's GeoPackage driver sets its R*Tree triggers aside for a bulk append), and one
    statement each checks the new geometries against the column's constraint, puts their boxes into the
    R*Tree (the same entries, float32 rounding included: SQLite's R*Tree rounds a box outwards as
    ``RTreeAlign`` does), stamps the time and adds the number of new rows to each counter. Those
    statements run in SQLite without Python's lock, so a caller may settle on a worker thread while it
    reads the next rows (``ingest.write.DeliveryWriter``), as long as nothing else uses the connection
    meanwhile. Any other trigger stays and fires as rows come.

    The new rows are those above the table's largest rowid when last settled: the transaction holds
    SQLite's one write lock, and a new rowid is always above the largest. The triggers are dropped and
    made again from their own text inside the transaction, so no other connection ever sees them missing,
    and a rollback brings them back by itself. A geometry the constraint refuses raises ``IntegrityError``
    (the trigger's own message); the caller rolls back, as after the trigger.
    """

    SPATIAL = ("ggi", "gii", "tmi")  # SpatiaLite's names: constraint, index and time triggers on insert

    def __init__(self, conn: Connection, table: str, column: str) -> None:
        self.conn, self.table, self.column = conn, table, column
        self.rtree = f"idx_{table}_{column}"
        spatial = {f"{kind}_{table}_{column}".lower(): kind for kind in self.SPATIAL}
        found = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND lower(tbl_name) = lower(?) ORDER BY rowid",
            (table,),
        ).all()
        has_rtree = conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND lower(name) = lower(?)", (self.rtree,)
        ).scalar()
        self.kinds: set[str] = set()  # SpatiaLite's set aside: constraint, index (with its R*Tree), time
        self.counters: list[str] = []  # the counters' updates, k bound
        self.aside: list[tuple[str, str]] = []  # name and text of each trigger set aside, in the schema's order
        for name, sql in found:
            kind = spatial.get(str(name).lower())
            counter = COUNTER.fullmatch(" ".join(str(sql).split()))
            if kind is not None and (kind != "gii" or has_rtree):
                self.kinds.add(kind)
            elif counter is not None and counter["table"].lower() == table.lower():
                # The trigger's own update (the schema's text, written by a migration), adding k instead of one.
                target, add = counter["target"], counter["column"]
                self.counters.append(f"UPDATE {target} SET {add} = {add} + ? WHERE {counter['where']}")  # noqa: S608
            else:
                continue
            self.aside.append((str(name), str(sql)))
        self.raw: Any = conn.connection.driver_connection
        self.last = self._largest()
        for name, _sql in self.aside:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')

    def _largest(self) -> int:
        """Return the table's largest rowid (0 when empty)."""
        # Table and column names come from the table's metadata, never from a file; values are bound.
        return int(self.conn.exec_driver_sql(f'SELECT coalesce(max(rowid), 0) FROM "{self.table}"').scalar_one())  # noqa: S608

    def settle(self, *, check: bool = True) -> None:
        """Do the triggers' work for the rows inserted since the last settle: their geometries checked against the
        column's constraint (not with ``check`` false), their boxes put into the R*Tree, the time stamped, the
        counters moved on by their number."""
        if not self.aside or not self.raw.in_transaction:
            return  # nothing set aside, or SQLite rolled the transaction back, and the triggers with it
        table, column, last = self.table, self.column, self.last
        largest = self._largest()
        if largest == last:
            return
        refused = _refused(self.conn, table, column, last) if check and "ggi" in self.kinds else 0
        if "gii" in self.kinds:
            self.conn.exec_driver_sql(
                f'INSERT OR REPLACE INTO "{self.rtree}" (pkid, xmin, xmax, ymin, ymax)'  # noqa: S608
                f' SELECT rowid, MbrMinX("{column}"), MbrMaxX("{column}"), MbrMinY("{column}"),'
                f' MbrMaxY("{column}") FROM "{table}" WHERE rowid > ? AND MbrMinX("{column}") IS NOT NULL',
                (last,),
            )
        if "tmi" in self.kinds:
            self.conn.exec_driver_sql(
                "UPDATE geometry_columns_time SET last_insert = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
                " WHERE lower(f_table_name) = lower(?) AND lower(f_geometry_column) = lower(?)",
                (table, column),
            )
        if self.counters:
            added = self.conn.exec_driver_sql(f'SELECT count(*) FROM "{table}" WHERE rowid > ?', (last,)).scalar_one()  # noqa: S608
            for update in self.counters:  # the schema's own text: the migrations', never a file's
                self.conn.exec_driver_sql(update, (int(added),))
        self.last = largest
        if refused:
            message = f"{table}.{column} violates Geometry constraint [geom-type or SRID not allowed]"
            raise IntegrityError(
                f"{refused} new rows of {table}", None, self.conn.dialect.loaded_dbapi.IntegrityError(message)
            )

    def close(self, *, check: bool = True) -> None:
        """Settle the rows inserted since the last settle, then put the triggers back (even when settling fails)."""
        if not self.aside:
            return  # closed already, or nothing was set aside
        try:
            self.settle(check=check)
        finally:
            aside, self.aside = self.aside, []
            if self.raw.in_transaction:
                for _name, sql in aside:
                    self.conn.exec_driver_sql(sql)


@contextmanager
def insert_triggers_deferred(conn: Connection, table: str, column: str) -> Iterator[None]:
    """Insert into ``table`` without its row triggers (SpatiaLite's on ``column``, the counters); then do their work
    once, for all the new rows, and put the triggers back, in the caller's transaction (see :class:`InsertTriggers`)."""
    triggers = InsertTriggers(conn, table, column)
    try:
        yield
    except BaseException:
        triggers.close(check=False)  # the caller is on its way out with its own error
        raise
    triggers.close()


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
    # The type as the dialect adapts it (SQLite's own date and time texts), as SQLAlchemy's execution binds it: the
    # generic type's processor left an aware moment to the driver, which wrote its "+00:00".
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return [process(v) for v in items] if process is not None else items
