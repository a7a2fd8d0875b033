"""Lon/lat copied from Chinese web maps (GCJ-02, BD-09), recognised by their offset from the district's rivers.

Gaode, Tencent and Baidu maps shift WGS-84/CGCS2000 coordinates by a few hundred metres (GCJ-02;
BD-09 shifts GCJ-02 once more). A file traced on such a map and saved without a ``.prj`` is
refused for its missing CRS; when its lon/lat lie a few hundred metres off the stored rivers
and the web-map reading undoes most of that offset, the refusal says so and what to do. The
conversions are prcoords' (public domain).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import prcoords
import shapely
from pyproj import CRS, Transformer

from gis_service.district import District

SAMPLE = 200
# An offset below this is survey noise or drawing; a web map's is ~300–700 m in China.
MIN_OFFSET_M = 100.0
READINGS = {
    "GCJ-02": prcoords.gcj_wgs_bored,
    "BD-09": prcoords.bd_wgs_bored,
}


def lonlat_in_district(xy: np.ndarray, district: District) -> bool:
    """Tell whether plain coordinates read as lon/lat fall in (or just around) the district."""
    minx, miny, maxx, maxy = district.bbox
    margin = 0.05  # a web-map offset is under 0.01°
    x, y = xy[:, 0], xy[:, 1]
    return bool(((x >= minx - margin) & (x <= maxx + margin) & (y >= miny - margin) & (y <= maxy + margin)).all())


def sample_coordinates(frame: gpd.GeoDataFrame) -> np.ndarray:
    """Return up to SAMPLE vertices of the features, evenly spread."""
    xy = shapely.get_coordinates(frame.geometry.values)
    if len(xy) > SAMPLE:
        xy = xy[np.linspace(0, len(xy) - 1, SAMPLE).astype(int)]
    sample: np.ndarray = xy
    return sample


def median_distance(xy: np.ndarray, rivers: shapely.Geometry, to_metric: Transformer) -> float:
    """Return the median distance (m) from lon/lat points to the rivers (already in metres)."""
    x, y = to_metric.transform(xy[:, 0], xy[:, 1])
    return float(np.median(shapely.distance(shapely.points(np.column_stack([x, y])), rivers)))


def web_map_reading(frame: gpd.GeoDataFrame, rivers: gpd.GeoDataFrame, district: District) -> dict[str, Any] | None:
    """Return how far the features lie from the rivers as CGCS2000 and as each web-map datum, when a datum fits.

    ``frame`` has no CRS (its numbers as written); ``rivers`` are centerlines in EPSG:4490.
    """
    xy = sample_coordinates(frame)
    if not len(xy) or not lonlat_in_district(xy, district) or rivers.empty:
        return None
    lon0 = round(float(np.mean(xy[:, 0])), 3)
    metric = CRS.from_proj4(f"+proj=tmerc +lon_0={lon0} +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m")
    to_metric = Transformer.from_crs(4490, metric, always_xy=True)
    lines = rivers.to_crs(metric).geometry.values
    target = shapely.union_all(lines[~shapely.is_missing(lines)])
    as_is = median_distance(xy, target, to_metric)
    offsets = {}
    for name, convert in READINGS.items():
        fixed = np.array([[c.lon, c.lat] for c in (convert(prcoords.Coords(lat, lon)) for lon, lat in xy)])
        offsets[name] = median_distance(fixed, target, to_metric)
    best = min(offsets, key=lambda name: offsets[name])
    if as_is < MIN_OFFSET_M or offsets[best] > as_is / 3:
        return None
    return {"datum": best, "offset_m": round(as_is), "after_m": round(offsets[best])}


def hint_text(found: dict[str, Any]) -> str:
    """Return the sentence the missing-CRS refusal adds for a web-map datum."""
    maps = "高德、腾讯等网络地图" if found["datum"] == "GCJ-02" else "百度地图"
    return (
        f"另：这些坐标像是{maps}的 {found['datum']} 经纬度——按 CGCS2000 读取时距已有河流中心线约 "
        f"{found['offset_m']} m，按 {found['datum']} 纠偏后约 {found['after_m']} m。"
        f"请先在 GIS 软件中把坐标从 {found['datum']} 转换为 WGS-84/CGCS2000（如 QGIS 的 GCJ-02 纠偏插件），"
        "再以 --crs 4490 导入；直接按 4490 导入会整体偏移数百米。"
    )
