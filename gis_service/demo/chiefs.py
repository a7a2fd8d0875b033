"""Demo river chiefs: a roster (河长名录.xlsx) and a season of patrol tracks (GPX) for the demo rivers.

Built from the demo's own rivers and towns: each river's district chief (区级) answers for the
whole river, each town chief for the stretch inside the town, and two village chiefs (村级) split
each town stretch. Patrol tracks follow a village reach a few metres off the centerline, as a
phone records a walk. Everything is synthetic (演示数据（虚构）). Regenerate with
``python -m gis_service.demo.chiefs -o shapefiles`` (after the demo shapefiles).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import gpxpy.gpx
import numpy as np
import shapely
from openpyxl import Workbook
from sqlalchemy.orm import Session

from gis_service.catalogue import catalogue_for
from gis_service.chiefs.assignments import apply_roster, river_facts, rivers_frame
from gis_service.chiefs.patrols import add_patrol
from gis_service.chiefs.reaches import centerline_length, reach_line
from gis_service.chiefs.roster import read_roster
from gis_service.chiefs.signboards import generate
from gis_service.chiefs.tracks import read_track
from gis_service.clock import BusinessClock
from gis_service.settings import Settings

ROSTER_FILE = "河长名录.xlsx"
PATROL_FOLDER = "patrols"
HEADER = ["河流编码", "起点桩号", "终点桩号", "河长姓名", "职务", "级别", "联系电话", "任职日期", "单位"]
CHIEF = re.compile(r"(\S+?)（(\S+?)）")
VILLAGE_SURNAMES = "陈李张刘杨黄赵周吴徐孙马朱胡郭何罗高林"
START = dt.date(2026, 6, 1)
SEASON_START = dt.datetime(2026, 9, 1, 1, 30, tzinfo=dt.UTC)  # 09:30 China time


def _chainage_interval(line: shapely.LineString, piece: shapely.Geometry) -> tuple[float, float] | None:
    """Return the chainage (geodesic metres) the centerline spends inside a town, from its first to last point."""
    if piece.is_empty:
        return None
    ends = [shapely.Point(c) for part in getattr(piece, "geoms", [piece]) for c in (part.coords[0], part.coords[-1])]
    positions = [line.project(p, normalized=True) for p in ends]
    total = centerline_length(line)
    return min(positions) * total, max(positions) * total


def town_reaches(line: shapely.Geometry, towns: gpd.GeoDataFrame) -> dict[str, tuple[float, float]]:
    """Return each town's stretch of the river, made contiguous (a seam between towns at the midpoint)."""
    line = shapely.line_merge(line) if line.geom_type == "MultiLineString" else line
    found = {}
    for name, polygon in zip(towns["name"], towns.geometry, strict=True):
        interval = _chainage_interval(line, line.intersection(polygon))
        if interval is not None and interval[1] - interval[0] > 50:
            found[str(name)] = interval
    ordered = sorted(found.items(), key=lambda kv: kv[1][0])
    total = centerline_length(line)
    cuts = [0.0] + [round((a[1][1] + b[1][0]) / 2, -1) for a, b in zip(ordered, ordered[1:], strict=False)] + [total]
    return {name: (cuts[i], cuts[i + 1]) for i, (name, _) in enumerate(ordered)}


def roster_rows(rivers: gpd.GeoDataFrame, towns: gpd.GeoDataFrame) -> list[list[Any]]:
    """Return the demo roster: district, town and village chiefs of every demo river with their reaches."""
    rows: list[list[Any]] = []
    phone = 13_900_000_000
    n = 0
    for code, line, chiefs in zip(rivers["code"], rivers.geometry, rivers["chiefs"], strict=True):
        reaches = town_reaches(line, towns)
        named = (CHIEF.fullmatch(part.strip()) for part in re.split("[；;]", str(chiefs or "")))
        for name, where in (m.groups() for m in named if m):
            phone += 1
            if where == "区级":
                rows.append([code, None, None, name, "区领导", "区级", str(phone), START, "万盛经开区"])
                continue
            if where not in reaches:
                continue
            a, b = reaches[where]
            rows.append([code, round(a), round(b), name, f"{where}党（工）委书记", "镇街级", str(phone), START, where])
            middle = round((a + b) / 2, -1)
            for lo, hi in ((a, middle), (middle, b)):
                n += 1
                phone += 1
                village = f"{VILLAGE_SURNAMES[n % len(VILLAGE_SURNAMES)]}某{n:02d}"
                rows.append([code, round(lo), round(hi), village, "村党支部书记", "村级", str(phone), START, where])
    return rows


