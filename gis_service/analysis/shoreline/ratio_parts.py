"""The zone stretches of the ratio check cut into line parts, as flat arrays (桩号, lengths, ends).

Each part of a stretch (a LineString; a polygon zone first becomes its bank line) gets its
geodesic length and the chainage interval its two ends project to on the river's centerline.
The measuring runs on vertex tables of a chunk of parts at a time (numpy over coordinates; the
only geometries built are those of polygon and multi-part zones), and the table keeps one row of
numbers a part: the vertices of the parts that the gaps, overlaps and stretch tables draw are
taken again from the parts' geometries when asked (:meth:`PartTable.metric_of`), so that a
million stretches never have their vertices in memory twice. Each column has the narrowest type
that holds it (32-bit zone and river numbers, 8-bit bank and type codes), and what follows from
the vertices alone (the ends in metres, the metres per local metre) is worked out again for the
few parts that need it: a part costs ~50 bytes and its vertices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gis_service.analysis.shoreline.chainage import CenterlineIndex, GeomArray, LocalFrames, vertex_steps
from gis_service.analysis.shoreline.polylines import (
    BoolArray,
    FloatArray,
    IntArray,
    Polylines,
    index_ranges,
    part_starts,
    sum_by,
)
from gis_service.errors import BadRequest
from gis_service.runtime import SpilledRows, drop_resident, places_in

CRS = "EPSG:4490"
BANKS = ("left", "right")
ZONE_TYPES = ("protected", "reserved", "controlled", "developed")
BANK_INDEX, TYPE_INDEX = pd.Index(BANKS, dtype=object), pd.Index(ZONE_TYPES, dtype=object)  # looked up, made once
# Range lines are drawn on the polygon's edge; this much slack keeps them "inside" it.
POLYGON_EDGE_SLACK_M = 0.05
PARTS_PER_CHUNK = 16_384  # parts measured at once: their vertex tables (~5 MB) are freed before the next


# The columns of a part table, one value (or vertex) a row, that joining tables concatenates.
COLUMNS: tuple[str, ...] = ("zone", "river", "bank", "zone_type", "a", "b", "reversed", "length", "coords")
# Numbers of zones and rivers (32 bits: 2 147 483 647 of each), bank and type codes (8 bits); typed loosely
# so that the columns pass where 64-bit integers are asked (numpy widens them where they meet).
NUMBER: npt.DTypeLike = np.int32
CODE: npt.DTypeLike = np.int8


@dataclass
class PartTable:
    """One row a line part of a zone stretch, ordered by zone (then part)."""

    zone: IntArray  # NUMBER
    river: IntArray  # NUMBER
    bank: IntArray  # CODE: 0 left, 1 right
    zone_type: IntArray  # CODE: index into ZONE_TYPES
    a: FloatArray  # low (upstream) chainage, geodesic metres
    b: FloatArray  # high (downstream) chainage
    reversed: BoolArray  # drawn against the flow
    length: FloatArray  # geodesic metres
    coords: FloatArray  # (m, 2) the parts' vertices in lon/lat, part after part
    first: IntArray  # index in ``coords`` of each part's first vertex (and the total at the end: n + 1)
    frames: LocalFrames  # each river's local metre frame (the centerline index's)
    whole: GeomArray | None  # the zone's own geometry where the part is all of it (a LineString), else None

    def __len__(self) -> int:
        """Return the number of parts."""
        return len(self.zone)

    def release(self) -> None:
        """Hand back the pages of the spilled columns read so far (see :func:`~gis_service.runtime.drop_resident`).

        Called by the stages that read the table a group of rivers at a time, after each group.
        """
        for name in (*COLUMNS, "first"):
            drop_resident(getattr(self, name))

    def ends(self, rows: IntArray) -> tuple[FloatArray, FloatArray]:
        """Return the local-metre coordinates of the upstream and the downstream end of parts ``rows``, (n, 2) each.

        The same numbers :func:`measure` chose the ends by: each vertex is taken to its river's frame on its own.
        """
        rows = np.asarray(rows, dtype=np.int64)
        start, end = self.first[rows], self.first[rows + 1] - 1
        river = self.river[rows]
        back = self.reversed[rows][:, None]
        first_xy = self.frames.xy_to_local(self.coords[start], river)
        last_xy = self.frames.xy_to_local(self.coords[end], river)
        return np.where(back, last_xy, first_xy), np.where(back, first_xy, last_xy)

    def scale_of(self, rows: IntArray, metric: Polylines) -> FloatArray:
        """Return the geodesic metres per local metre along parts ``rows`` (``metric``: their :meth:`metric_of`)."""
        length = self.length[np.asarray(rows, dtype=np.int64)]
        return np.divide(length, metric.length, out=np.ones_like(length), where=metric.length > 0)

    def _vertices(self, rows: IntArray) -> tuple[FloatArray, IntArray]:
        """Return the lon/lat vertices of parts ``rows`` and the position in ``rows`` of each."""
        rows = np.asarray(rows, dtype=np.int64)
        counts = self.first[rows + 1] - self.first[rows]
        owner = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        return self.coords[index_ranges(self.first[rows], self.first[rows + 1])], owner

    def lonlat_of(self, rows: IntArray) -> Polylines:
        """Return the lon/lat vertices of parts ``rows``, as polylines numbered 0..len(rows)-1."""
        coords, owner = self._vertices(rows)
        return Polylines.of(coords, owner, part_starts(owner), len(rows))

    def metric_of(self, rows: IntArray) -> Polylines:
        """Return parts ``rows`` in their river's local metre frame, as polylines numbered 0..len(rows)-1."""
        coords, owner = self._vertices(rows)
        xy = self.frames.xy_to_local(coords, np.asarray(self.river, dtype=np.int64)[rows][owner])
        return Polylines.of(xy, owner, part_starts(owner), len(rows))

    def midpoints(self, rows: IntArray) -> tuple[FloatArray, FloatArray]:
        """Return the local-metre midpoint (half its length along) of parts ``rows``."""
        metric = self.metric_of(rows)
        return metric.point_at(metric.length / 2, np.arange(len(rows), dtype=np.int64))

    @cached_property
    def lonlat(self) -> Polylines:
        """All parts' lon/lat vertices (the stretch tables draw them)."""
        return self.lonlat_of(np.arange(len(self), dtype=np.int64))

    @cached_property
    def metric(self) -> Polylines:
        """All parts in their river's local metre frame."""
        return self.metric_of(np.arange(len(self), dtype=np.int64))

    @cached_property
    def midpoint(self) -> tuple[FloatArray, FloatArray]:
        """Return the local-metre midpoint (half its length along) of each part."""
        return self.metric.point_at(self.metric.length / 2, np.arange(len(self), dtype=np.int64))


