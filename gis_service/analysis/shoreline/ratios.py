"""The shoreline ratio check (岸线保护区+保留区比例): lengths, gaps and overlaps per river and bank.

Pure functions over GeoDataFrames, no database. :func:`shoreline_ratios` takes the zone
stretches, the centerlines (in flow direction) and optionally the towns, and returns a
:class:`~gis_service.analysis.shoreline.ratio_report.RatioReport`.

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

How it runs at province scale (200 000 stretches in about a second): the stretches become one
table of line parts over a flat vertex array (:mod:`.ratio_parts`); chainage comes from a numpy
projection onto the centerlines (:mod:`.polylines`) and a closed-form geodesic (:mod:`.chainage`),
so no shapely object is built per point; the three walks share one sort; and the report builds its
stretch table, drawn gaps and overlaps and town split only when they are read (:mod:`.ratio_report`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis_service.analysis.shoreline.chainage import CenterlineIndex
from gis_service.analysis.shoreline.line_ends import LineEnds
from gis_service.analysis.shoreline.polylines import BoolArray, FloatArray, GeomArray, IntArray
from gis_service.analysis.shoreline.ratio_parts import (
    BANK_INDEX,
    TYPE_INDEX,
    JoinedParts,
    PartTable,
    coded_as,
    in_4490,
    part_table,
    river_groups,
)
from gis_service.analysis.shoreline.ratio_report import BANKS, ZONE_TYPES, RatioReport, build_report
from gis_service.runtime import (
    SpilledBinary,
    arrow_vocabulary,
    collector_paused,
    places_in,
    release_free_pages,
    shared_texts,
)

PROTECTING = ("protected", "reserved")
REPORTED_COLUMNS = ("id", "code", "river_code", "bank", "zone_type", "basis")  # and the geometry, if any
PARTS_PER_WALK = 65_536  # parts swept at once (whole rivers): the sorts' temporaries are bounded by it
__all__ = ["RatioRules", "ratio_batches", "ratio_check", "river_groups", "shoreline_ratios", "sweep", "walks"]
RANGE_LINE_TYPES = ("LineString", "MultiLineString")


@dataclass(frozen=True)
class RatioRules:
    """The rules of the check: the protected+reserved share a river must reach, the gap tolerance (m)."""

    threshold: float = 0.5
    gap_tolerance_m: float = 20.0


def bank_range_lines(ranges: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Return the management-range lines that name their bank (what polygon zones are measured along)."""
    if ranges is None or ranges.empty or "bank" not in ranges:
        return None
    return ranges[ranges.geometry.geom_type.isin(RANGE_LINE_TYPES) & ranges["bank"].notna()]


def ratio_check(
    zones: gpd.GeoDataFrame,
    rivers: gpd.GeoDataFrame,
    rules: RatioRules,
    *,
    ranges: gpd.GeoDataFrame | None = None,
    towns: gpd.GeoDataFrame | None = None,
    centerlines: CenterlineIndex | None = None,
) -> RatioReport:
    """Run the check the one way every door runs it (import report, CLI, API, exports, river map).

    ``ranges``: the rivers' approved management ranges (their bank lines measure polygon zones);
    ``towns``: for the per-town table. The same zones, rivers and ranges give the same numbers
    whichever door asks.
    """
    with collector_paused():
        check = ratio_batches(rivers, bank_lines=bank_range_lines(ranges), centerlines=centerlines)
        zones = check.add(zones)
        return check.finish(zones, towns, threshold=rules.threshold, gap_tolerance_m=rules.gap_tolerance_m)


