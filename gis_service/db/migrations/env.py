"""Alembic environment: runs migrations on the connection handed over by :mod:`gis_service.db.schema`."""

from __future__ import annotations

from typing import Any

from alembic import context
from geoalchemy2 import alembic_helpers

from gis_service.db.models import Base

# Tables whose delivery_id PostGIS checks with statement-level triggers instead of a foreign key (0003, 0016).
STATEMENT_CHECKED = {"boundaries", "stakes", "zones", "delivery_reports"}
# SpatiaLite's own bookkeeping tables, which autogenerate must never touch.
SPATIALITE_SYSTEM = {"KNN", "KNN2", "ElementaryGeometries", "SpatialIndex", "data_licenses", "sql_statements_log"}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Leave out the spatial extensions' own tables, and the delivery references PostGIS checks by trigger."""
    if type_ == "table" and name in SPATIALITE_SYSTEM:
        return False
    if (
        type_ == "foreign_key_constraint"
        and connection.dialect.name == "postgresql"
        and obj.table.name in STATEMENT_CHECKED
        and obj.referred_table.name == "deliveries"
    ):
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))


config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=include_object,
    process_revision_directives=alembic_helpers.writer,
    render_item=alembic_helpers.render_item,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
