"""Read the current inputs of the shoreline ratio check from the store and run it.

The check itself is pure (:mod:`gis_service.analysis.shoreline.ratios`); this module only fetches the
approved zone sets, the centerlines, the towns and the bank range lines, one query a layer,
through the one read path (:meth:`CurrentFeatures.columns_frame`: driver tuples, WKB decoded by
shapely in one vectorised call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from gis_service.analysis.shoreline.ratio_report import RatioReport
from gis_service.analysis.shoreline.ratios import RatioRules, ratio_check
from gis_service.catalogue import Catalogue
from gis_service.errors import NotFound
from gis_service.runtime import collector_paused
from gis_service.settings import Settings
from gis_service.store.current import CurrentFeatures

# The columns the check reads, per layer (all typed columns, so no ``attrs`` JSON to decode).
COLUMNS = {
    "rivers": ("code", "name", "important"),
    "zones": ("id", "code", "river_code", "bank", "zone_type", "basis"),
    "towns": ("code", "name"),
    "boundaries": ("river_code", "bank"),
}


def fetch(
    conn: Session | Connection, catalogue: Catalogue, layer: str, where: Mapping[str, Any] | None = None
) -> gpd.GeoDataFrame:
    """Return the current features of ``layer`` with the columns the check needs, in one query."""
    return CurrentFeatures(catalogue[layer], where=where or {}).columns_frame(conn, COLUMNS[layer])


def ratio_rules(settings: Settings) -> RatioRules:
    """Return the check's rules as the settings give them (``RIVERGIS_RATIO_THRESHOLD``, ``…_GAP_TOLERANCE_M``)."""
    return RatioRules(threshold=settings.ratio_threshold, gap_tolerance_m=settings.gap_tolerance_m)


def current_report(
    conn: Session | Connection, catalogue: Catalogue, rules: RatioRules, *, river: str | None = None
) -> RatioReport:
    """Return the ratio check of the current (approved) zone sets, of one river when ``river`` is given."""
    with collector_paused():
        where = {"river_code": river} if river else None
        rivers = fetch(conn, catalogue, "rivers", {"code": river} if river else None)
        if river and rivers.empty:
            raise NotFound(
                f"没有河流编码为 {river} 的河流；请用 `rivergis rivers list` 查看河流编码",
                code="river_not_found",
                details={"river": river},
            )
        zones = fetch(conn, catalogue, "zones", where)
        towns = fetch(conn, catalogue, "towns")
        ranges = fetch(conn, catalogue, "boundaries", where)
        return ratio_check(zones, rivers, rules, ranges=ranges, towns=towns)
