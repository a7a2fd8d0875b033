"""Rows of a SELECT straight from the database driver, as one object array (no SQLAlchemy Row objects).

At 200 000 features SQLAlchemy's Row objects would cost more than the query: readers of many
features and a few typed columns (the ratio check, jurisdiction) take the driver's tuples (the
other end, one OGC item, is ``db/driver.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sqlalchemy import Connection, Select
from sqlalchemy.orm import Session

from gis_service.db.backend import backend_for

FETCH_BATCH = 20_000


def driver_rows(conn: Session | Connection, query: Select[Any], width: int) -> np.ndarray:
    """Run ``query`` in the caller's transaction; return its rows as an object array straight from the driver.

    The backend's cursor (psycopg's binary one: WKB arrives as bytes rather than hex text to decode).
    Rows are taken in batches so that only one batch of row tuples is alive at a time.
    """
    blocks = list(driver_blocks(conn, query, width))
    return np.concatenate(blocks) if blocks else np.empty((0, width), dtype=object)


def driver_blocks(
    conn: Session | Connection, query: Select[Any], width: int, rows: int = FETCH_BATCH
) -> Iterator[np.ndarray]:
    """Run ``query`` as :func:`driver_rows` does; yield its rows ``rows`` at a time, each block an (n, width)
    object array, for a reader that keeps a block's values elsewhere (WKB on disk) before the next is made."""
    connection = conn.connection() if isinstance(conn, Session) else conn
    with backend_for(connection).driver_cursor(connection, query) as cursor:
        while batch := cursor.fetchmany(rows):
            block = np.empty((len(batch), width), dtype=object)
            block[:] = batch
            del batch
            yield block
