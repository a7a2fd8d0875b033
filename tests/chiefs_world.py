"""Test data of the chiefs' work, made outside the code under test: tracks written by gpxpy, rosters by openpyxl.

Positions along 河一 (R1 of :mod:`tests.test_ledger_world`: lat 28.900, lon 106.82 → 106.98,
flowing east) are placed with pyproj's geodesic, metres east of the river's head.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gpxpy
import gpxpy.gpx
from openpyxl import Workbook
from pyproj import Geod

GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid differs from GRS80 by 0.1 mm in the semi-minor axis
HEAD = (106.82, 28.900)
HEADER = ["河流编码", "河流名称", "起点桩号", "终点桩号", "河长姓名", "职务", "级别", "联系电话", "任职日期"]


def along_r1(metres: float, north_m: float = 0.0) -> tuple[float, float]:
    """Return the lon/lat ``metres`` downstream of R1's head and ``north_m`` to its left (north)."""
    lon, lat, _ = GEOD.fwd(HEAD[0], HEAD[1], 90.0, metres)
    lon, lat, _ = GEOD.fwd(lon, HEAD[1], 0.0, north_m)
    return lon, lat


def r1_length() -> float:
    """Return R1's geodesic length in metres (pyproj, for hand checks)."""
    return float(GEOD.line_length([106.82, 106.98], [28.900, 28.900]))


def write_gpx(
    path: Path, start_m: float, end_m: float, *, north_m: float, step_m: float, step_s: int, start: dt.datetime
) -> Path:
    """Write a GPX track along R1 from ``start_m`` to ``end_m``, a point every ``step_m`` and ``step_s``."""
    gpx = gpxpy.gpx.GPX()
    track = gpxpy.gpx.GPXTrack(name="巡河")
    segment = gpxpy.gpx.GPXTrackSegment()
    n = round((end_m - start_m) / step_m)
    for i in range(n + 1):
        lon, lat = along_r1(start_m + i * step_m, north_m)
        segment.points.append(gpxpy.gpx.GPXTrackPoint(lat, lon, time=start + dt.timedelta(seconds=i * step_s)))
    track.segments.append(segment)
    gpx.tracks.append(track)
    path.write_text(gpx.to_xml(), encoding="utf-8")
    return path


def write_roster(path: Path, rows: Sequence[Sequence[Any]], header: Sequence[str] = HEADER) -> Path:
    """Write a roster workbook: a title row as offices do, then the header and ``rows``."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["万盛经开区河长名录（测试）"])
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


# R1 (≈15.6 km): a district chief for the whole river, two town chiefs split at K8, four village chiefs.
ROSTER = [
    ["R1", None, None, None, "邓区长", "区委副书记", "区级", "13800000001", "2025-01-01"],
    ["R1", None, "K0+000", "K8+000", "孙镇长", "万盛街道党工委书记", "镇街级", "13800000002", "2025-01-01"],
    ["R1", None, "K8+000", None, "吴镇长", "东林街道办事处主任", "镇街级", "13800000003", "2025-01-01"],
    ["R1", None, "K0+000", "K1+000", "甲村长", "村支书", "村级", "13800000004", "2025-01-01"],
    [None, "河一", "K1+000", "K3+000", "王村长", "村主任", "村级", "13800000005", "2025-01-01"],
    ["R1", None, 3000, 8000, "丙村长", "村支书", "村级", "13800000006", "2025-01-01"],
    ["R1", None, "K8+000", None, "丁村长", "社区书记", "村级", "13800000007", "2025-01-01"],
]
