"""Reaches (河段) by chainage: the piece of a centerline between two chainages, and the gaps and overlaps of reaches.

Pure functions over lon/lat geometries and numbers. Chainage is geodesic metres along the
centerline in flow direction, as :mod:`gis_service.analysis.shoreline.chainage` measures it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from gis_service.analysis.shoreline.chainage import chainage_text, step_lengths


def _coords(centerline: shapely.Geometry) -> np.ndarray:
    """Return the centerline's lon/lat vertices in flow order (parts of a multi-line joined end to end)."""
    merged = shapely.line_merge(centerline) if centerline.geom_type == "MultiLineString" else centerline
    parts = list(merged.geoms) if hasattr(merged, "geoms") else [merged]
    return np.concatenate([np.asarray(p.coords)[:, :2] for p in parts])


def centerline_length(centerline: shapely.Geometry) -> float:
    """Return the geodesic length of a lon/lat centerline in metres."""
    xy = _coords(centerline)
    return float(step_lengths(xy[:, 0], xy[:, 1]).sum())


def reach_line(centerline: shapely.Geometry, start_m: float, end_m: float) -> shapely.LineString:
    """Return the lon/lat piece of ``centerline`` from chainage ``start_m`` to ``end_m`` (geodesic metres)."""
    xy = _coords(centerline)
    along = np.concatenate(([0.0], np.cumsum(step_lengths(xy[:, 0], xy[:, 1]))))
    lo, hi = sorted((max(start_m, 0.0), min(end_m, along[-1])))

    def point_at(m: float) -> np.ndarray:
        # Within one surveyed segment (metres to a few hundred) lon/lat is linear to millimetres.
        return np.array([np.interp(m, along, xy[:, 0]), np.interp(m, along, xy[:, 1])])

    inside = xy[(along > lo) & (along < hi)]
    return shapely.LineString(np.vstack([point_at(lo), inside, point_at(hi)]))


@dataclass(frozen=True)
class Stretch:
    """A stretch of chainage ``[start_m, end_m]`` on a river, for gap and overlap reports."""

    start_m: float
    end_m: float

    @property
    def length_m(self) -> float:
        """The stretch's length in metres."""
        return self.end_m - self.start_m

    def as_dict(self) -> dict[str, float | str]:
        """Return the stretch with its K-form chainage, as the zone gaps are reported."""
        return {
            "start_m": round(self.start_m, 1),
            "end_m": round(self.end_m, 1),
            "start": chainage_text(self.start_m),
            "end": chainage_text(self.end_m),
            "length_m": round(self.length_m, 1),
        }


def gaps(reaches: Sequence[tuple[float, float]], length_m: float, tolerance_m: float) -> list[Stretch]:
    """Return the chainage of ``[0, length_m]`` no reach covers, leaving out slivers up to ``tolerance_m``."""
    out: list[Stretch] = []
    at = 0.0
    for start, end in sorted((min(a, b), max(a, b)) for a, b in reaches):
        if start - at > tolerance_m:
            out.append(Stretch(at, start))
        at = max(at, end)
    if length_m - at > tolerance_m:
        out.append(Stretch(at, length_m))
    return out


def overlaps(reaches: Sequence[tuple[float, float]], tolerance_m: float) -> list[Stretch]:
    """Return the chainage two or more reaches both cover, leaving out touches up to ``tolerance_m``."""
    out: list[Stretch] = []
    ordered = sorted((min(a, b), max(a, b)) for a, b in reaches)
    reach_end = -np.inf
    for start, end in ordered:
        if reach_end - start > tolerance_m:
            out.append(Stretch(start, min(end, reach_end)))
        reach_end = max(reach_end, end)
    return out
