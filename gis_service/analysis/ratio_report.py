"""The result of the shoreline ratio check: per bank, river, town and in total, with the pieces behind it.

:func:`build_report` turns the per-part table of :mod:`gis_service.analysis.ratios` into
:class:`RatioReport`; ``RatioReport.to_json`` gives the JSON fixed in SPEC.md (``rivergis ratios``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import substring

from gis_service.analysis.chainage import CenterlineIndex, GeomArray, chainage_text, geodesic_lengths

CRS = "EPSG:4490"
BANKS = ("left", "right")
ZONE_TYPES = ("protected", "reserved", "controlled", "developed")
FLAG_LABELS = {
    "gap_before": "上游侧有空缺", "gap_after": "下游侧有空缺", "overlap": "与其他功能区重叠",
    "wrong_side": "位于另一岸", "reversed": "逆水流方向绘制", "from_polygon": "由面要素量算",
}


def each_row(frame: pd.DataFrame, index: bool = True) -> Iterator[Any]:
    """Iterate a frame's rows as named tuples (typed loosely: columns are known by name only)."""
    return iter(frame.itertuples(index=index))


def _r(value: Any, digits: int = 2) -> float | None:
    """Round for JSON (None stays None)."""
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _ratio(part: float, whole: float) -> float | None:
    """Return ``part / whole`` or None when there is nothing to divide by."""
    return part / whole if whole > 0 else None


@dataclass
class RatioReport:
    """岸线保护比例核算结果: the check per river and bank, towns, and the stretches, gaps and overlaps."""

    rivers: pd.DataFrame
    banks: pd.DataFrame
    stretches: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    overlaps: gpd.GeoDataFrame
    town_pieces: pd.DataFrame
    towns: pd.DataFrame
    threshold: float
    gap_tolerance_m: float
    warnings: list[str] = field(default_factory=list)

    def selected(self, important_only: bool = False) -> pd.DataFrame:
        """Return the river table, important rivers only when asked."""
        return self.rivers[self.rivers["important"]] if important_only else self.rivers

    def _bank_records(self) -> Any:
        """Return the bank table as a dict keyed by (river code, bank), built once."""
        cached = self.__dict__.get("_bank_cache")
        if cached is None:
            cached = self.__dict__["_bank_cache"] = self.banks.to_dict("index")
        return cached

    def river_json(self, row: Any) -> dict[str, Any]:
        """Return one river's entry in the SPEC.md shape."""
        banks = {}
        for bank in BANKS:
            b = self._bank_records()[(row.code, bank)]
            banks[bank] = {
                "length_m": _r(b["length_m"]),
                "zones_m": {t: _r(b[t]) for t in ZONE_TYPES},
                "ratio": _r(_ratio(b["pr_m"], b["length_m"]), 4),
                "gaps_m": _r(b["gaps_m"]),
                "overlaps_m": _r(b["overlaps_m"]),
            }
        return {"code": row.code, "name": row.name, "important": bool(row.important),
                "length_m": _r(row.length_m), "ratio": _r(row.ratio, 4), "compliant": bool(row.compliant),
                "banks": banks}

    def total(self, important_only: bool = False) -> dict[str, Any]:
        """Return the district total: compliant when the overall ratio reaches the threshold and no gaps/overlaps."""
        rows = self.selected(important_only)
        length, pr = float(rows["length_m"].sum()), float(rows["pr_m"].sum())
        ratio = _ratio(pr, length)
        clean = bool((rows["gaps_m"] == 0).all() and (rows["overlaps_m"] == 0).all())
        return {"rivers": int(len(rows)), "length_m": _r(length), "ratio": _r(ratio, 4),
                "compliant": bool(ratio is not None and ratio >= self.threshold and clean and len(rows) > 0)}

    def town_table(self, important_only: bool = False) -> pd.DataFrame:
        """Return per town (镇街统计): stretch count, length per type, shares and ratio."""
        pieces = self.town_pieces
        if important_only:
            pieces = pieces.loc[pieces["important"].astype(bool).to_numpy()]
        out = self.towns[["town_code", "town"]].copy()
        grouped = pieces.groupby(["town", "zone_type"])["length_m"].sum().unstack(fill_value=0)
        counts = pieces.groupby("town")["zone"].nunique()
        type_counts = pieces.groupby(["town", "zone_type"])["zone"].nunique().unstack(fill_value=0)
        out["count"] = out["town"].map(counts).fillna(0).astype(int)
        for t in ZONE_TYPES:
            out[t] = out["town"].map(grouped[t]).fillna(0.0) if t in grouped else 0.0
            out[f"{t}_count"] = (out["town"].map(type_counts[t]).fillna(0).astype(int)
                                 if t in type_counts else 0)
        out["length_m"] = out[list(ZONE_TYPES)].sum(axis=1)
        for t in ZONE_TYPES:
            out[f"{t}_share"] = np.where(out["length_m"] > 0, out[t] / out["length_m"].where(out["length_m"] > 0),
                                         np.nan)
        out["ratio"] = np.where(out["length_m"] > 0, (out["protected"] + out["reserved"])
                                / out["length_m"].where(out["length_m"] > 0), np.nan)
        return out.reset_index(drop=True)

    def to_json(self, important_only: bool = False) -> dict[str, Any]:
        """Return the check as the JSON of SPEC.md, plus per-town totals under ``towns``."""
        towns = [
            {"code": t.town_code, "name": t.town, "count": int(t.count), "length_m": _r(t.length_m),
             "zones_m": {z: _r(getattr(t, z)) for z in ZONE_TYPES}, "ratio": _r(t.ratio, 4)}
            for t in each_row(self.town_table(important_only), index=False)
        ]
        body: dict[str, Any] = {
            "rivers": [self.river_json(row) for row in each_row(self.selected(important_only), index=False)],
            "total": self.total(important_only),
            "towns": towns,
        }
        if not important_only:
            body["important_total"] = self.total(True)
        if self.warnings:
            body["warnings"] = list(self.warnings)
        return body


