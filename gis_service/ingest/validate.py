"""Validate stage: every problem of a normalised delivery, with feature, place, Chinese message, code and fix.

Checks run vectorised (shapely 2) over the whole frame; geometry math happens in a local
transverse Mercator (metres) so tolerances are settings in metres. Errors reject a delivery;
warnings and infos are stored with it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis_service.catalogue import LayerSpec
from gis_service.ingest.crs import local_metric_crs
from gis_service.ingest.normalise import Finding
from gis_service.settings import get_settings

log = logging.getLogger("gis_service")
MARKUP = re.compile(r"<\s*[a-zA-Z!/?]|javascript\s*:|&#", re.IGNORECASE)
LOCATION = re.compile(r"\[\s*([-\d.eE+]+)\s+([-\d.eE+]+)")
MAX_LISTED = 20  # features named in one aggregated finding
STEP_M = 5.0  # half-length of the centerline tangent used to decide a side


@dataclass
class Context:
    """What validation needs from the database: the delivery's rivers, their ranges, existing keys."""

    rivers: gpd.GeoDataFrame  # code, geometry (centerlines, EPSG:4490)
    ranges: gpd.GeoDataFrame  # river_code, bank, geometry: approved ranges of the delivery's rivers
    known_rivers: set[str] = field(default_factory=set)
    existing_keys: set[str] = field(default_factory=set)
    fix: bool = False


@dataclass
class Checked:
    """A validated frame (repaired when asked) and its findings."""

    frame: gpd.GeoDataFrame
    findings: list[Finding]
    ratios: dict[str, Any] | None = None


class Locator:
    """Feature numbers, ids and lon/lat of each feature's representative point."""

    def __init__(self, frame: gpd.GeoDataFrame, key: str | None) -> None:
        geoms = frame.geometry.values
        usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        points = np.full(len(frame), None, dtype=object)
        points[usable] = shapely.point_on_surface(geoms[usable])
        self.xy = np.full((len(frame), 2), np.nan)
        if usable.any():
            self.xy[usable] = shapely.get_coordinates(points[usable])
        self.ids = frame[key].astype(object).where(frame[key].notna(), None).tolist() if key in frame else None

    def finding(self, i: int, **kw: Any) -> Finding:
        """Return a finding about feature ``i`` (0-based), placed at its representative point."""
        lon, lat = self.xy[i]
        place = {} if np.isnan(lon) else {"lon": round(float(lon), 7), "lat": round(float(lat), 7)}
        kw = {**place, **kw}
        ident = self.ids[i] if self.ids else None
        return Finding(feature=i + 1, feature_id=None if ident is None else str(ident), **kw)


def _numbers(rows: Iterable[int]) -> str:
    """Return feature numbers (1-based) as a short list for a message."""
    rows = list(rows)
    text = "、".join(str(i + 1) for i in rows[:MAX_LISTED])
    return text + (f" 等 {len(rows)} 个" if len(rows) > MAX_LISTED else "")


