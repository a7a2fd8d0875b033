"""Geometry in and out of SQL as WKB, and layers' extents (their spelling per database is the backend's).

Geometry math itself runs in shapely/GEOS; SQL is only used to filter with the spatial index
(``backend.bbox_filter``), to move geometries in and out as WKB and, on PostGIS, to write the
GeoJSON of feature pages (``backend.feature_json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, func

from gis_service.db.backend import backend_for
from gis_service.db.backends.base import BBox

__all__ = ["BBox", "geom_wkb", "layer_extent", "layer_extents"]


def geom_wkb(table: Table) -> ColumnElement[Any]:
    """Return the table's geometry as plain WKB bytes (fast to decode with shapely.from_wkb)."""
    return func.ST_AsBinary(table.c.geom, type_=None).label("wkb")


def layer_extents(conn: Connection, tables: Sequence[Table]) -> list[BBox | None]:
    """Return the bounding boxes of several tables' geometries (None for an empty table)."""
    return backend_for(conn).layer_extents(conn, tables)


def layer_extent(conn: Connection, table: Table) -> BBox | None:
    """Return the bounding box of a table's geometries (None when empty)."""
    return layer_extents(conn, [table])[0]
