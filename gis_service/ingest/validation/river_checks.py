"""Checks of features against their river: bank side, within the approved range, stakes on the range line.

Distances run in a local transverse Mercator (metres) so that tolerances are settings in metres;
the bank side is decided on the ratio engine's centerline index (each river in its own local
frame, projections in numpy). Each river's centerline or range is built once and shared by
reference among that river's features; the checks then run vectorised over all features.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from gis_service.analysis.shoreline.chainage import CenterlineIndex, LocalFrames
from gis_service.analysis.shoreline.line_ends import LineEnds, crossing
from gis_service.analysis.shoreline.polylines import Polylines, vertex_table
from gis_service.analysis.shoreline.ratios import centerline_index
from gis_service.ingest.normalise import Finding
from gis_service.ingest.validation.checks import is_in
from gis_service.ingest.validation.locate import MAX_LISTED, Locator
from gis_service.runtime import text_places, texts_at

SIDE_CHUNK = 32_768  # features whose side is decided at once
BANK_LABEL = {"left": "左岸", "right": "右岸"}
# A lon/lat-straight edge bends by millimetres in metres over a few hundred metres: a stretch the range
# covers in lon/lat lies within this slack of it in metres, so within any tolerance above it.
LONLAT_SLACK_M = 0.5


class RiverGeometry:
    """The delivery's features with their rivers' centerlines and approved ranges, in lon/lat and in metres.

    The metric copies (a local transverse Mercator) are made on first use, so a check that can
    decide in lon/lat never pays for them.
    """

    def __init__(
        self,
        frame: gpd.GeoDataFrame,
        rivers: gpd.GeoDataFrame,
        ranges: gpd.GeoDataFrame,
        metric: Any,
        centerlines: CenterlineIndex | None = None,
    ) -> None:
        self.metric = metric
        self._centerlines = centerlines
        self.ends: LineEnds | None = None  # the stretches' ends projected by the side check, for the ratio check
        self.lonlat = np.asarray(frame.geometry.values, dtype=object)
        # Each feature's place among the batch's distinct river codes (-1: none), and those codes.
        if "river_code" in frame:
            self.places, self.distinct = text_places(frame["river_code"])
        else:
            self.places, self.distinct = np.full(len(frame), -1, dtype=np.int64), np.zeros(0, dtype=object)
        # Each feature's river code (str, or None), the same str object for a river's features.
        self.codes = texts_at(self.places, self.distinct)
        self.rivers = rivers  # code, geometry (centerlines, EPSG:4490)
        self.ranges = ranges  # river_code, bank, geometry (approved ranges, EPSG:4490)

    @cached_property
    def transformer(self) -> Transformer:
        """The CGCS2000 lon/lat → local metric transformation."""
        return Transformer.from_crs(4490, self.metric, always_xy=True)

    def to_metric(self, geoms: Any) -> np.ndarray:
        """Return lon/lat ``geoms`` in the local metric CRS."""
        transform = self.transformer.transform
        return np.asarray(
            shapely.transform(
                np.asarray(geoms, dtype=object), lambda xy: np.column_stack(transform(xy[:, 0], xy[:, 1]))
            ),
            dtype=object,
        )

    @cached_property
    def geoms(self) -> np.ndarray:
        """The features in metres."""
        return self.to_metric(self.lonlat)

    @property
    def centerlines(self) -> CenterlineIndex:
        """The rivers' merged centerlines, each in its own local metre frame (the ratio engine's index).

        Given (one index for every batch of a delivery) or built on first use.
        """
        if self._centerlines is None:
            self._centerlines = centerline_index(self.rivers)
        return self._centerlines

    @property
    def built_centerlines(self) -> CenterlineIndex | None:
        """The centerline index if it was given or built, else None (no check needed it)."""
        return self._centerlines

    def places_in(self, keys: pd.Index) -> np.ndarray:
        """Return each feature's place in river codes ``keys`` (-1 where its river is not there, or it has none).

        Looked up once a river (a batch of 32 768 stretches names ~1 600), not once a feature.
        """
        found = (
            keys.get_indexer(pd.Index(self.distinct, dtype=object)) if len(keys) else np.full(len(self.distinct), -1)
        )
        out: np.ndarray = np.append(found, -1)[self.places]
        return out

    def per_feature(self, keys: pd.Index, values: np.ndarray) -> np.ndarray:
        """Return ``values[k]`` for each feature whose river code is ``keys[k]`` (None where it has none)."""
        return spread(self.places_in(keys), values)


def per_feature(codes: np.ndarray, keys: pd.Index, values: np.ndarray) -> np.ndarray:
    """Return ``values[k]`` for each feature whose code is ``keys[k]`` (None where the code has none)."""
    return spread(keys.get_indexer(pd.Index(codes, dtype=object)) if len(keys) else np.full(len(codes), -1), values)


def spread(at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return ``values[at[i]]`` for each ``i`` (None where ``at`` is -1)."""
    out = np.full(len(at), None, dtype=object)
    out[at >= 0] = values[at[at >= 0]]
    return out