def check_geometries(layer: LayerSpec, frame: gpd.GeoDataFrame, loc: Locator, fix: bool) -> tuple[
        gpd.GeoDataFrame, list[Finding]]:
    """Find empty, wrongly typed and invalid geometries; repair invalid ones only when ``fix``."""
    findings: list[Finding] = []
    geoms = frame.geometry.values.copy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(empty):
        findings.append(loc.finding(int(i), code="empty_geometry", message=f"第 {i + 1} 个要素没有几何图形（空几何）",
                                    fix="补绘该要素的图形，或删除该记录"))
    kinds = np.asarray(frame.geom_type.to_numpy(), dtype=object)
    wrong = ~empty & ~np.isin(kinds, layer.geometry_types)
    allowed = "、".join(layer.geometry_types)
    for i in np.flatnonzero(wrong):
        findings.append(loc.finding(int(i), code="wrong_geometry_type",
                                    message=f"第 {i + 1} 个要素的几何类型为 {kinds[i]}，{layer.label}应为 {allowed}",
                                    fix=f"导出为 {allowed} 类型的图层"))
    check = ~empty & ~wrong
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[check] = ~shapely.is_valid(geoms[check])
    for i in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geoms[i])
        place = {}
        if m := LOCATION.search(reason):
            place = {"lon": round(float(m.group(1)), 7), "lat": round(float(m.group(2)), 7)}
        if fix:
            repaired = _make_valid(geoms[i])
            before, after = _area_m2(geoms[i]), _area_m2(repaired)
            findings.append(loc.finding(
                int(i), severity="warning", code="geometry_repaired", value=reason, **place,
                message=(f"第 {i + 1} 个要素几何无效（{reason}），已按 --fix 修复：{geoms[i].geom_type} → "
                         f"{repaired.geom_type}，面积 {before:.1f} → {after:.1f} m²"),
                fix="核对修复后的图形；最好在测绘软件中改正后重新交付"))
            geoms[i] = repaired
        else:
            findings.append(loc.finding(
                int(i), code="invalid_geometry", value=reason, **place,
                message=f"第 {i + 1} 个要素几何无效：{reason}",
                fix="在 GIS 软件中修复（如自相交处拆分节点），或加 --fix 自动修复并核对结果"))
    if fix and invalid.any():
        frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))
    return frame, findings


def _make_valid(geom: shapely.Geometry) -> shapely.Geometry:
    """Repair ``geom`` keeping its dimension (polygons stay polygons where GEOS can)."""
    try:
        fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    except TypeError:  # shapely < 2.1
        fixed = shapely.make_valid(geom)
    if fixed.geom_type == "GeometryCollection":
        dim = shapely.get_dimensions(geom)
        parts = [g for g in shapely.get_parts(fixed) if shapely.get_dimensions(g) == dim]
        fixed = shapely.union_all(parts) if parts else fixed
    return fixed


def _area_m2(geom: shapely.Geometry) -> float:
    """Return the geodesic area of a lon/lat geometry in m² (0 for lines and points)."""
    from pyproj import Geod

    if shapely.get_dimensions(geom) < 2:
        return 0.0
    area, _perimeter = Geod(ellps="GRS80").geometry_area_perimeter(geom)
    return abs(area)


def check_fields(layer: LayerSpec, frame: gpd.GeoDataFrame, loc: Locator, mapped: set[str],
                 reported: set[tuple[int, str]] | None = None) -> list[Finding]:
    """Find missing required fields and values (not those already ``reported`` unreadable), and markup."""
    reported = reported or set()
    findings: list[Finding] = []
    for spec in layer.fields:
        if not spec.required or spec.derived:
            continue
        if spec.name not in mapped and spec.name not in frame:
            names = "、".join(dict.fromkeys((spec.label, *spec.aliases)))
            findings.append(Finding(code="missing_field", field=spec.name,
                                    message=f"缺少必填字段“{spec.label}”（{spec.name}）",
                                    fix=f"添加该字段，可用的字段名：{names}"))
            continue
        blank = frame[spec.name].isna().to_numpy() if spec.name in frame else np.ones(len(frame), dtype=bool)
        for i in np.flatnonzero(blank):
            if (int(i) + 1, spec.name) in reported:
                continue
            findings.append(loc.finding(int(i), code="missing_value", field=spec.name,
                                        message=f"第 {i + 1} 个要素的必填字段“{spec.label}”为空",
                                        fix=f"填写“{spec.label}”"))
    for spec in layer.fields:
        if spec.type != "str" or spec.values or spec.name not in frame:
            continue
        text = frame[spec.name].astype("string")
        bad = text.str.contains(MARKUP, na=False).to_numpy()
        for i in np.flatnonzero(bad):
            findings.append(loc.finding(int(i), code="markup_in_text", field=spec.name, value=str(text.iloc[i]),
                                        message=f"第 {i + 1} 个要素的“{spec.label}”含有 HTML 标记或脚本，已拒绝",
                                        fix="删除尖括号标记（如 <script>）后重新交付"))
    return findings


