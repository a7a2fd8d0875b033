"""What validation reads from the database: known river codes, the delivery's rivers and approved ranges."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec, catalogue_for
from gis_service.db.backend import session_backend
from gis_service.district import district_for
from gis_service.ingest.normalise import field_values
from gis_service.ingest.read import Source
from gis_service.ingest.validation.validate import Context, Tolerances
from gis_service.settings import Settings
from gis_service.store.bulk import member_of
from gis_service.store.current import CurrentFeatures


def load_context(session: Session, layer: LayerSpec, source: Source, river: str | None, settings: Settings) -> Context:
    """Read what validation needs: known river codes, the delivery's rivers and their approved ranges.

    Read before the delivery's first batch is checked: the rivers it names come from its river column
    read alone (and ``--river``), the keys it holds (problem sites) from its key column. The checks'
    tolerances, the layer catalogue and the district come from ``settings``, the caller's (an app's
    or the CLI's).
    """
    catalogue = catalogue_for(settings)
    known = {str(code) for (code,) in CurrentFeatures(catalogue["rivers"]).values(session, "code")}
    columns = [str(c) for c in source.frame.columns if c != source.frame.geometry.name]
    named = field_values(layer, columns, source.column, "river_code")
    codes = sorted(named | ({river} if river and "river_code" in layer.field_names else set()))
    empty = gpd.GeoDataFrame({"code": [], "river_code": []}, geometry=[], crs=4490)
    rivers, ranges = empty, empty
    if codes and layer.name in {"boundaries", "zones", "stakes"}:
        rivers = read_current(session, catalogue["rivers"], "code", codes, ["code", "name", "important"])
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
    )


def read_current(
    session: Session, layer: LayerSpec, column: str, codes: list[str], names: list[str]
) -> gpd.GeoDataFrame:
    """Read ``names`` and the geometry of the current features of ``layer`` whose ``column`` is one of ``codes``."""
    read = CurrentFeatures(layer)
    query = read.select_columns(names, session_backend(session))
    rows: list[Any] = []
    for clause in member_of(session, read.table.c[column], codes):
        rows.extend(session.execute(query.where(clause)).all())
    columns = list(zip(*rows, strict=True)) if rows else [()] * (len(names) + 1)
    data = {n: np.asarray(columns[i], dtype=object) for i, n in enumerate(names)}
    geometry = shapely.from_wkb(np.asarray(columns[-1], dtype=object))
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=4490), crs=4490)
