"""What validation reads from the database: known river codes, the delivery's rivers and approved ranges."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec, get_catalogue
from gis_service.ingest.validation.validate import Context
from gis_service.store.bulk import member_of
from gis_service.store.features import current_filter, table_of
from gis_service.store.spatial import geom_wkb


def load_context(session: Session, layer: LayerSpec, frame: gpd.GeoDataFrame, fix: bool) -> Context:
    """Read what validation needs: known river codes, the delivery's rivers and their approved ranges."""
    rivers_table = table_of(get_catalogue()["rivers"])
    known = {str(c) for c in session.scalars(select(rivers_table.c.code))}
    codes = sorted(str(c) for c in frame["river_code"].dropna().unique()) if "river_code" in frame else []
    empty = gpd.GeoDataFrame({"code": [], "river_code": []}, geometry=[], crs=4490)
    rivers, ranges = empty, empty
    if codes and layer.name in {"boundaries", "zones", "stakes"}:
        rivers = read_current(session, "rivers", "code", codes, ["code", "name", "important"])
        if layer.name in {"zones", "stakes"}:
            ranges = read_current(session, "boundaries", "river_code", codes, ["river_code", "bank"])
    existing: set[str] = set()
    if layer.name == "problems" and layer.key and layer.key in frame:
        table = table_of(layer)
        keys = [str(k) for k in frame[layer.key].dropna().unique()]
        for clause in member_of(session, table.c[layer.key], keys):
            existing |= {str(k) for k in session.scalars(select(table.c[layer.key]).where(clause))}
    return Context(rivers=rivers, ranges=ranges, known_rivers=known, existing_keys=existing, fix=fix)


def read_current(session: Session, layer: str, column: str, codes: list[str], names: list[str]) -> gpd.GeoDataFrame:
    """Read ``names`` and the geometry of the current features of ``layer`` whose ``column`` is one of ``codes``."""
    spec = get_catalogue()[layer]
    table = table_of(spec)
    query = select(*(table.c[n] for n in names), geom_wkb(table)).order_by(table.c.id)
    if spec.versioned:
        query = query.where(current_filter(table))
    rows: list[Any] = []
    for clause in member_of(session, table.c[column], codes):
        rows.extend(session.execute(query.where(clause)).all())
    columns = list(zip(*rows, strict=True)) if rows else [()] * (len(names) + 1)
    data = {n: np.asarray(columns[i], dtype=object) for i, n in enumerate(names)}
    geometry = shapely.from_wkb(np.asarray(columns[-1], dtype=object))
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=4490), crs=4490)
