"""Gaps (空缺) and overlaps (重叠) of the ratio check: found as numbers at once, drawn only when asked.

The lengths feed the bank table, so :func:`gap_rows` and :func:`overlap_rows` run with every
check; the GeoDataFrames with chainage text and geometry (:func:`gap_frame`,
:func:`overlap_frame`) are built the first time a report's ``gaps`` or ``overlaps`` is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis_service.analysis.shoreline.chainage import CenterlineIndex, chainage_texts
from gis_service.analysis.shoreline.polylines import FloatArray, IntArray
from gis_service.analysis.shoreline.ratio_parts import BANKS, CRS, ZONE_TYPES, PartTable, river_groups
from gis_service.runtime import column_rows

PARTS_PER_SORT = 65_536  # parts sorted at once (whole rivers) to find each bank's end
GAP_COLUMNS = ["river", "bank", "from_m", "to_m", "kind", "zone_before", "zone_after"]
OVERLAP_COLUMNS = ["river", "bank", "from_m", "to_m", "length_m", "zone", "zone_type", "other_zone", "other_zone_type"]


@dataclass
class CheckDetail:
    """What a report's stretches, gaps, overlaps and town pieces are drawn from."""

    zones: gpd.GeoDataFrame
    parts: PartTable
    index: CenterlineIndex
    codes: np.ndarray  # river code of each river
    names: np.ndarray
    important: np.ndarray
    reach: FloatArray  # bank sweep: the chainage earlier stretches of the bank reach
    holder: IntArray  # ... and the part that reaches it
    overlap: FloatArray  # bank metres of each part already covered
    gap_rows: pd.DataFrame
    overlap_rows: pd.DataFrame
    towns: gpd.GeoDataFrame | None


def zone_labels(zones: gpd.GeoDataFrame, which: IntArray) -> np.ndarray:
    """Return the code of zones ``which`` (or ``#row`` when it has none), for naming gaps and overlaps."""
    which = np.asarray(which, dtype=np.int64)
    if "code" in zones:
        # Only the rows asked for become Python objects: an import's codes are 200 000 Arrow strings.
        codes = column_rows(zones["code"], which)
    else:
        codes = np.full(len(which), None, dtype=object)
    empty = np.array([c is None or (isinstance(c, str) and c == "") for c in codes], dtype=bool)
    out = codes.astype(object)
    out[empty] = [f"#{i + 1}" for i in which[empty]]
    labels: np.ndarray = out
    return labels


def gap_rows(
    parts: PartTable,
    reach: FloatArray,
    holder: IntArray,
    index: CenterlineIndex,
    zones: gpd.GeoDataFrame,
    tolerance: float,
) -> pd.DataFrame:
    """Return the gaps: chainage no stretch of the bank covers (head, between, tail, unzoned)."""
    start = np.where(np.isnan(reach), 0.0, reach)
    inner = np.flatnonzero((parts.a - start) > tolerance)
    # Inside a bend, touching stretches project metres apart on the centerline: where the
    # downstream end of the stretch before lies within the tolerance of this one's upstream end,
    # the bank is continuous and there is no gap.
    h = holder[inner]
    touch = np.zeros(len(inner), dtype=bool)
    has = h >= 0
    gap_xy = parts.ends(h[has])[1] - parts.ends(inner[has])[0]
    touch[has] = np.hypot(gap_xy[:, 0], gap_xy[:, 1]) <= tolerance
    inner, h = inner[~touch], h[~touch]
    head = h < 0
    last = bank_ends(parts)
    last = last[index.geodesic_length[parts.river[last]] - parts.b[last] > tolerance]
    zoned = np.zeros((len(index.geodesic_length), len(BANKS)), dtype=bool)
    zoned[parts.river, parts.bank] = True
    unzoned_river, unzoned_bank = np.nonzero(~zoned & (index.geodesic_length > 0)[:, None])
    river = np.concatenate((parts.river[inner], parts.river[last], unzoned_river)).astype(np.int64)
    before = np.concatenate(
        (np.where(head, -1, parts.zone[np.maximum(h, 0)]), parts.zone[last], np.full(len(unzoned_river), -1))
    )
    after = np.concatenate((parts.zone[inner], np.full(len(last) + len(unzoned_river), -1)))
    frame = pd.DataFrame(
        {
            "river": river,
            "bank": np.asarray(BANKS, dtype=object)[
                np.concatenate((parts.bank[inner], parts.bank[last], unzoned_bank))
            ],
            "from_m": np.concatenate((start[inner], parts.b[last], np.zeros(len(unzoned_river)))),
            "to_m": np.concatenate(
                (parts.a[inner], index.geodesic_length[parts.river[last]], index.geodesic_length[unzoned_river])
            ),
            "kind": np.concatenate(
                (
                    np.where(head, "head", "between").astype(object),
                    np.full(len(last), "tail"),
                    np.full(len(unzoned_river), "unzoned"),
                )
            ).astype(object),
            "zone_before": _labels_or_none(zones, before),
            "zone_after": _labels_or_none(zones, after),
            "before_index": before,
            "after_index": after,
        }
    )
    return frame


