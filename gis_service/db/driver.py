"""Statements compiled once and run on the driver's cursor: the OGC reads GIS clients send most.

A single OGC item is one indexed row: SQLAlchemy's execution of its statement (events, the
compiled-cache lookup, the result's set-up) costs more than the round trip itself (141 µs against
80 µs in-process). The statements built once a query shape (``store/current.py``) are therefore
compiled once too, for the backend's dialect, and run on the driver's own cursor in the caller's
connection (its transaction, or autocommit). SQLAlchemy has no public "run this compiled text on
the raw cursor" call, hence these few lines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Select
from sqlalchemy.orm import Session


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
