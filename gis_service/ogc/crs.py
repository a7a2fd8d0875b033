"""OGC API - Features Part 2: the CRSs served, their URIs, axis order, and moving geometries between them.

Storage is EPSG:4490 (CGCS2000) in lon/lat. A response in another CRS is written in that CRS's
axis order, as the standard says: CRS84 lon/lat; EPSG:4490 and 4326 lat/lon; the CGCS2000
Gauss-Krüger zones of the district's catalogue northing/easting (X north, Y east, as the EPSG
registry defines them and Chinese survey tables write them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from gis_service.db.models import SRID
from gis_service.district import District
from gis_service.errors import BadRequest
from gis_service.store.spatial import BBox

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
STORAGE_CRS = EPSG_URI.format(code=SRID)


def epsg_codes(district: District) -> tuple[int, ...]:
    """Return the EPSG codes served: storage, WGS 84, and the GK zones the district reads deliveries in."""
    return tuple(dict.fromkeys((SRID, 4326, *district.crs_candidates)))


def supported(district: District) -> tuple[str, ...]:
    """Return the CRS URIs served: CRS84 first, then :func:`epsg_codes`."""
    return (CRS84, *(EPSG_URI.format(code=code) for code in epsg_codes(district)))


@dataclass(frozen=True)
class ServedCrs:
    """One CRS a request names: its URI and how to move storage geometries into it and back."""

    uri: str
    code: int | None  # EPSG code; None for CRS84

    @property
    def is_storage_lonlat(self) -> bool:
        """Whether geometries go out as stored (CRS84 is EPSG:4490's lon/lat to well within a metre)."""
        return self.code is None

    def project(self, geometries: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Return storage geometries in this CRS, in its axis order."""
        forward, _ = _transformers(self.code)
        out: np.ndarray[Any, Any] = shapely.transform(geometries, forward)
        return out

    def to_storage(self, geometry: BaseGeometry) -> BaseGeometry:
        """Return a geometry given in this CRS (its axis order) in storage lon/lat."""
        _, backward = _transformers(self.code)
        out: BaseGeometry = shapely.transform(geometry, backward)
        return out


@lru_cache
def transformer(source: int, target: int) -> Transformer:
    """Return the lon/lat-ordered transformation ``source`` → ``target``, cheap to use from any thread.

    pyproj keeps one PROJ object a thread and rebuilds it in each new thread; built from an EPSG
    pair that means a search of PROJ's database (50-300 ms, in every worker thread of the server).
    Built from the chosen operation's own PROJ pipeline, the rebuild needs no database (< 1 ms)
    and the coordinates are the same.
    """
    chosen = Transformer.from_crs(source, target, always_xy=True)
    return Transformer.from_pipeline(chosen.definition)


def _north_first(code: int) -> bool:
    """Return whether the CRS's first axis points north (lat/lon, northing/easting)."""
    return CRS.from_epsg(code).axis_info[0].direction.lower() in {"north", "south"}


@lru_cache
def _transformers(code: int | None) -> tuple[Any, Any]:
    """Return (storage → CRS, CRS → storage) functions over (N, 2) coordinate arrays, in the CRS's axis order."""
    if code is None:
        same = lambda xy: xy  # noqa: E731 - CRS84 is storage lon/lat
        return same, same
    there = transformer(SRID, code)
    back = transformer(code, SRID)
    swap = _north_first(code)

    def forward(xy: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        x, y = there.transform(xy[:, 0], xy[:, 1])
        return np.column_stack((y, x) if swap else (x, y))

    def backward(xy: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        a, b = (xy[:, 1], xy[:, 0]) if swap else (xy[:, 0], xy[:, 1])
        x, y = back.transform(a, b)
        return np.column_stack((x, y))

    return forward, backward


def parse_crs(value: str | None, district: District, parameter: str = "crs") -> ServedCrs:
    """Return the CRS a ``crs``/``bbox-crs``/``filter-crs`` value names (default CRS84), or a 400 listing them."""
    if not value or value.strip() in {CRS84, "CRS84", "OGC:CRS84"}:
        return ServedCrs(CRS84, None)
    text = value.strip().strip("[]")
    code: int | None = None
    for prefix in ("http://www.opengis.net/def/crs/EPSG/0/", "https://www.opengis.net/def/crs/EPSG/0/", "EPSG:"):
        if text.upper().startswith(prefix.upper()) and text[len(prefix) :].isdigit():
            code = int(text[len(prefix) :])
    if code not in epsg_codes(district):
        raise BadRequest(
            f"{parameter} 参数 {value!r} 不是本服务提供的坐标系；可用：{'、'.join(supported(district))}",
            code="unsupported_crs",
            details={"parameter": parameter, "supported": list(supported(district))},
        )
    return ServedCrs(EPSG_URI.format(code=code), code)


def box_in_storage(box: BBox, crs: ServedCrs) -> tuple[BBox, BaseGeometry]:
    """Return a ``bbox`` given in ``crs`` as a storage envelope (index prefilter) and area (exact test).

    A projected box is a curved quadrilateral in lon/lat: its edges are densified before moving.
    """
    _check_latitudes(box, crs)
    if crs.code is None:
        return box, shapely.box(*box)
    area = crs.to_storage(shapely.segmentize(shapely.box(*box), max(box[2] - box[0], box[3] - box[1]) / 32))
    minx, miny, maxx, maxy = (float(v) for v in area.bounds)
    return (minx, miny, maxx, maxy), area


def _check_latitudes(box: BBox, crs: ServedCrs) -> None:
    """Refuse a box in a geographic CRS lying wholly beyond a pole: most often the axes in the other order."""
    if crs.code is not None and not CRS.from_epsg(crs.code).is_geographic:
        return
    lat_first = crs.code is not None and _north_first(crs.code)
    low, high = (box[0], box[2]) if lat_first else (box[1], box[3])
    # Only a box wholly beyond a pole: a client zoomed far out may send a box past ±90 that still
    # holds the earth, and must get its features.
    if high >= -90 and low <= 90:
        return
    order, example = (
        ("最小纬度,最小经度,最大纬度,最大经度", "28.7,106.7,29.2,107.1")
        if lat_first
        else (
            "最小经度,最小纬度,最大经度,最大纬度",
            "106.7,28.7,107.1,29.2",
        )
    )
    raise BadRequest(
        f"bbox 的纬度超出 ±90°：坐标系 {crs.uri} 的坐标顺序为 {order}，如 {example}；请检查是否写反了经纬度。",
        code="bad_bbox",
    )