def check_duplicates(layer: LayerSpec, frame: gpd.GeoDataFrame, loc: Locator, ctx: Context) -> list[Finding]:
    """Find duplicate keys (per river for versioned layers), keys already stored, and identical geometries."""
    findings: list[Finding] = []
    scope = ["river_code"] if layer.versioned and "river_code" in frame else []
    if layer.key and layer.key in frame:
        keyed = frame[frame[layer.key].notna()]
        dup = keyed.duplicated([*scope, layer.key], keep="first")
        for i in np.flatnonzero(frame.index.isin(keyed.index[dup.to_numpy()])):
            findings.append(loc.finding(int(i), code="duplicate_key", field=layer.key,
                                        message=f"第 {i + 1} 个要素的编号 {frame[layer.key].iloc[i]} 与前面的要素重复",
                                        fix="为每个要素填写唯一编号"))
        if ctx.existing_keys:
            clash = frame[layer.key].isin(ctx.existing_keys).to_numpy()
            for i in np.flatnonzero(clash):
                findings.append(loc.finding(int(i), code="duplicate_key", field=layer.key,
                                            message=f"编号 {frame[layer.key].iloc[i]} 已在台账中，不会覆盖已有记录",
                                            fix="新问题请用新编号；已有问题请在台账中办理"))
    geoms = frame.geometry.values
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    wkb = pd.Series([None] * len(frame), dtype=object)
    wkb[usable] = shapely.to_wkb(shapely.normalize(geoms[usable]))
    keys = pd.DataFrame({"wkb": wkb, **({"r": frame["river_code"].to_numpy()} if scope else {})})
    dup_geom = keys.duplicated(keep="first").to_numpy() & usable
    for i in np.flatnonzero(dup_geom):
        findings.append(loc.finding(int(i), severity="warning", code="duplicate_geometry",
                                    message=f"第 {i + 1} 个要素的图形与前面的要素完全相同（重复要素）",
                                    fix="删除重复的要素"))
    return findings


def check_rivers(layer: LayerSpec, frame: gpd.GeoDataFrame, ctx: Context) -> list[Finding]:
    """Find river codes not in the river layer (one finding per unknown code)."""
    if layer.name == "rivers" or "river_code" not in frame or layer.field("river_code").derived:
        return []
    codes = frame["river_code"]
    unknown = codes.notna() & ~codes.astype(str).isin(ctx.known_rivers)
    findings = []
    for code, rows in frame.index[unknown.to_numpy()].groupby(codes[unknown.to_numpy()].astype(str)).items():
        positions = frame.index.get_indexer(rows)
        findings.append(Finding(code="unknown_river", field="river_code", value=code, feature=int(positions[0]) + 1,
                                message=f"河流编码 {code} 不在河流图层中（要素 {_numbers(positions)}）",
                                fix="核对河流编码，或先导入该河流（rivergis import rivers）"))
    return findings


def _centerlines(frame: gpd.GeoDataFrame, ctx: Context, metric: Any) -> np.ndarray:
    """Return each feature's river centerline in ``metric`` (None where the river is unknown)."""
    if ctx.rivers.empty or "river_code" not in frame:
        return np.full(len(frame), None, dtype=object)
    lines = ctx.rivers.to_crs(metric)
    by_code = dict(zip(lines["code"].astype(str), shapely.line_merge(lines.geometry.values), strict=True))
    return np.array([by_code.get(str(c)) for c in frame["river_code"]], dtype=object)


