"""What SQL every spatial backend spells: the half of :class:`~gis_service.db.backend.SpatialBackend` about queries.

Geometry maths run in shapely/GEOS; SQL only filters with the spatial index, moves geometries in
and out as WKB, measures layers' extents, counts, and (PostGIS) writes GeoJSON texts, vector
tiles and bulk loads by ``COPY``. Each method says what it is for; :mod:`.postgis` and
:mod:`.spatialite` spell it. Callers get the backend from their session or connection
(``session_backend``/``backend_for``) and never test the dialect themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import pyarrow as pa
from sqlalchemy import (
    ColumnElement,
    Connection,
    LargeBinary,
    Select,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import FromClause

from gis_service.db.models import SRID

BBox = tuple[float, float, float, float]
CHUNK = 5000  # values an IN list on SpatiaLite (its bound-parameter limit is far above)
Corners = tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any], Callable[..., Any]]


@dataclass(frozen=True)
class BoundFilter:
    """A read's filters with their values as bound parameters (``store.current.CurrentFeatures.bound``)."""

    apply: Callable[[Select[Any]], Select[Any]]  # adds the filters to a query
    shape: tuple[Any, ...] | None  # what a statement built with ``apply`` can be reused for; None: not reusable
    params: dict[str, Any]  # the values of the bound parameters


class IndexWork(Protocol):
    """Index and counter upkeep that bulk writes into one table set aside (SpatiaLite's row triggers,
    :class:`~gis_service.db.backends.sqlite_rows.InsertTriggers`): done for the rows written so far by
    :meth:`settle` (SQL only: a worker thread may run it while nothing else uses the connection), ended by
    :meth:`close`, which the writer must call before its transaction commits."""

    def settle(self, *, check: bool = True) -> None:
        """Do the upkeep for the rows written since the last settle; ``check``: raise on rows the table refuses."""

    def close(self, *, check: bool = True) -> None:
        """Settle, then restore the upkeep for later writes."""


