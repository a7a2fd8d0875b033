"""The shoreline ratio check (岸线保护区+保留区比例): lengths, gaps and overlaps per river and bank.

Pure functions over GeoDataFrames, no database. :func:`shoreline_ratios` takes the zone
stretches, the centerlines (in flow direction) and optionally the towns, and returns a
:class:`~gis_service.analysis.ratio_report.RatioReport`.

How each number is made (so that every figure can be explained):

- A stretch's length is geodesic on the CGCS2000 ellipsoid, summed over its parts.
- Each part of a stretch gets a chainage interval (起点/终点桩号): its two ends projected onto the
  river's centerline, in geodesic metres from the river's start.
- Walking a bank's parts in chainage order, the part of a stretch whose chainage is already
  claimed by an earlier stretch is an overlap (重叠); it is measured along that stretch's own
  line and counted once in the bank length. Chainage no stretch covers, between stretches or
  at the river's head or tail, is a gap (空缺), measured along the centerline; gaps shorter than
  ``gap_tolerance_m`` are ignored because on the inside of a bend the projections of two
  touching stretches can land metres apart. A bank with no stretches at all is one gap.
- A bank's length is the length of the union of its stretches; a type's length is the union of
  that type's stretches; the ratio is the union of protected and reserved stretches over the
  bank length. A river complies when its ratio is at least ``threshold`` and it has no gaps or
  overlaps.
- Zones delivered as polygons are measured along a bank line inside the polygon: the river's
  range line of that bank (管理范围线) when ``bank_lines`` gives one, otherwise the centerline
  offset to that bank through the polygon's centroid (the midline of a band-shaped zone).
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis_service.analysis.chainage import CenterlineIndex, GeomArray, geodesic_lengths
from gis_service.analysis.ratio_report import BANKS, CRS, ZONE_TYPES, RatioReport, build_report
from gis_service.errors import BadRequest

PROTECTING = ("protected", "reserved")
# Range lines are drawn on the polygon's edge; this much slack keeps them "inside" it.
POLYGON_EDGE_SLACK_M = 0.05


def _in_4490(gdf: gpd.GeoDataFrame, what: str, columns: Sequence[str]) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4490 after checking it has ``columns`` (a missing CRS is taken as 4490)."""
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise BadRequest(f"{what}缺少字段 {', '.join(missing)}；请按图层目录提供这些字段",
                         code="ratio_input_missing_fields", details={"layer": what, "missing": missing})
    if gdf.crs is None:
        gdf = gdf.set_crs(CRS)
    elif gdf.crs.to_epsg() != 4490:
        gdf = gdf.to_crs(CRS)
    return gdf


