"""PostGIS's spatial SQL: operators that use the GiST index, ``COPY`` loads, GeoJSON and vector tiles in SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Integer,
    Select,
    Table,
    Text,
    any_,
    bindparam,
    case,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import FromClause

from gis_service.db.backends import pgcopy
from gis_service.db.backends.base import SRID, BBox, BoundFilter, Corners, SpatialSQL, wkb_param


def geojson(geom: ColumnElement[Any]) -> ColumnElement[str]:
    """Return the geometry as GeoJSON text, the same numbers as shapely writes, no ``crs`` member.

    17 decimals never cut a longitude or latitude: PostGIS prints the shortest text that reads
    back to the same double, within that many decimals; option 0 leaves out the ``crs`` member.
    """
    return func.ST_AsGeoJSON(geom, literal_column("17"), literal_column("0"), type_=Text)


class PostGISSQL(SpatialSQL):
    """PostGIS: predicates use the spatial index themselves; bulk writes by COPY."""

    copy_load = True
    background_writes = True
    writes_geojson = True
    box_corners: ClassVar[Corners] = (func.ST_XMin, func.ST_YMin, func.ST_XMax, func.ST_YMax)

    def geometry_from_wkb(self, wkb: Any) -> ColumnElement[Any]:
        """``ST_GeomFromWKB`` in the storage SRID."""
        return func.ST_GeomFromWKB(wkb_param(wkb), SRID)

    def spatial_predicate(self, op: str, column: ColumnElement[Any], other: ColumnElement[Any]) -> ColumnElement[bool]:
        """``ST_<Op>``, a boolean."""
        call: ColumnElement[bool] = getattr(func, f"ST_{op.capitalize()}")(column, other)
        return call

    def bbox_filter(self, table: Table, bbox: BBox | Sequence[Any]) -> ColumnElement[bool]:
        """``geom && ST_MakeEnvelope(…)``; the corners may be bound parameters, so that a built statement is reused."""
        minx, miny, maxx, maxy = bbox
        envelope = func.ST_MakeEnvelope(minx, miny, maxx, maxy, SRID)
        return table.c.geom.op("&&")(envelope)

    def intersects(self, table: Table, wkb: Any, box: Any) -> ColumnElement[bool]:
        """``ST_Intersects`` alone: it uses the index itself."""
        return self.spatial_predicate("intersects", table.c.geom, self.geometry_from_wkb(wkb))

    def member_of(self, column: Any, values: list[Any]) -> list[Any]:
        """One ``= ANY(array)`` clause (10 000 keys as one parameter, not 10 000 placeholders)."""
        return [column == any_(bindparam(None, values, type_=ARRAY(column.type)))]

    def layer_extents(self, conn: Connection, tables: Sequence[Table]) -> list[BBox | None]:
        """Read the spatial index's root box, scanning only the tables whose index gives none.

        The root box (what ST_EstimatedExtent reads first, and tipg serves) costs a page read, not
        a scan of the table: rounded outward to float4 (well under a metre), never smaller than the
        data, possibly larger after deletes. An empty index gives NULL: then scan (in a query of its
        own, so that the scans' cost estimate never buys the first one a JIT).
        """
        found = self.boxes(conn, [func.ST_EstimatedExtent(t.name, "geom") for t in tables])
        empty = [i for i, box in enumerate(found) if box is None]
        scanned = self.boxes(conn, [select(func.ST_Extent(tables[i].c.geom)).scalar_subquery() for i in empty])
        for i, box in zip(empty, scanned, strict=True):
            found[i] = box
        return found

    @contextmanager
    def driver_cursor(self, conn: Connection, query: Select[Any]) -> Iterator[Any]:
        """A binary psycopg cursor, so that WKB arrives as bytes rather than hex text to decode."""
        if conn.dialect.driver != "psycopg":
            with super().driver_cursor(conn, query) as cursor:
                yield cursor
            return
        compiled = query.compile(dialect=conn.dialect)
        with conn.connection.dbapi_connection.cursor(binary=True) as cursor:  # type: ignore[union-attr]
            cursor.execute(str(compiled), compiled.params)
            yield cursor

    def feature_json(self, page: FromClause, properties: Any) -> ColumnElement[str]:
        """``concat`` of the Feature's parts, the properties by ``row_to_json`` (catalogue order, compact)."""
        return func.concat(
            literal_column("""'{"type":"Feature","geometry":'"""),
            geojson(page.c.geom),
            literal_column("""',"id":'"""),
            page.c.id,
            literal_column("""',"properties":'"""),
            func.row_to_json(properties.table_valued()),
            literal_column("'}'"),
            type_=Text,
        )

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
        """``ST_AsMVT`` of the rows simplified to ``tolerance`` metres and clipped by ``ST_AsMVTGeom``."""

        def build() -> Select[Any]:
            simplified = func.ST_Simplify(_web_mercator(table.c.geom), _TOLERANCE, True)
            geom = func.ST_AsMVTGeom(simplified, _envelope(), extent, buffer, True).label("geom")
            inner = bound.apply(select(table.c.id, *(table.c[n] for n in names), geom)).subquery("mvt")
            mvt = func.ST_AsMVT(literal_column("mvt"), layer, extent, "geom", "id")
            # No ``WHERE geom IS NOT NULL``: PostgreSQL would compute the geometry twice; ST_AsMVT skips NULLs.
            return select(mvt).select_from(inner)

        key = ("tile", bound.shape, table.name, tuple(names), layer, extent, buffer)
        return _tile(
            conn, key if bound.shape is not None else None, build, {**bound.params, **_tile_params(tile, tolerance)}
        )

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
        """Points merged per pixel before they are projected (their colour when shared); shapes under a pixel left out.

        ``kinds``: whether the layer may hold points, and other shapes (one scan less when not).
        """

        def build() -> Select[Any]:
            return _overview(bound, table, colour, layer, extent, buffer, kinds)

        z = tile[0]
        params = {
            **bound.params,
            **_tile_params(tile, tolerance),
            "pixel_deg": 360.0 / (2**z * pixels),  # a pixel's width in degrees of longitude
            "pixel_rad": 2 * np.pi / (2**z * pixels),  # its height in Mercator y on the unit sphere
        }
        key = ("overview", bound.shape, table.name, colour, layer, extent, buffer, kinds)
        return _tile(conn, key if bound.shape is not None else None, build, params)

    def grid_clusters(
        self,
        conn: Connection | Session,
        table: Table,
        where: Sequence[Any],
        cell: float,
        bbox: BBox | None = None,
        tally: Sequence[str] = (),
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The grid, planned for reading many rows (for the rest of the caller's transaction).

        A province's million sites are read whole: JIT compiling costs more than it saves here;
        workers would hand every row to the leader (the subqueries keep the grouping out of them);
        an index scan in index order (the overdue filter's ``deadline`` index, for one) reads the
        table's pages at random, where bitmap and sequential scans read them in order.
        """
        for setting in ("jit = off", "enable_indexscan = off", "max_parallel_workers_per_gather = 0"):
            conn.execute(text(f"SET LOCAL {setting}"))
        return super().grid_clusters(conn, table, where, cell, bbox, tally)

    def counts_by_each(self, conn: Connection, query: Select[Any], columns: Sequence[Any]) -> list[list[Any]]:
        """One pass with ``GROUPING SETS``; ``GROUPING()`` tells a row's set (a NULL value is a group too)."""
        query = query.add_columns(func.grouping(*columns)).group_by(func.grouping_sets(*columns))
        rows = list(map(tuple, conn.execute(query)))
        n = len(columns)
        # GROUPING(a, b, c) sets a bit for each column left out of the row's set.
        masks = [((1 << n) - 1) ^ (1 << (n - 1 - i)) for i in range(n)]
        return [[row[:-1] for row in rows if row[-1] == mask] for mask in masks]

    def refresh_statistics(self, conn: Connection) -> None:
        """``VACUUM ANALYZE``: also the visibility map, so that index-only scans skip the heap."""
        conn.execute(text("VACUUM ANALYZE"))

    def insert_columns(self, conn: Connection, table: Table, columns: dict[str, np.ndarray | pa.Array]) -> int:
        """One ``COPY``."""
        return pgcopy.copy_values(conn, table, columns)

    def serial_ids(self, conn: Connection, table: Table, n: int) -> np.ndarray:
        """Draw the ids from the sequence in one query (its name looked up once)."""
        statement = text(  # a model's table name, never input
            f"SELECT nextval((SELECT pg_get_serial_sequence('{table.name}', 'id'))::regclass)"  # noqa: S608
            " FROM generate_series(1, :n)"
        )
        return np.array(conn.execute(statement, {"n": n}).scalars().all(), dtype=np.int64)


# Built tile statements by query shape (the tile, tolerance and pixel size are parameters): building
# one costs more than running it for a tile of a few features.
_TILE_STATEMENTS: dict[tuple[Any, ...], Select[Any]] = {}
_TOLERANCE = bindparam("tolerance", type_=Float)


def _web_mercator(geom: ColumnElement[Any]) -> ColumnElement[Any]:
    """Return a CGCS2000 lon/lat geometry in Web Mercator (EPSG:3857), read as WGS 84 lon/lat.

    PROJ has no datum shift between CGCS2000 and WGS 84 (they agree to centimetres): its 4490 to
    3857 operation gives the very coordinates of 4326 to 3857 (checked on the province set: no
    difference), at four times the cost, most of a low-zoom tile's time.
    """
    return func.ST_Transform(func.ST_SetSRID(geom, 4326), 3857)


def _envelope() -> ColumnElement[Any]:
    """Return the tile's Web Mercator envelope from the bound ``tile_z``, ``tile_x`` and ``tile_y``."""
    return func.ST_TileEnvelope(*(bindparam(f"tile_{k}", type_=Integer) for k in "zxy"))


def _tile_params(tile: tuple[int, int, int], tolerance: float) -> dict[str, Any]:
    """Return the bound parameters of a tile statement: the tile and its simplification tolerance."""
    z, x, y = tile
    return {"tile_z": z, "tile_x": x, "tile_y": y, "tolerance": tolerance}


def _tile(
    conn: Connection, key: tuple[Any, ...] | None, build: Callable[[], Select[Any]], params: dict[str, Any]
) -> bytes:
    """Run the tile statement of ``key`` (built once by ``build``; every time when ``key`` is None)."""
    statement = _TILE_STATEMENTS.get(key) if key is not None else None
    if statement is None:
        statement = build()
        if key is not None:
            if len(_TILE_STATEMENTS) > 512:  # only a bound on pathological callers; real shapes are few
                _TILE_STATEMENTS.clear()
            _TILE_STATEMENTS[key] = statement
    return bytes(conn.execute(statement, params).scalar_one() or b"")


def _overview(
    bound: BoundFilter,
    table: Table,
    colour: str | None,
    layer: str,
    extent: int,
    buffer: int,
    kinds: tuple[bool, bool],
) -> Select[Any]:
    """Build the low-zoom tile statement of ``PostGISSQL.mvt_overview`` (pixel sizes and tile bound)."""
    has_points, has_shapes = kinds
    pixel_deg = bindparam("pixel_deg", type_=Float)
    pixel_rad = bindparam("pixel_rad", type_=Float)
    envelope = _envelope()
    colour_col = [table.c[colour]] if colour else []
    # A CTE read by both branches: one scan of the tile's rows.
    rows = bound.apply(select(table.c.id, *colour_col, table.c.geom)).cte("rows")
    is_point = func.ST_GeometryType(rows.c.geom) == "ST_Point"
    lon, lat = func.ST_X(rows.c.geom), func.ST_Y(rows.c.geom)
    # Web Mercator's y of a latitude, the rows of one global pixel grid aligned with every tile.
    mercator_y = func.ln(func.tan(np.pi / 4 + func.radians(lat) / 2))
    cell = (func.floor(lon / pixel_deg), func.floor(mercator_y / pixel_rad))
    n = func.count()
    # A pixel's colour when its points share one; none when they differ.
    shared = (
        [case((func.min(rows.c[colour]) == func.max(rows.c[colour]), func.min(rows.c[colour]))).label(colour)]
        if colour
        else []
    )
    centre = func.ST_SetSRID(func.ST_MakePoint(func.avg(lon), func.avg(lat)), SRID)
    points = (
        select(
            case((n == 1, func.min(rows.c.id))).label("id"),
            *shared,
            n.label("count"),
            func.ST_AsMVTGeom(_web_mercator(centre), envelope, extent, buffer, True).label("geom"),
        )
        .where(is_point)
        .group_by(*cell)
    )
    keys = [rows.c[colour]] if colour else []
    width = func.ST_XMax(rows.c.geom) - func.ST_XMin(rows.c.geom)
    height = func.ST_YMax(rows.c.geom) - func.ST_YMin(rows.c.geom)
    # A degree of latitude spans 1/cos(lat) of a degree of longitude in Mercator.
    seen = or_(width >= pixel_deg, height >= pixel_deg * func.cos(func.radians(func.ST_YMax(rows.c.geom))))
    simplified = func.ST_Simplify(_web_mercator(rows.c.geom), _TOLERANCE, True)
    shapes = select(
        rows.c.id,
        *keys,
        null().label("count"),
        func.ST_AsMVTGeom(simplified, envelope, extent, buffer, True).label("geom"),
    ).where(~is_point, seen)
    parts = [part for part, wanted in ((points, has_points), (shapes, has_shapes)) if wanted]
    both = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("mvt")
    mvt = func.ST_AsMVT(literal_column("mvt"), layer, extent, "geom", "id")
    return select(mvt).select_from(both)  # ST_AsMVT skips the NULL geometries of what the tile clips away
