"""Exact feature counts of whole layers: the database's own tally where it keeps one, else ``COUNT(*)``.

Migration 0010 keeps ``feature_counts`` equal to ``COUNT(*)`` for the layers that grow large
(triggers in the writing transaction, so a reader sees the count of the rows it sees). A layer
without a tally row is counted: it is small, or older than the tally (a database not upgraded).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, MetaData, String, Table, func, select

# Not in the models' metadata: the triggers write it, nothing in Python does.
FEATURE_COUNTS = Table(
    "feature_counts",
    MetaData(),
    Column("layer_table", String(64), primary_key=True),
    Column("n", BigInteger, nullable=False),
)


def total(conn: Connection, table: Table) -> int:
    """Return how many rows ``table`` holds, from its tally when kept (one statement either way)."""
    tally = select(FEATURE_COUNTS.c.n).where(FEATURE_COUNTS.c.layer_table == table.name).scalar_subquery()
    counted = select(func.count()).select_from(table).scalar_subquery()
    # COALESCE evaluates its second argument only when the first is NULL (no tally row).
    return int(conn.execute(select(func.coalesce(tally, counted))).scalar_one())
