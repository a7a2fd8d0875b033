"""What validation reads from the database: known river codes, the delivery's rivers and approved ranges."""

from __future__ import annotations

from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Boolean
from sqlalchemy.orm import Session

from gis_service.analysis.shoreline.ratios import centerline_index
from gis_service.catalogue import LayerSpec, catalogue_for
from gis_service.db.backend import session_backend
from gis_service.district import district_for
from gis_service.ingest.normalise import field_counts, field_values
from gis_service.ingest.read import Source
from gis_service.ingest.validation.validate import Context, Tolerances
from gis_service.runtime import SpilledBinary, in_background
from gis_service.settings import Settings
from gis_service.store.bulk import member_of
from gis_service.store.current import CurrentFeatures
from gis_service.store.rows import FETCH_BATCH, driver_blocks, driver_rows

WKB_BLOCK = 1024  # rows of WKB read from the driver at a time (:func:`read_current_wkb`)


def load_context(session: Session, layer: LayerSpec, source: Source, river: str | None, settings: Settings) -> Context:
    """Read what validation needs: known river codes, the delivery's rivers and their approved ranges.

    Read before the delivery's first batch is checked: the rivers it names come from its river column
    read alone (and ``--river``), the keys it holds (problem sites) from its key column. The checks'
    tolerances, the layer catalogue and the district come from ``settings``, the caller's (an app's
    or the CLI's).
    """
    catalogue = catalogue_for(settings)
    river_codes = CurrentFeatures(catalogue["rivers"])
    query = river_codes.select_columns(["code"], session_backend(session), geometry=False)
    known = {str(code) for code in driver_rows(session, query, 1)[:, 0]}
    columns = [str(c) for c in source.frame.columns if c != source.frame.geometry.name]
    counts = field_counts(layer, columns, source.column, "river_code")
    codes = sorted(set(counts) | ({river} if river and "river_code" in layer.field_names else set()))
    empty = gpd.GeoDataFrame({"code": [], "river_code": []}, geometry=[], crs=4490)
    rivers, ranges = empty, empty
    centerlines = None
    if codes and layer.name in {"boundaries", "zones", "stakes"}:
        names = ["code", "name", "important"]
        if layer.name == "zones":
            # A zone set's rivers are their centerline index: their WKB goes to a temporary file, and the index
            # makes a chunk of them geometries at a time (centerlines drawn every 50 m: 78 MB of GEOS geometries
            # at once, which held the import's peak). The rivers are then their columns alone.
            plain, wkb = read_current_wkb(session, catalogue["rivers"], "code", codes, names)
            rivers = gpd.GeoDataFrame(plain, geometry=gpd.GeoSeries([None] * len(plain), crs=4490), crs=4490)
            if len(wkb):
                # GEOS and numpy let go of Python's lock: a province's index (0.15–0.25 s; 1 s with a vertex every
                # 50 m) is built while the ranges are read (0.12–0.2 s, mostly waiting for the server) and then the
                # first batch (``RiverBatches.ready``), not before (``benchmarks/README.md``, seventeenth session).
                centerlines = in_background(centerline_index, wkb)
            del wkb  # the index's now: its file goes when the index is made
        else:
            rivers = read_current(session, catalogue["rivers"], "code", codes, names)
        if layer.name in {"zones", "stakes"}:
            ranges = read_current(session, catalogue["boundaries"], "river_code", codes, ["river_code", "bank"])
    existing: set[str] = set()
    if layer.name == "problems" and layer.key:
        keys = sorted(field_values(layer, columns, source.column, layer.key))
        read = CurrentFeatures(layer)
        query = read.select_columns([layer.key], session_backend(session), geometry=False)
        for clause in member_of(session, read.table.c[layer.key], keys):
            existing |= {str(k) for k in session.scalars(query.where(clause))}
    return Context(
        rivers=rivers,
        ranges=ranges,
        tolerances=Tolerances.of(settings),
        district=district_for(settings),
        known_rivers=known,
        existing_keys=existing,
        river_counts=counts,
        centerlines=centerlines,
    )


def read_current(
    session: Session, layer: LayerSpec, column: str, codes: list[str], names: list[str]
) -> gpd.GeoDataFrame:
    """Read ``names`` and the geometry of the current features of ``layer`` whose ``column`` is one of ``codes``.

    Rows straight from the driver's cursor (WKB as bytes, no Row objects): 10 000 rivers and their ranges.
    """
    read = CurrentFeatures(layer)
    blocks = list(_current_rows(session, read, column, codes, names))
    rows = np.concatenate(blocks) if blocks else np.empty((0, len(names) + 1), dtype=object)
    geometry = shapely.from_wkb(rows[:, -1])
    return gpd.GeoDataFrame(_columns(read, names, rows), geometry=gpd.GeoSeries(geometry, crs=4490), crs=4490)


def read_current_wkb(
    session: Session, layer: LayerSpec, column: str, codes: list[str], names: list[str]
) -> tuple[pd.DataFrame, SpilledBinary]:
    """Read as :func:`read_current` does, the geometries left as WKB: the columns as a frame, and the WKB in
    their rows' order, in a temporary file once large (:class:`~gis_service.runtime.SpilledBinary`)."""
    read = CurrentFeatures(layer)
    wkb = SpilledBinary()
    blocks = []
    # A block of WKB as bytes at a time: its rows' bytes go to the file before the next block's are made.
    for rows in _current_rows(session, read, column, codes, names, WKB_BLOCK):
        wkb.append(rows[:, -1])
        blocks.append(rows[:, :-1].copy())  # not a view: the block's WKB as bytes goes with it
        del rows
    rows = np.concatenate(blocks) if blocks else np.empty((0, len(names)), dtype=object)
    return pd.DataFrame(_columns(read, names, rows)), wkb


def _current_rows(
    session: Session, read: CurrentFeatures, column: str, codes: list[str], names: list[str], block: int = FETCH_BATCH
) -> Iterator[np.ndarray]:
    """Yield blocks of rows (``names``, then the WKB) of the current features whose ``column`` is one of ``codes``,
    ``block`` rows or fewer at a time."""
    query = read.select_columns(names, session_backend(session))
    for clause in member_of(session, read.table.c[column], codes):
        yield from driver_blocks(session, query.where(clause), len(names) + 1, block)


def _columns(read: CurrentFeatures, names: list[str], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Return the columns ``names`` of driver ``rows`` (the first columns) read from ``read`` as the service's
    values."""
    return {n: _plain(rows[:, i], isinstance(read.table.c[n].type, Boolean)) for i, n in enumerate(names)}


def _plain(values: np.ndarray, boolean: bool) -> np.ndarray:
    """Return a column of driver values as objects; booleans as bool (SQLite's driver gives 0/1), None kept."""
    if not boolean:
        return np.ascontiguousarray(values)
    out = np.empty(len(values), dtype=object)
    out[:] = [None if v is None else bool(v) for v in values]
    return out