def ratio_batches(
    rivers: gpd.GeoDataFrame,
    *,
    bank_lines: gpd.GeoDataFrame | None = None,
    centerlines: CenterlineIndex | None = None,
    keep_geometries: bool = True,
) -> ZoneBatches:
    """Return :func:`ratio_check` to be given its zones batch by batch (an import measures each as it is read).

    ``bank_lines``: the rivers' ranges' bank lines (:func:`bank_range_lines`). A river without a name or an
    importance flag gets "" and False.
    """
    rivers = rivers.assign(
        **{column: default for column, default in (("name", ""), ("important", False)) if column not in rivers}
    )
    return ZoneBatches(rivers, bank_lines=bank_lines, centerlines=centerlines, keep_geometries=keep_geometries)


def shoreline_ratios(
    zones: gpd.GeoDataFrame,
    rivers: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame | None = None,
    *,
    threshold: float = 0.5,
    gap_tolerance_m: float = 20.0,
    overlap_tolerance_m: float = 1.0,
    bank_lines: gpd.GeoDataFrame | None = None,
    centerlines: CenterlineIndex | None = None,
) -> RatioReport:
    """Compute the shoreline protection ratio check (岸线保护比例核算) of ``rivers`` from ``zones``.

    ``zones``: river_code, bank (left/right), zone_type, geometry (lines or polygons), optional
    code/basis/id; ``rivers``: code, name, important, geometry (centerline in flow direction);
    ``towns``: code, name, polygons. Any CRS (none means EPSG:4490). ``centerlines``: the index of
    ``rivers``' centerlines (in their order) when the caller has built it already.
    """
    with collector_paused():
        check = ZoneBatches(rivers, bank_lines=bank_lines, centerlines=centerlines)
        zones = check.add(zones)
        return check.finish(
            zones,
            towns,
            threshold=threshold,
            gap_tolerance_m=gap_tolerance_m,
            overlap_tolerance_m=overlap_tolerance_m,
        )


class ZoneBatches:
    """The ratio check of a zone set given batch by batch: each batch's stretches cut into parts and measured.

    What is kept of a batch is its part table (numbers and vertices, no geometries), so that an
    import can free each batch once it is written; :meth:`finish` then walks all the parts at once.
    One batch is the whole check (:func:`shoreline_ratios`). Without ``keep_geometries`` no zone's
    geometry is referenced once its batch is measured.
    """

    def __init__(
        self,
        rivers: gpd.GeoDataFrame,
        *,
        bank_lines: gpd.GeoDataFrame | None = None,
        centerlines: CenterlineIndex | None = None,
        keep_geometries: bool = True,
    ) -> None:
        self.keep_geometries = keep_geometries
        rivers = in_4490(rivers, "河流", ("code",)).reset_index(drop=True)
        self.index = centerlines if centerlines is not None else centerline_index(rivers)
        # Who built the index hands back its pages after a batch: a given one is its giver's (an import's river
        # checks read the same rivers of it for the same batch), and released by it once both are done.
        self.owns_index = centerlines is None
        # The centerlines are in the index: the report reads the rivers' codes, names and importance only.
        self.rivers = pd.DataFrame(rivers.drop(columns=rivers.geometry.name))
        # The codes read as one list, the measured rivers found by numpy: not an Arrow scalar and a numpy one a river.
        codes = self.rivers["code"].tolist()
        self.known = KnownRivers({str(codes[i]): i for i in np.flatnonzero(self.index.geodesic_length > 0).tolist()})
        self.bank_lines = bank_lines
        self.parts = JoinedParts()
        self.drawn: list[BoolArray] = []  # per batch: which zones have a geometry
        self.usable = 0  # zones counted so far

    def add(self, zones: gpd.GeoDataFrame, ends: LineEnds | None = None) -> gpd.GeoDataFrame:
        """Cut a batch of ``zones`` into parts and measure them; return the batch in EPSG:4490, reindexed.

        ``ends``: where the batch's stretches' ends project on their centerlines, when the side check
        projected them already (on this index, in EPSG:4490).
        """
        given = zones
        zones = in_4490(zones, "岸线功能分区", ("river_code", "bank", "zone_type")).reset_index(drop=True)
        drawn = ~(zones.geometry.is_empty | zones.geometry.isna()).to_numpy()
        usable, river = _usable(zones, self.known)
        usable &= drawn
        known = None
        if ends is not None and ends.index is self.index and ends.count == len(zones) and given.crs == zones.crs:
            start, end = ends.positions(river)
            known = (start[usable], end[usable])
        parts = part_table(
            zones[usable].reset_index(drop=True), river[usable], self.index, self.bank_lines, self.known.places, known
        )
        parts.zone += self.usable
        if not self.keep_geometries:
            # The stretch table then draws each zone from its parts' vertices: the batch's geometries can go.
            parts.whole = None
        self.usable += int(usable.sum())
        self.parts.append(parts)
        self.drawn.append(drawn)
        if self.owns_index:
            self.index.release()  # the pages of the rivers this batch measured on: the next names others
        return zones

    def finish(
        self,
        zones: pd.DataFrame,
        towns: gpd.GeoDataFrame | None = None,
        *,
        threshold: float = 0.5,
        gap_tolerance_m: float = 20.0,
        overlap_tolerance_m: float = 1.0,
    ) -> RatioReport:
        """Return the report of all the batches; ``zones``: their zones in order (geometry not needed)."""
        at = self.known.at(zones["river_code"])
        usable = _usable(zones, self.known, at)[0]
        usable &= np.concatenate(self.drawn) if self.drawn else np.zeros(0, dtype=bool)
        warnings = _left_out(zones, at)
        del at  # the zones' per-row numbers go before the walks': 8 bytes a zone (8 MB at 1 000 000)
        zones = reported_zones(zones, usable)
        del usable
        parts = self.parts.table()
        reach, holder, covered = walks(parts, self.index)
        release_free_pages()  # the walks' sorts, a group of rivers at a time, left the heap's pages free
        return build_report(
            rivers=self.rivers,
            zones=zones,
            parts=parts,
            reach=reach,
            holder=holder,
            covered=covered,
            index=self.index,
            towns=None if towns is None else in_4490(towns, "镇街", ("name",)),
            threshold=threshold,
            gap_tolerance_m=gap_tolerance_m,
            overlap_tolerance_m=overlap_tolerance_m,
            warnings=warnings,
        )