def union_by(keys: np.ndarray, geoms: np.ndarray) -> tuple[pd.Index, np.ndarray]:
    """Return the distinct ``keys`` and the union of the (non-missing) geometries of each."""
    keep = ~shapely.is_missing(geoms)
    codes, uniques = pd.factorize(keys[keep], sort=True)
    parts = geoms[keep]
    out = np.full(len(uniques), None, dtype=object)
    counts = np.bincount(codes, minlength=len(uniques))
    # Most rivers have one range polygon: it is its own union; only the others are merged.
    single = counts[codes] == 1
    out[codes[single]] = parts[single]
    for k in np.flatnonzero(counts > 1):
        out[k] = shapely.union_all(parts[codes == k])
    return pd.Index(uniques, dtype=object), out


def sides(rg: RiverGeometry) -> np.ndarray:
    """Return ``left``/``right`` for each feature relative to its centerline looking downstream (None if unknown).

    A stretch drawn as one line is on the side of its two ends (the cross product of the
    centerline's direction where each end projects and the way to that end, in the river's local
    metre frame), projections the ratio check then reuses (``rg.ends``). Where its ends disagree,
    and for other shapes, the side is that of the feature's point: a line's midpoint, else a point inside.
    """
    out = np.full(len(rg.codes), None, dtype=object)
    if rg.rivers.empty:
        return out
    river = rg.places_in(pd.Index(rg.rivers["code"].astype(str).to_numpy(dtype=object), dtype=object))
    index = rg.centerlines
    ok = (river >= 0) & ~(shapely.is_missing(rg.lonlat) | shapely.is_empty(rg.lonlat))
    ok[ok] = index.metric_length[river[ok]] > 0
    found = np.flatnonzero(ok)
    rg.ends = ends = LineEnds.of(rg.lonlat, found, river[found], index, len(rg.codes))
    out[ends.rows] = np.where(ends.side > 0, "left", np.where(ends.side < 0, "right", None))  # type: ignore[call-overload]
    undecided = np.zeros(len(out), dtype=bool)
    undecided[found] = True
    undecided[ends.rows[ends.side != 0]] = False
    # A chunk of features at a time: the vertex tables and projections of many lines never all at once.
    rest = np.flatnonzero(undecided)
    for start in range(0, len(rest), SIDE_CHUNK):
        rows = rest[start : start + SIDE_CHUNK]
        r = river[rows]
        px, py = representative_points(rg.lonlat[rows], r, index.frames)
        cross = crossing(index, index.locate(px, py, r), px, py, r)
        out[rows] = np.where(cross > 0, "left", np.where(cross < 0, "right", None))  # type: ignore[call-overload]
    return out


def representative_points(geoms: np.ndarray, frame: np.ndarray, frames: LocalFrames) -> tuple[np.ndarray, np.ndarray]:
    """Return x, y in local frame ``frame[i]`` of each feature's point: a line's midpoint, else a point inside.

    Lines are measured from their vertices (numpy), without making 200 000 point geometries.
    """
    out = np.empty((len(geoms), 2))
    linear = shapely.get_dimensions(geoms) == 1
    if linear.any():
        coords, owner, first = vertex_table(geoms[linear])
        lines = Polylines.of(frames.xy_to_local(coords, frame[linear][owner]), owner, first, int(linear.sum()))
        out[linear] = np.column_stack(lines.point_at(lines.length / 2, np.arange(int(linear.sum()))))
    if (~linear).any():
        inside = shapely.get_coordinates(shapely.point_on_surface(geoms[~linear]))
        out[~linear] = frames.xy_to_local(inside, frame[~linear])
    return out[:, 0], out[:, 1]


