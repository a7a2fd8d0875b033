"""Jurisdiction of ledger sites and outfalls from the store: river, town, inside the range, zone of the stretch.

Derived when a site is reported or moved, and again (:func:`rederive_jurisdiction`) when a new
range or zone version is approved. Only the columns the derivation needs are read, and only
near the sites, so that reporting 100 000 sites does not decode the whole one-map twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Table, insert, or_, select, update
from sqlalchemy.orm import Session

from gis_service.analysis.jurisdiction import derive_jurisdiction
from gis_service.catalogue import Catalogue, LayerSpec, catalogue_for
from gis_service.db.backend import session_backend
from gis_service.db.models import Problem, ProblemEvent
from gis_service.ledger.common import Clock, frame_of, plain
from gis_service.ledger.states import FINAL
from gis_service.settings import Settings
from gis_service.store.current import CurrentFeatures
from gis_service.store.spatial import BBox, geom_wkb

TABLE: Table = Problem.__table__  # type: ignore[assignment]
EVENTS: Table = ProblemEvent.__table__  # type: ignore[assignment]
DERIVED = ("river_code", "town", "inside_range", "zone_type")
# What each context layer contributes (beyond its geometry).
CONTEXT_COLUMNS = {
    "rivers": ("code",),
    "boundaries": ("river_code",),
    "zones": ("river_code", "zone_type"),
    "towns": ("name",),
}


def layer_frame(
    session: Session, layer: LayerSpec, columns: Sequence[str], bbox: BBox | None = None
) -> gpd.GeoDataFrame:
    """Return ``columns`` and the geometry of a layer's current features (near ``bbox``) in EPSG:4490."""
    return CurrentFeatures(layer, bbox=bbox).columns_frame(session, columns)


def context(
    session: Session,
    catalogue: Catalogue,
    bbox: BBox | None = None,
    layers: Sequence[str] = ("rivers", "boundaries", "zones", "towns"),
) -> dict[str, gpd.GeoDataFrame]:
    """Read what jurisdiction needs: centerlines, approved range polygons, approved zones, towns."""
    out = {layer: layer_frame(session, catalogue[layer], CONTEXT_COLUMNS[layer], bbox) for layer in layers}
    if "boundaries" in out:
        ranges = out.pop("boundaries")
        out["ranges"] = ranges[ranges.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    return out


def buffered_bounds(geoms: gpd.GeoSeries, distance_m: float) -> BBox | None:
    """Return the bounds of ``geoms`` grown by the jurisdiction distance ``distance_m`` (in degrees, generously)."""
    if geoms.empty:
        return None
    minx, miny, maxx, maxy = geoms.total_bounds
    # 1 degree of latitude is ~111 km; at 29°N a degree of longitude is ~97 km; 1.5x covers both.
    pad = distance_m * 1.5 / 97_000.0
    return (minx - pad, miny - pad, maxx + pad, maxy + pad)


def jurisdiction_of(session: Session, catalogue: Catalogue, sites: gpd.GeoDataFrame, distance_m: float) -> pd.DataFrame:
    """Return river_code, town, inside_range and zone_type of each site (index aligned; ``distance_m``: river reach)."""
    ctx = context(session, catalogue, buffered_bounds(sites.geometry, distance_m))
    return derive_jurisdiction(
        sites,
        ctx["rivers"],
        ctx["ranges"],
        ctx["towns"],
        distance_m,
        zones=ctx["zones"],
    )


def _sites_near(session: Session, catalogue: Catalogue, river_code: str | None, distance_m: float) -> gpd.GeoDataFrame:
    """Return the open sites (id, status, derived columns, geometry) filed under or near ``river_code``."""
    query = select(TABLE.c.id, TABLE.c.status, *(TABLE.c[c] for c in DERIVED), geom_wkb(TABLE)).where(
        TABLE.c.status.not_in([s.value for s in FINAL])
    )
    if river_code is not None:
        ctx = context(session, catalogue, layers=("rivers", "boundaries"))
        near = pd.concat(
            [
                ctx["ranges"].loc[ctx["ranges"]["river_code"] == river_code].geometry,
                ctx["rivers"].loc[ctx["rivers"]["code"] == river_code].geometry,
            ]
        )
        box = buffered_bounds(gpd.GeoSeries(near, crs="EPSG:4490"), distance_m)
        clause = TABLE.c.river_code == river_code
        if box is not None:
            clause = or_(clause, session_backend(session).bbox_filter(TABLE, box))
        query = query.where(clause)
    frame = frame_of(session.execute(query.order_by(TABLE.c.id)), ["id", "status", *DERIVED, "wkb"])
    geoms = shapely.from_wkb(frame.pop("wkb").to_numpy(dtype=object))
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs="EPSG:4490"), crs="EPSG:4490")


def rederive_jurisdiction(
    session: Session,
    river_code: str | None = None,
    *,
    settings: Settings,
    actor: str = "system",
    clock: Clock,
) -> int:
    """Re-derive the jurisdiction of open sites (all, or those near ``river_code``); return how many changed.

    Called when a new range or zone version is approved. Closed and dismissed items keep the
    jurisdiction they were filed under. The lock version is not bumped: jurisdiction is derived,
    and a range approval should not make every reviewer's pending step conflict.
    """
    catalogue = catalogue_for(settings)
    sites = _sites_near(session, catalogue, river_code, settings.jurisdiction_distance_m)
    if sites.empty:
        return 0
    derived = jurisdiction_of(session, catalogue, sites, settings.jurisdiction_distance_m)
    derived["inside_range"] = derived["inside_range"].astype(bool)
    old = sites[list(DERIVED)].astype(object).where(sites[list(DERIVED)].notna(), None)
    new = derived[list(DERIVED)].astype(object).where(derived[list(DERIVED)].notna(), None)
    differs = pd.DataFrame({c: old[c].to_numpy() != new[c].to_numpy() for c in DERIVED}, index=sites.index)
    changed = np.flatnonzero(differs.any(axis=1).to_numpy())
    if not len(changed):
        return 0
    now = clock()
    note = "管理范围或岸线分区新版本批准后重新判定属地"
    events = []
    for i in changed:  # only the sites whose jurisdiction moved: usually a handful
        values = {c: plain(new[c].iloc[i]) for c in DERIVED}
        diff = {c: {"from": plain(old[c].iloc[i]), "to": values[c]} for c in DERIVED if differs[c].iloc[i]}
        pid = int(sites["id"].iloc[i])
        session.execute(update(TABLE).where(TABLE.c.id == pid).values(**values, updated_at=now))
        status = str(sites["status"].iloc[i])
        events.append(
            {
                "problem_id": pid,
                "action": "rederive",
                "from_status": status,
                "to_status": status,
                "actor": actor,
                "at": now,
                "note": note,
                "data": {"changes": diff},
            }
        )
    session.execute(insert(EVENTS), events)
    return len(events)
