"""The zone stretches of the ratio check (one row a zone) and their split by town (镇街).

Both are built the first time a report's ``stretches`` or town figures are read: the JSON of
``rivergis ratios`` needs the town figures, an import's check needs neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis_service.analysis.shoreline.chainage import chainage_texts, geodesic_lengths
from gis_service.analysis.shoreline.polylines import BoolArray, FloatArray, GeomArray, IntArray, part_starts
from gis_service.analysis.shoreline.ratio_issues import CheckDetail, zone_labels
from gis_service.analysis.shoreline.ratio_parts import CRS

STRETCH_COLUMNS = [
    "id",
    "code",
    "river_code",
    "river_name",
    "bank",
    "zone_type",
    "start_m",
    "end_m",
    "start_chainage",
    "end_chainage",
    "length_m",
    "start_lon",
    "start_lat",
    "end_lon",
    "end_lat",
    "basis",
    "parts",
    "overlap_m",
    "flags",
]
# Flags that come from the parts themselves, in their order in the flags text.
_OWN_FLAGS = ("wrong_side", "reversed", "from_polygon")
# A town piece shorter than this (metres) is a touch at the border, not a stretch in the town.
MIN_TOWN_PIECE_M = 0.01


@dataclass
class ZoneTable:
    """Per zone that has parts (``used``, ascending): its first/last parts, length and lon/lat line."""

    detail: CheckDetail

    @cached_property
    def used(self) -> IntArray:
        """The zones with at least one part, ascending (parts are in zone order)."""
        return self.detail.parts.zone[self._runs].astype(np.int64)

    @cached_property
    def _runs(self) -> IntArray:
        """The first part of each zone."""
        return np.flatnonzero(part_starts(self.detail.parts.zone))

    def _first_by(self, values: FloatArray) -> IntArray:
        """Return, per zone, the first of its parts (in part order) with the least ``values``."""
        parts = self.detail.parts
        order = np.lexsort((np.arange(len(parts)), values, parts.zone))
        return order[part_starts(parts.zone[order])]

    @cached_property
    def at_start(self) -> IntArray:
        """The part of each zone with the lowest chainage."""
        return self._first_by(self.detail.parts.a)

    @cached_property
    def at_end(self) -> IntArray:
        """The part of each zone with the highest chainage."""
        return self._first_by(-self.detail.parts.b)

    @cached_property
    def part_count(self) -> IntArray:
        """Number of parts of each zone."""
        return np.diff(np.append(self._runs, len(self.detail.parts)))

    def total(self, values: FloatArray) -> FloatArray:
        """Return the sum of a per-part value over each zone's parts."""
        return np.asarray(pd.Series(values).groupby(self.detail.parts.zone).sum(), dtype=np.float64)

    @cached_property
    def length(self) -> FloatArray:
        """Geodesic length of each zone (its parts summed)."""
        return self.total(self.detail.parts.length)

    @cached_property
    def lines(self) -> GeomArray:
        """Each zone's line in lon/lat, 2-D: its LineString, or a MultiLineString of its parts."""
        parts = self.detail.parts
        whole = parts.whole[self._runs] if parts.whole is not None else np.full(len(self._runs), None, dtype=object)
        own = (self.part_count == 1) & ~shapely.is_missing(whole)
        out = np.empty(len(self._runs), dtype=object)
        out[own] = whole[own]
        flat = own & shapely.has_z(whole)
        out[flat] = shapely.force_2d(whole[flat])
        rest = np.flatnonzero(~own)
        if len(rest):
            part_rows = np.flatnonzero(np.isin(parts.zone, self.used[rest]))
            built = parts.lonlat.linestrings(part_rows)
            if (self.part_count[rest] == 1).all():
                out[rest] = built
            else:
                out[rest] = shapely.multilinestrings(
                    built, indices=np.searchsorted(self.used[rest], parts.zone[part_rows])
                )
                single = rest[self.part_count[rest] == 1]
                out[single] = built[np.searchsorted(part_rows, self._runs[single])]
        return out


