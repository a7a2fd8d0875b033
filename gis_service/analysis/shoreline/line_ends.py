"""Where the two ends of a batch's stretches project onto their river's centerline, shared by two checks.

The bank-side check and the ratio check's measuring both need the ends of each stretch on its
centerline (the side is that of its ends; the chainage interval runs between them). A stretch
that is one LineString is projected once, here, and both read the result: two projections a
stretch instead of three. The figures are those :meth:`CenterlineIndex.locate` gives for the same
vertices, so the chainage does not depend on which check projected them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gis_service.analysis.shoreline.chainage import CenterlineIndex, FloatArray, GeomArray, IntArray

STEP_M = 5.0  # half-length of the centerline tangent used to decide a side
# Ends projected at once, river after river, the index's pages handed back after each chunk: a batch's 1 600
# rivers drawn with a vertex every 50 m held 25 MB of those pages at once, the import's peak (368 -> 345 MB).
ENDS_CHUNK = 8192
LINESTRING = 1  # shapely's type id


def crossing(index: CenterlineIndex, m: FloatArray, x: FloatArray, y: FloatArray, river: IntArray) -> FloatArray:
    """Return the cross product of the centerline's direction at ``m`` and the way to point (x, y).

    Positive: the point lies left of the centerline looking downstream; negative: right. The
    direction is the chord from :data:`STEP_M` before ``m`` to :data:`STEP_M` after (clamped to the line).
    """
    (ax, ay), (bx, by) = (index.point_at(d, river) for d in (m - STEP_M, m + STEP_M))
    out: FloatArray = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
    return out


def _located(index: CenterlineIndex, x: FloatArray, y: FloatArray, river: IntArray) -> tuple[FloatArray, FloatArray]:
    """Return each point's position on its river's centerline and the sign of its side (see :func:`crossing`).

    Stretches laid end to end along a bank share their ends: each distinct (river, x, y) is projected once
    and its figures handed to its repeats. Points are grouped by a hash of their bits and a repeat is
    checked against its group's first point, so a hash collision only costs a projection of its own: the
    figures are those of projecting every point.
    """
    key = pd.util.hash_array(x.view(np.int64)) * np.uint64(1_000_003)
    key ^= pd.util.hash_array(y.view(np.int64))
    key = key * np.uint64(1_000_003) ^ pd.util.hash_array(np.asarray(river, dtype=np.int64))
    code, uniques = pd.factorize(key)
    first = np.empty(len(uniques), dtype=np.int64)
    first[code[::-1]] = np.arange(len(code) - 1, -1, -1)  # each group's first point
    rep = first[code]
    alone = np.flatnonzero((x[rep] != x) | (y[rep] != y) | (river[rep] != river))
    rows = np.concatenate((first, alone))
    m_rows = index.locate(x[rows], y[rows], river[rows])
    sign_rows = np.sign(crossing(index, m_rows, x[rows], y[rows], river[rows]))
    m, sign = m_rows[: len(first)][code], sign_rows[: len(first)][code]
    m[alone], sign[alone] = m_rows[len(first) :], sign_rows[len(first) :]
    return m, sign


@dataclass(frozen=True)
class LineEnds:
    """The single-LineString stretches ``rows`` of a batch: their river, ends' positions and sides."""

    index: CenterlineIndex
    count: int  # the batch's stretches
    rows: IntArray
    river: IntArray
    start: FloatArray  # position along the centerline of each first vertex (local metres)
    end: FloatArray  # of each last vertex
    side: FloatArray  # +1 left, -1 right, 0 where the two ends disagree (or lie on the line)

    @classmethod
    def of(cls, geoms: GeomArray, rows: IntArray, river: IntArray, index: CenterlineIndex, count: int) -> LineEnds:
        """Project the ends of ``geoms[rows]`` (lon/lat) that are single LineStrings onto rivers ``river``."""
        single = shapely.get_type_id(geoms[rows]) == LINESTRING
        rows, river = rows[single], river[single]
        coords = shapely.get_coordinates(geoms[rows])
        counts = shapely.get_num_coordinates(geoms[rows])
        last = np.cumsum(counts) - 1
        ends = np.concatenate((coords[last - counts + 1], coords[last]))
        both = np.concatenate((river, river))
        # The same arithmetic as the ratio check's measuring on these vertices: the same positions.
        xy = index.frames.xy_to_local(ends, both)
        x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
        m, sign = np.empty(len(both)), np.empty(len(both))
        order = np.argsort(both, kind="stable")
        for lo in range(0, len(order), ENDS_CHUNK):
            at = order[lo : lo + ENDS_CHUNK]
            m[at], sign[at] = _located(index, x[at], y[at], both[at])
            index.release()  # the chunk's rivers' pages: the next chunk's rivers are others
        n = len(rows)
        side = np.where(sign[:n] == sign[n:], sign[:n], 0.0)
        return cls(index, count, rows, river, m[:n], m[n:], side)

    def positions(self, river: IntArray) -> tuple[FloatArray, FloatArray]:
        """Return the first and last vertex's position of each of the batch's stretches (NaN where not projected).

        ``river``: each stretch's river as the caller numbers them; a stretch whose river differs
        from the one projected onto gets NaN.
        """
        start, end = np.full(self.count, np.nan), np.full(self.count, np.nan)
        same = river[self.rows] == self.river
        start[self.rows[same]] = self.start[same]
        end[self.rows[same]] = self.end[same]
        return start, end
