"""Points at given distances along polylines, for many queries at once (numpy, no per-query GEOS call).

Same answer as ``shapely.line_interpolate_point`` for distances within the line: the point
``d`` metres from the line's start, walking its parts in order.
"""

from __future__ import annotations

import numpy as np
import shapely


class Polylines:
    """A vertex table of many lines (metres), for interpolating positions along them."""

    def __init__(self, xy: np.ndarray, part: np.ndarray, line_of_part: np.ndarray, n: int) -> None:
        """Build from vertex rows ``xy``, each vertex's part, each part's line, and the number of lines."""
        self.xy = xy
        self.line = line_of_part[part]
        step = np.zeros(len(xy))
        if len(xy) > 1:
            # No step between two parts: a multi-part line's length is the sum of its parts' lengths.
            step[1:] = np.where(part[1:] == part[:-1], np.hypot(*(xy[1:] - xy[:-1]).T), 0.0)
        self.length = np.bincount(self.line, weights=step, minlength=n)
        # Lines laid end to end on one axis, 1 m apart, so one searchsorted finds every query's segment.
        self.base = np.concatenate(([0.0], np.cumsum(self.length + 1.0)[:-1]))
        start = np.concatenate(([0.0], np.cumsum(self.length)[:-1]))
        self.position = np.cumsum(step) - start[self.line] + self.base[self.line]
        self.first = np.searchsorted(self.line, np.arange(n), side="left")
        self.last = np.searchsorted(self.line, np.arange(n), side="right") - 1

    @classmethod
    def of(cls, lines: np.ndarray) -> Polylines:
        """Build from line geometries (LineString or MultiLineString, in metres)."""
        xy, part, owner = vertices(lines)
        return cls(xy, part, owner, len(lines))

    def point_at(self, line: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """Return the (x, y) rows at ``distance`` (within 0..length) along line ``line[i]`` of each query."""
        at = self.base[line] + distance
        k = np.searchsorted(self.position, at, side="right") - 1
        k = np.clip(k, self.first[line], np.maximum(self.last[line] - 1, self.first[line]))
        nxt = np.minimum(k + 1, self.last[line])
        span = self.position[nxt] - self.position[k]
        t = np.divide(at - self.position[k], span, out=np.zeros_like(at), where=span > 0)
        t = np.clip(t, 0.0, 1.0)
        return self.xy[k] + t[:, None] * (self.xy[nxt] - self.xy[k])


def vertices(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the vertex rows of line geometries, each vertex's part and each part's line."""
    if (shapely.get_type_id(lines) == 1).all():
        # Single-part lines (the usual delivery) are their own parts: no copies of 200 000 geometries.
        xy, line = shapely.get_coordinates(lines, return_index=True)
        return xy, line, np.arange(len(lines))
    parts, owner = shapely.get_parts(lines, return_index=True)
    xy, part = shapely.get_coordinates(parts, return_index=True)
    return xy, part, owner
