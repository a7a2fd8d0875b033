"""OGC API - Tiles: Mapbox Vector Tiles of a layer's current features in WebMercatorQuad.

Tile maths come from ``morecantile``; PostGIS builds the tile with ``ST_AsMVT``, SpatiaLite's
features are clipped and encoded with ``mapbox-vector-tile``. Lines and polygons are simplified
to one unit of the tile's grid (4096 a side), so that a low zoom does not carry every vertex of
the district. Below zoom 10 points are merged per pixel and colour (``overview.py`` says what such
a tile holds). The database's tile is the backend's ``mvt_tile`` (``mvt_overview``); None from it
means encode here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from sqlalchemy import Connection, Text
from sqlalchemy.orm import Session

from gis_service.db.backend import backend_for
from gis_service.db.models import SRID
from gis_service.errors import NotFound
from gis_service.ogc.crs import transformer
from gis_service.ogc.filters import queryable_names
from gis_service.ogc.overview import DETAIL_ZOOM, PIXELS, colour_field, merge_points
from gis_service.store.current import CurrentFeatures

TMS_ID = "WebMercatorQuad"
MVT = "application/vnd.mapbox-vector-tile"
EXTENT = 4096  # tile grid units a side
BUFFER = 64  # grid units kept around the tile so that lines and symbols do not break at its edge
MAX_ZOOM = 22
POINT_TYPES = {"Point"}  # merged per pixel at low zoom (a MultiPoint is drawn as a shape)


@lru_cache
def matrix_set() -> morecantile.TileMatrixSet:
    """Return the WebMercatorQuad tile matrix set."""
    return morecantile.tms.get(TMS_ID)


@dataclass(frozen=True)
class Tile:
    """One tile of WebMercatorQuad: zoom, column, row, and its bounds."""

    z: int
    x: int
    y: int

    @classmethod
    def checked(cls, z: int, x: int, y: int) -> Tile:
        """Return the tile, or a 404 when it is outside the tile matrix set."""
        tms = matrix_set()
        if not 0 <= z <= MAX_ZOOM:
            raise NotFound(f"瓦片层级 {z} 不存在：可用 0–{MAX_ZOOM}", code="tile_not_found")
        matrix = tms.matrix(z)
        if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
            raise NotFound(f"瓦片 {z}/{y}/{x} 超出层级 {z} 的范围", code="tile_not_found")
        return cls(z, x, y)

    def web_mercator(self) -> tuple[float, float, float, float]:
        """Return the tile's bounds in EPSG:3857."""
        b = matrix_set().xy_bounds(morecantile.Tile(self.x, self.y, self.z))
        return (b.left, b.bottom, b.right, b.top)

    def unit(self) -> float:
        """Return the length of one tile grid unit in metres (EPSG:3857)."""
        left, _, right, _ = self.web_mercator()
        return (right - left) / EXTENT

    def lonlat(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """Return the tile's bounds in lon/lat, widened by ``margin`` grid units on every side."""
        left, bottom, right, top = self.web_mercator()
        pad = margin * self.unit()
        west, south = _to_lonlat().transform(left - pad, bottom - pad)
        east, north = _to_lonlat().transform(right + pad, top + pad)
        return (max(west, -180.0), max(south, -85.06), min(east, 180.0), min(north, 85.06))


def _to_lonlat() -> Transformer:
    """Return the EPSG:3857 → storage lon/lat transformer."""
    return transformer(3857, SRID)


def _to_mercator() -> Transformer:
    """Return the storage lon/lat → EPSG:3857 transformer."""
    return transformer(SRID, 3857)


def _mvt_value(value: Any) -> Any:
    """Return a property value as MVT can hold it (text for dates; None is left out)."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def encode_tile(conn: Session | Connection, read: CurrentFeatures, tile: Tile) -> bytes:
    """Return the MVT of ``read``'s features in ``tile`` (one layer named after the collection)."""
    if tile.z < DETAIL_ZOOM:
        return _overview_tile(conn, read, tile)
    layer = read.layer
    table = read.table
    # Long texts (descriptions, measures) stay out of tiles: a map labels and styles by codes.
    names = [name for name in queryable_names(layer) if not isinstance(table.c[name].type, Text)]
    read = read.replace(bbox=tile.lonlat(BUFFER), area=None, properties=tuple(names), limit=None, offset=0)
    connection = conn.connection() if isinstance(conn, Session) else conn
    backend = backend_for(connection)
    built = backend.mvt_tile(
        connection,
        read.bound(backend, exact=False),  # ST_AsMVTGeom clips to the tile
        table,
        names,
        layer.name,
        (tile.z, tile.x, tile.y),
        tile.unit(),
        EXTENT,
        BUFFER,
    )
    if built is not None:
        return built
    return _encode(read.frame(conn), layer.name, tile, names)


def _overview_tile(conn: Session | Connection, read: CurrentFeatures, tile: Tile) -> bytes:
    """Return a low-zoom tile: points merged per pixel and colour, shapes under a pixel left out (``overview.py``)."""
    layer = read.layer
    colour = colour_field(layer)
    kept = (colour,) if colour else ()
    read = read.replace(bbox=tile.lonlat(BUFFER), area=None, properties=kept, limit=None, offset=0)
    connection = conn.connection() if isinstance(conn, Session) else conn
    backend = backend_for(connection)
    built = backend.mvt_overview(
        connection,
        read.bound(backend, exact=False),  # ST_AsMVTGeom clips to the tile
        read.table,
        colour,
        layer.name,
        (tile.z, tile.x, tile.y),
        tile.unit(),
        EXTENT,
        BUFFER,
        PIXELS,
        (bool(POINT_TYPES & set(layer.geometry_types)), bool(set(layer.geometry_types) - POINT_TYPES)),
    )
    if built is not None:
        return built
    frame = read.frame(conn)
    if frame.empty:
        return b""
    return _encode(merge_points(frame, tile.z, colour), layer.name, tile, [*kept, "count"])


def _encode(frame: gpd.GeoDataFrame, name: str, tile: Tile, names: list[str]) -> bytes:
    """Encode lon/lat features as the MVT layer ``name`` of ``tile`` with the properties ``names``."""
    if frame.empty:
        return b""
    tolerance = tile.unit()
    mercator = shapely.transform(frame.geometry.values, _transform_mercator)
    bounds = tile.web_mercator()
    pad = BUFFER * tolerance
    kept = shapely.clip_by_rect(
        shapely.simplify(mercator, tolerance, preserve_topology=True),
        bounds[0] - pad,
        bounds[1] - pad,
        bounds[2] + pad,
        bounds[3] + pad,
    )
    features = []
    records = frame.drop(columns=frame.geometry.name).to_dict("records")
    for geometry, record in zip(kept, records, strict=True):
        if geometry is None or geometry.is_empty:
            continue
        properties = {k: _mvt_value(v) for k, v in record.items() if k in names and not _missing(v)}
        feature: dict[str, Any] = {"geometry": geometry, "properties": properties}
        if not _missing(record.get("id")):
            feature["id"] = int(record["id"])
        features.append(feature)
    if not features:
        return b""
    options = {"quantize_bounds": bounds, "extents": EXTENT}
    return bytes(mapbox_vector_tile.encode([{"name": name, "features": features}], default_options=options))


def _missing(value: Any) -> bool:
    """Whether a value is absent (None, or pandas' NaN/NA for a missing number)."""
    return value is None or (not isinstance(value, str | bytes) and bool(pd.isna(value)))


def _transform_mercator(xy: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Move (N, 2) lon/lat coordinates to EPSG:3857."""
    x, y = _to_mercator().transform(xy[:, 0], xy[:, 1])
    return np.column_stack((x, y))


def etag(body: bytes) -> str:
    """Return a strong ETag of a tile's bytes."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
