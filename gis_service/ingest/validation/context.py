"""What validation reads from the database: known river codes, the delivery's rivers and approved ranges."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
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
from gis_service.runtime import in_background
from gis_service.settings import Settings
from gis_service.store.bulk import member_of
from gis_service.store.current import CurrentFeatures
from gis_service.store.rows import driver_rows


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
        rivers = read_current(session, catalogue["rivers"], "code", codes, ["code", "name", "important"])
        if layer.name == "zones" and not rivers.empty:
            # GEOS and numpy let go of Python's lock: a province's index (0.15–0.2 s) is built while the ranges
            # are read (0.12–0.2 s, mostly waiting for the server), not after (``benchmarks/README.md``, seventeenth
            # session).
            centerlines = in_background(centerline_index, rivers)
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
    query = read.select_columns(names, session_backend(session))
    blocks = [
        driver_rows(session, query.where(clause), len(names) + 1)
        for clause in member_of(session, read.table.c[column], codes)
    ]
    rows = np.concatenate(blocks) if blocks else np.empty((0, len(names) + 1), dtype=object)
    data = {n: _plain(rows[:, i], isinstance(read.table.c[n].type, Boolean)) for i, n in enumerate(names)}
    geometry = shapely.from_wkb(rows[:, -1])
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=4490), crs=4490)


def _plain(values: np.ndarray, boolean: bool) -> np.ndarray:
    """Return a column of driver values as objects; booleans as bool (SQLite's driver gives 0/1), None kept."""
    if not boolean:
        return np.ascontiguousarray(values)
    out = np.empty(len(values), dtype=object)
    out[:] = [None if v is None else bool(v) for v in values]
    return out
