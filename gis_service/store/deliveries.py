"""Versioned deliveries of a river's range, stakes or zone set: submitted → approved / rejected.

Every delivery is a new version; approving one supersedes the river's previous approved
version of that layer, which is kept. Nothing here commits.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec
from gis_service.db.models import Delivery, utcnow
from gis_service.errors import Conflict, NotFound
from gis_service.store.features import insert_features


def next_version(session: Session, river_code: str, layer: str) -> int:
    """Return the next version number of ``river_code``'s ``layer`` deliveries."""
    current = session.scalar(
        select(func.max(Delivery.version)).where(Delivery.river_code == river_code, Delivery.layer == layer)
    )
    return int(current or 0) + 1


def submit_delivery(
    session: Session,
    layer: LayerSpec,
    river_code: str,
    features: gpd.GeoDataFrame,
    *,
    actor: str,
    meta: dict[str, Any] | None = None,
) -> Delivery:
    """Store ``features`` as a new submitted version of the river's ``layer``."""
    meta = meta or {}
    delivery = Delivery(
        river_code=river_code,
        layer=layer.name,
        version=next_version(session, river_code, layer.name),
        status="submitted",
        feature_count=len(features),
        submitted_by=actor,
        filename=meta.get("filename"),
        source_encoding=meta.get("encoding"),
        source_crs=meta.get("crs"),
        report=meta.get("report", {}),
    )
    session.add(delivery)
    session.flush()
    insert_features(session, layer, features, {"delivery_id": delivery.id, "river_code": river_code})
    return delivery


def approve_delivery(session: Session, delivery_id: int, *, actor: str) -> Delivery:
    """Make a submitted delivery the river's current version; the previous one becomes superseded."""
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise NotFound(f"交付 {delivery_id} 不存在", code="delivery_not_found")
    if delivery.status != "submitted":
        raise Conflict(
            f"交付 {delivery_id} 的状态为 {delivery.status}，只有待审核（submitted）的交付可以批准",
            code="delivery_not_submitted",
        )
    session.execute(
        update(Delivery)
        .where(
            Delivery.river_code == delivery.river_code,
            Delivery.layer == delivery.layer,
            Delivery.status == "approved",
        )
        .values(status="superseded")
    )
    delivery.status = "approved"
    delivery.decided_by = actor
    delivery.decided_at = utcnow()
    session.flush()
    return delivery