def reported_zones(zones: pd.DataFrame, usable: BoolArray) -> pd.DataFrame:
    """Return the ``usable`` zones in the columns the report reads (an import's others, WKB and keys, not copied)."""
    geometry = zones.geometry.name if isinstance(zones, gpd.GeoDataFrame) else None
    zones = zones[[c for c in zones.columns if c in REPORTED_COLUMNS or c == geometry]]
    return (zones if usable.all() else zones[usable]).reset_index(drop=True)


def centerline_index(rivers: gpd.GeoDataFrame | SpilledBinary) -> CenterlineIndex:
    """Return the index of the rivers' centerlines (EPSG:4490), parts merged; a missing one is empty.

    ``rivers``: their layer, or their centerlines' WKB kept on disk, made geometries a chunk at a time.
    """
    if isinstance(rivers, SpilledBinary):
        return CenterlineIndex(
            rivers, prepare=lambda wkb: merged_centerlines(shapely.from_wkb(wkb)), release=rivers.release
        )
    return CenterlineIndex(np.asarray(rivers.geometry.values, dtype=object), prepare=merged_centerlines)


def merged_centerlines(geoms: GeomArray) -> GeomArray:
    """Return each centerline with its parts merged where they meet, in 2-D; a missing one as an empty line."""
    center = shapely.line_merge(shapely.force_2d(geoms))
    out: GeomArray = np.where(shapely.is_missing(center), shapely.LineString(), center)
    return out