def sides(geoms: np.ndarray, centerlines: np.ndarray) -> np.ndarray:
    """Return ``left``/``right`` for each geometry relative to its centerline looking downstream (None if unknown)."""
    out = np.full(len(geoms), None, dtype=object)
    ok = np.array([c is not None for c in centerlines], dtype=bool)
    ok &= ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        return out
    g, cl = geoms[ok], centerlines[ok]
    lines = shapely.get_dimensions(g) == 1
    p = np.where(lines, shapely.line_interpolate_point(np.where(lines, g, None), 0.5, normalized=True),
                 shapely.point_on_surface(g))
    m = shapely.line_locate_point(cl, p)
    a = shapely.line_interpolate_point(cl, np.maximum(m - STEP_M, 0))
    b = shapely.line_interpolate_point(cl, np.minimum(m + STEP_M, shapely.length(cl)))
    (ax, ay), (bx, by), (px, py) = (shapely.get_coordinates(x).T for x in (a, b, p))
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    out[ok] = np.where(cross > 0, "left", np.where(cross < 0, "right", None))  # type: ignore[call-overload]
    return out


def check_sides(frame: gpd.GeoDataFrame, metric_geoms: np.ndarray, centerlines: np.ndarray,
                loc: Locator) -> list[Finding]:
    """Find bank lines or zones that lie on the other side of the centerline than their bank says."""
    if "bank" not in frame:
        return []
    found = sides(metric_geoms, centerlines)
    bank = frame["bank"].to_numpy(dtype=object)
    wrong = np.array([b is not None and f is not None and b != f for b, f in zip(bank, found, strict=True)],
                     dtype=bool)
    label = {"left": "左岸", "right": "右岸"}
    return [loc.finding(int(i), code="bank_wrong_side", field="bank", value=bank[i],
                        message=f"第 {i + 1} 个要素标为{label[bank[i]]}，但位于河道中心线的{label[found[i]]}一侧"
                                "（左右岸按面向下游判断）",
                        fix="核对岸别，或核对河流中心线是否按水流方向绘制")
            for i in np.flatnonzero(wrong)]


def check_range_contains_river(frame: gpd.GeoDataFrame, metric_geoms: np.ndarray, ctx: Context,
                               metric: Any, tolerance: float) -> list[Finding]:
    """For range polygons: the river centerline lies inside the delivered range of its river."""
    polygons = shapely.get_dimensions(metric_geoms) == 2
    if not polygons.any() or ctx.rivers.empty:
        return []
    lines = ctx.rivers.to_crs(metric)
    by_code = dict(zip(lines["code"].astype(str), lines.geometry.values, strict=True))
    findings = []
    codes = frame["river_code"].astype(str).to_numpy()
    for code in sorted(set(codes[polygons])):
        centerline = by_code.get(code)
        if centerline is None:
            continue
        rows = np.flatnonzero(polygons & (codes == code))
        area = shapely.union_all(metric_geoms[rows]).buffer(tolerance)
        outside = centerline.difference(area)
        length = outside.length
        if not centerline.intersects(area):
            findings.append(Finding(code="centerline_outside_range", feature=int(rows[0]) + 1, value=code,
                                    message=f"河流 {code} 的管理范围面与河道中心线不相交（中心线不在范围内）",
                                    fix="核对范围面所属河流编码、坐标系，或范围面位置"))
        elif length > tolerance:
            point = shapely.Point(shapely.get_coordinates(outside)[0])
            lon, lat = gpd.GeoSeries([point], crs=metric).to_crs(4490).iloc[0].coords[0]
            findings.append(Finding(severity="warning", code="centerline_partly_outside_range", value=code,
                                    feature=int(rows[0]) + 1, lon=round(lon, 7), lat=round(lat, 7),
                                    message=f"河流 {code} 的中心线有 {length:.0f} m 位于管理范围面以外",
                                    fix="如本次只划定部分河段可忽略；否则补全范围面"))
    return findings


def _range_per_feature(frame: gpd.GeoDataFrame, ctx: Context, metric: Any, *, lines: bool) -> np.ndarray:
    """Return each feature's river range (polygons, or range lines when ``lines``) in ``metric``."""
    out = np.full(len(frame), None, dtype=object)
    if ctx.ranges.empty or "river_code" not in frame:
        return out
    ranges = ctx.ranges.to_crs(metric)
    geoms = ranges.geometry.values
    if lines:
        geoms = np.where(shapely.get_dimensions(geoms) == 2, shapely.boundary(geoms), geoms)
    else:
        geoms = np.where(shapely.get_dimensions(geoms) == 2, geoms, None)
    per_river = pd.Series(geoms, index=ranges["river_code"].astype(str)).dropna()
    merged = {code: shapely.union_all(group.to_numpy()) for code, group in per_river.groupby(level=0)}
    return np.array([merged.get(str(c)) for c in frame["river_code"]], dtype=object)


