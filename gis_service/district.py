"""The district the service runs for: name, extent, Gauss-Krüger zones, towns, map centre and zoom.

Wansheng (万盛经开区, Chongqing) is the default. Another district is a TOML file named by
``RIVERGIS_DISTRICT_FILE``::

    name = "平谷区"
    bbox = [116.90, 40.00, 117.40, 40.40]      # lon/lat, CGCS2000
    gk_zones = [39]                             # 3° zones its surveyors use, the usual one first
    towns = ["滨河街道", "兴谷街道"]
    center = [40.14, 117.12]                    # lat, lon of the maps' first view
    zoom = 11

Without a file, ``RIVERGIS_DISTRICT_NAME`` and ``RIVERGIS_DISTRICT_BBOX`` still rename and move Wansheng's.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from gis_service.errors import ConfigurationError
from gis_service.settings import Settings

CGCS2000 = 4490
WANSHENG_TOWNS = (
    *("万盛街道", "东林街道", "南桐镇", "青年镇", "关坝镇"),
    *("丛林镇", "石林镇", "金桥镇", "黑山镇", "万东镇"),
)


def prefixed_epsg(zone: int) -> int:
    """Return the CGCS2000 3° Gauss-Krüger EPSG code whose eastings carry the zone number (zone 36 → 4524)."""
    return 4488 + zone


def unprefixed_epsg(zone: int) -> int:
    """Return the CGCS2000 3° Gauss-Krüger EPSG code of zone ``zone`` without the prefix (zone 36 → 4545, CM 108°E)."""
    return 4534 + zone - 25


@dataclass(frozen=True)
class District:
    """One district's configuration."""

    name: str
    bbox: tuple[float, float, float, float]
    gk_zones: tuple[int, ...]
    towns: tuple[str, ...] = ()
    center: tuple[float, float] | None = None
    zoom: int = 11

    @property
    def crs_candidates(self) -> tuple[int, ...]:
        """Return the CRSs a delivery may be in: CGCS2000 lon/lat, then each zone with and without prefix."""
        codes = [CGCS2000]
        for zone in self.gk_zones:
            codes += [prefixed_epsg(zone), unprefixed_epsg(zone)]
        return tuple(codes)

    @property
    def map_center(self) -> tuple[float, float]:
        """Return the maps' first view centre (lat, lon): as configured, or the extent's middle."""
        if self.center is not None:
            return self.center
        minx, miny, maxx, maxy = self.bbox
        return ((miny + maxy) / 2, (minx + maxx) / 2)

    def zone_name(self, epsg: int) -> str:
        """Return a CRS of the district in words (e.g. ``3°带第 36 带（带号前缀 36）``)."""
        if epsg == CGCS2000:
            return "CGCS2000 经纬度"
        for zone in self.gk_zones:
            if epsg == prefixed_epsg(zone):
                return f"3°带第 {zone} 带（带号前缀 {zone}）"
            if epsg == unprefixed_epsg(zone):
                return f"中央经线 {3 * zone}°E（不带带号）"
        return f"EPSG:{epsg}"


def _parse(data: dict[str, Any], where: str) -> District:
    """Build a District from a parsed TOML document, refusing what cannot be used."""
    try:
        bbox = tuple(float(v) for v in data["bbox"])
        zones = tuple(int(z) for z in data["gk_zones"])
        center = tuple(float(v) for v in data["center"]) if "center" in data else None
        district = District(
            name=str(data["name"]),
            bbox=bbox,  # type: ignore[arg-type]
            gk_zones=zones,
            towns=tuple(str(t) for t in data.get("towns", ())),
            center=center,  # type: ignore[arg-type]
            zoom=int(data.get("zoom", 11)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"辖区配置 {where} 有误（{exc}）：需要 name、bbox（4 个数）、gk_zones") from exc
    if len(bbox) != 4 or not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
        raise ConfigurationError(f"辖区配置 {where} 的 bbox 应为 [最小经度, 最小纬度, 最大经度, 最大纬度]")
    if not zones or not all(25 <= z <= 45 for z in zones):
        raise ConfigurationError(f"辖区配置 {where} 的 gk_zones 应为 25–45 之间的 3° 带号（如 [36, 35]）")
    if center is not None and len(center) != 2:
        raise ConfigurationError(f"辖区配置 {where} 的 center 应为 [纬度, 经度]")
    return district


def load_district(path: Path) -> District:
    """Load a district from a TOML file (read again only when the file changes)."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigurationError(f"无法读取辖区配置文件 {path}：{exc.strerror}") from exc
    return _district_in(str(path), stamp)


@lru_cache(maxsize=8)
def _district_in(path: str, _stamp: int) -> District:
    """Parse the district file ``path`` as it was at ``_stamp`` (its modification time: the cache's key)."""
    file = Path(path)
    try:
        with file.open("rb") as fh:
            return _parse(tomllib.load(fh), file.name)
    except OSError as exc:
        raise ConfigurationError(f"无法读取辖区配置文件 {file}：{exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"辖区配置文件 {file.name} 不是有效的 TOML：{exc}") from exc


def district_for(settings: Settings) -> District:
    """Return the district the settings name (``RIVERGIS_DISTRICT_FILE``), or Wansheng with their name and extent."""
    if settings.district_file is not None:
        return load_district(Path(settings.district_file))
    return District(
        name=settings.district_name,
        bbox=settings.district_bbox,
        gk_zones=(36, 35),
        towns=WANSHENG_TOWNS,
        center=(29.0, 106.9),
        zoom=11,
    )