class JoinedParts:
    """The part tables of batches joined as they come (their zone numbers already the joined ones).

    Each column is appended to batch by batch and, once large, kept in a temporary file rather than in
    memory (:class:`~gis_service.runtime.SpilledRows`): while the rest of a delivery is read, the parts of
    the batches before take no resident memory, and :meth:`table` maps them back for the walks, which
    read every part but the vertices only of the few parts that need them.
    """

    def __init__(self) -> None:
        self.columns: dict[str, SpilledRows] = {}
        self.wholes: list[GeomArray | None] = []
        self.frames: LocalFrames | None = None

    def append(self, table: PartTable) -> None:
        """Add ``table``'s parts after those so far."""
        vertices = len(self.columns["coords"]) if self.columns else 0
        for name in (*COLUMNS, "first"):
            values = table.first[:-1] + vertices if name == "first" else getattr(table, name)
            column = self.columns.get(name)
            if column is None:
                column = self.columns[name] = SpilledRows(values.dtype, values.shape[1:])
            column.append(values)
        self.wholes.append(table.whole)
        self.frames = table.frames

    def table(self) -> PartTable:
        """Return the parts so far as one table, handing the columns over (this is then empty)."""
        if self.frames is None:
            raise ValueError("no part table was added")
        columns, self.columns = self.columns, {}
        columns["first"].append(np.array([len(columns["coords"])]))
        # Read only: the walks hand their pages back (PartTable.release).
        arrays = {name: column.array(read_only=True) for name, column in columns.items()}
        wholes = [w for w in self.wholes if w is not None]
        whole = np.concatenate(wholes) if len(wholes) == len(self.wholes) else None
        self.wholes = []
        return PartTable(**arrays, frames=self.frames, whole=whole)


def zone_parts(
    zones: gpd.GeoDataFrame,
    river: IntArray,
    index: CenterlineIndex,
    bank_lines: gpd.GeoDataFrame | None,
    known: dict[str, int],
) -> tuple[GeomArray, IntArray, BoolArray]:
    """Return the lon/lat line parts of each zone, the zone of each (in zone order) and whether it is the whole zone."""
    geoms = np.asarray(zones.geometry.values, dtype=object)
    kind = shapely.get_type_id(geoms)
    simple = np.flatnonzero(kind == 1)
    other = np.flatnonzero(kind != 1)
    lines = geoms[other]
    polygon = np.isin(kind[other], (3, 6))
    if polygon.any():
        metric = index.frames.to_local(lines[polygon], river[other][polygon])
        banks = polygon_bank_lines(zones.iloc[other[polygon]], metric, river[other][polygon], index, bank_lines, known)
        lines[polygon] = index.frames.to_lonlat(banks, river[other][polygon])
    parts, owner = shapely.get_parts(lines, return_index=True)
    keep = shapely.get_type_id(parts) == 1
    zone = np.concatenate((simple, other[owner[keep]])).astype(np.int64)
    geoms = np.concatenate((geoms[simple], parts[keep]))
    whole = np.concatenate((np.ones(len(simple), dtype=bool), np.zeros(int(keep.sum()), dtype=bool)))
    order = np.argsort(zone, kind="stable")
    return geoms[order], zone[order], whole[order]