def check_sides(frame: gpd.GeoDataFrame, rg: RiverGeometry, loc: Locator) -> list[Finding]:
    """Find bank lines or zones that lie on the other side of the centerline than their bank says."""
    if "bank" not in frame:
        return []
    found = sides(rg)
    # The bank's distinct texts shared (no str made a row, no pandas test of each row for NaN).
    places, texts = text_places(frame["bank"])
    bank = texts_at(places, texts)
    wrong = (places >= 0) & np.not_equal(found, np.array(None, dtype=object)) & (bank != found)
    return [
        loc.finding(
            int(i),
            code="bank_wrong_side",
            field="bank",
            value=bank[i],
            message=f"第 {loc.number(i)} 个要素标为{BANK_LABEL[bank[i]]}，但位于河道中心线的"
            f"{BANK_LABEL[found[i]]}一侧（左右岸按面向下游判断）",
            fix="核对岸别，或核对河流中心线是否按水流方向绘制",
        )
        for i in np.flatnonzero(wrong)
    ]


def check_range_contains_river(rg: RiverGeometry, tolerance: float) -> list[Finding]:
    """For range polygons: the river centerline lies inside the delivered range of its river."""
    polygons = shapely.get_dimensions(rg.lonlat) == 2
    if not polygons.any() or rg.rivers.empty:
        return []
    keys, areas = union_by(rg.codes[polygons].astype(str), rg.geoms[polygons])
    first = pd.Series(np.flatnonzero(polygons)).groupby(rg.codes[polygons].astype(str)).first()
    lines = per_feature(
        keys.to_numpy(), pd.Index(rg.rivers["code"].astype(str), dtype=object), rg.to_metric(rg.rivers.geometry.values)
    )
    known = ~shapely.is_missing(lines)
    keys, areas, lines = keys[known], shapely.buffer(areas[known], tolerance), lines[known]
    outside = shapely.difference(lines, areas)
    length = shapely.length(outside)
    meets = shapely.intersects(lines, areas)
    findings = []
    for k in np.flatnonzero(~meets | (length > tolerance)):
        code, row = str(keys[k]), int(first[keys[k]])
        if not meets[k]:
            findings.append(
                Finding(
                    code="centerline_outside_range",
                    feature=row + 1,
                    value=code,
                    message=f"河流 {code} 的管理范围面与河道中心线不相交（中心线不在范围内）",
                    fix="核对范围面所属河流编码、坐标系，或范围面位置",
                )
            )
            continue
        point = shapely.Point(shapely.get_coordinates(outside[k])[0])
        lon, lat = gpd.GeoSeries([point], crs=rg.metric).to_crs(4490).iloc[0].coords[0]
        findings.append(
            Finding(
                severity="warning",
                code="centerline_partly_outside_range",
                value=code,
                feature=row + 1,
                lon=round(lon, 7),
                lat=round(lat, 7),
                message=f"河流 {code} 的中心线有 {length[k]:.0f} m 位于管理范围面以外",
                fix="如本次只划定部分河段可忽略；否则补全范围面",
            )
        )
    return findings


def range_per_feature(rg: RiverGeometry, *, lines: bool, metric: bool, rows: np.ndarray | None = None) -> np.ndarray:
    """Return each feature's river range (polygons, or range lines when ``lines``), shared per river.

    In lon/lat, or in metres when ``metric``; only for the features ``rows`` (all when None).
    """
    out = np.full(len(rg.codes), None, dtype=object)
    ranges = rg.ranges
    if rows is not None:
        ranges = ranges[is_in(ranges["river_code"].astype(str), set(rg.codes[rows])).to_numpy()]
    if ranges.empty:
        return out
    # A copy: the parts are swapped below, and the frame's own array must stay as it is.
    geoms = rg.to_metric(ranges.geometry.values) if metric else np.array(ranges.geometry.values, dtype=object)
    polygon = shapely.get_dimensions(geoms) == 2
    if lines:
        geoms[polygon] = shapely.boundary(geoms[polygon])
    else:
        geoms[~polygon] = None
    keys, merged = union_by(ranges["river_code"].astype(str).to_numpy(dtype=object), geoms)
    return rg.per_feature(keys, merged)


