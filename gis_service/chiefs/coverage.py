"""Patrol coverage: the share of a chief's reach centerline within a tolerance of the track, and track length.

Pure functions over lon/lat geometries. Buffers and intersections are taken in a local metre
frame around the reach (the one the chainage uses); lengths reported are geodesic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from gis_service.analysis.shoreline.chainage import LocalFrames, geodesic_lengths


def track_length(track: shapely.Geometry) -> float:
    """Return the geodesic length of a lon/lat track in metres."""
    return float(geodesic_lengths(np.asarray([track], dtype=object))[0])


def coverage(reaches: Sequence[shapely.Geometry], track: shapely.Geometry, tolerance_m: float) -> float:
    """Return the share (0–1) of the reach lines lying within ``tolerance_m`` of the track (0 for no reach)."""
    lines = shapely.union_all(np.asarray(list(reaches), dtype=object))
    if lines.is_empty or track.is_empty:
        return 0.0
    frames = LocalFrames.around(np.asarray([lines], dtype=object))
    local_reach, local_track = frames.to_local(np.asarray([lines, track], dtype=object), np.zeros(2, dtype=np.int64))
    total = local_reach.length
    if total <= 0:
        return 0.0
    covered = local_reach.intersection(local_track.buffer(tolerance_m, quad_segs=16)).length
    return float(min(covered / total, 1.0))