@dataclass
class Measured:
    """The numbers of a chunk of parts (see :func:`measure`); ``keep`` marks the parts with an extent."""

    keep: BoolArray
    coords: FloatArray  # the kept parts' lon/lat vertices
    counts: IntArray  # the kept parts' vertex counts
    a: FloatArray
    b: FloatArray
    reversed: BoolArray
    length: FloatArray


def measure(
    geoms: GeomArray, river: IntArray, index: CenterlineIndex, known: tuple[FloatArray, FloatArray] | None = None
) -> Measured:
    """Measure line parts ``geoms`` of rivers ``river``: geodesic length, chainage of both ends, direction.

    Parts with no extent (a point, an empty line) are marked not to keep, and measured as zero.
    ``known``: the centerline position of each part's first and last vertex where already projected
    (NaN elsewhere).
    """
    count = len(geoms)
    coords, vertex_part = shapely.get_coordinates(geoms, return_index=True)
    first = part_starts(vertex_part)
    metric_xy = index.frames.xy_to_local(coords, river[vertex_part])
    metric = Polylines.of(metric_xy, vertex_part, first, count)
    keep = metric.length > 0
    length = sum_by(vertex_part, vertex_steps(coords, first), count)
    # Each part's first and last vertex (a part without vertices points at 0; it is not kept).
    starts = np.minimum(np.searchsorted(vertex_part, np.arange(count), side="left"), max(len(coords) - 1, 0))
    ends = np.maximum(np.searchsorted(vertex_part, np.arange(count), side="right") - 1, 0)
    c0, c1 = np.zeros(count), np.zeros(count)
    if keep.any():
        k = np.flatnonzero(keep)
        s, e, r = starts[k], ends[k], river[k]
        for side, (c, i) in enumerate(((c0, s), (c1, e))):
            m = np.full(len(k), np.nan) if known is None else known[side][k]
            todo = np.flatnonzero(np.isnan(m))
            m[todo] = index.locate(metric.x[i[todo]], metric.y[i[todo]], r[todo])
            c[k] = index.geodesic(m, r)
    return Measured(
        keep=keep,
        coords=coords[keep[vertex_part]],
        counts=np.bincount(vertex_part, minlength=count)[keep].astype(np.int64),
        a=np.minimum(c0, c1),
        b=np.maximum(c0, c1),
        reversed=c0 > c1,
        length=length,
    )


def part_table(
    zones: gpd.GeoDataFrame,
    zone_river: IntArray,
    index: CenterlineIndex,
    bank_lines: gpd.GeoDataFrame | None,
    known: dict[str, int],
    ends: tuple[FloatArray, FloatArray] | None = None,
) -> PartTable:
    """Cut ``zones`` into parts and measure each: geodesic length, chainage of both ends, direction.

    Measured :data:`PARTS_PER_CHUNK` parts at a time; parts with no extent are left out. ``ends``:
    each zone's first and last vertex's centerline position where already projected (NaN elsewhere),
    which a zone that is its own part (a LineString) takes.
    """
    geoms, zone, whole = zone_parts(zones, zone_river, index, bank_lines, known)
    river = zone_river[zone]
    at = None if ends is None else tuple(np.where(whole, m[zone], np.nan) for m in ends)

    def chunk(lo: int, hi: int) -> Measured:
        part_ends = None if at is None else (at[0][lo:hi], at[1][lo:hi])
        return measure(geoms[lo:hi], river[lo:hi], index, part_ends)

    chunks = [chunk(lo, lo + PARTS_PER_CHUNK) for lo in range(0, len(geoms), PARTS_PER_CHUNK)] or [chunk(0, len(geoms))]
    keep = np.concatenate([c.keep for c in chunks])

    def joined(name: str) -> np.ndarray:
        values: np.ndarray = np.concatenate([getattr(c, name) for c in chunks])
        return values if keep.all() else values[keep]

    if not keep.all():
        geoms, zone, whole, river = geoms[keep], zone[keep], whole[keep], river[keep]
    bank = coded_as(zones["bank"], BANK_INDEX).astype(CODE)[zone]
    return PartTable(
        zone=zone.astype(NUMBER),
        river=river.astype(NUMBER),
        bank=bank,
        zone_type=coded_as(zones["zone_type"], TYPE_INDEX).astype(CODE)[zone],
        a=joined("a"),
        b=joined("b"),
        reversed=joined("reversed"),
        length=joined("length"),
        coords=np.concatenate([c.coords for c in chunks]),
        first=np.concatenate(([0], np.cumsum(np.concatenate([c.counts for c in chunks])))).astype(np.int64),
        frames=index.frames,
        whole=_where(whole, geoms),
    )


