"""SpatiaLite's spatial SQL: its R*Tree reached through the ``SpatialIndex`` table, predicates answering 1/0/-1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from sqlalchemy import ColumnElement, Connection, Integer, Select, Table, and_, cast, func, literal_column, select, text

from gis_service.db.backends.base import SRID, BBox, Corners, IndexWork, SpatialSQL, wkb_param
from gis_service.db.backends.sqlite_rows import InsertTriggers, insert_values


class SpatiaLiteSQL(SpatialSQL):
    """SpatiaLite: an executemany for bulk writes, tiles and GeoJSON written by the caller in Python."""

    box_corners: ClassVar[Corners] = (func.MbrMinX, func.MbrMinY, func.MbrMaxX, func.MbrMaxY)

    def geometry_from_wkb(self, wkb: Any) -> ColumnElement[Any]:
        """``GeomFromWKB`` in the storage SRID."""
        return func.GeomFromWKB(wkb_param(wkb), SRID)

    def spatial_predicate(self, op: str, column: ColumnElement[Any], other: ColumnElement[Any]) -> ColumnElement[bool]:
        """``ST_<Op>(…) = 1`` (SpatiaLite answers -1 on an invalid geometry)."""
        call = getattr(func, f"ST_{op.capitalize()}")(column, other)
        return call == 1  # type: ignore[no-any-return]

    def bbox_filter(self, table: Table, bbox: BBox | Sequence[Any]) -> ColumnElement[bool]:
        """Rows the ``SpatialIndex`` virtual table finds in the frame, then ``MbrIntersects``.

        Its R*Tree is only used through that table: a plain ``MbrIntersects`` would scan.
        """
        minx, miny, maxx, maxy = bbox
        frame = func.BuildMbr(minx, miny, maxx, maxy, SRID)
        index_rows = text(
            "SELECT ROWID FROM SpatialIndex WHERE f_table_name = :sidx_table AND f_geometry_column = 'geom'"
            " AND search_frame = BuildMbr(:sidx_minx, :sidx_miny, :sidx_maxx, :sidx_maxy)"
        ).bindparams(sidx_table=table.name, sidx_minx=minx, sidx_miny=miny, sidx_maxx=maxx, sidx_maxy=maxy)
        index: Select[Any] = select(literal_column("ROWID")).select_from(index_rows.columns().subquery("sidx"))
        return and_(table.c.id.in_(index), func.MbrIntersects(table.c.geom, frame) == 1)

    def intersects(self, table: Table, wkb: Any, box: Any) -> ColumnElement[bool]:
        """The index prefilter on ``box``, then the exact ``ST_Intersects``."""
        exact = self.spatial_predicate("intersects", table.c.geom, self.geometry_from_wkb(wkb))
        return and_(self.bbox_filter(table, box), exact)

    def grid_index(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        """``floor`` from a cast (SQLite has ``floor`` only when built with its maths functions)."""
        whole = cast(value, Integer)
        return whole - cast(value < whole, Integer)

    def insert_columns(self, conn: Connection, table: Table, columns: dict[str, np.ndarray | pa.Array]) -> int:
        """One executemany on the driver's cursor, its rows made column by column (:func:`insert_values`)."""
        return insert_values(conn, table, columns)

    def deferred_index(self, conn: Connection, table: Table) -> IndexWork | None:
        """``table``'s row triggers (SpatiaLite's on its geometry, the counters) set aside (:class:`InsertTriggers`)."""
        return InsertTriggers(conn, table.name, "geom")

    def serial_ids(self, conn: Connection, table: Table, n: int) -> np.ndarray:
        """Return the ``n`` ids SQLite would give ``table``'s next rows (its largest ``id`` plus one, on).

        The caller writes them in the same transaction: one that holds SQLite's write lock (a write
        transaction begins ``IMMEDIATE``), or one whose later write fails if another wrote since its read
        (WAL: a stale snapshot cannot write), so no two transactions draw the same ids.
        """
        last = conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
        return np.arange(int(last) + 1, int(last) + 1 + n, dtype=np.int64)

    def layer_extents(self, conn: Connection, tables: Sequence[Table]) -> list[BBox | None]:
        """``Extent`` of each table, in one query."""
        return self.boxes(conn, [select(func.Extent(t.c.geom)).scalar_subquery() for t in tables])
