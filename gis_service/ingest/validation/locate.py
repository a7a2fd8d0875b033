"""Where a finding points: a feature's number, its id and the lon/lat of its representative point."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, SupportsInt

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from gis_service.ingest.normalise import Finding
from gis_service.runtime import column_rows, spilled_arrow
from gis_service.wkb import simple_wkb

MAX_LISTED = 20  # features named in one aggregated finding


class Locator:
    """Feature numbers, ids and lon/lat of each feature's representative point.

    Points and ids are worked out on the first finding, for all features at once (vectorised), so
    a clean delivery never pays for them. ``first`` is how many features of the layer come before
    ``frame`` (a batch of it): findings carry the feature's number in the whole layer.
    """

    def __init__(self, frame: gpd.GeoDataFrame, key: str | None, first: int = 0) -> None:
        self.frame = frame
        self.first = first
        self.key = key if key in frame else None
        self._xy: np.ndarray | None = None
        self._ids: list[Any] | None = None

    def _prepare(self) -> tuple[np.ndarray, list[Any] | None]:
        """Compute every feature's representative point and id (once)."""
        if self._xy is None:
            self._xy = np.full((len(self.frame), 2), np.nan)
            for start, geoms in geometry_chunks(self.frame):
                usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
                if usable.any():
                    rows = start + np.flatnonzero(usable)
                    self._xy[rows] = shapely.get_coordinates(shapely.point_on_surface(geoms[usable]))
            if self.key:
                column = self.frame[self.key]
                self._ids = column.astype(object).where(column.notna(), None).tolist()
        return self._xy, self._ids

    def spot(self, i: int) -> tuple[float | None, float | None, str | None]:
        """Return lon, lat (rounded; None when the feature has no geometry) and id of feature ``i`` (0-based)."""
        xy, ids = self._prepare()
        lon, lat = xy[i]
        ident = ids[i] if ids else None
        if np.isnan(lon):
            return None, None, None if ident is None else str(ident)
        return round(float(lon), 7), round(float(lat), 7), None if ident is None else str(ident)

    def number(self, i: SupportsInt) -> int:
        """Return the number (1-based, in the whole layer) of the frame's feature ``i`` (0-based)."""
        return self.first + int(i) + 1

    def finding(self, i: int, **kw: Any) -> Finding:
        """Return a finding about the frame's feature ``i`` (0-based), placed at its representative point."""
        lon, lat, ident = self.spot(i)
        place = {} if lon is None else {"lon": lon, "lat": lat}
        return Finding(feature=self.number(i), feature_id=ident, **{**place, **kw})


# A layer kept without its geometries (the whole-layer stage of a layer read in batches) holds them as WKB.
WKB = "_wkb"
CHUNK = 65_536  # geometries decoded from WKB at once


def geometry_chunks(frame: pd.DataFrame) -> Iterator[tuple[int, np.ndarray]]:
    """Yield the frame's geometries: all at once, or when kept as WKB (:data:`WKB`) decoded a chunk at a time."""
    if WKB not in frame:
        yield 0, np.asarray(frame.geometry.values, dtype=object)
        return
    for start in range(0, len(frame), CHUNK):
        yield start, from_wkb(frame[WKB], np.arange(start, min(start + CHUNK, len(frame))))


def as_wkb(geoms: np.ndarray, *, spill: bool = False) -> pd.Series:
    """Return geometries as a WKB column of Arrow binaries (no Python object a row; null for a missing one).

    ``spill``: kept in a temporary file rather than in memory (:func:`~gis_service.runtime.spilled_arrow`),
    for a column the later stages read a few rows of (:func:`from_wkb`).
    """
    simple = simple_wkb(geoms)  # made from the coordinates: no bytes object a row (lines and points)
    wkb = simple.cast(pa.binary()) if simple is not None else pa.array(shapely.to_wkb(geoms), type=pa.binary())
    return pd.Series(pd.arrays.ArrowExtensionArray(spilled_arrow(wkb) if spill else wkb))


def from_wkb(column: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Return the geometries of ``rows`` of a WKB column made by :func:`as_wkb`."""
    out: np.ndarray = shapely.from_wkb(column_rows(column, rows))
    return out


def numbers(rows: Iterable[int]) -> str:
    """Return feature numbers (1-based) as a short list for a message."""
    rows = list(rows)
    text = "、".join(str(i + 1) for i in rows[:MAX_LISTED])
    return text + (f" 等 {len(rows)} 个" if len(rows) > MAX_LISTED else "")


def place(findings: list[Finding], frame: gpd.GeoDataFrame, key: str | None) -> None:
    """Give findings about a feature that have no spot yet (e.g. unknown values) the feature's lon/lat and id."""
    loc = Locator(frame, key)
    for f in findings:
        if f.feature is not None and f.lon is None and 0 < f.feature <= len(frame):
            lon, lat, ident = loc.spot(f.feature - 1)
            f.lon, f.lat = lon, lat
            f.feature_id = f.feature_id or ident