def stretch_frame(detail: CheckDetail, table: ZoneTable) -> gpd.GeoDataFrame:
    """Return one row a zone: its bank line, chainage, length, end coordinates and flags."""
    parts, zones = detail.parts, detail.zones
    if not len(parts):
        return gpd.GeoDataFrame(pd.DataFrame(columns=STRETCH_COLUMNS), geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    used = table.used
    start_xy = _end_lonlat(detail, table.at_start, low=True)
    end_xy = _end_lonlat(detail, table.at_end, low=False)
    river = parts.river[table.at_start]
    out = pd.DataFrame(
        {
            "id": zones["id"].to_numpy()[used] if "id" in zones else used + 1,
            "code": zones["code"].to_numpy()[used] if "code" in zones else None,
            "river_code": detail.codes[river],
            "river_name": detail.names[river],
            "bank": zones["bank"].to_numpy()[used],
            "zone_type": zones["zone_type"].to_numpy()[used],
            "start_m": parts.a[table.at_start],
            "end_m": parts.b[table.at_end],
            "length_m": table.length,
            "start_lon": start_xy[:, 0],
            "start_lat": start_xy[:, 1],
            "end_lon": end_xy[:, 0],
            "end_lat": end_xy[:, 1],
            "basis": zones["basis"].to_numpy()[used] if "basis" in zones else None,
            "parts": table.part_count,
            "overlap_m": table.total(detail.overlap),
        }
    )
    out["start_chainage"] = chainage_texts(out["start_m"].to_numpy())
    out["end_chainage"] = chainage_texts(out["end_m"].to_numpy())
    out["flags"] = _flags(detail, table)
    frame = gpd.GeoDataFrame(out[STRETCH_COLUMNS], geometry=gpd.GeoSeries(table.lines, crs=CRS), crs=CRS)
    return frame.sort_values(["river_code", "bank", "start_m"], kind="stable").reset_index(drop=True)


def _end_lonlat(detail: CheckDetail, part: IntArray, low: bool) -> FloatArray:
    """Return the lon/lat of the upstream (``low``) or downstream end of each of ``part``."""
    lines = detail.parts.lonlat
    first = np.searchsorted(lines.line, part, side="left")
    last = np.searchsorted(lines.line, part, side="right") - 1
    vertex = np.where(detail.parts.reversed[part] == low, last, first)
    return np.column_stack((lines.x[vertex], lines.y[vertex]))


def wrong_side(detail: CheckDetail) -> BoolArray:
    """Return whether each part's midpoint lies on the other side of the centerline than its bank."""
    parts, index = detail.parts, detail.index
    if not len(parts):
        return np.zeros(0, dtype=bool)
    mx, my = parts.midpoint
    r = parts.river
    s = index.locate(mx, my, r)
    bx, by = index.point_at(np.maximum(s - 1.0, 0.0), r)
    ax, ay = index.point_at(s + 1.0, r)
    fx, fy = index.point_at(s, r)
    cross = (ax - bx) * (my - fy) - (ay - by) * (mx - fx)
    # Left of the flow direction has a positive cross product; on the line itself nothing is flagged.
    return np.where(parts.bank == 0, cross < -1e-6, cross > 1e-6)


def _flags(detail: CheckDetail, table: ZoneTable) -> list[str]:
    """Return each zone's flags as comma-separated codes (see FLAG_LABELS)."""
    parts, used = detail.parts, table.used
    position = np.full(len(detail.zones), -1, dtype=np.int64)
    position[used] = np.arange(len(used))
    own = np.zeros((len(used), len(_OWN_FLAGS)), dtype=bool)
    np.logical_or.at(own[:, 0], position[parts.zone], wrong_side(detail))
    np.logical_or.at(own[:, 1], position[parts.zone], parts.reversed)
    own[:, 2] = np.isin(shapely.get_type_id(np.asarray(detail.zones.geometry.values, dtype=object)[used]), (3, 6))
    # Every combination of the zone's own flags as one text, picked by a bit mask.
    combos = np.array(
        [",".join(f for bit, f in enumerate(_OWN_FLAGS) if mask >> bit & 1) for mask in range(2 ** len(_OWN_FLAGS))],
        dtype=object,
    )
    flags = combos[own @ (1 << np.arange(len(_OWN_FLAGS)))]
    for z, found in _issue_flags(detail, used).items():
        i = position[z]
        own_text = str(flags[i])
        flags[i] = ",".join(dict.fromkeys([*found, *(own_text.split(",") if own_text else [])]))
    return list(flags)


def _issue_flags(detail: CheckDetail, used: IntArray) -> dict[int, list[str]]:
    """Return the gap and overlap flags of the zones they name, in the order the issues are listed."""
    gaps, overlaps = detail.gap_rows, detail.overlap_rows
    if not len(gaps) and not len(overlaps):
        return {}
    # Issues name zones by label; a label shared by several zones flags the last of them.
    by_label = dict(zip(zone_labels(detail.zones, used), used.tolist(), strict=True))
    found: dict[int, list[str]] = {}
    for after, before in zip(gaps["zone_after"], gaps["zone_before"], strict=True):
        if after in by_label:
            found.setdefault(by_label[after], []).append("gap_before")
        if before in by_label:
            found.setdefault(by_label[before], []).append("gap_after")
    for zone, other in zip(overlaps["zone"], overlaps["other_zone"], strict=True):
        for z in (zone, other):
            if z in by_label and "overlap" not in found.setdefault(by_label[z], []):
                found[by_label[z]].append("overlap")
    return found


def town_split(detail: CheckDetail, table: ZoneTable) -> tuple[IntArray, IntArray, FloatArray]:
    """Return the (town, zone, geodesic length) pieces of the zone stretches cut by the town polygons."""
    towns = detail.towns
    if towns is None or towns.empty or not len(detail.parts):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    town_geoms = np.asarray(towns.geometry.values, dtype=object)
    lines = table.lines
    si, ti = shapely.STRtree(town_geoms).query(lines)
    shapely.prepare(town_geoms)
    # Most stretches lie inside one town: their piece is the whole stretch. Only lines that
    # cross a border (or fold onto themselves, which the overlay would dissolve) are cut.
    length = np.zeros(len(si))
    inside = shapely.contains_properly(town_geoms[ti], lines[si])
    inside[inside] &= shapely.is_simple(lines[si[inside]])
    length[inside] = table.length[si[inside]]
    rest = np.flatnonzero(~inside)
    meets = rest[shapely.intersects(town_geoms[ti[rest]], lines[si[rest]])]
    length[meets] = geodesic_lengths(shapely.intersection(lines[si[meets]], town_geoms[ti[meets]]))
    keep = length > MIN_TOWN_PIECE_M
    return ti[keep].astype(np.int64), si[keep].astype(np.int64), length[keep]