def no_range(codes: set[str], what: str) -> list[Finding]:
    """Return one info finding naming the rivers without an approved range (none when ``codes`` is empty)."""
    if not codes:
        return []
    codes_listed = sorted(codes)
    return [
        Finding(
            severity="info",
            code="no_approved_range",
            value=codes_listed[:MAX_LISTED],
            message=f"河流 {'、'.join(codes_listed[:MAX_LISTED])}{' 等' if len(codes) > MAX_LISTED else ''}"
            f"尚无已批准的管理范围，未检查{what}",
            fix="先交付并批准该河流的管理范围",
        )
    ]


ZONES_WITHOUT_RANGE = "功能区是否在范围内"
STAKES_WITHOUT_RANGE = "界桩是否在范围线上"


def without_range(rg: RiverGeometry, missing: np.ndarray) -> set[str]:
    """Return the river codes of the features ``missing`` a range (the ``no_range`` finding names them)."""
    return {str(c) for c in rg.codes[missing]}


def check_zones_in_range(rg: RiverGeometry, loc: Locator, tolerance: float, unranged: set[str]) -> list[Finding]:
    """Zone stretches must lie within their river's approved range (within the tolerance).

    The rivers without an approved range are added to ``unranged``: a layer checked batch by batch
    names them once (:func:`no_range`).
    """
    ranges = range_per_feature(rg, lines=False, metric=False)
    missing = shapely.is_missing(ranges)
    has = ~missing & ~(shapely.is_missing(rg.lonlat) | shapely.is_empty(rg.lonlat))
    unranged |= without_range(rg, missing)
    findings: list[Finding] = []
    if not has.any():
        return findings
    ok = ~has
    if tolerance > LONLAT_SLACK_M:
        # Most stretches lie inside the range itself: decided in lon/lat against the prepared ranges.
        # Unprepared at once: a prepared range keeps GEOS's indexes of its edges (35 MB for the province's
        # 10 000 ranges), which the rest of the batch's checks do not need.
        shapely.prepare(ranges[has])
        try:
            ok[has] = shapely.covers(ranges[has], rg.lonlat[has])
        finally:
            shapely.destroy_prepared(ranges[has])
    if ok.all():
        return findings
    # The others, in metres against the range grown by the tolerance (each river's range buffered once).
    rest = np.flatnonzero(~ok)
    ranges = range_per_feature(rg, lines=False, metric=True, rows=rest)
    unique = {id(r): r for r in ranges[rest]}
    buffered = {key: shapely.buffer(r, tolerance) for key, r in unique.items()}
    area = np.array([buffered[id(r)] for r in ranges[rest]], dtype=object)
    # Only these stretches in metres, not the whole delivery.
    geoms = rg.to_metric(rg.lonlat[rest])
    inside = shapely.covered_by(geoms, area)
    for i, geom, grown in zip(rest[~inside], geoms[~inside], area[~inside], strict=True):
        outside = geom.difference(grown)
        far = shapely.distance(geom, ranges[i].boundary) if outside.is_empty else outside.length
        findings.append(
            loc.finding(
                int(i),
                code="zone_outside_range",
                message=f"第 {loc.number(i)} 个功能区超出河道管理范围（超出部分 {far:.1f} m，容差 {tolerance:g} m）",
                fix="核对功能区边界与管理范围线，或核对河流编码",
            )
        )
    return findings


def check_stakes_on_line(
    frame: gpd.GeoDataFrame, rg: RiverGeometry, loc: Locator, tolerance: float, unranged: set[str]
) -> list[Finding]:
    """Boundary stakes must stand on their river's approved range line (within the tolerance).

    ``unranged`` as for :func:`check_zones_in_range`.
    """
    lines = range_per_feature(rg, lines=True, metric=True)
    missing = shapely.is_missing(lines)
    has = ~missing & ~(shapely.is_missing(rg.geoms) | shapely.is_empty(rg.geoms))
    if "kind" in frame:
        has &= (frame["kind"].fillna("stake") == "stake").to_numpy()
    unranged |= without_range(rg, missing)
    findings: list[Finding] = []
    distance = np.zeros(len(rg.geoms))
    if has.any():
        distance[has] = shapely.distance(rg.geoms[has], lines[has])
    for i in np.flatnonzero(distance > tolerance):
        findings.append(
            loc.finding(
                int(i),
                code="stake_off_range_line",
                value=round(float(distance[i]), 2),
                message=f"第 {loc.number(i)} 个界桩距管理范围线 {distance[i]:.1f} m，超过容差 {tolerance:g} m",
                fix="核对界桩坐标（X/Y 是否互换、带号是否正确）或管理范围线",
            )
        )
    return findings
