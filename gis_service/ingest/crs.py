"""The CRS of a delivery: from its metadata or ``--crs``, checked against the district extent.

Surveyors' usual mistakes (X/Y swapped because X is the northing, the zone prefix 36 missing
or extra, the wrong 3° zone, degrees labelled as metres) each put the data far outside the
district. When the declared reading falls outside, every plausible alternative reading is
tried; the report names the ones that fall inside. Nothing is re-read silently: the user
re-imports with ``--crs`` (and ``--swap-xy``) or fixes the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from gis_service.district import District, prefixed_epsg, unprefixed_epsg
from gis_service.errors import BadRequest
from gis_service.ingest.normalise import Finding

CANONICAL_EPSG = 4490
MAX_LISTED = 50


def unprefixed_candidates(district: District) -> list[int]:
    """Return the district's Gauss-Krüger CRSs whose eastings carry no zone prefix, the usual zone first."""
    return [unprefixed_epsg(zone) for zone in district.gk_zones]


def parse_crs(value: str | int | None) -> CRS | None:
    """Parse a user-given CRS (``4545``, ``EPSG:4545``, WKT) or refuse naming accepted spellings."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        # ASCII digits only: "³".isdigit() is true, yet int("³") fails.
        return CRS.from_user_input(int(text) if text.isascii() and text.isdigit() else text)
    except (CRSError, ValueError, OverflowError):
        raise BadRequest(
            f"无法识别坐标系 {value!r}；请写 EPSG 代码，如 --crs 4490、4524、4545",
            code="unknown_crs",
        ) from None


def epsg_of(crs: CRS | None) -> int | None:
    """Return the EPSG code of ``crs`` (also for ESRI-style .prj WKT), or None."""
    if crs is None:
        return None
    code = crs.to_epsg(min_confidence=70)
    if code == 4326:
        # WGS84 and CGCS2000 agree to centimetres; GeoJSON and KML always say WGS84.
        return 4326
    return code


def describe(crs: CRS | None) -> str:
    """Return ``EPSG:n`` or the CRS's name, for reports."""
    if crs is None:
        return "未知"
    code = epsg_of(crs)
    return f"EPSG:{code}" if code else crs.name


@dataclass(frozen=True)
class Reading:
    """One way of reading the coordinates: a CRS and whether X/Y are swapped."""

    epsg: int
    swapped: bool

    def label(self) -> str:
        """Return the reading in words, e.g. ``按 EPSG:4545、X 为北坐标读取``."""
        return f"按 EPSG:{self.epsg}{'、X 为北坐标（X/Y 互换）' if self.swapped else ''}读取"

    def options(self) -> str:
        """Return the import options that apply this reading."""
        return f"--crs {self.epsg}" + (" --swap-xy" if self.swapped else "")


