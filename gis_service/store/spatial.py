"""The few SQL spatial expressions whose spelling differs between PostGIS and SpatiaLite.

Geometry math itself runs in shapely/GEOS; SQL is only used to filter with the spatial index
and to move geometries in and out as WKB.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, func, literal_column, select, text

from gis_service.db.models import SRID

BBox = tuple[float, float, float, float]


def geom_wkb(table: Table) -> ColumnElement[Any]:
    """Return the table's geometry as plain WKB bytes (fast to decode with shapely.from_wkb)."""
    return func.ST_AsBinary(table.c.geom, type_=None).label("wkb")


def bbox_filter(table: Table, bbox: BBox, dialect: str) -> ColumnElement[bool]:
    """Return a WHERE clause keeping rows whose geometry's box meets ``bbox`` (uses the spatial index)."""
    minx, miny, maxx, maxy = bbox
    if dialect == "postgresql":
        envelope = func.ST_MakeEnvelope(minx, miny, maxx, maxy, SRID)
        return table.c.geom.op("&&")(envelope)
    # SpatiaLite: its R*Tree is only used through the SpatialIndex virtual table.
    frame = func.BuildMbr(minx, miny, maxx, maxy, SRID)
    index_rows = text(
        "SELECT ROWID FROM SpatialIndex WHERE f_table_name = :sidx_table AND f_geometry_column = 'geom'"
        " AND search_frame = BuildMbr(:sidx_minx, :sidx_miny, :sidx_maxx, :sidx_maxy)"
    ).bindparams(sidx_table=table.name, sidx_minx=minx, sidx_miny=miny, sidx_maxx=maxx, sidx_maxy=maxy)
    index: Select[Any] = select(literal_column("ROWID")).select_from(index_rows.columns().subquery("sidx"))
    return and_(table.c.id.in_(index), func.MbrIntersects(table.c.geom, frame) == 1)


def layer_extent(conn: Any, table: Table) -> BBox | None:
    """Return the bounding box of a table's geometries (None when empty)."""
    if conn.dialect.name == "postgresql":
        row = conn.execute(
            select(func.ST_XMin(func.ST_Extent(table.c.geom)), func.ST_YMin(func.ST_Extent(table.c.geom)),
                   func.ST_XMax(func.ST_Extent(table.c.geom)), func.ST_YMax(func.ST_Extent(table.c.geom)))
        ).one()
    else:
        box = func.Extent(table.c.geom)
        row = conn.execute(select(func.MbrMinX(box), func.MbrMinY(box), func.MbrMaxX(box), func.MbrMaxY(box))).one()
    if row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