def bank_ends(parts: PartTable) -> IntArray:
    """Return the part reaching furthest down each bank (the first such part on a tie), in bank order.

    Sorted a few hundred rivers at a time (whole rivers, each one's parts in order): the same parts
    as one sort of all, without its temporaries.
    """
    out = [np.zeros(0, dtype=np.int64)]
    for rows in river_groups(np.asarray(parts.river), PARTS_PER_SORT):
        key = np.asarray(parts.river[rows], dtype=np.int64) * 2 + parts.bank[rows]
        out.append(rows[_furthest(key, parts.b[rows])])
        parts.release()
    return np.concatenate(out)


def _furthest(key: IntArray, b: FloatArray) -> IntArray:
    """Return, per ``key`` in ascending order, the first row of the largest ``b`` (NaN last, as a sort puts it)."""
    # A stable sort of the integer key and a maximum per run: cheaper than sorting by key, -b and row.
    if not len(key):
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    k, v = key[order], b[order]
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    best = np.fmax.reduceat(v, starts)
    if np.isnan(best).any():
        return np.lexsort((np.arange(len(key)), -b, key))[starts]
    run = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(k))))
    hit = np.flatnonzero(v == best[run])
    return order[hit[np.concatenate(([True], run[hit][1:] != run[hit][:-1]))]]


def overlap_rows(
    parts: PartTable,
    reach: FloatArray,
    holder: IntArray,
    overlap: FloatArray,
    zones: gpd.GeoDataFrame,
    tolerance: float,
) -> pd.DataFrame:
    """Return the overlaps: a stretch's length whose chainage an earlier stretch of the bank already claims."""
    hit = np.flatnonzero(overlap > tolerance)
    other = holder[hit]
    types = np.asarray(ZONE_TYPES, dtype=object)
    return pd.DataFrame(
        {
            "river": parts.river[hit],
            "bank": np.asarray(BANKS, dtype=object)[parts.bank[hit]],
            "from_m": parts.a[hit],
            "to_m": np.minimum(parts.b[hit], reach[hit]),
            "length_m": overlap[hit],
            "zone": zone_labels(zones, parts.zone[hit]),
            "zone_type": types[parts.zone_type[hit]],
            "other_zone": zone_labels(zones, parts.zone[other]),
            "other_zone_type": types[parts.zone_type[other]],
            "part": hit,
            "zone_index": parts.zone[hit],
            "other_index": parts.zone[other],
        }
    )


def _labels_or_none(zones: gpd.GeoDataFrame, which: IntArray) -> np.ndarray:
    """Return zone labels where ``which`` names a zone, None where it is -1."""
    out = np.full(len(which), None, dtype=object)
    named = which >= 0
    out[named] = zone_labels(zones, which[named])
    return out


