"""Geometry helpers for the demo scale: projection, meandering courses, bank offsets and chainage."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, box

from gis_service.demo.vocabulary import DEMO_CRS, DEMO_EXTENT, GEOGRAPHIC_CRS

FloatArray = npt.NDArray[np.float64]


def chainage(metres: float) -> str:
    """Format a distance along the centerline as a chainage such as ``K1+250``."""
    m = int(round(metres))
    return f"K{m // 1000}+{m % 1000:03d}"


def _projector(src: str, dst: str) -> Transformer:
    """Return an x/y-ordered transformer between two CRS."""
    return Transformer.from_crs(src, dst, always_xy=True)


def project(lonlat: Sequence[tuple[float, float]]) -> FloatArray:
    """Project (lon, lat) pairs to EPSG:4524 (easting with zone prefix, northing)."""
    arr = np.asarray(lonlat, dtype=float)
    x, y = _projector(GEOGRAPHIC_CRS, DEMO_CRS).transform(arr[:, 0], arr[:, 1])
    return np.column_stack([x, y])


def district_polygon() -> Polygon:
    """Return the demo extent (a lon/lat box) as a polygon in EPSG:4524."""
    west, south, east, north = DEMO_EXTENT
    ring = shapely.segmentize(box(west, south, east, north), 0.002)
    xy = project([(float(x), float(y)) for x, y in ring.exterior.coords])
    return Polygon(xy)


def offset_point(line: LineString, s: float, offset: float) -> Point:
    """Return the point at chainage ``s`` moved ``offset`` metres to the left (negative: right)."""
    s = min(max(s, 0.0), line.length)
    p0 = line.interpolate(max(s - 1.0, 0.0))
    p1 = line.interpolate(min(s + 1.0, line.length))
    tx, ty = p1.x - p0.x, p1.y - p0.y
    norm = math.hypot(tx, ty)
    p = line.interpolate(s)
    return Point(p.x - ty / norm * offset, p.y + tx / norm * offset)


def meander(
    source: FloatArray, mouth: FloatArray, length: float, rng: np.random.Generator, spacing: float = 40.0
) -> FloatArray:
    """Return a smooth sinuous course from ``source`` to ``mouth`` about ``length`` metres long."""
    chord = mouth - source
    chord_len = float(np.hypot(*chord))
    along = chord / chord_len
    normal = np.array([-along[1], along[0]])
    n = max(int(round(length / spacing)), 50) + 1
    t = np.linspace(0.0, 1.0, n)
    scale = max(chord_len / 20_000.0, 0.5)
    freqs = np.array([rng.uniform(0.7, 1.3), rng.uniform(2.4, 3.4), rng.uniform(5.5, 7.5), rng.uniform(10, 13)])
    freqs = freqs * scale
    weights = np.array([0.5, 0.35, 0.25, 0.15]) * rng.uniform(0.8, 1.2, 4)
    phases = rng.uniform(0.0, 2 * math.pi, 4)
    wave = (weights[:, None] * np.sin(2 * math.pi * freqs[:, None] * t[None, :] + phases[:, None])).sum(axis=0)
    wave = wave - (wave[0] * (1 - t) + wave[-1] * t)  # pinned ends: the course meets source and mouth

    def course(amplitude: float) -> FloatArray:
        """Return the course for one meander amplitude."""
        out: FloatArray = source + t[:, None] * chord[None, :] + (amplitude * wave)[:, None] * normal[None, :]
        return out

    low, high = 0.0, chord_len
    for _ in range(60):  # bisection on the amplitude: length grows with it
        mid = (low + high) / 2
        if LineString(course(mid)).length < length:
            low = mid
        else:
            high = mid
    return course((low + high) / 2)
