"""Geodesic lengths and chainage (桩号) along river centerlines, vectorised over whole layers.

Lengths are geodesic on the CGCS2000 ellipsoid, computed for all segments of all geometries in
one numpy pass (:func:`step_lengths`). Chainage is found by projecting points onto the
centerline in a local metric frame per river, then converted to geodesic metres along the
centerline, so that the frame's small scale error never reaches a reported number.

The local frame is an equirectangular projection centred on each river (metres per degree of
the ellipsoid at the river's mid-latitude). It depends only on lon/lat, so inputs delivered in
EPSG:4490, 4524 or 4545, or rivers that cross a Gauss-Krüger zone boundary (105°E, 108°E), give
the same figures; within one river its distortion (≈ tan φ·Δφ, under 0.5 % for 50 km north-south)
only moves where a point lands by centimetres, never what is measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod

from gis_service.analysis.shoreline.polylines import Polylines, cumulative, sum_by, vertex_table
from gis_service.runtime import SpilledRows, drop_resident, interp

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
GeomArray = npt.NDArray[np.object_]

# CGCS2000 uses the GRS80-like CGCS2000 ellipsoid (a = 6378137, 1/f = 298.257222101).
GEOD = Geod(a=6378137.0, rf=298.257222101)
_E2 = GEOD.es
# Up to this chord the closed form of :func:`step_lengths` agrees with pyproj's geodesic
# (Karney) to 2e-8 m; longer segments, rare in surveyed lines, go to pyproj.
SHORT_CHORD_M = 10_000.0
STEP_BLOCK = 65_536


def chainage_text(metres: float | None) -> str:
    """Return chainage in the surveyors' form, e.g. 1250.4 → ``K1+250`` (whole metres)."""
    if metres is None or not math.isfinite(metres):
        return ""
    whole = int(round(max(metres, 0.0)))
    return f"K{whole // 1000}+{whole % 1000:03d}"