def write_roster(rows: list[list[Any]], path: Path) -> None:
    """Write the roster as an office keeps it: a title row, then the header and the rows."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "河长名录"
    sheet.append(["万盛经开区河长名录（演示数据，虚构）"])
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)


def walk(line: shapely.Geometry, start_m: float, end_m: float, offset_m: float) -> list[tuple[float, float]]:
    """Return lon/lat points every 50 m along a reach, ``offset_m`` to the left of the centerline."""
    piece = gpd.GeoSeries([reach_line(line, start_m, end_m)], crs="EPSG:4490")
    local = piece.to_crs(piece.estimate_utm_crs()).iloc[0]
    shifted = local.offset_curve(offset_m) if offset_m else local
    steps = np.append(np.arange(0.0, shifted.length, 50.0), shifted.length)
    points = gpd.GeoSeries([shifted.interpolate(s) for s in steps], crs=piece.estimate_utm_crs())
    return [(p.x, p.y) for p in points.to_crs("EPSG:4490")]


def write_track(points: list[tuple[float, float]], start: dt.datetime, path: Path) -> None:
    """Write a GPX track with a point every 40 s (a walking pace of 1.25 m/s over 50 m steps)."""
    gpx = gpxpy.gpx.GPX()
    track = gpxpy.gpx.GPXTrack(name="巡河")
    segment = gpxpy.gpx.GPXTrackSegment()
    for i, (lon, lat) in enumerate(points):
        segment.points.append(gpxpy.gpx.GPXTrackPoint(lat, lon, time=start + dt.timedelta(seconds=40 * i)))
    track.segments.append(segment)
    gpx.tracks.append(track)
    path.write_text(gpx.to_xml(), encoding="utf-8")


def write_patrols(rivers: gpd.GeoDataFrame, rows: list[list[Any]], folder: Path) -> list[Path]:
    """Write a season of weekly patrols of the first village chiefs of 孝子河 (WS001), some weeks missed."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = dict(zip(rivers["code"], rivers.geometry, strict=True))
    villages = [r for r in rows if r[0] == "WS001" and r[5] == "村级"][:3]
    written = []
    for k, (code, a, b, name, *_rest) in enumerate(villages):
        for week in range(0, 12, 1 + k):  # the first walks weekly, the second fortnightly, the third every 3 weeks
            start = SEASON_START + dt.timedelta(days=7 * week + k)
            covered_to = b if week % 4 else a + (b - a) * 0.6  # every fourth walk turns back early
            path = folder / f"{start:%Y%m%d}_{name}.gpx"
            write_track(walk(lines[code], a, covered_to, 8.0 if week % 2 else -6.0), start, path)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    """Write the demo roster and patrol tracks next to the demo shapefiles."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("shapefiles"))
    args = parser.parse_args(argv)
    rivers = gpd.read_file(args.output / "rivers.shp").to_crs("EPSG:4490")
    towns = gpd.read_file(args.output / "towns.shp").to_crs("EPSG:4490")
    rivers = rivers.rename(columns={"河流编码": "code", "河长": "chiefs"})
    towns = towns.rename(columns={"XZQMC": "name"})
    rows = roster_rows(rivers, towns)
    write_roster(rows, args.output / ROSTER_FILE)
    tracks = write_patrols(rivers, rows, args.output / PATROL_FOLDER)
    print(f"{len(rows)} roster rows, {len(tracks)} patrol tracks written to {args.output}")


if __name__ == "__main__":
    main()


def load_chiefs(session: Session, folder: Path, settings: Settings, clock: BusinessClock) -> dict[str, int]:
    """Import the demo roster, its patrol tracks and boards (when the folder has them); return counts."""
    roster = folder / ROSTER_FILE
    if not roster.exists():
        return {}
    catalogue = catalogue_for(settings)
    rivers = rivers_frame(session, catalogue)
    rows = read_roster(roster, river_facts(rivers), clock.today(), settings.gap_tolerance_m)
    counts = {"reaches": apply_roster(session, rows, rivers, settings.gap_tolerance_m)["added"]}
    tracks = sorted((folder / PATROL_FOLDER).glob("*.gpx"))
    for path in tracks:
        chief = path.stem.split("_", 1)[1]
        add_patrol(
            session,
            read_track(path, settings=settings),
            settings=settings,
            chief_name=chief,
            river_code=None,
            actor="demo",
            clock=clock,
        )
    counts["patrols"] = len(tracks)
    counts["signboards"] = generate(session, settings, clock)["added"]
    return counts
