"""The ledger's part of taking deliveries: problem sites into the ledger, jurisdiction re-derived on approval.

The import pipeline (``ingest``) and the delivery store (``store``) sit below the ledger and never
call it; the API, the pages, the CLI and the demo import and approve through these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
from sqlalchemy.orm import Session

from gis_service.db.models import Delivery
from gis_service.ingest import pipeline
from gis_service.ingest.pipeline import ImportOptions, Progress
from gis_service.ledger.common import Clock
from gis_service.ledger.jurisdiction import rederive_jurisdiction
from gis_service.ledger.reporting import report_sites
from gis_service.settings import Settings
from gis_service.store import deliveries

# A new range moves sites in or out of the managed range; new zones change the stretch a site lies on.
REDERIVING_LAYERS = {"boundaries", "zones"}
# Past this many rivers one pass over all open sites is cheaper than one pass per river.
REDERIVE_PER_RIVER_MAX = 50


def rederive_after_approval(
    session: Session, layer: str, river_codes: list[str], *, actor: str, settings: Settings, clock: Clock
) -> None:
    """Re-derive the jurisdiction of open problem sites once a new range or zone set is current."""
    if layer not in REDERIVING_LAYERS or not river_codes:
        return
    if len(river_codes) > REDERIVE_PER_RIVER_MAX:
        rederive_jurisdiction(session, None, settings=settings, actor=actor, clock=clock)
        return
    for code in sorted(set(river_codes)):
        rederive_jurisdiction(session, code, settings=settings, actor=actor, clock=clock)


def approve_chosen(
    session: Session, delivery_ids: list[int], *, actor: str, settings: Settings, clock: Clock
) -> list[Delivery]:
    """Approve several waiting versions at once, all or none (see :func:`gis_service.store.deliveries.approve_chosen`),
    then re-derive, layer by layer."""
    approved = deliveries.approve_chosen(session, delivery_ids, actor=actor)
    for layer in sorted({d.layer for d in approved}):
        rivers = [d.river_code for d in approved if d.layer == layer]
        rederive_after_approval(session, layer, rivers, actor=actor, settings=settings, clock=clock)
    return approved


def run_import(
    session: Session,
    path: Path,
    options: ImportOptions,
    *,
    settings: Settings,
    clock: Clock,
    progress: Progress | None = None,
    seen: Callable[[gpd.GeoDataFrame], None] | None = None,
) -> dict[str, Any]:
    """Import ``path`` (see :func:`gis_service.ingest.pipeline.run_import`), then do the ledger's part."""

    def store_sites(session: Session, frame: gpd.GeoDataFrame, actor: str) -> int:
        return report_sites(session, frame, actor=actor, settings=settings, clock=clock)

    report = pipeline.run_import(
        session, path, options, settings=settings, progress=progress, seen=seen, store_sites=store_sites
    )
    approved = [d["river_code"] for d in report.get("deliveries", []) if d["status"] == "approved"]
    rederive_after_approval(session, options.layer, approved, actor=options.actor, settings=settings, clock=clock)
    return report


def approve_delivery(session: Session, delivery_id: int, *, actor: str, settings: Settings, clock: Clock) -> Delivery:
    """Approve a submitted delivery (see :func:`gis_service.store.deliveries.approve_delivery`), then re-derive."""
    delivery = deliveries.approve_delivery(session, delivery_id, actor=actor)
    rederive_after_approval(session, delivery.layer, [delivery.river_code], actor=actor, settings=settings, clock=clock)
    return delivery