def chainage_texts(metres: FloatArray) -> list[str]:
    """Return :func:`chainage_text` of each value, vectorised ("" for NaN)."""
    metres = np.asarray(metres, dtype=float)
    if not len(metres):
        return []
    finite = np.isfinite(metres)
    # np.rint rounds half to even, like Python's round().
    whole = np.rint(np.maximum(np.where(finite, metres, 0.0), 0.0)).astype(np.int64)
    km = (whole // 1000).astype(str)
    rest = np.char.zfill((whole % 1000).astype(str), 3)
    text = np.char.add(np.char.add(np.char.add("K", km), "+"), rest).astype(object)
    text[~finite] = ""
    return list(text)


def step_lengths(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Return the geodesic distance in metres from each lon/lat vertex to the next (one fewer value).

    The chord between the two points in earth-centred coordinates, lengthened to the arc of the
    ellipsoid's normal curvature along its direction (Euler: cos²α/M + sin²α/N):
    s = c·(1 + (cκ)²/24 + 3(cκ)⁴/640). For chords under :data:`SHORT_CHORD_M` this matches
    the exact geodesic to a few nanometres; longer ones are computed by pyproj.
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    out = np.zeros(max(len(lon) - 1, 0))
    # In blocks, so that the temporaries stay small (and in the CPU cache).
    for lo in range(0, len(out), STEP_BLOCK):
        hi = min(lo + STEP_BLOCK, len(out))
        out[lo:hi] = _short_steps(lon[lo : hi + 1], lat[lo : hi + 1])
    far = np.flatnonzero(out > SHORT_CHORD_M)
    if len(far):
        out[far] = GEOD.inv(lon[far], lat[far], lon[far + 1], lat[far + 1])[2]
    return out


def _short_steps(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Return the closed-form step lengths of :func:`step_lengths` for consecutive vertices."""
    phi, lam = np.radians(lat), np.radians(lon)
    sp, cp, sl, cl = np.sin(phi), np.cos(phi), np.sin(lam), np.cos(lam)
    w2 = 1.0 - _E2 * sp * sp
    n = GEOD.a / np.sqrt(w2)
    dx, dy, dz = np.diff(n * cp * cl), np.diff(n * cp * sl), np.diff(n * (1.0 - _E2) * sp)
    chord2 = dx * dx + dy * dy + dz * dz
    # The chord's direction in the tangent plane at its first end gives the azimuth α.
    east = cl[:-1] * dy - sl[:-1] * dx
    north = cp[:-1] * dz - sp[:-1] * (cl[:-1] * dx + sl[:-1] * dy)
    plane2 = east * east + north * north
    meridian = n[:-1] * (1.0 - _E2) / w2[:-1]
    curvature = np.divide(
        north * north / meridian + east * east / n[:-1], plane2, out=np.zeros_like(plane2), where=plane2 > 0
    )
    k2 = chord2 * curvature * curvature
    return np.asarray(np.sqrt(chord2) * (1.0 + k2 / 24.0 + 3.0 * k2 * k2 / 640.0))


def segment_table(geoms: GeomArray) -> tuple[FloatArray, IntArray, npt.NDArray[np.bool_]]:
    """Return all vertices of ``geoms`` (lines), the geometry index of each, and whether it starts a part."""
    return vertex_table(geoms)


def vertex_steps(coords: FloatArray, first: npt.NDArray[np.bool_]) -> FloatArray:
    """Return the geodesic length of the segment ending at each lon/lat vertex (0 where a part starts)."""
    steps = np.zeros(len(coords))
    if len(coords) >= 2:
        steps[1:] = np.where(first[1:], 0.0, step_lengths(coords[:, 0], coords[:, 1]))
    return steps


def geodesic_lengths(geoms: GeomArray) -> FloatArray:
    """Return the geodesic length in metres of each lon/lat line geometry (0 for empty or None)."""
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return np.zeros(0)
    coords, owner, first = segment_table(geoms)
    return sum_by(owner, vertex_steps(coords, first), len(geoms))


@dataclass(frozen=True)
class LocalFrames:
    """One equirectangular metre frame per river: origin (lon0, lat0) and metres per degree."""

    lon0: FloatArray
    lat0: FloatArray
    kx: FloatArray
    ky: FloatArray

    @classmethod
    def around(cls, geoms: GeomArray) -> LocalFrames:
        """Return frames centred on the bounding box of each lon/lat geometry."""
        bounds = shapely.bounds(np.asarray(geoms, dtype=object))
        bounds = np.nan_to_num(bounds)
        lon0 = (bounds[:, 0] + bounds[:, 2]) / 2
        lat0 = (bounds[:, 1] + bounds[:, 3]) / 2
        phi = np.radians(lat0)
        w = np.sqrt(1 - _E2 * np.sin(phi) ** 2)
        # Meridian (M) and prime-vertical (N) radii of curvature of the ellipsoid.
        m_radius = GEOD.a * (1 - _E2) / w**3
        n_radius = GEOD.a / w
        return cls(lon0, lat0, np.radians(1) * n_radius * np.cos(phi), np.radians(1) * m_radius)

    @classmethod
    def joined(cls, parts: list[LocalFrames]) -> LocalFrames:
        """Return the frames of ``parts`` (of consecutive geometries) as one."""
        if not parts:
            return cls(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("lon0", "lat0", "kx", "ky")))

    def xy_to_local(self, xy: FloatArray, f: IntArray) -> FloatArray:
        """Return lon/lat rows ``xy`` in the metre frame ``f[i]`` of each."""
        return np.column_stack(self.local_xy(xy, f))

    def local_xy(self, xy: FloatArray, f: IntArray) -> tuple[FloatArray, FloatArray]:
        """Return :meth:`xy_to_local` as its two columns, each an array of its own."""
        return (xy[:, 0] - self.lon0[f]) * self.kx[f], (xy[:, 1] - self.lat0[f]) * self.ky[f]

    def xy_to_lonlat(self, xy: FloatArray, f: IntArray) -> FloatArray:
        """Return metre rows ``xy`` of frame ``f[i]`` back in lon/lat."""
        return np.column_stack((xy[:, 0] / self.kx[f] + self.lon0[f], xy[:, 1] / self.ky[f] + self.lat0[f]))

    def to_local(self, geoms: GeomArray, frame: IntArray) -> GeomArray:
        """Return ``geoms`` (lon/lat) in the metre frame ``frame[i]`` of each."""
        geoms = np.asarray(geoms, dtype=object)
        _, owner = shapely.get_coordinates(geoms, return_index=True)
        return np.asarray(shapely.transform(geoms, lambda xy: self.xy_to_local(xy, frame[owner])), dtype=object)

    def to_lonlat(self, geoms: GeomArray, frame: IntArray) -> GeomArray:
        """Return local-frame ``geoms`` back in lon/lat."""
        geoms = np.asarray(geoms, dtype=object)
        _, owner = shapely.get_coordinates(geoms, return_index=True)
        return np.asarray(shapely.transform(geoms, lambda xy: self.xy_to_lonlat(xy, frame[owner])), dtype=object)


# Centerlines made into the index at once (:class:`CenterlineIndex`): a chunk's merged lines and temporaries.
# Measured on a province's centerlines drawn with a vertex every 50 m: chunks of 1 024 rivers raised the
# resident memory by 150 MB while the index was made, chunks of 256 by 83 MB, in the same time.
INDEX_CHUNK = 256
# The index's columns kept on disk (:class:`~gis_service.runtime.SpilledRows`): name, type.
INDEX_COLUMNS = (
    ("x", np.float64),
    ("y", np.float64),
    ("line", np.int64),
    ("first", np.bool_),
    ("step", np.float64),
    ("measure", np.float64),
    ("chainage", np.float64),
    ("segment", np.int64),
)


class Chunked(Protocol):
    """What :class:`CenterlineIndex` is made of a run at a time: a geometry array, or WKB kept on disk."""

    def __len__(self) -> int: ...

    def __getitem__(self, rows: slice, /) -> Any: ...


class CenterlineIndex:
    """Chainage along each river's centerline: local-metre positions ↔ geodesic metres.

    Made :data:`INDEX_CHUNK` centerlines at a time (``prepare`` makes a chunk of ``centerlines`` into the lines to
    index: merged, say): the lines' vertex tables, local metres, steps and running lengths are a chunk's at a
    time, and go to temporary files (:class:`~gis_service.runtime.SpilledRows`) as they are made. A province's
    centerlines drawn with a vertex every 50 m (2.6 million) held 145 MB of columns and 120 MB of temporaries
    whole; their pages are now the kernel's page cache, resident while read and handed back by :meth:`release`.
    Each column is the one made of all the lines at once, to the bit: every figure is a line's own.
    """

    def __init__(
        self,
        centerlines: Chunked,
        prepare: Callable[[Any], GeomArray] | None = None,
        release: Callable[[], None] | None = None,
    ) -> None:
        # ``centerlines``: the lines, or anything ``prepare`` makes them of a run at a time (their WKB on disk: no
        # whole layer of geometries at once); ``release`` then hands back the pages of the run just read.
        n = len(centerlines)
        extents = []
        columns = {name: SpilledRows(dtype) for name, dtype in INDEX_COLUMNS}
        frames: list[LocalFrames] = []
        metric_length, geodesic_length, segments = [], [], []
        windows: list[tuple[IntArray, IntArray, IntArray, IntArray, FloatArray]] = []
        vertices = made_windows = made_segments = 0
        for lo in range(0, n, INDEX_CHUNK):
            chunk = centerlines[lo : lo + INDEX_CHUNK]
            if release is not None:
                release()  # the chunk is read
            chunk = prepare(chunk) if prepare is not None else chunk
            frames.append(LocalFrames.around(chunk))
            extents.append(shapely.total_bounds(chunk))
            coords, owner, first = segment_table(chunk)
            lines = Polylines(*frames[-1].local_xy(coords, owner), owner, first, len(chunk))
            g = vertex_steps(coords, first)
            del coords
            seg = np.flatnonzero(lines.valid)
            if len(owner):  # a chunk of empty lines has no vertex (nor the one-value running sums of none)
                made = {
                    "x": lines.x,
                    "y": lines.y,
                    "line": owner + lo,
                    "first": first,
                    # The step from the chunk before's last vertex to this one's first is between two lines: none.
                    "step": lines.step if not vertices else np.concatenate(([0.0], lines.step)),
                    "measure": lines.measure,
                    "chainage": cumulative(g, owner),
                    "segment": seg + vertices,
                }
                for name, values in made.items():
                    columns[name].append(values)
            metric_length.append(lines.length)
            geodesic_length.append(sum_by(owner, g, len(chunk)))
            segments.append(np.bincount(owner[seg], minlength=len(chunk)))
            # The windows' boxes while the chunk's vertices are at hand: numbered among all the lines' windows and
            # segments.
            first_window, per_line, start, size, boxes = lines._windows
            windows.append((first_window + made_windows, per_line, start + made_segments, size, boxes))
            vertices += len(owner)
            made_windows += len(start)
            made_segments += len(seg)
        kept = {name: column.array(read_only=True) for name, column in columns.items()}
        self.frames = LocalFrames.joined(frames)
        # The lines' lon/lat extent (minx, miny, maxx, maxy; NaN without a vertex), as their layer's total_bounds.
        extent = np.array(extents).reshape(-1, 4)
        self.bounds = np.concatenate(
            (np.fmin.reduce(extent[:, :2], initial=np.nan), np.fmax.reduce(extent[:, 2:], initial=np.nan))
        )
        self.metric_length = _joined(metric_length)
        self.geodesic_length = _joined(geodesic_length)
        count = _joined(segments).astype(np.int64)
        # Global, non-decreasing lookup tables: river r occupies [base_r, base_r + length_r] (+1 m apart); the metric
        # one is the lines' own (:attr:`Polylines.axis`: their point_at reads it too).
        self._mbase = np.concatenate(([0.0], np.cumsum(self.metric_length + 1.0)[:-1]))
        self._mx = _spilled_sum(kept["measure"], self._mbase, kept["line"])
        self._gbase = np.concatenate(([0.0], np.cumsum(self.geodesic_length + 1.0)[:-1]))
        self._gx = _spilled_sum(kept["chainage"], self._gbase, kept["line"])
        self.lines = Polylines.made(
            kept["x"],
            kept["y"],
            kept["line"],
            kept["first"],
            n,
            step=kept["step"],
            measure=kept["measure"],
            length=self.metric_length,
            segments=(kept["segment"], np.cumsum(count) - count, count),
            axis=(self._mbase, self._mx),
            windows=_joined_windows(windows),
        )
        self.release()  # the pages the build read back (the running sums): the first lookups read their own

    def release(self) -> None:
        """Hand back the pages of the index's columns read so far (they stay on disk, and come back when read)."""
        for values in (*self.lines.columns(), self._gx):
            drop_resident(values)

    def metric(self, which: IntArray) -> GeomArray:
        """Return centerlines ``which`` as geometries in their local metre frames (an empty one as LINESTRING EMPTY)."""
        out = self.lines.linestrings(which)
        out[shapely.is_missing(out)] = shapely.LineString()
        return out

    def locate(self, x: FloatArray, y: FloatArray, river: IntArray) -> FloatArray:
        """Return the metric position along river ``river[i]``'s centerline nearest to each point (x, y)."""
        return self.lines.project(x, y, river)[0]

    def point_at(self, metric_pos: FloatArray, river: IntArray) -> tuple[FloatArray, FloatArray]:
        """Return the local-metre point at each metric position along the centerline."""
        return self.lines.point_at(metric_pos, river)

    def geodesic(self, metric_pos: FloatArray, river: IntArray) -> FloatArray:
        """Convert metric positions along the centerline to geodesic chainage in metres."""
        if not len(metric_pos):
            return np.zeros(0)
        x = np.clip(metric_pos, 0.0, self.metric_length[river]) + self._mbase[river]
        return interp(x, self._mx, self._gx) - self._gbase[river]

    def to_metric(self, chainage: FloatArray, river: IntArray) -> FloatArray:
        """Convert geodesic chainage back to metric positions along the centerline."""
        if not len(chainage):
            return np.zeros(0)
        x = np.clip(chainage, 0.0, self.geodesic_length[river]) + self._gbase[river]
        return interp(x, self._gx, self._mx) - self._mbase[river]


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """Return the per-line ``parts`` of the chunks as one array (empty when there were none)."""
    return np.concatenate(parts) if parts else np.zeros(0)


def _joined_windows(
    parts: list[tuple[IntArray, IntArray, IntArray, IntArray, FloatArray]],
) -> tuple[IntArray, IntArray, IntArray, IntArray, FloatArray]:
    """Return the chunks' windows (:attr:`Polylines._windows`, numbered among all the lines') as the lines' own."""
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty, np.empty((4, 0))
    first, count, start, size = (np.concatenate([p[k] for p in parts]) for k in range(4))
    return first, count, start, size, np.concatenate([p[4] for p in parts], axis=1)


def _spilled_sum(values: FloatArray, offset: FloatArray, line: IntArray) -> FloatArray:
    """Return ``values + offset[line]``, read-only, made :data:`INDEX_CHUNK` × 1 024 values at a time into a
    spilled column (never a whole temporary beside it)."""
    out = SpilledRows(np.float64)
    step = INDEX_CHUNK * 1024
    for lo in range(0, len(values), step):
        out.append(values[lo : lo + step] + offset[line[lo : lo + step]])
        drop_resident(values)
        drop_resident(line)
    return out.array(read_only=True)