def _no_range(frame: gpd.GeoDataFrame, missing: np.ndarray, what: str) -> list[Finding]:
    """Return one info finding naming the rivers without an approved range."""
    if not missing.any():
        return []
    codes = sorted({str(c) for c in frame["river_code"].to_numpy()[missing]})
    return [Finding(severity="info", code="no_approved_range", value=codes[:MAX_LISTED],
                    message=f"河流 {'、'.join(codes[:MAX_LISTED])}{' 等' if len(codes) > MAX_LISTED else ''}"
                            f"尚无已批准的管理范围，未检查{what}",
                    fix="先交付并批准该河流的管理范围")]


def check_zones_in_range(frame: gpd.GeoDataFrame, metric_geoms: np.ndarray, ctx: Context, metric: Any,
                         loc: Locator, tolerance: float) -> list[Finding]:
    """Zone stretches must lie within their river's approved range (within the tolerance)."""
    ranges = _range_per_feature(frame, ctx, metric, lines=False)
    has = np.array([r is not None for r in ranges], dtype=bool)
    has &= ~(shapely.is_missing(metric_geoms) | shapely.is_empty(metric_geoms))
    findings = _no_range(frame, np.array([r is None for r in ranges], dtype=bool), "功能区是否在范围内")
    if not has.any():
        return findings
    # One buffer per river, shared by its stretches.
    unique = {id(r): r for r in ranges if r is not None}
    buffered = {key: r.buffer(tolerance) for key, r in unique.items()}
    area = np.array([buffered[id(r)] if r is not None else None for r in ranges], dtype=object)
    ok = np.ones(len(frame), dtype=bool)
    ok[has] = shapely.covered_by(metric_geoms[has], area[has])
    for i in np.flatnonzero(~ok):
        outside = metric_geoms[i].difference(area[i])
        far = shapely.distance(metric_geoms[i], ranges[i].boundary) if outside.is_empty else outside.length
        findings.append(loc.finding(int(i), code="zone_outside_range",
                                    message=f"第 {i + 1} 个功能区超出河道管理范围"
                                            f"（超出部分 {far:.1f} m，容差 {tolerance:g} m）",
                                    fix="核对功能区边界与管理范围线，或核对河流编码"))
    return findings


def check_stakes_on_line(frame: gpd.GeoDataFrame, metric_geoms: np.ndarray, ctx: Context, metric: Any,
                         loc: Locator, tolerance: float) -> list[Finding]:
    """Boundary stakes must stand on their river's approved range line (within the tolerance)."""
    lines = _range_per_feature(frame, ctx, metric, lines=True)
    has = np.array([r is not None for r in lines], dtype=bool)
    has &= ~(shapely.is_missing(metric_geoms) | shapely.is_empty(metric_geoms))
    if "kind" in frame:
        has &= (frame["kind"].fillna("stake") == "stake").to_numpy()
    findings = _no_range(frame, np.array([r is None for r in lines], dtype=bool), "界桩是否在范围线上")
    distance = np.zeros(len(frame))
    if has.any():
        distance[has] = shapely.distance(metric_geoms[has], lines[has])
    for i in np.flatnonzero(distance > tolerance):
        findings.append(loc.finding(int(i), code="stake_off_range_line", value=round(float(distance[i]), 2),
                                    message=f"第 {i + 1} 个界桩距管理范围线 {distance[i]:.1f} m，"
                                            f"超过容差 {tolerance:g} m",
                                    fix="核对界桩坐标（X/Y 是否互换、带号是否正确）或管理范围线"))
    return findings