def river_groups(river: IntArray, size: int) -> list[IntArray]:
    """Return the parts of whole rivers, a group of rivers at a time with about ``size`` parts (a larger river alone).

    Each group's parts are in part order within each river (the walks' tie order).
    """
    if not len(river):
        return []
    order = np.argsort(river, kind="stable")
    counts = np.bincount(river)
    ends = np.cumsum(counts)
    # Cut after the river whose parts end the first beyond each multiple of ``size``.
    cuts = np.unique(np.searchsorted(ends, np.arange(size, int(ends[-1]), size), side="left"))
    bounds = [0, *ends[cuts].tolist(), len(river)]
    return [order[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]


def _where(mask: BoolArray, geoms: GeomArray) -> GeomArray:
    """Return ``geoms`` where ``mask`` holds, None elsewhere."""
    out = np.full(len(geoms), None, dtype=object)
    out[mask] = geoms[mask]
    return out


def coded_as(values: pd.Series, vocabulary: pd.Index) -> IntArray:
    """Return each value's place in ``vocabulary`` (-1: not in it, or missing).

    A categorical column (an import's coded fields) looks up its few categories, not its rows.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        places = np.append(vocabulary.get_indexer(values.cat.categories), -1)
        at: IntArray = places[values.cat.codes.to_numpy()]
        return at
    looked_up = places_in(values, vocabulary)
    if looked_up is not None:  # Arrow texts: looked up in Arrow, no Python string a row
        return looked_up
    out: IntArray = vocabulary.get_indexer(pd.Index(values, dtype=object))
    return out


def in_4490(gdf: gpd.GeoDataFrame, what: str, columns: Sequence[str]) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4490 after checking it has ``columns`` (a missing CRS is taken as 4490)."""
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise BadRequest(
            f"{what}缺少字段 {', '.join(missing)}；请按图层目录提供这些字段",
            code="ratio_input_missing_fields",
            details={"layer": what, "missing": missing},
        )
    if gdf.crs is None:
        gdf = gdf.set_crs(CRS)
    elif gdf.crs.to_epsg() != 4490:
        gdf = gdf.to_crs(CRS)
    return gdf


def polygon_bank_lines(
    zones: gpd.GeoDataFrame,
    polygons: GeomArray,
    river: IntArray,
    index: CenterlineIndex,
    bank_lines: gpd.GeoDataFrame | None,
    known: dict[str, int],
) -> GeomArray:
    """Return the bank line (local metres) inside each zone polygon (see :mod:`ratios` for the choice)."""
    left = zones["bank"].to_numpy() == "left"
    # A river's bank line, when the range delivery has one: (river index, bank) → local line.
    lines = np.full(len(zones), None, dtype=object)
    if bank_lines is not None and not bank_lines.empty:
        bl = in_4490(bank_lines, "管理范围线", ("river_code", "bank"))
        bl = bl[bl.geometry.geom_type.isin(["LineString", "MultiLineString"]) & bl["bank"].isin(BANKS)]
        bl = bl[bl["river_code"].isin(known)]
        if not bl.empty:
            r = bl["river_code"].map(known).to_numpy(dtype=np.int64)
            merged = bl.assign(_r=r, geometry=index.frames.to_local(bl.geometry.values, r))
            by_key = {
                (int(k[0]), str(k[1])): shapely.union_all(g.geometry.values) for k, g in merged.groupby(["_r", "bank"])
            }
            lines = np.array(
                [by_key.get((int(r_), b)) for r_, b in zip(river, zones["bank"], strict=True)], dtype=object
            )
    has_line = ~shapely.is_missing(lines)
    out = np.full(len(zones), None, dtype=object)
    if has_line.any():
        grown = shapely.buffer(polygons[has_line], POLYGON_EDGE_SLACK_M)
        out[has_line] = shapely.intersection(lines[has_line], grown)
    rest = ~has_line
    if rest.any():
        center = index.metric(river[rest])
        distance = shapely.distance(center, shapely.centroid(polygons[rest]))
        # shapely offsets a positive distance to the left of the line's direction (= the left bank).
        signed = np.where(left[rest], distance, -distance)
        offset = shapely.offset_curve(center, signed)
        out[rest] = shapely.intersection(offset, polygons[rest])
    return out
