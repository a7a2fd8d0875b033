"""Reading a patrol track (巡河轨迹): GPX from a phone app (``gpxpy``), or GeoJSON/KML lines or points.

The track comes back in EPSG:4490 as a multi-line, with the first and last time when the file
carries times (GPX points, or a ``time`` property on points).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import gpxpy
import gpxpy.gpx
import pandas as pd
import pyogrio.errors
import shapely

from gis_service.district import district_for
from gis_service.errors import BadRequest
from gis_service.settings import Settings

FORMATS = {".gpx": "GPX", ".geojson": "GeoJSON", ".json": "GeoJSON", ".kml": "KML"}
TIME_FIELDS = ("time", "timestamp", "时间")


@dataclass(frozen=True)
class Track:
    """A patrol track in EPSG:4490 with its first and last time (None when the file has no times)."""

    geometry: shapely.MultiLineString
    started_at: dt.datetime | None
    ended_at: dt.datetime | None

    @property
    def duration_s(self) -> float | None:
        """Seconds from the first to the last point, when the file has times."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """Return a track time as aware UTC (GPX times are UTC by the standard)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _bad(name: str, why: str) -> BadRequest:
    """Return the error for an unreadable track file."""
    return BadRequest(
        f"轨迹文件 {name} 无法读取（{why}）；请上传手机巡河 App 导出的 GPX，或 GeoJSON/KML 线或点",
        code="bad_track",
    )


def _from_gpx(name: str, content: bytes) -> Track:
    """Read the tracks (or routes, or waypoints) of a GPX file."""
    try:
        gpx = gpxpy.parse(content.decode("utf-8-sig", errors="replace"))
    except (gpxpy.gpx.GPXException, ValueError) as exc:
        raise _bad(name, str(exc)[:200]) from None
    runs: list[list[Any]] = [seg.points for trk in gpx.tracks for seg in trk.segments]
    runs = runs or [r.points for r in gpx.routes]
    if not any(runs) and gpx.waypoints:
        runs = [list(gpx.waypoints)]
    parts = [shapely.LineString([(p.longitude, p.latitude) for p in run]) for run in runs if len(run) >= 2]
    times = sorted(t for run in runs for p in run if (t := _aware(getattr(p, "time", None))) is not None)
    return Track(shapely.MultiLineString(parts), times[0] if times else None, times[-1] if times else None)


def _times(frame: gpd.GeoDataFrame) -> pd.Series | None:
    """Return the times of a point layer's ``time`` column, when it has one."""
    for name in TIME_FIELDS:
        if name in frame.columns:
            times: pd.Series[Any] = pd.to_datetime(frame[name], errors="coerce", utc=True)
            return times
    return None


def _from_layer(name: str, path: Path) -> Track:
    """Read the lines (or the points, in order or by time) of a GeoJSON or KML file."""
    try:
        frame = gpd.read_file(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        raise _bad(name, str(exc)[:200]) from None
    if frame.crs is not None:
        frame = frame.to_crs("EPSG:4490")
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    lines = frame[frame.geometry.geom_type.isin(["LineString", "MultiLineString"])]
    points = frame[frame.geometry.geom_type == "Point"]
    started = ended = None
    if not lines.empty:
        geom = shapely.force_2d(shapely.line_merge(shapely.union_all(lines.geometry.to_numpy())))
        parts = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
    elif len(points) >= 2:
        times = _times(points)
        if times is not None and times.notna().all():
            points = points.assign(_t=times).sort_values("_t")
            started, ended = points["_t"].iloc[0].to_pydatetime(), points["_t"].iloc[-1].to_pydatetime()
        parts = [shapely.force_2d(shapely.LineString(points.geometry.to_list()))]
    else:
        parts = []
    return Track(shapely.MultiLineString(parts), started, ended)


def _check_place(name: str, track: Track, settings: Settings) -> None:
    """Refuse an empty track, or one that does not touch the district."""
    if track.geometry.is_empty:
        raise BadRequest(f"轨迹文件 {name} 中没有轨迹（至少需要两个点）", code="empty_track")
    district = district_for(settings)
    minx, miny, maxx, maxy = district.bbox
    if not track.geometry.intersects(shapely.box(minx, miny, maxx, maxy)):
        x, y = track.geometry.representative_point().coords[0]
        raise BadRequest(
            f"轨迹 {name} 不在{district.name}范围内（位于 {x:.5f}, {y:.5f}）；"
            "请检查是否导出了正确的轨迹，坐标应为经纬度",
            code="outside_district",
        )


def read_track(path: Path, name: str | None = None, *, settings: Settings) -> Track:
    """Read a patrol track file (.gpx, .geojson/.json, .kml) into EPSG:4490, or say what is wrong."""
    name = name or path.name
    kind = FORMATS.get(Path(name).suffix.lower())
    if kind is None:
        raise BadRequest(
            f"不支持的轨迹格式 {Path(name).suffix or '（无扩展名）'}；可用：GPX、GeoJSON、KML", code="bad_track_format"
        )
    if not path.is_file():
        raise BadRequest(f"找不到轨迹文件 {path}", code="file_not_found")
    track = _from_gpx(name, path.read_bytes()) if kind == "GPX" else _from_layer(name, path)
    _check_place(name, track, settings)
    return track