def _linear_parts(geoms: GeomArray) -> tuple[GeomArray, np.ndarray]:
    """Return the non-empty LineString parts of ``geoms`` and the index of the geometry each came from."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    keep = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) > 0)
    return parts[keep], owner[keep]


def _measured_lines(
    zones: gpd.GeoDataFrame,
    river: np.ndarray,
    index: CenterlineIndex,
    bank_lines: gpd.GeoDataFrame | None,
    known: dict[str, int],
) -> tuple[GeomArray, np.ndarray]:
    """Return the bank-line parts (local metres) of each zone and the zone row each belongs to."""
    metric = index.frames.to_local(zones.geometry.values, river)
    polygon = np.isin(shapely.get_type_id(metric), (3, 6))
    lines = metric.copy()
    if polygon.any():
        lines[polygon] = _polygon_bank_lines(zones[polygon], metric[polygon], river[polygon], index, bank_lines,
                                             known)
    return _linear_parts(lines)


def _polygon_bank_lines(
    zones: gpd.GeoDataFrame,
    polygons: GeomArray,
    river: np.ndarray,
    index: CenterlineIndex,
    bank_lines: gpd.GeoDataFrame | None,
    known: dict[str, int],
) -> GeomArray:
    """Return the bank line inside each zone polygon (see the module docstring for the choice)."""
    left = (zones["bank"].to_numpy() == "left")
    # A river's bank line, when the range delivery has one: (river index, bank) → local line.
    lines = np.full(len(zones), None, dtype=object)
    if bank_lines is not None and not bank_lines.empty:
        bl = _in_4490(bank_lines, "管理范围线", ("river_code", "bank"))
        bl = bl[bl.geometry.geom_type.isin(["LineString", "MultiLineString"]) & bl["bank"].isin(BANKS)]
        bl = bl[bl["river_code"].isin(known)]
        if not bl.empty:
            r = bl["river_code"].map(known).to_numpy(dtype=np.int64)
            merged = bl.assign(_r=r, geometry=index.frames.to_local(bl.geometry.values, r))
            by_key = {(int(k[0]), str(k[1])): shapely.union_all(g.geometry.values)
                      for k, g in merged.groupby(["_r", "bank"])}
            lines = np.array([by_key.get((int(r_), b)) for r_, b in zip(river, zones["bank"], strict=True)],
                             dtype=object)
    has_line = ~shapely.is_missing(lines)
    out = np.full(len(zones), None, dtype=object)
    if has_line.any():
        grown = shapely.buffer(polygons[has_line], POLYGON_EDGE_SLACK_M)
        out[has_line] = shapely.intersection(lines[has_line], grown)
    rest = ~has_line
    if rest.any():
        center = index.metric[river[rest]]
        distance = shapely.distance(center, shapely.centroid(polygons[rest]))
        # shapely offsets a positive distance to the left of the line's direction (= the left bank).
        signed = np.where(left[rest], distance, -distance)
        offset = shapely.offset_curve(center, signed)
        out[rest] = shapely.intersection(offset, polygons[rest])
    return out


def _sweep(parts: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Walk each group's parts in chainage order; return per part the earlier reach and its holder.

    ``reach`` is the furthest chainage any earlier part of the group covers (NaN for the first),
    ``holder`` the part that reaches it.
    """
    d = parts.sort_values([*keys, "a", "b"], kind="stable")
    groups = [d[k] for k in keys]
    reach_here = d.groupby(groups, sort=False)["b"].cummax()
    sets_reach = d["b"].to_numpy() >= reach_here.to_numpy()
    holder_here = pd.Series(np.where(sets_reach, d.index.to_numpy(), -1), index=d.index).replace(-1, np.nan)
    holder_here = holder_here.groupby(groups, sort=False).ffill()
    return pd.DataFrame({
        "reach": reach_here.groupby(groups, sort=False).shift(1),
        "holder": holder_here.groupby(groups, sort=False).shift(1),
    }).reindex(parts.index)


def _covered_length(parts: pd.DataFrame, reach: pd.Series, geoms: GeomArray, index: CenterlineIndex) -> pd.Series:
    """Return, per part, the length (bank metres) of its stretch already covered up to ``reach``."""
    out = pd.Series(0.0, index=parts.index)
    hit = (reach > parts["a"]).to_numpy()
    if not hit.any():
        return out
    p = parts[hit]
    r = p["river"].to_numpy()
    upto = np.minimum(p["b"].to_numpy(), reach[hit].to_numpy())
    pos = []
    for chain in (p["a"].to_numpy(), upto):
        on_center = shapely.line_interpolate_point(index.metric[r], index.to_metric(chain, r))
        pos.append(shapely.line_locate_point(geoms[p.index.to_numpy()], on_center))
    out[hit] = np.abs(pos[1] - pos[0]) * p["scale"].to_numpy()
    return out


