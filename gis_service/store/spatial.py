"""The few SQL spatial expressions whose spelling differs between PostGIS and SpatiaLite.

Geometry math itself runs in shapely/GEOS; SQL is only used to filter with the spatial index,
to move geometries in and out as WKB and, on PostGIS, to write the GeoJSON of feature pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, Text, and_, func, literal, literal_column, select, text, union_all

from gis_service.db.models import SRID

BBox = tuple[float, float, float, float]


def geom_wkb(table: Table) -> ColumnElement[Any]:
    """Return the table's geometry as plain WKB bytes (fast to decode with shapely.from_wkb)."""
    return func.ST_AsBinary(table.c.geom, type_=None).label("wkb")


def geom_geojson(geom: ColumnElement[Any]) -> ColumnElement[str]:
    """PostGIS: return the geometry as GeoJSON text, the same numbers as shapely writes, no ``crs`` member.

    17 decimals never cut a longitude or latitude: PostGIS prints the shortest text that reads
    back to the same double, within that many decimals; option 0 leaves out the ``crs`` member.
    """
    return func.ST_AsGeoJSON(geom, literal_column("17"), literal_column("0"), type_=Text)


def bbox_filter(table: Table, bbox: BBox | Sequence[Any], dialect: str) -> ColumnElement[bool]:
    """Return a WHERE clause keeping rows whose geometry's box meets ``bbox`` (uses the spatial index).

    On PostGIS the corners may be bound parameters, so that a built statement can be reused.
    """
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


def _boxes(conn: Any, boxes: Sequence[ColumnElement[Any]]) -> list[BBox | None]:
    """Return the corners of several box expressions, in one query (None for a NULL box)."""
    postgis = conn.dialect.name == "postgresql"
    corners = (
        (func.ST_XMin, func.ST_YMin, func.ST_XMax, func.ST_YMax)
        if postgis
        else (func.MbrMinX, func.MbrMinY, func.MbrMaxX, func.MbrMaxY)
    )
    parts = []
    for i, box in enumerate(boxes):
        one = select(box.label("box")).subquery(f"box_{i}")
        parts.append(select(literal(i).label("i"), *(f(one.c.box).label(f"c{n}") for n, f in enumerate(corners))))
    rows = {row[0]: row[1:] for row in conn.execute(union_all(*parts))} if parts else {}
    return [
        None if rows[i][0] is None else (float(rows[i][0]), float(rows[i][1]), float(rows[i][2]), float(rows[i][3]))
        for i in range(len(boxes))
    ]


def layer_extents(conn: Any, tables: Sequence[Table]) -> list[BBox | None]:
    """Return the bounding boxes of several tables' geometries (None for an empty table)."""
    if conn.dialect.name != "postgresql":
        return _boxes(conn, [select(func.Extent(t.c.geom)).scalar_subquery() for t in tables])
    # The spatial index's root box (what ST_EstimatedExtent reads first, and tipg serves) costs a
    # page read, not a scan of the table: rounded outward to float4 (well under a metre), never
    # smaller than the data, possibly larger after deletes. An empty index gives NULL: then scan
    # (in a query of its own, so that the scans' cost estimate never buys the first one a JIT).
    found = _boxes(conn, [func.ST_EstimatedExtent(t.name, "geom") for t in tables])
    empty = [i for i, box in enumerate(found) if box is None]
    scanned = _boxes(conn, [select(func.ST_Extent(tables[i].c.geom)).scalar_subquery() for i in empty])
    for i, box in zip(empty, scanned, strict=True):
        found[i] = box
    return found


def layer_extent(conn: Any, table: Table) -> BBox | None:
    """Return the bounding box of a table's geometries (None when empty)."""
    return layer_extents(conn, [table])[0]