def build_report(
    *,
    rivers: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    parts: pd.DataFrame,
    part_geoms: GeomArray,
    part_lonlat: GeomArray,
    index: CenterlineIndex,
    towns: gpd.GeoDataFrame | None,
    threshold: float,
    gap_tolerance_m: float,
    overlap_tolerance_m: float,
    warnings: list[str],
) -> RatioReport:
    """Assemble the report from the per-part table (chainage, lengths and covered lengths)."""
    codes = rivers["code"].astype(str).to_numpy()
    zone_codes = _zone_labels(zones)
    gaps = _gaps(parts, part_geoms, index, codes, zone_codes, gap_tolerance_m)
    overlaps = _overlaps(parts, part_geoms, index, codes, zone_codes, overlap_tolerance_m)
    banks = _bank_table(parts, gaps, overlaps, codes)
    table = pd.DataFrame({
        "code": codes,
        "name": rivers["name"].to_numpy() if "name" in rivers else codes,
        "important": rivers["important"].fillna(False).astype(bool).to_numpy()
        if "important" in rivers else False,
        "centerline_m": index.geodesic_length,
    })
    sums = banks.groupby(level=0)[["length_m", "pr_m", "gaps_m", "overlaps_m"]].sum()
    table = table.join(sums, on="code")
    table["ratio"] = table["pr_m"] / table["length_m"].where(table["length_m"] > 0)
    table["compliant"] = ((table["ratio"] >= threshold - 1e-12) & (table["gaps_m"] == 0)
                          & (table["overlaps_m"] == 0))
    stretches = _stretches(zones, parts, part_lonlat, codes, table["name"].to_numpy(), gaps, overlaps)
    town_frame, pieces = _town_pieces(stretches, towns, table)
    return RatioReport(
        rivers=table, banks=banks, stretches=stretches, gaps=gaps, overlaps=overlaps,
        town_pieces=pieces, towns=town_frame, threshold=threshold, gap_tolerance_m=gap_tolerance_m,
        warnings=warnings,
    )


def _zone_labels(zones: gpd.GeoDataFrame) -> np.ndarray:
    """Return each zone's code (or its row number when it has none), for naming gaps and overlaps."""
    if "code" in zones:
        codes = zones["code"].astype(object).where(zones["code"].notna(), None).to_numpy()
    else:
        codes = np.full(len(zones), None, dtype=object)
    return np.array([c if c not in (None, "") else f"#{i + 1}" for i, c in enumerate(codes)], dtype=object)


