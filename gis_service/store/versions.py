"""Data versions: a number the database raises with every write to a table (migration 0012).

Answers computed from a table at one version stay right until the number changes, whoever wrote
(this service, the CLI, another process): the triggers raise it in the writing transaction, so a
reader sees the version of the rows it sees.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, MetaData, String, Table, select
from sqlalchemy.orm import Session

# Not in the models' metadata: the triggers write it, nothing in Python does.
DATA_VERSIONS = Table(
    "data_versions",
    MetaData(),
    Column("layer_table", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
)


def data_version(conn: Session | Connection, table: Table) -> int | None:
    """Return ``table``'s data version, or None when the database keeps none for it (nothing may be cached)."""
    query = select(DATA_VERSIONS.c.version).where(DATA_VERSIONS.c.layer_table == table.name)
    value = conn.execute(query).scalar_one_or_none()
    return None if value is None else int(value)


def database_key(conn: Session | Connection) -> str:
    """Return which database ``conn`` reads (its URL without the password): a cache's first key."""
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    return bind.engine.url.render_as_string(hide_password=True)