def to_lonlat(xs: np.ndarray, ys: np.ndarray, crs: CRS) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinates to CGCS2000 lon/lat (inf where the reading makes no sense)."""
    transformer = Transformer.from_crs(crs, CANONICAL_EPSG, always_xy=True)
    with np.errstate(all="ignore"):
        lon, lat = transformer.transform(xs, ys, errcheck=False)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def inside(lon: np.ndarray, lat: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """Return which lon/lat pairs lie in the district box."""
    minx, miny, maxx, maxy = bbox
    with np.errstate(invalid="ignore"):
        return (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)


def readings_inside(bounds: np.ndarray, district: District) -> list[Reading]:
    """Return every candidate reading that puts all ``bounds`` rows (minx, miny, maxx, maxy) inside."""
    found = []
    bbox = district.bbox
    for epsg in district.crs_candidates:
        crs = CRS.from_epsg(epsg)
        for swapped in (False, True):
            xs = np.concatenate([bounds[:, 0], bounds[:, 2]])
            ys = np.concatenate([bounds[:, 1], bounds[:, 3]])
            if swapped:
                xs, ys = ys, xs
            if epsg == CANONICAL_EPSG and not swapped:
                lon, lat = xs, ys
            else:
                lon, lat = to_lonlat(xs, ys, crs)
            if bool(inside(lon, lat, bbox).all()):
                found.append(Reading(epsg, swapped))
    return found


def diagnosis(declared: int | None, reading: Reading, district: District) -> str:
    """Name the usual mistake that ``reading`` corrects, relative to the declared CRS."""
    declared = CANONICAL_EPSG if declared == 4326 else declared
    parts = []
    if reading.swapped:
        parts.append("X/Y 互换（测量习惯 X 为北坐标，GIS 中 x 为东坐标）")
    if declared != reading.epsg:
        zones = district.gk_zones
        prefix_missing = {(prefixed_epsg(z), unprefixed_epsg(z)) for z in zones}
        pair = (declared, reading.epsg)
        if pair in prefix_missing:
            parts.append("东坐标缺少带号前缀，而坐标系声明为带带号的投影")
        elif pair[::-1] in prefix_missing:
            parts.append("东坐标带有带号前缀，而坐标系声明为不带带号的投影")
        elif reading.epsg == CANONICAL_EPSG:
            parts.append("坐标值是经纬度（度），而坐标系声明为投影坐标（米）")
        elif declared == CANONICAL_EPSG:
            parts.append("坐标值是投影坐标（米），而坐标系声明为经纬度")
        else:
            parts.append(f"投影带不对：数据应为 {district.zone_name(reading.epsg)}")
    return "；".join(parts) or "坐标读法不同"


def check_district(frame: gpd.GeoDataFrame, district: District, first: int = 0) -> list[Finding]:
    """Check every feature of ``frame`` (its own CRS) against the district; diagnose what lies outside.

    ``first``: how many features of the layer come before ``frame`` (a batch), for the feature numbers.
    """
    bbox = district.bbox
    geoms = frame.geometry.values
    bounds = shapely.bounds(geoms)
    present = ~np.isnan(bounds).any(axis=1)
    if not present.any():
        return []
    declared = epsg_of(frame.crs)
    lon0, lat0 = to_lonlat(bounds[:, 0], bounds[:, 1], frame.crs)
    lon1, lat1 = to_lonlat(bounds[:, 2], bounds[:, 3], frame.crs)
    ok = inside(lon0, lat0, bbox) & inside(lon1, lat1, bbox)
    # A feature reaching over the district's edge (a river flowing out, a range drawn far too big) is where
    # the district is: not a CRS mistake, and not "outside". Validation weighs its size.
    with np.errstate(invalid="ignore"):
        overlaps = (lon0 <= bbox[2]) & (lon1 >= bbox[0]) & (lat0 <= bbox[3]) & (lat1 >= bbox[1])
    beyond = present & ~ok & overlaps
    outside = present & ~ok & ~overlaps
    findings = [beyond_district(int(i), lon0, lat0, lon1, lat1, district.name, first) for i in np.flatnonzero(beyond)]
    if not outside.any():
        return findings[:MAX_LISTED]
    readings = readings_inside(bounds[outside], district)
    where = f"{district.name}（经度 {bbox[0]}–{bbox[2]}，纬度 {bbox[1]}–{bbox[3]}）"
    at = int(np.flatnonzero(outside)[0])
    seen = f"按 {describe(frame.crs)} 读取位于经度 {lon0[at]:.4f}、纬度 {lat0[at]:.4f}"
    if not np.isfinite(lon0[at]):
        seen = f"按 {describe(frame.crs)} 读取坐标无效（x={bounds[at, 0]:.3f}, y={bounds[at, 1]:.3f}）"
    details: dict[str, Any] = {
        "declared_crs": describe(frame.crs),
        "readings_inside": [
            {
                "crs": f"EPSG:{r.epsg}",
                "swapped_xy": r.swapped,
                "options": r.options(),
                "diagnosis": diagnosis(declared, r, district),
            }
            for r in readings
        ],
    }
    if len(readings) == 1:
        r = readings[0]
        hint = f"{diagnosis(declared, r, district)}：{r.label()}即位于辖区内。"
        fix = f"确认后用 {r.options()} 重新导入，或在测绘软件中改正坐标系后重新导出"
    elif readings:
        hint = "有多种读法都位于辖区内：" + "；".join(r.label() for r in readings) + "。"
        fix = "请核对测绘成果的坐标系，并用 --crs（必要时加 --swap-xy）指定"
    else:
        tried = "/".join(str(code) for code in district.crs_candidates)
        hint = f"试过 EPSG:{tried} 及 X/Y 互换，均不在辖区内。"
        fix = "请核对坐标值与坐标系（.prj），或确认数据确属本辖区"
    n_out = int(outside.sum())
    scope = "全部要素" if n_out == int(present.sum()) else f"{n_out} 个要素"
    message = f"{scope}不在{where}范围内（{seen}）。{hint}"
    findings = [
        *findings[:MAX_LISTED],
        Finding(
            code="outside_district",
            message=message,
            fix=fix,
            feature=first + at + 1 if n_out == 1 else None,
            value=details,
        ),
    ]
    if scope != "全部要素":
        for i in np.flatnonzero(outside)[:MAX_LISTED]:
            findings.append(
                Finding(
                    code="feature_outside_district",
                    feature=int(i) + 1,
                    message=f"第 {int(i) + 1} 个要素不在辖区范围内",
                    fix=fix,
                )
            )
    return findings


def beyond_district(
    i: int, lon0: np.ndarray, lat0: np.ndarray, lon1: np.ndarray, lat1: np.ndarray, district: str, first: int = 0
) -> Finding:
    """Return the warning for feature ``i`` (numbered after ``first`` others) reaching beyond the district's extent."""
    return Finding(
        severity="warning",
        code="beyond_district",
        feature=first + i + 1,
        message=f"第 {first + i + 1} 个要素有部分超出{district}范围（要素范围：经度 {lon0[i]:.4f}–{lon1[i]:.4f}，"
        f"纬度 {lat0[i]:.4f}–{lat1[i]:.4f}）",
        fix="河流流出辖区时可忽略；否则核对要素的范围是否画得过大",
    )