def _bank_offset(parts: pd.DataFrame, geoms: GeomArray, index: CenterlineIndex) -> dict[tuple[int, str], float]:
    """Return the median distance of each bank's stretches from the centerline (to draw its gaps)."""
    if parts.empty:
        return {}
    mid = shapely.line_interpolate_point(geoms, 0.5, normalized=True)
    dist = shapely.distance(index.metric[parts["river"].to_numpy()], mid)
    med = pd.Series(dist, index=parts.index).groupby([parts["river"], parts["bank"]]).median()
    return {(int(k[0]), str(k[1])): float(v) for k, v in med.items()}  # type: ignore[index]


def _gaps(parts: pd.DataFrame, geoms: GeomArray, index: CenterlineIndex, codes: np.ndarray,
          zone_codes: np.ndarray, tolerance: float) -> gpd.GeoDataFrame:
    """Return the gap pieces: chainage no stretch of the bank covers (head, between, tail, unzoned)."""
    rows: list[dict[str, Any]] = []
    start = parts["reach"].fillna(0.0)
    inner = parts[(parts["a"] - start) > tolerance]
    # Inside a bend, touching stretches project metres apart on the centerline: where the
    # downstream end of the stretch before lies within the tolerance of this one's upstream end,
    # the bank is continuous and there is no gap.
    holder = inner["holder"].dropna().astype(int)
    if len(holder):
        prev = parts.loc[holder.to_numpy()]
        touch = np.hypot(prev["hx"].to_numpy() - inner.loc[holder.index, "lx"].to_numpy(),
                         prev["hy"].to_numpy() - inner.loc[holder.index, "ly"].to_numpy()) <= tolerance
        inner = inner.drop(index=holder.index[touch])
    for p in each_row(inner):
        before = None if pd.isna(p.holder) else zone_codes[int(parts["zone"].to_numpy()[int(p.holder)])]
        rows.append({"river": p.river, "bank": p.bank, "from_m": 0.0 if pd.isna(p.reach) else p.reach,
                     "to_m": p.a, "kind": "head" if pd.isna(p.reach) else "between",
                     "zone_before": before, "zone_after": zone_codes[p.zone]})
    if not parts.empty:
        last = parts.loc[parts.groupby(["river", "bank"])["b"].idxmax()]
        for p in each_row(last):
            if index.geodesic_length[p.river] - p.b > tolerance:
                rows.append({"river": p.river, "bank": p.bank, "from_m": p.b,
                             "to_m": index.geodesic_length[p.river], "kind": "tail",
                             "zone_before": zone_codes[p.zone], "zone_after": None})
    zoned = set(zip(parts["river"], parts["bank"], strict=True))
    for r in np.flatnonzero(index.geodesic_length > 0):
        for bank in BANKS:
            if (r, bank) not in zoned:
                rows.append({"river": int(r), "bank": bank, "from_m": 0.0, "to_m": index.geodesic_length[r],
                             "kind": "unzoned", "zone_before": None, "zone_after": None})
    frame = pd.DataFrame(rows, columns=["river", "bank", "from_m", "to_m", "kind", "zone_before", "zone_after"])
    offsets = _bank_offset(parts, geoms, index)
    pieces = []
    for g in each_row(frame):
        line = index.metric[g.river]
        m0, m1 = index.to_metric(np.array([g.from_m, g.to_m]), np.array([g.river, g.river]))
        piece = line if g.kind == "unzoned" else substring(line, m0, m1)
        d = offsets.get((g.river, g.bank), 0.0)
        if d > 0 and piece.geom_type == "LineString" and piece.length > 0:
            piece = shapely.offset_curve(piece, d if g.bank == "left" else -d)
        pieces.append(piece)
    geometry: Any = (index.frames.to_lonlat(np.array(pieces, dtype=object), frame["river"].to_numpy(dtype=np.int64))
                     if pieces else [])
    return _with_chainage(frame, codes, geometry)