def bank_offsets(detail: CheckDetail, keys: IntArray) -> dict[int, float]:
    """Return the median distance from the centerline of the stretches of banks ``keys`` (river·2 + bank)."""
    parts = detail.parts
    key = parts.river * 2 + parts.bank
    rows = np.flatnonzero(np.isin(key, keys))
    if not len(rows):
        return {}
    mx, my = parts.midpoints(rows)
    _, dist = detail.index.lines.project(mx, my, parts.river[rows])
    med = pd.Series(dist).groupby(key[rows]).median()
    return dict(zip(med.index.to_numpy(dtype=np.int64).tolist(), med.to_numpy(dtype=float).tolist(), strict=True))


def gap_frame(detail: CheckDetail) -> gpd.GeoDataFrame:
    """Return the gaps with river codes, lengths, K-form chainage and a line drawn along the bank."""
    rows = detail.gap_rows
    index = detail.index
    river = rows["river"].to_numpy(dtype=np.int64)
    bank = rows["bank"].map({b: i for i, b in enumerate(BANKS)}).to_numpy(dtype=np.int64)
    unzoned = (rows["kind"] == "unzoned").to_numpy()
    pieces = np.full(len(rows), None, dtype=object)
    pieces[unzoned] = index.metric(river[unzoned])
    cut = ~unzoned
    pieces[cut] = index.lines.substrings(
        river[cut],
        index.to_metric(rows["from_m"].to_numpy()[cut], river[cut]),
        index.to_metric(rows["to_m"].to_numpy()[cut], river[cut]),
    )
    offsets = bank_offsets(detail, np.unique(river * 2 + bank))
    d = np.array([offsets.get(int(k), 0.0) for k in river * 2 + bank])
    shift = (d > 0) & (shapely.get_type_id(pieces) == 1) & (shapely.length(pieces) > 0)
    if shift.any():
        pieces[shift] = shapely.offset_curve(pieces[shift], np.where(bank[shift] == 0, d[shift], -d[shift]))
    geometry: Any = index.frames.to_lonlat(pieces, river) if len(rows) else []
    return with_chainage(rows[GAP_COLUMNS], detail.codes, geometry)


def overlap_frame(detail: CheckDetail) -> gpd.GeoDataFrame:
    """Return the overlaps with river codes, K-form chainage and the overlapping piece of the stretch."""
    rows = detail.overlap_rows
    parts, index = detail.parts, detail.index
    part = rows["part"].to_numpy(dtype=np.int64)
    river = parts.river[part]
    # Only the overlapping parts' vertices, numbered in the order of ``part``.
    lines, own = parts.metric_of(part), np.arange(len(part), dtype=np.int64)
    pos = []
    for chain in (rows["from_m"].to_numpy(), rows["to_m"].to_numpy()):
        x, y = index.point_at(index.to_metric(chain, river), river)
        pos.append(lines.project(x, y, own)[0])
    pieces = lines.substrings(own, np.minimum(*pos), np.maximum(*pos))
    geometry: Any = index.frames.to_lonlat(pieces, river) if len(rows) else []
    return with_chainage(rows[OVERLAP_COLUMNS], detail.codes, geometry)


def with_chainage(frame: pd.DataFrame, codes: np.ndarray, geometry: Any) -> gpd.GeoDataFrame:
    """Add river codes, lengths and K-form chainage to a gap or overlap table."""
    frame = frame.copy()
    frame.insert(0, "river_code", codes[frame["river"].to_numpy(dtype=np.int64)] if len(frame) else [])
    if "length_m" not in frame:
        frame["length_m"] = frame["to_m"] - frame["from_m"]
    frame["from_chainage"] = chainage_texts(frame["from_m"].to_numpy())
    frame["to_chainage"] = chainage_texts(frame["to_m"].to_numpy())
    frame = frame.drop(columns="river")
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=CRS), crs=CRS)