def zone_ratios(frame: gpd.GeoDataFrame, ctx: Context) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Compute the shoreline ratio check of a clean zone set, and its gaps and overlaps as findings."""
    try:
        from gis_service.analysis.ratios import shoreline_ratios
    except ImportError:
        return None, [Finding(severity="info", code="ratios_unavailable", message="岸线比例核算模块不可用，未计算比例")]
    rivers = ctx.rivers
    if rivers.empty:
        return None, []
    settings = get_settings()
    for column, default in (("name", ""), ("important", False)):
        if column not in rivers:
            rivers = rivers.assign(**{column: default})
    try:
        report = shoreline_ratios(frame, rivers, threshold=settings.ratio_threshold,
                                  gap_tolerance_m=settings.gap_tolerance_m)
    except Exception:  # noqa: BLE001 - the ratio check informs the report; it must not block a clean delivery
        log.exception("shoreline ratio check failed during import")
        return None, [Finding(severity="info", code="ratios_failed", message="岸线比例核算出错，未计算比例；已记录日志",
                              fix="请联系管理员；交付本身不受影响")]
    findings = []
    bank_label = {"left": "左岸", "right": "右岸"}
    for kind, table in (("zone_gap", report.gaps), ("zone_overlap", report.overlaps)):
        for row in table.itertuples():
            point = row.geometry.interpolate(0.5, normalized=True) if row.geometry is not None else None
            place = {} if point is None or point.is_empty else {"lon": round(point.x, 7), "lat": round(point.y, 7)}
            what = "缺口（无功能区）" if kind == "zone_gap" else "重叠（两个功能区重复划定）"
            findings.append(Finding(
                severity="warning", code=kind, value=row.river_code, **place,
                message=(f"河流 {row.river_code} {bank_label.get(row.bank, row.bank)} {row.from_chainage}–"
                         f"{row.to_chainage} 有 {row.length_m:.0f} m {what}"),
                fix="补划缺口处的功能区" if kind == "zone_gap" else "调整相邻功能区的起止点，消除重叠"))
    return report.to_json(), findings


def validate(layer: LayerSpec, frame: gpd.GeoDataFrame, ctx: Context, *, mapped: set[str],
             reported: set[tuple[int, str]] | None = None) -> Checked:
    """Run every check of ``layer`` on a normalised frame (EPSG:4490); repair geometries when ``ctx.fix``.

    ``reported`` holds (feature number, field) cells normalisation already found unreadable.
    """
    settings = get_settings()
    frame = frame.reset_index(drop=True)
    loc = Locator(frame, layer.key or ("code" if "code" in frame else None))
    frame, findings = check_geometries(layer, frame, loc, ctx.fix)
    findings += check_fields(layer, frame, loc, mapped, reported)
    findings += check_duplicates(layer, frame, loc, ctx)
    findings += check_rivers(layer, frame, ctx)
    if layer.name not in {"boundaries", "zones", "stakes"} or any(f.severity == "error" for f in findings
                                                                   if f.code in GEOMETRY_CODES):
        return Checked(frame, findings)
    metric = local_metric_crs(frame)
    metric_geoms = frame.to_crs(metric).geometry.values
    ratios = None
    if layer.name in {"boundaries", "zones"}:
        findings += check_sides(frame, metric_geoms, _centerlines(frame, ctx, metric), loc)
    if layer.name == "boundaries":
        findings += check_range_contains_river(frame, metric_geoms, ctx, metric, settings.zone_range_tolerance_m)
    elif layer.name == "zones":
        findings += check_zones_in_range(frame, metric_geoms, ctx, metric, loc, settings.zone_range_tolerance_m)
        if not reported and not any(f.severity == "error" for f in findings):
            ratios, more = zone_ratios(frame, ctx)
            findings += more
    elif layer.name == "stakes":
        findings += check_stakes_on_line(frame, metric_geoms, ctx, metric, loc, settings.stake_line_tolerance_m)
    return Checked(frame, findings, ratios)


GEOMETRY_CODES = {"empty_geometry", "wrong_geometry_type", "invalid_geometry"}