def _overlaps(parts: pd.DataFrame, geoms: GeomArray, index: CenterlineIndex, codes: np.ndarray,
              zone_codes: np.ndarray, tolerance: float) -> gpd.GeoDataFrame:
    """Return the overlap pieces: a stretch's length whose chainage an earlier stretch already claims."""
    hit = parts[parts["overlap"] > tolerance]
    rows, pieces = [], []
    for p in each_row(hit):
        upto = min(p.b, p.reach)
        other: Any = parts.loc[int(p.holder)]
        rows.append({"river": p.river, "bank": p.bank, "from_m": p.a, "to_m": upto, "length_m": p.overlap,
                     "zone": zone_codes[p.zone], "zone_type": p.zone_type,
                     "other_zone": zone_codes[int(other["zone"])], "other_zone_type": other["zone_type"]})
        center = index.metric[p.river]
        s = [shapely.line_locate_point(geoms[p.Index], shapely.line_interpolate_point(center, m))
             for m in index.to_metric(np.array([p.a, upto]), np.array([p.river, p.river]))]
        pieces.append(substring(geoms[p.Index], min(s), max(s)))
    columns = ["river", "bank", "from_m", "to_m", "length_m", "zone", "zone_type", "other_zone", "other_zone_type"]
    frame = pd.DataFrame(rows, columns=columns)
    geometry: Any = (index.frames.to_lonlat(np.array(pieces, dtype=object), frame["river"].to_numpy(dtype=np.int64))
                if pieces else [])
    return _with_chainage(frame, codes, geometry)


def _with_chainage(frame: pd.DataFrame, codes: np.ndarray, geometry: Any) -> gpd.GeoDataFrame:
    """Add river codes, lengths and K-form chainage to a gap or overlap table."""
    frame = frame.copy()
    frame.insert(0, "river_code", codes[frame["river"].to_numpy(dtype=np.int64)] if len(frame) else [])
    if "length_m" not in frame:
        frame["length_m"] = frame["to_m"] - frame["from_m"]
    frame["from_chainage"] = [chainage_text(v) for v in frame["from_m"]]
    frame["to_chainage"] = [chainage_text(v) for v in frame["to_m"]]
    frame = frame.drop(columns="river")
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=CRS), crs=CRS)