class KnownRivers:
    """The rivers the check can count (a code's place among the rivers, for those with a centerline), looked up
    batch after batch: the lookup's index is made once, and an import's shared river categories are looked
    up once, not a batch's 10 000 categories a batch."""

    def __init__(self, places: dict[str, int]) -> None:
        self.places = places
        self.codes = pd.Index(list(places), dtype=object)
        self.river = np.fromiter(places.values(), dtype=np.int64, count=len(places))
        self._categories: tuple[pd.Index, IntArray] | None = None  # the last categories looked up, and their places

    @cached_property
    def arrow_codes(self) -> Any:
        """The known codes as Arrow texts (:func:`~gis_service.runtime.places_in`), made on first use."""
        return arrow_vocabulary(self.places)

    def at(self, codes: pd.Series) -> IntArray:
        """Return each code's place among the known rivers' (-1: not known, or no river code)."""
        if not isinstance(codes.dtype, pd.CategoricalDtype):
            looked_up = places_in(codes, self.arrow_codes)
            if looked_up is not None:  # Arrow texts (a batch as read): looked up in Arrow
                return looked_up
            out: IntArray = self.codes.get_indexer(pd.Index(shared_texts(codes), dtype=object))
            return out
        categories = codes.cat.categories
        if self._categories is None or self._categories[0] is not categories:
            found = self.codes.get_indexer(pd.Index(shared_texts(categories), dtype=object))
            # A missing value's code is -1, which takes the appended -1.
            self._categories = categories, np.append(found, -1)
        at: IntArray = self._categories[1][codes.cat.codes.to_numpy()]
        return at


def _usable(zones: pd.DataFrame, known: KnownRivers, at: IntArray | None = None) -> tuple[BoolArray, IntArray]:
    """Return which zones the check can count by their fields (river, bank, type), and each one's river index.

    ``at``: the zones' places among the ``known`` rivers, when the caller has them.
    """
    at = known.at(zones["river_code"]) if at is None else at
    usable = (at >= 0) & (coded_as(zones["bank"], BANK_INDEX) >= 0) & (coded_as(zones["zone_type"], TYPE_INDEX) >= 0)
    river = known.river[np.where(at >= 0, at, 0)] if len(known.codes) else at
    return usable, np.asarray(river, dtype=np.int64)


def _left_out(zones: pd.DataFrame, at: IntArray) -> list[str]:
    """Return why zones are left out of the check, a sentence a reason (counts and the first rivers).

    ``at``: the zones' places among the known rivers (:meth:`KnownRivers.at`).
    """
    warnings = []
    for reason, mask in (
        ("河流编码不在河流图层中（或该河中心线为空）", at < 0),
        ("岸别不是左岸/右岸", ~zones["bank"].isin(BANKS).to_numpy()),
        ("功能区类型不是四类之一", ~zones["zone_type"].isin(ZONE_TYPES).to_numpy()),
    ):
        if mask.any():
            codes = shared_texts(zones["river_code"].to_numpy()[mask])
            named = sorted({str(c) for c in codes})[:10]
            warnings.append(f"{int(mask.sum())} 个功能区未参与核算：{reason}（河流 {', '.join(named)}）")
    return warnings


def sweep(order: IntArray, group: IntArray, b: FloatArray, rank: IntArray) -> tuple[FloatArray, IntArray]:
    """Walk parts ``order`` (by group, then chainage); return per part the earlier reach and its holder.

    ``reach`` is the furthest chainage any earlier part of the group covers (NaN for the first),
    ``holder`` the part that reaches it (the later one on a tie; -1 for none). ``rank`` orders
    the parts by ``b``, ties in walking order.
    """
    n = len(b)
    reach, holder = np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
    if not len(order):
        return reach, holder
    g = group[order]
    run = np.cumsum(np.concatenate(([0], g[1:] != g[:-1])))
    # The running maximum of b within each group, exact: the running maximum of group · n + rank.
    best = np.maximum.accumulate(run * n + rank[order]) - run * n
    by_rank = np.empty(n, dtype=np.int64)
    by_rank[rank] = np.arange(n)
    holds = by_rank[best]  # the part holding the reach so far
    same = np.flatnonzero(run[1:] == run[:-1])
    reach[order[same + 1]] = b[holds[same]]
    holder[order[same + 1]] = holds[same]
    return reach, holder


