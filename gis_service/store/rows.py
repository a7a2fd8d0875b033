"""Rows of a SELECT straight from the database driver (no SQLAlchemy Row objects, no execution machinery).

At 200 000 features SQLAlchemy's Row objects would cost more than the query: readers of many
features and a few typed columns (the ratio check, jurisdiction) take the driver's tuples. At
the other end, a single OGC item is one indexed row: SQLAlchemy's execution of its statement
(events, compiled-cache lookup, result set-up) costs more than the round trip itself, so the
statements served most often are compiled once (:class:`DriverStatement`) and run on the
driver's cursor (:func:`driver_scalars`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Dialect, Select
from sqlalchemy.orm import Session

from gis_service.db.backend import backend_for

FETCH_BATCH = 20_000


def driver_rows(conn: Session | Connection, query: Select[Any], width: int) -> np.ndarray:
    """Run ``query`` in the caller's transaction; return its rows as an object array straight from the driver.

    The backend's cursor (psycopg's binary one: WKB arrives as bytes rather than hex text to decode).
    Rows are taken in batches so that only one batch of row tuples is alive at a time.
    """
    connection = conn.connection() if isinstance(conn, Session) else conn
    with backend_for(connection).driver_cursor(connection, query) as cursor:
        return _batched(cursor, width)


def _batched(cursor: Any, width: int) -> np.ndarray:
    """Return all rows of a DBAPI ``cursor`` as an (n, width) object array."""
    blocks = []
    while batch := cursor.fetchmany(FETCH_BATCH):
        block = np.empty((len(batch), width), dtype=object)
        block[:] = batch
        blocks.append(block)
    return np.concatenate(blocks) if blocks else np.empty((0, width), dtype=object)


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled once for a dialect: the driver's SQL text, its bound defaults and converters."""

    sql: str
    defaults: Mapping[str, Any]
    converters: Mapping[str, Callable[[Any], Any]]

    @classmethod
    def of(cls, statement: Select[Any], dialect: Dialect) -> DriverStatement | None:
        """Compile ``statement`` for ``dialect``; None when its text cannot be run as is (positional or expanding)."""
        compiled = statement.compile(dialect=dialect)
        sql = str(compiled)
        if compiled.positional or "POSTCOMPILE" in sql:
            return None
        converters = {}
        for name, bind in compiled.binds.items():
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if convert is not None:
                converters[name] = convert
        return cls(sql, dict(compiled.params), converters)

    def values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return the driver's parameters: the defaults with ``params`` over them, converted as SQLAlchemy would."""
        values = {**self.defaults, **params}
        for name, convert in self.converters.items():
            if values.get(name) is not None:
                values[name] = convert(values[name])
        return values


def driver_scalars(conn: Session | Connection, statement: DriverStatement, params: Mapping[str, Any]) -> list[Any]:
    """Run ``statement`` on the driver's cursor of ``conn`` (in its transaction, or autocommit); return column 1.

    The driver's errors reach the caller unwrapped; ``db.backend.translate_error`` knows them.
    """
    connection = conn.connection() if isinstance(conn, Session) else conn
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement.sql, statement.values(params))
        return [row[0] for row in cursor.fetchall()]
    finally:
        cursor.close()