def _bank_table(parts: pd.DataFrame, gaps: pd.DataFrame, overlaps: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame:
    """Return per (river code, bank): union length, per-type union lengths, protected+reserved, gaps, overlaps."""
    keys = [codes[parts["river"].to_numpy(dtype=np.int64)], parts["bank"]]
    frame = pd.DataFrame({"length_m": (parts["length"] - parts["overlap"]).groupby(keys).sum()})
    per_type = (parts["length"] - parts["type_overlap"]).groupby([*keys, parts["zone_type"]]).sum()
    pr = (parts["length"] - parts["pr_overlap"]).where(parts["protecting"], 0.0).groupby(keys).sum()
    full = pd.MultiIndex.from_product([codes, BANKS], names=["code", "bank"])
    frame = frame.reindex(full, fill_value=0.0)
    for t in ZONE_TYPES:
        frame[t] = per_type.xs(t, level=2).reindex(full, fill_value=0.0) if len(per_type) and t in \
            per_type.index.get_level_values(2) else 0.0
    frame["pr_m"] = pr.reindex(full, fill_value=0.0) if len(pr) else 0.0
    for name, table in (("gaps_m", gaps), ("overlaps_m", overlaps)):
        frame[name] = (table.groupby(["river_code", "bank"])["length_m"].sum().reindex(full, fill_value=0.0)
                       if len(table) else 0.0)
    return frame


def _stretches(zones: gpd.GeoDataFrame, parts: pd.DataFrame, lonlat: GeomArray, codes: np.ndarray,
               names: np.ndarray, gaps: pd.DataFrame, overlaps: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return one row a zone: its bank line, chainage, length, end coordinates and flags."""
    columns = ["id", "code", "river_code", "river_name", "bank", "zone_type", "start_m", "end_m",
               "start_chainage", "end_chainage", "length_m", "start_lon", "start_lat", "end_lon", "end_lat",
               "basis", "parts", "overlap_m", "flags"]
    if parts.empty:
        return gpd.GeoDataFrame(pd.DataFrame(columns=columns), geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    first, last = shapely.get_point(lonlat, 0), shapely.get_point(lonlat, -1)
    low = np.where(parts["reversed"], last, first)
    high = np.where(parts["reversed"], first, last)
    zone = parts["zone"]
    at_start = parts.groupby("zone")["a"].idxmin()
    at_end = parts.groupby("zone")["b"].idxmax()
    used = at_start.index.to_numpy()
    start_xy = shapely.get_coordinates(low[at_start.to_numpy()])
    end_xy = shapely.get_coordinates(high[at_end.to_numpy()])
    river = parts.groupby("zone")["river"].first().to_numpy()
    geometry = shapely.multilinestrings(lonlat, indices=pd.factorize(zone, sort=True)[0])
    single = parts.groupby("zone").size().to_numpy() == 1
    geometry = np.where(single, lonlat[at_start.to_numpy()], geometry)
    out = pd.DataFrame({
        "id": zones["id"].to_numpy()[used] if "id" in zones else used + 1,
        "code": zones["code"].to_numpy()[used] if "code" in zones else None,
        "river_code": codes[river], "river_name": names[river],
        "bank": zones["bank"].to_numpy()[used], "zone_type": zones["zone_type"].to_numpy()[used],
        "start_m": parts.groupby("zone")["a"].min().to_numpy(), "end_m": parts.groupby("zone")["b"].max().to_numpy(),
        "length_m": parts.groupby("zone")["length"].sum().to_numpy(),
        "start_lon": start_xy[:, 0], "start_lat": start_xy[:, 1], "end_lon": end_xy[:, 0], "end_lat": end_xy[:, 1],
        "basis": zones["basis"].to_numpy()[used] if "basis" in zones else None,
        "parts": parts.groupby("zone").size().to_numpy(),
        "overlap_m": parts.groupby("zone")["overlap"].sum().to_numpy(),
    })
    out["start_chainage"] = [chainage_text(v) for v in out["start_m"]]
    out["end_chainage"] = [chainage_text(v) for v in out["end_m"]]
    out["flags"] = _flags(zones, parts, used, gaps, overlaps)
    frame = gpd.GeoDataFrame(out[columns], geometry=gpd.GeoSeries(geometry, crs=CRS), crs=CRS)
    return frame.sort_values(["river_code", "bank", "start_m"], kind="stable").reset_index(drop=True)


def _flags(zones: gpd.GeoDataFrame, parts: pd.DataFrame, used: np.ndarray, gaps: pd.DataFrame,
           overlaps: pd.DataFrame) -> list[str]:
    """Return each zone's flags as comma-separated codes (see FLAG_LABELS)."""
    labels = _zone_labels(zones)
    flags: dict[int, list[str]] = {int(z): [] for z in used}
    by_label = {labels[z]: int(z) for z in used}
    for g in each_row(gaps):
        if g.zone_after in by_label:
            flags[by_label[g.zone_after]].append("gap_before")
        if g.zone_before in by_label:
            flags[by_label[g.zone_before]].append("gap_after")
    for o in each_row(overlaps):
        for z in (o.zone, o.other_zone):
            if z in by_label and "overlap" not in flags[by_label[z]]:
                flags[by_label[z]].append("overlap")
    for name in ("wrong_side", "reversed"):
        for z in parts.loc[parts[name], "zone"].unique():
            flags[int(z)].append(name)
    geom_type = zones.geometry.geom_type.to_numpy()
    for z in used:
        if geom_type[z] in ("Polygon", "MultiPolygon"):
            flags[int(z)].append("from_polygon")
    return [",".join(dict.fromkeys(flags[int(z)])) for z in used]


def _town_pieces(stretches: gpd.GeoDataFrame, towns: gpd.GeoDataFrame | None,
                 rivers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split each stretch by the town polygons; return the towns and the pieces with geodesic lengths."""
    empty = pd.DataFrame(columns=["town_code", "town", "river_code", "important", "zone", "zone_type", "length_m"])
    if towns is None or towns.empty:
        return pd.DataFrame(columns=["town_code", "town"]), empty
    town_frame = pd.DataFrame({
        "town_code": towns["code"].to_numpy() if "code" in towns else towns["name"].to_numpy(),
        "town": towns["name"].to_numpy(),
    })
    if stretches.empty:
        return town_frame, empty
    town_geoms = towns.geometry.to_numpy()
    tree = shapely.STRtree(town_geoms)
    si, ti = tree.query(stretches.geometry.to_numpy(), predicate="intersects")
    cut = shapely.intersection(stretches.geometry.to_numpy()[si], town_geoms[ti])
    important = dict(zip(rivers["code"], rivers["important"], strict=True))
    pieces = pd.DataFrame({
        "town_code": town_frame["town_code"].to_numpy()[ti], "town": town_frame["town"].to_numpy()[ti],
        "river_code": stretches["river_code"].to_numpy()[si],
        "zone": si, "zone_type": stretches["zone_type"].to_numpy()[si],
        "length_m": geodesic_lengths(cut),
    })
    pieces["important"] = pieces["river_code"].map(important).fillna(False).astype(bool)
    return town_frame, pieces[pieces["length_m"] > 0.01].reset_index(drop=True)