def walks(parts: PartTable, index: CenterlineIndex) -> tuple[FloatArray, IntArray, dict[str, FloatArray]]:
    """Return the bank sweep's reach and holder of each part, and each sweep's (bank, type, protected+reserved)
    already-covered length of each part.

    A sweep never leaves a river's bank: the parts are walked :data:`PARTS_PER_WALK` at a time, whole
    rivers together, so that the sorts' temporaries do not grow with the delivery. Each part's figures
    depend only on the parts of its bank, in the same order: the same as one walk over all parts.
    """
    n = len(parts)
    reach, holder = np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
    # The pages of a large np.zeros are the system's zero page until written; most parts are covered by no
    # earlier one, so only the others are written: 24 bytes a part less resident memory at 1 000 000 parts.
    covered = {name: np.zeros(n) for name in ("bank", "type", "pr")}
    for rows in river_groups(np.asarray(parts.river), PARTS_PER_WALK):
        for name, (r, h, c) in _covered(parts, rows, index).items():
            some = np.flatnonzero(c)
            covered[name][rows[some]] = c[some]
            if name == "bank":
                reach[rows] = r
                holder[rows] = np.where(h >= 0, rows[np.maximum(h, 0)], -1)
        parts.release()  # this group's pages of a spilled table: the next group reads others
    return reach, holder, covered


def _covered(
    parts: PartTable, rows: IntArray, index: CenterlineIndex
) -> dict[str, tuple[FloatArray, IntArray, FloatArray]]:
    """Return, per sweep (bank, type, protecting), the reach, holder (in ``rows``) and covered length of ``rows``."""
    river, bank, zone_type = (np.asarray(c[rows], dtype=np.int64) for c in (parts.river, parts.bank, parts.zone_type))
    a, b = parts.a[rows], parts.b[rows]
    key = river * 2 + bank
    by_type = key * len(ZONE_TYPES) + zone_type
    n = len(rows)
    # One sort serves the three walks: by bank and chainage; a stable sort of that by type
    # (within the bank) and its protected+reserved subset keep the chainage order.
    bank_order = np.lexsort((b, a, key))
    rank = np.empty(n, dtype=np.int64)
    rank[bank_order[np.argsort(b[bank_order], kind="stable")]] = np.arange(n)
    type_order = bank_order[np.argsort(by_type[bank_order], kind="stable")]
    protecting = np.isin(zone_type, [ZONE_TYPES.index(t) for t in PROTECTING])
    out = {}
    for name, order, group in (
        ("bank", bank_order, key),
        ("type", type_order, by_type),
        ("pr", bank_order[protecting[bank_order]], key),
    ):
        reach, holder = sweep(order, group, b, rank)
        out[name] = (reach, holder, _covered_length(parts, rows, reach, index))
    return out


def _covered_length(parts: PartTable, rows: IntArray, reach: FloatArray, index: CenterlineIndex) -> FloatArray:
    """Return, per part of ``rows``, the length (bank metres) of its stretch already covered up to ``reach``."""
    out = np.zeros(len(rows))
    with np.errstate(invalid="ignore"):
        hit = np.flatnonzero(reach > parts.a[rows])
    if not len(hit):
        return out
    part = rows[hit]
    r = np.asarray(parts.river[part], dtype=np.int64)
    upto = np.minimum(parts.b[part], reach[hit])
    # Only the covered parts' vertices, numbered in the order of ``part``.
    lines, own = parts.metric_of(part), np.arange(len(part), dtype=np.int64)
    pos = []
    for chain in (parts.a[part], upto):
        x, y = index.point_at(index.to_metric(chain, r), r)
        pos.append(lines.project(x, y, own)[0])
    out[hit] = np.abs(pos[1] - pos[0]) * parts.scale_of(part, lines)
    return out