def shoreline_ratios(
    zones: gpd.GeoDataFrame,
    rivers: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame | None = None,
    *,
    threshold: float = 0.5,
    gap_tolerance_m: float = 20.0,
    overlap_tolerance_m: float = 1.0,
    bank_lines: gpd.GeoDataFrame | None = None,
) -> RatioReport:
    """Compute the shoreline protection ratio check (岸线保护比例核算) of ``rivers`` from ``zones``.

    ``zones``: river_code, bank (left/right), zone_type, geometry (lines or polygons), optional
    code/basis/id; ``rivers``: code, name, important, geometry (centerline in flow direction);
    ``towns``: code, name, polygons. Any CRS (none means EPSG:4490).
    """
    rivers = _in_4490(rivers, "河流", ("code",)).reset_index(drop=True)
    zones = _in_4490(zones, "岸线功能分区", ("river_code", "bank", "zone_type")).reset_index(drop=True)
    warnings: list[str] = []
    center = shapely.line_merge(shapely.force_2d(rivers.geometry.values))
    center = np.where(shapely.is_missing(center), shapely.from_wkt("LINESTRING EMPTY"), center)
    index = CenterlineIndex(center)
    known = {str(code): i for i, code in enumerate(rivers["code"]) if index.geodesic_length[i] > 0}

    zones = zones.assign(river_code=zones["river_code"].astype(str))
    usable = zones["river_code"].isin(known) & zones["bank"].isin(BANKS) & zones["zone_type"].isin(ZONE_TYPES)
    usable &= ~(zones.geometry.is_empty | zones.geometry.isna()).to_numpy()
    for reason, mask in (
        ("河流编码不在河流图层中（或该河中心线为空）", ~zones["river_code"].isin(known)),
        ("岸别不是左岸/右岸", ~zones["bank"].isin(BANKS)),
        ("功能区类型不是四类之一", ~zones["zone_type"].isin(ZONE_TYPES)),
    ):
        if mask.any():
            codes = sorted({str(c) for c in zones.loc[mask, "river_code"]})[:10]
            warnings.append(f"{int(mask.sum())} 个功能区未参与核算：{reason}（河流 {', '.join(codes)}）")
    zones = zones[usable.to_numpy()].reset_index(drop=True)
    zones.geometry = shapely.force_2d(zones.geometry.values)
    river = zones["river_code"].map(known).to_numpy(dtype=np.int64)

    geoms, zone_of = _measured_lines(zones, river, index, bank_lines, known)
    r = river[zone_of]
    lonlat = index.frames.to_lonlat(geoms, r)
    length = geodesic_lengths(lonlat)
    metric_length = shapely.length(geoms)
    ends = [shapely.get_point(geoms, 0), shapely.get_point(geoms, -1)]
    c0, c1 = (index.geodesic(index.locate(p, r), r) for p in ends)
    parts = pd.DataFrame({
        "zone": zone_of, "river": r, "bank": zones["bank"].to_numpy()[zone_of],
        "zone_type": zones["zone_type"].to_numpy()[zone_of],
        "a": np.minimum(c0, c1), "b": np.maximum(c0, c1), "reversed": c0 > c1,
        "length": length, "scale": np.divide(length, metric_length, out=np.ones_like(length),
                                             where=metric_length > 0),
        "wrong_side": _wrong_side(geoms, r, zones["bank"].to_numpy()[zone_of], index),
    })
    parts["protecting"] = parts["zone_type"].isin(PROTECTING)
    # The upstream (low) and downstream (high) end of each part, to tell a bend from a real gap.
    xy0, xy1 = (shapely.get_coordinates(p) for p in ends)
    upstream = np.where(parts["reversed"].to_numpy()[:, None], xy1, xy0)
    downstream = np.where(parts["reversed"].to_numpy()[:, None], xy0, xy1)
    parts["lx"], parts["ly"] = upstream.T
    parts["hx"], parts["hy"] = downstream.T

    bank_sweep = _sweep(parts, ["river", "bank"])
    parts["overlap"] = _covered_length(parts, bank_sweep["reach"], geoms, index)
    parts["reach"], parts["holder"] = bank_sweep["reach"], bank_sweep["holder"]
    type_sweep = _sweep(parts, ["river", "bank", "zone_type"])
    parts["type_overlap"] = _covered_length(parts, type_sweep["reach"], geoms, index)
    pr = parts[parts["protecting"]]
    pr_sweep = _sweep(pr, ["river", "bank"])
    parts["pr_overlap"] = _covered_length(pr, pr_sweep["reach"], geoms, index).reindex(parts.index,
                                                                                       fill_value=0.0)
    return build_report(
        rivers=rivers, zones=zones, parts=parts, part_geoms=geoms, part_lonlat=lonlat, index=index,
        towns=None if towns is None else _in_4490(towns, "镇街", ("name",)),
        threshold=threshold, gap_tolerance_m=gap_tolerance_m, overlap_tolerance_m=overlap_tolerance_m,
        warnings=warnings,
    )


def _wrong_side(geoms: GeomArray, river: np.ndarray, bank: np.ndarray, index: CenterlineIndex) -> np.ndarray:
    """Return whether each part's midpoint lies on the other side of the centerline than its bank."""
    if not len(geoms):
        return np.zeros(0, dtype=bool)
    mid = shapely.line_interpolate_point(geoms, 0.5, normalized=True)
    center = index.metric[river]
    s = shapely.line_locate_point(center, mid)
    before = shapely.get_coordinates(shapely.line_interpolate_point(center, np.maximum(s - 1.0, 0.0)))
    after = shapely.get_coordinates(shapely.line_interpolate_point(center, s + 1.0))
    foot = shapely.get_coordinates(shapely.line_interpolate_point(center, s))
    m = shapely.get_coordinates(mid)
    tx, ty = (after - before).T
    cross = tx * (m[:, 1] - foot[:, 1]) - ty * (m[:, 0] - foot[:, 0])
    # Left of the flow direction has a positive cross product; on the line itself nothing is flagged.
    return np.where(bank == "left", cross < -1e-6, cross > 1e-6)