class SpatialSQL:
    """The spatial SQL of one database: spellings, capabilities and bulk paths."""

    # Capabilities callers ask instead of testing the dialect's name.
    copy_load: ClassVar[bool] = False  # bulk writes by ``COPY … FROM STDIN`` (texts prepared while features copy)
    background_writes: ClassVar[bool] = False  # a delivery's rows may be written on a worker thread meanwhile
    writes_geojson: ClassVar[bool] = False  # SQL writes the GeoJSON Feature texts of a page

    # -- spellings -------------------------------------------------------------------------------

    def geometry_from_wkb(self, wkb: Any) -> ColumnElement[Any]:
        """Return a storage geometry from WKB bytes (bound as a parameter) or a WKB expression."""
        raise NotImplementedError

    def spatial_predicate(self, op: str, column: ColumnElement[Any], other: ColumnElement[Any]) -> ColumnElement[bool]:
        """Return the spatial predicate ``op`` (intersects, within, …) as a WHERE condition."""
        raise NotImplementedError

    def bbox_filter(self, table: Table, bbox: BBox | Sequence[Any]) -> ColumnElement[bool]:
        """Return a WHERE clause keeping rows whose geometry's box meets ``bbox`` (uses the spatial index)."""
        raise NotImplementedError

    def intersects(self, table: Table, wkb: Any, box: Any) -> ColumnElement[bool]:
        """Return the clause keeping rows whose geometry meets the geometry ``wkb`` (inside ``box``), with the index."""
        raise NotImplementedError

    def member_of(self, column: Any, values: list[Any]) -> list[Any]:
        """Return WHERE clauses that together keep rows whose ``column`` is one of ``values``.

        Each clause runs as its own query: IN lists of :data:`CHUNK` values.
        """
        return [column.in_(values[start : start + CHUNK]) for start in range(0, len(values), CHUNK)]

    # -- extents ---------------------------------------------------------------------------------

    box_corners: ClassVar[Corners]  # the functions reading a box's min x, min y, max x, max y

    def boxes(self, conn: Connection, boxes: Sequence[ColumnElement[Any]]) -> list[BBox | None]:
        """Return the corners of several box expressions, in one query (None for a NULL box)."""
        parts = []
        for i, box in enumerate(boxes):
            one = select(box.label("box")).subquery(f"box_{i}")
            parts.append(
                select(literal(i).label("i"), *(f(one.c.box).label(f"c{n}") for n, f in enumerate(self.box_corners)))
            )
        rows = {row[0]: row[1:] for row in conn.execute(union_all(*parts))} if parts else {}
        return [
            None if rows[i][0] is None else (float(rows[i][0]), float(rows[i][1]), float(rows[i][2]), float(rows[i][3]))
            for i in range(len(boxes))
        ]

    def layer_extents(self, conn: Connection, tables: Sequence[Table]) -> list[BBox | None]:
        """Return the bounding boxes of several tables' geometries (None for an empty table)."""
        raise NotImplementedError

    # -- reading ---------------------------------------------------------------------------------

    @contextmanager
    def driver_cursor(self, conn: Connection, query: Select[Any]) -> Iterator[Any]:
        """Run ``query`` in the caller's transaction; yield the driver's cursor to fetch plain tuples from."""
        result = conn.execute(query)
        try:
            yield result.cursor
        finally:
            result.close()

    def feature_json(self, page: FromClause, properties: Any) -> ColumnElement[str]:
        """Return one GeoJSON Feature text a row of ``page`` (``geom``, ``id``) with ``properties`` (a lateral)."""
        raise NotImplementedError(f"{type(self).__name__} does not write GeoJSON in SQL (see writes_geojson)")

    def mvt_tile(
        self,
        conn: Connection,
        bound: BoundFilter,
        table: Table,
        names: Sequence[str],
        layer: str,
        tile: tuple[int, int, int],
        tolerance: float,
        extent: int,
        buffer: int,
    ) -> bytes | None:
        """Return the Mapbox Vector Tile ``tile`` (z, x, y) of the rows ``bound`` keeps, built by the database.

        None when this database cannot build tiles: the caller encodes them from the features.
        """
        return None

    def mvt_overview(
        self,
        conn: Connection,
        bound: BoundFilter,
        table: Table,
        colour: str | None,
        layer: str,
        tile: tuple[int, int, int],
        tolerance: float,
        extent: int,
        buffer: int,
        pixels: int,
        kinds: tuple[bool, bool] = (True, True),
    ) -> bytes | None:
        """Return the low-zoom tile ``tile`` of the rows ``bound`` keeps, merged on a grid of ``pixels`` a side.

        ``kinds``: whether the layer may hold points, and other shapes.

        See ``gis_service/ogc/overview.py`` for what it holds.

        None when this database cannot build tiles: the caller builds it from the features.
        """
        return None

    # -- counting --------------------------------------------------------------------------------

    def counts_by_each(self, conn: Connection, query: Select[Any], columns: Sequence[Any]) -> list[list[Any]]:
        """Run ``query`` (the columns and a count) grouped by each of ``columns`` in turn.

        Return per column the rows ``(*columns, n)`` whose counts, summed by that column's value,
        give its grouping (other columns' values left in: the caller sums by its own column).
        """
        rows = list(map(tuple, conn.execute(query.group_by(*columns))))
        return [rows for _ in columns]

    def grid_index(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        """Return ``floor(value)`` as an integer: the grid cell a coordinate divided by the cell size falls in."""
        return func.floor(value)

    def marker_points(
        self, table: Table, where: Sequence[Any], tally: Sequence[str], bbox: BBox | None = None
    ) -> FromClause:
        """Return the subquery of the rows kept by ``where`` (and meeting ``bbox``): x, y, id and ``tally``.

        A row's position is its point, or a point inside a polygon (as the data route draws it).
        """
        geom = table.c.geom
        extra = [table.c[n] for n in tally]
        kept = [*where, self.bbox_filter(table, bbox)] if bbox is not None else list(where)
        point = case((func.ST_Dimension(geom) == 0, geom), else_=func.ST_PointOnSurface(geom))
        # Each OFFSET 0 keeps its level a subquery of its own, so that the point, then x and y, are
        # computed once a row rather than once for each expression that uses them.
        points = select(point.label("p"), table.c.id, *extra).where(*kept).offset(0).subquery("points")
        xy = select(
            func.ST_X(points.c.p).label("x"),
            func.ST_Y(points.c.p).label("y"),
            points.c.id,
            *(points.c[n] for n in tally),
        )
        return xy.offset(0).subquery("coords")

    def grid_sites(
        self,
        table: Table,
        where: Sequence[Any],
        cell: float,
        tally: Sequence[str],
        inside: BBox | None = None,
        bbox: BBox | None = None,
    ) -> FromClause:
        """Return the subquery of kept sites: x, y, their grid cell (gx, gy), id and the ``tally`` columns.

        With ``bbox``, only the sites meeting it are read; with ``inside``, every kept site is read but
        one whose position lies outside that box has no cell (gx, gy NULL).
        """
        coords = self.marker_points(table, where, tally, bbox)
        x, y = coords.c.x, coords.c.y
        # The cell in a subquery, grouped outside: PostgreSQL sees each bound parameter as its own
        # expression, so a GROUP BY repeating ``floor(x / :cell)`` would not match the selected one.
        gx, gy = self.grid_index(x / cell), self.grid_index(y / cell)
        if inside is not None:
            minx, miny, maxx, maxy = inside
            within = and_(x >= minx, x <= maxx, y >= miny, y <= maxy)
            gx, gy = case((within, gx)), case((within, gy))
        return select(x, y, gx.label("gx"), gy.label("gy"), coords.c.id, *(coords.c[n] for n in tally)).subquery(
            "sites"
        )

    def kept_cells(
        self,
        conn: Connection | Session,
        table: Table,
        level: int,
        equal: Mapping[str, Sequence[Any]],
        bbox: BBox | None = None,
        tally: Sequence[str] = (),
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] | None:
        """Return :meth:`grid_clusters`' answer from counts the database keeps per cell, or None if it keeps none.

        Cells of 90 / 2^``level`` degrees; ``equal`` keeps the rows whose columns hold one of the values
        given (none given: any); ``bbox`` keeps the cells meeting it; a one-site cell's last value is its id.
        """
        return None

    def grid_clusters(
        self,
        conn: Connection | Session,
        table: Table,
        where: Sequence[Any],
        cell: float,
        bbox: BBox | None = None,
        tally: Sequence[str] = (),
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Count the rows kept by ``where`` in ``bbox`` per square grid cell of ``cell`` degrees (anchored at 0°, 0°).

        Return the cells, one row a non-empty cell: column, row, count, sum of x, sum of y and the
        smallest id (a one-site cell's own); and, when ``tally`` names columns, every row kept by
        ``where`` (``bbox`` left out) counted by them: ``(*values, n)``. One grouped scan: with a
        tally, the sites outside ``bbox`` are read too (they count) but fall in no cell.
        """
        if not tally:
            sites = self.grid_sites(table, where, cell, (), bbox=bbox)
            query = select(
                sites.c.gx,
                sites.c.gy,
                func.count(),
                func.sum(sites.c.x),
                func.sum(sites.c.y),
                func.min(sites.c.id),
            ).group_by(sites.c.gx, sites.c.gy)
            return [tuple(row) for row in conn.execute(query)], []
        sites = self.grid_sites(table, where, cell, tally, inside=bbox)
        keys = [sites.c.gx, sites.c.gy, *(sites.c[n] for n in tally)]
        query = select(*keys, func.count(), func.sum(sites.c.x), func.sum(sites.c.y), func.min(sites.c.id)).group_by(
            *keys
        )
        # A cell's rows (one a tally value) summed into the cell; the tally's over every cell.
        cells: dict[tuple[Any, Any], list[Any]] = {}
        tallies: dict[tuple[Any, ...], int] = {}
        n = len(tally)
        for gx, gy, *rest in conn.execute(query):
            values, (count, sx, sy, first) = tuple(rest[:n]), rest[n:]
            tallies[values] = tallies.get(values, 0) + count
            if gx is None:
                continue
            if (gx, gy) in cells:
                got = cells[(gx, gy)]
                got[0], got[1], got[2], got[3] = got[0] + count, got[1] + sx, got[2] + sy, min(got[3], first)
            else:
                cells[(gx, gy)] = [count, sx, sy, first]
        return [(gx, gy, *v) for (gx, gy), v in cells.items()], [(*k, v) for k, v in tallies.items()]

    # -- upkeep ----------------------------------------------------------------------------------

    def refresh_statistics(self, conn: Connection) -> None:
        """Refresh the query planner's statistics after a bulk load (``conn`` in autocommit)."""
        conn.execute(text("ANALYZE"))

    # -- bulk writes -----------------------------------------------------------------------------

    def insert_columns(self, conn: Connection, table: Table, columns: dict[str, np.ndarray | pa.Array]) -> int:
        """Insert rows given column by column (object arrays, None for null); return how many."""
        raise NotImplementedError(f"{type(self).__name__} has no bulk write of columns")

    def deferred_index(self, conn: Connection, table: Table) -> IndexWork | None:
        """Set aside the index upkeep of bulk writes into ``table`` until its :meth:`IndexWork.close` (SpatiaLite's
        row triggers); None where the database keeps its indexes as rows come, as fast (PostGIS)."""
        return None

    def serial_ids(self, conn: Connection, table: Table, n: int) -> np.ndarray:
        """Return ``n`` new ids of ``table``'s serial ``id`` column, drawn at once (a bulk write then names them)."""
        raise NotImplementedError(f"{type(self).__name__} has no way to draw ids")


def wkb_param(wkb: Any) -> ColumnElement[Any]:
    """Return ``wkb`` as a bound parameter, or unchanged when it is already an expression."""
    return wkb if isinstance(wkb, ColumnElement) else bindparam(None, wkb, type_=LargeBinary)


__all__ = ["CHUNK", "SRID", "BBox", "BoundFilter", "IndexWork", "SpatialSQL", "wkb_param"]