def swap_xy(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``frame`` with x and y exchanged (the user said X is the northing)."""
    swapped = shapely.transform(frame.geometry.values, lambda c: c[:, ::-1])
    return frame.set_geometry(gpd.GeoSeries(swapped, index=frame.index, crs=frame.crs))


def local_metric_crs(frame: gpd.GeoDataFrame, district: District) -> CRS:
    """Return a transverse Mercator CRS centred on ``frame`` (lon/lat), for metre tolerances and lengths."""
    return local_metric_crs_around(frame.total_bounds, district)


def local_metric_crs_around(extent: np.ndarray, district: District) -> CRS:
    """Return :func:`local_metric_crs` of features of lon/lat ``extent`` (minx, miny, maxx, maxy; NaN without any:
    then the district's centre)."""
    minx, _miny, maxx, _maxy = extent
    lon0 = district.map_center[1] if not np.isfinite(minx) else round((minx + maxx) / 2, 3)
    return CRS.from_proj4(f"+proj=tmerc +lat_0=0 +lon_0={lon0} +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m")


# Semi-major axes of the Earth's ellipsoids lie within these (metres); the Moon's is 1 737 400.
EARTH_AXIS_M = (6_300_000.0, 6_400_000.0)


def output_crs(value: str | int | None) -> CRS | None:
    """Parse a CRS to write features in, refusing one that is not on the Earth (``IAU_2015:30100``)."""
    crs = parse_crs(value)
    if crs is None:
        return None
    axis = crs.ellipsoid.semi_major_metre if crs.ellipsoid is not None else None
    if axis is None or not EARTH_AXIS_M[0] <= axis <= EARTH_AXIS_M[1] or crs.is_geocentric:
        raise BadRequest(
            f"坐标系 {value!r}（{crs.name}）不是地球上的地理或投影坐标系，无法输出；"
            "请写 EPSG 代码，如 4490、4524、4545",
            code="unsupported_crs",
        )
    return crs
