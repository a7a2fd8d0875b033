"""Where a site or outfall is, as a client gives it: lon/lat or a GeoJSON geometry in any CRS, checked.

Reporting, registering, correcting and moving all read a location the same way: into EPSG:4490,
2D, valid, and inside the district (a swapped lon/lat is named as such).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import geopandas as gpd
import shapely
from pydantic import BaseModel, Field

from gis_service.district import District
from gis_service.errors import BadRequest
from gis_service.ingest.crs import parse_crs

GEOMETRY_TYPES = frozenset({"Point", "Polygon", "MultiPolygon"})
POINT_ONLY = frozenset({"Point"})
TYPE_LABELS = {"Point": "点", "Polygon": "面", "MultiPolygon": "多面"}


def _shape(geometry: dict[str, Any], allowed: Collection[str]) -> shapely.Geometry:
    """Return a GeoJSON geometry as shapely, refusing unreadable ones and types outside ``allowed``."""
    try:
        geom = shapely.geometry.shape(geometry)
    except (ValueError, TypeError, KeyError, AttributeError, shapely.errors.ShapelyError):
        raise BadRequest("geometry 不是有效的 GeoJSON 几何", code="bad_geometry") from None
    if geom.geom_type not in allowed:
        wanted = "或".join(TYPE_LABELS.get(t, t) for t in sorted(allowed, key=list(TYPE_LABELS).index))
        raise BadRequest(f"几何须为{wanted}，收到 {geom.geom_type}", code="bad_geometry_type")
    return geom


def _check_in_district(geom: shapely.Geometry, district: District) -> None:
    """Refuse a location outside the district, saying when lon and lat look swapped."""
    minx, miny, maxx, maxy = district.bbox
    point = geom.representative_point()
    x, y = point.x, point.y
    if not (minx <= x <= maxx and miny <= y <= maxy):
        hint = "；经纬度是否写反了？" if (minx <= y <= maxx and miny <= x <= maxy) else ""
        raise BadRequest(
            f"位置 ({x:.6f}, {y:.6f}) 不在{district.name}范围 {minx}–{maxx}°E、{miny}–{maxy}°N 内"
            f"{hint}；请检查坐标和坐标系（crs）",
            code="outside_district",
            details={"lon": x, "lat": y},
        )


def site_geometry(
    lon: float | None,
    lat: float | None,
    geometry: dict[str, Any] | None,
    crs: str | None,
    district: District,
    allowed: Collection[str] = GEOMETRY_TYPES,
) -> shapely.Geometry:
    """Return the geometry in EPSG:4490 from lon/lat or GeoJSON in ``crs``; refuse it outside the district."""
    source = parse_crs(crs) or "EPSG:4490"
    if geometry is not None:
        geom = _shape(geometry, allowed)
    elif lon is not None and lat is not None:
        geom = shapely.Point(lon, lat)
    else:
        raise BadRequest("请提供位置：lon 和 lat，或 GeoJSON geometry", code="missing_location")
    if geom.is_empty or not geom.is_valid:
        raise BadRequest("几何为空或无效（自相交等）；请检查坐标", code="bad_geometry")
    geom = gpd.GeoSeries([shapely.force_2d(geom)], crs=source).to_crs("EPSG:4490").iloc[0]
    _check_in_district(geom, district)
    return geom


class Location(BaseModel):
    """A location in a request: lon/lat, or a GeoJSON geometry, in ``crs`` (default EPSG:4490)."""

    lon: float | None = Field(default=None, description="经度（或 crs 坐标系下的 x）")
    lat: float | None = Field(default=None, description="纬度（或 crs 坐标系下的 y）")
    geometry: dict[str, Any] | None = Field(default=None, description="GeoJSON 点或面（crs 坐标系）")
    crs: str | None = Field(default=None, description="坐标系，默认 EPSG:4490；可写 4524、4545、4326 ...")

    def location(self, district: District, allowed: Collection[str] = GEOMETRY_TYPES) -> shapely.Geometry:
        """Return the location in EPSG:4490 (required: refused when missing or outside ``district``)."""
        return site_geometry(self.lon, self.lat, self.geometry, self.crs, district, allowed)

    def moved_to(self, district: District, allowed: Collection[str] = GEOMETRY_TYPES) -> shapely.Geometry | None:
        """Return the new location of an edit in EPSG:4490, or None when the edit gives none."""
        if self.lon is None and self.lat is None and self.geometry is None:
            return None
        return self.location(district, allowed)

    def edit(
        self, editable: Collection[str], district: District, allowed: Collection[str] = GEOMETRY_TYPES
    ) -> tuple[dict[str, Any], shapely.Geometry | None]:
        """Return the fields an edit sets (of ``editable``) and its new location (in ``district``), if any."""
        return self.model_dump(include=set(editable), exclude_none=True), self.moved_to(district, allowed)
