"""Versioned deliveries of a river's range, stakes or zone set: submitted → approved / rejected.

Every delivery is a new version; approving one supersedes the river's previous approved
version of that layer, which is kept. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Geod
from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from gis_service.catalogue import Catalogue, LayerSpec
from gis_service.db.backend import session_backend
from gis_service.db.backends.base import IndexWork
from gis_service.db.models import Delivery, DeliveryReport, utcnow
from gis_service.errors import BadRequest, Conflict, NotFound
from gis_service.runtime import shared_texts
from gis_service.store.bulk import PreparedFeatures, insert_deliveries, insert_features, member_of, prepare_features
from gis_service.store.current import LayerVersions

GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid


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
    )
    session.add(delivery)
    session.flush()
    if meta.get("report"):
        session.add(DeliveryReport(delivery_id=delivery.id, report=meta["report"]))
    insert_features(session, layer, features, {"delivery_id": delivery.id, "river_code": river_code})
    return delivery


def _submitted(session: Session, delivery_id: int, verb: str) -> Delivery:
    """Return a delivery locked for a decision, refusing one that is missing or already decided.

    Decisions on one river and layer are serialised (the backend's lock, held to the commit) and the
    status is read again under that lock: of two decisions sent at once exactly one finds it submitted.
    """
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(f"交付 {delivery_id} 不存在", code="delivery_not_found")
    lock_rivers(session, delivery.layer, [delivery.river_code])
    session.refresh(delivery, with_for_update=True)
    if delivery.status != "submitted":
        label = STATUS_LABELS.get(delivery.status, delivery.status)
        raise Conflict(
            f"交付 {delivery_id} 的状态已是 {delivery.status}（{label}），"
            f"只有待审核（submitted）的交付可以{verb}；请刷新查看最新状态。",
            code="delivery_not_submitted",
            details={"status": delivery.status, "decided_by": delivery.decided_by},
        )
    return delivery


STATUS_LABELS = {"submitted": "待审核", "approved": "已批准", "rejected": "已驳回", "superseded": "已被新版本取代"}


def supersede(session: Session, layer: str, rivers: list[str], approving: list[int]) -> None:
    """Mark superseded what the deliveries ``approving`` (one a river of ``rivers``) replace in ``layer``: each river's
    current version, and its versions still waiting that are older than the one approved.

    An older version left waiting could be approved later and take the river back to it, behind the office's back:
    a surveyor's v2 corrected by v3, v3 approved, then v2 approved from a queue read before. Once a newer version is
    current, an older one can only be looked at (a newer one still waiting stays so). Run under the rivers' lock
    (:func:`lock_rivers`), before the approved ones change status.
    """
    approved = aliased(Delivery)
    version = (
        select(approved.version)
        .where(approved.id.in_(approving), approved.river_code == Delivery.river_code, approved.layer == layer)
        .scalar_subquery()
    )
    session.execute(
        update(Delivery)
        .where(
            Delivery.layer == layer,
            Delivery.river_code.in_(rivers),
            or_(Delivery.status == "approved", and_(Delivery.status == "submitted", Delivery.version < version)),
        )
        .values(status="superseded")
        .execution_options(synchronize_session="fetch")  # the session's loaded versions see their new status
    )


def approve_delivery(session: Session, delivery_id: int, *, actor: str) -> Delivery:
    """Make a submitted delivery the river's current version (what it replaces superseded: :func:`supersede`); see
    ``ledger.intake``."""
    delivery = _submitted(session, delivery_id, "批准")
    supersede(session, delivery.layer, [delivery.river_code], [delivery.id])
    delivery.status = "approved"
    delivery.decided_by = actor
    delivery.decided_at = utcnow()
    session.flush()
    return delivery


CHOSEN_MAX = 1000  # versions approved at once from the queue page; a province's are approved as they are imported


def approve_chosen(session: Session, delivery_ids: list[int], *, actor: str) -> list[Delivery]:
    """Approve the waiting versions ``delivery_ids`` at once, all or none (the queue page's 批准所选); return them.

    At most one version a river's layer, and each must still be waiting once the rivers are locked (:func:`lock_rivers`,
    layer by layer in order): a version decided meanwhile, or superseded by a newer one's approval, refuses the whole
    choice (409), as approving them one after the other would have refused it. What each approval replaces is
    superseded (:func:`supersede`).
    """
    chosen = sorted(set(delivery_ids))
    if not chosen:
        raise BadRequest("请先选择要批准的版本", code="nothing_chosen")
    if len(chosen) > CHOSEN_MAX:
        raise BadRequest(f"一次最多批准 {CHOSEN_MAX} 个版本，请分批批准", code="too_many_chosen")
    rows = session.execute(
        select(Delivery.id, Delivery.river_code, Delivery.layer).where(Delivery.id.in_(chosen))
    ).all()
    missing = sorted(set(chosen) - {r.id for r in rows})
    if missing:
        raise NotFound(f"交付 {'、'.join(map(str, missing))} 不存在", code="delivery_not_found")
    seen: dict[tuple[str, str], int] = {}
    for r in rows:
        if (r.layer, r.river_code) in seen:
            raise BadRequest(
                f"同一河流的同一图层只能批准一个版本：{r.river_code} 勾选了 #{seen[r.layer, r.river_code]} 和 #{r.id}",
                code="one_version_per_river",
            )
        seen[r.layer, r.river_code] = r.id
    for layer in sorted({r.layer for r in rows}):
        lock_rivers(session, layer, [r.river_code for r in rows if r.layer == layer])
    # Read again under the locks: what another decision committed meanwhile.
    query = select(Delivery).where(Delivery.id.in_(chosen)).order_by(Delivery.river_code, Delivery.id)
    found = list(session.scalars(query.execution_options(populate_existing=True)))
    decided = [d for d in found if d.status != "submitted"]
    if decided:
        named = "、".join(
            f"#{d.id} {d.river_code} 第 {d.version} 版（{STATUS_LABELS.get(d.status, d.status)}）" for d in decided
        )
        raise Conflict(
            f"以下版本已不是待审核状态，本次一个也未批准：{named}；请刷新后重新选择。",
            code="delivery_not_submitted",
            details={"decided": [{"id": d.id, "status": d.status} for d in decided]},
        )
    approve_deliveries(session, chosen, actor=actor)  # its updates set the status of ``found`` in the session too
    return found


def lock_rivers(session: Session, layer: str, river_codes: list[str], *, whole_layer: bool = False) -> None:
    """Serialise deliveries and decisions on these rivers' ``layer`` until the commit (the backend's rule).

    ``whole_layer`` excludes every other delivery and decision of the layer instead.
    """
    session_backend(session).serialise(session, layer, river_codes, whole_layer=whole_layer)


def next_versions(session: Session, layer: str, river_codes: list[str]) -> dict[str, int]:
    """Return the next version number of each river's ``layer`` deliveries (one grouped query)."""
    current: dict[str, int] = {}
    for clause in member_of(session, Delivery.river_code, river_codes):
        rows = session.execute(
            select(Delivery.river_code, func.max(Delivery.version))
            .where(Delivery.layer == layer, clause)
            .group_by(Delivery.river_code)
        )
        current.update({code: int(v or 0) for code, v in rows})
    return {code: current.get(code, 0) + 1 for code in river_codes}


@dataclass(frozen=True)
class Submitted:
    """One stored delivery of a multi-river import: what the report lists about it."""

    id: int
    river_code: str
    version: int
    status: str
    feature_count: int

    def to_dict(self) -> dict[str, Any]:
        """Return the delivery as JSON-ready data for the import report."""
        # Plain fields only: a dict of them is what ``asdict`` makes, without its deep copy (10 000 per import).
        return {
            "id": self.id,
            "river_code": self.river_code,
            "version": self.version,
            "status": self.status,
            "feature_count": self.feature_count,
        }


@dataclass
class RiverDelivery:
    """One river's delivery in an import written batch by batch: its row, and its features so far."""

    id: int
    version: int
    recorded: int  # the feature count its row was inserted with (its first batch's, or the count expected)
    count: int = 0  # its features written so far


class DeliveryBatches:
    """The deliveries of one import, written batch by batch: one new submitted version per river.

    A river's delivery is added with its first features, or before any (:meth:`expect`), its feature count
    set once the last batch is in (:meth:`finish`). Rivers are locked (PostGIS) before their versions are read, and the
    unique (river, layer, version) constraint backs it: concurrent deliveries of one river never share
    or lose a version. An import read in several batches (``whole_layer``) locks the layer for the
    transaction at its first batch, as a province-scale one does: rivers met batch after batch are
    then never locked in an order another import could cross. Each delivery's report is attached
    once the import's report is complete (``bulk.write_reports``).
    """

    def __init__(self, layer: LayerSpec, *, actor: str, meta: Mapping[str, Any], whole_layer: bool) -> None:
        self.layer = layer
        self.actor = actor
        self.meta = meta
        self.whole_layer = whole_layer
        self.layer_locked = False  # the layer's lock is held (``whole_layer``): taken once, held to the commit
        self.rivers: dict[str, RiverDelivery] = {}

    def add(self, session: Session, features: gpd.GeoDataFrame, index: IndexWork | None = None) -> int:
        """Add the deliveries of rivers new in ``features``, then write the features; return how many.

        ``index``: the layer table's index upkeep the caller set aside (see ``bulk.insert_features``)."""
        return self.prepare(session, features, index).insert()

    def expect(self, session: Session, counts: Mapping[str, int]) -> None:
        """Add the deliveries of rivers whose features are to come (``counts``: each river's features), before any:
        the batches then write their features only, and a COPY may take them all (``ingest.write``). A delivery
        that gets no feature is dropped by :meth:`finish`."""
        self._add(session, {str(code): int(n) for code, n in counts.items()})

    def delivered(self, features: gpd.GeoDataFrame) -> bool:
        """Tell whether every river of ``features`` has its delivery already (written, they need no other statement)."""
        return all(str(code) in self.rivers for code in pd.unique(features["river_code"]))

    def _add(self, session: Session, counts: Mapping[str, int]) -> None:
        """Add the deliveries of the rivers of ``counts`` that have none, with those feature counts."""
        new = sorted(code for code in counts if code not in self.rivers)
        if not new:
            return
        if not self.layer_locked:
            # A batch's COPY waits for these round trips: the layer's lock is not asked for again.
            lock_rivers(session, self.layer.name, new, whole_layer=self.whole_layer)
            self.layer_locked = self.whole_layer
        versions = next_versions(session, self.layer.name, new)
        rows = [{"river_code": c, "version": versions[c], "feature_count": counts[c]} for c in new]
        ids = insert_deliveries(session, self.layer.name, rows, actor=self.actor, meta=self.meta)
        self.rivers.update({c: RiverDelivery(int(i), versions[c], counts[c]) for c, i in zip(new, ids, strict=True)})

    def prepare(self, session: Session, features: gpd.GeoDataFrame, index: IndexWork | None = None) -> PreparedFeatures:
        """Add the deliveries of rivers new in ``features``; return the features made ready to write."""
        river = shared_texts(features["river_code"])
        position, uniques = pd.factorize(river, sort=True)
        codes = [str(c) for c in uniques]
        counts = np.bincount(position, minlength=len(codes))
        self._add(session, {c: int(n) for c, n in zip(codes, counts, strict=True)})
        for code, n in zip(codes, counts, strict=True):
            self.rivers[code].count += int(n)
        ids = np.array([self.rivers[c].id for c in codes], dtype=np.int64)
        extra = {"delivery_id": ids[position], "river_code": river}
        return prepare_features(session, self.layer, features, extra, index)

    def finish(self, session: Session) -> list[Submitted]:
        """Set the feature count of deliveries whose river came in several batches, drop those expected that got no
        feature; return them by river code."""
        empty = [r.id for r in self.rivers.values() if not r.count]
        for clause in member_of(session, Delivery.id, empty) if empty else []:
            session.connection().execute(delete(Delivery).where(clause))
        self.rivers = {code: r for code, r in self.rivers.items() if r.count}
        changed = [{"_id": r.id, "n": r.count} for r in self.rivers.values() if r.count != r.recorded]
        if changed:
            session.connection().execute(
                update(Delivery).where(Delivery.id == bindparam("_id")).values(feature_count=bindparam("n")),
                changed,
            )
        return [
            Submitted(self.rivers[code].id, code, self.rivers[code].version, "submitted", self.rivers[code].count)
            for code in sorted(self.rivers)
        ]


def approve_deliveries(session: Session, delivery_ids: list[int], *, actor: str) -> None:
    """Approve many submitted deliveries of distinct rivers at once (see :func:`approve_delivery`)."""
    for start in range(0, len(delivery_ids), 5000):
        chunk = delivery_ids[start : start + 5000]
        pending = session.execute(
            select(Delivery.river_code, Delivery.layer).where(Delivery.id.in_(chunk), Delivery.status == "submitted")
        ).all()
        if len(pending) != len(chunk):
            raise Conflict("部分交付不是待审核状态，无法批准", code="delivery_not_submitted")
        for layer in {p.layer for p in pending}:
            supersede(session, layer, [p.river_code for p in pending if p.layer == layer], chunk)
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(chunk))
            .values(status="approved", decided_by=actor, decided_at=utcnow())
        )
    session.flush()


def get_delivery(session: Session, delivery_id: int) -> Delivery:
    """Return a delivery or raise a 404-style error."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(f"交付 {delivery_id} 不存在", code="delivery_not_found")
    return delivery


def reject_delivery(session: Session, delivery_id: int, *, actor: str, reason: str) -> Delivery:
    """Reject a submitted delivery with the reviewer's reason (kept, never deleted)."""
    if not reason or not reason.strip():
        raise BadRequest("驳回交付必须填写原因（--reason / reason）", code="missing_reason")
    delivery = _submitted(session, delivery_id, "驳回")
    delivery.status = "rejected"
    delivery.reason = reason.strip()
    delivery.decided_by = actor
    delivery.decided_at = utcnow()
    session.flush()
    return delivery


def delivery_dict(delivery: Delivery, *, report: bool = False) -> dict[str, Any]:
    """Return a delivery as JSON-ready data (``report`` includes the stored validation report)."""
    body: dict[str, Any] = {
        "id": delivery.id,
        "river_code": delivery.river_code,
        "layer": delivery.layer,
        "version": delivery.version,
        "status": delivery.status,
        "feature_count": delivery.feature_count,
        "filename": delivery.filename,
        "source_encoding": delivery.source_encoding,
        "source_crs": delivery.source_crs,
        "submitted_by": delivery.submitted_by,
        "submitted_at": delivery.submitted_at.isoformat() if delivery.submitted_at else None,
        "decided_by": delivery.decided_by,
        "decided_at": delivery.decided_at.isoformat() if delivery.decided_at else None,
        "reason": delivery.reason,
    }
    if report:
        body["report"] = delivery.report
    return body


def _range_shape(session: Session, delivery: Delivery, ranges: LayerSpec) -> tuple[shapely.Geometry, shapely.Geometry]:
    """Return a range delivery's polygons (union) and all its lines (polygon rings and bank lines)."""
    frame = LayerVersions(ranges, delivery_id=delivery.id).frame(session)
    geoms = frame.geometry.values
    polygons = geoms[shapely.get_dimensions(geoms) == 2]
    area = shapely.union_all(polygons) if len(polygons) else shapely.Polygon()
    lines = np.where(shapely.get_dimensions(geoms) == 2, shapely.boundary(geoms), geoms)
    return area, shapely.union_all(lines) if len(lines) else shapely.LineString()


def _geodesic_area(geom: shapely.Geometry) -> float:
    """Return the geodesic area (m²) of a lon/lat geometry on the CGCS2000 ellipsoid."""
    if geom.is_empty:
        return 0.0
    return float(
        sum(abs(GEOD.geometry_area_perimeter(p)[0]) for p in shapely.get_parts(geom) if p.geom_type == "Polygon")
    )


def range_diff(session: Session, catalogue: Catalogue, from_id: int, to_id: int) -> dict[str, Any]:
    """Compare two versions of a river's range: area added, area removed (geodesic m²), largest shift (m)."""
    old, new = get_delivery(session, from_id), get_delivery(session, to_id)
    if old.layer != "boundaries" or new.layer != "boundaries":
        raise BadRequest("只能比较管理范围（boundaries）交付的两个版本", code="diff_needs_ranges")
    if old.river_code != new.river_code:
        raise BadRequest(
            f"两个交付属于不同河流（{old.river_code}、{new.river_code}），无法比较", code="diff_needs_same_river"
        )
    old_area, old_lines = _range_shape(session, old, catalogue["boundaries"])
    new_area, new_lines = _range_shape(session, new, catalogue["boundaries"])
    lon0 = (
        pd.Series([*old_lines.bounds[::2], *new_lines.bounds[::2]]).mean()
        if not (old_lines.is_empty or new_lines.is_empty)
        else 108.0
    )
    # Hausdorff in a transverse Mercator centred on the range: scale error < 1e-6 within a few km.
    metric = CRS.from_proj4(f"+proj=tmerc +lon_0={lon0} +k=1 +x_0=500000 +ellps=GRS80 +units=m")
    shift = None
    if not (old_lines.is_empty or new_lines.is_empty):
        a, b = gpd.GeoSeries([old_lines, new_lines], crs=4490).to_crs(metric).values
        shift = float(shapely.hausdorff_distance(a, b, densify=0.1))
    return {
        "river_code": old.river_code,
        "from": {"id": old.id, "version": old.version, "status": old.status},
        "to": {"id": new.id, "version": new.version, "status": new.status},
        "area_from_m2": round(_geodesic_area(old_area), 2),
        "area_to_m2": round(_geodesic_area(new_area), 2),
        "area_added_m2": round(_geodesic_area(new_area.difference(old_area)), 2),
        "area_removed_m2": round(_geodesic_area(old_area.difference(new_area)), 2),
        "max_shift_m": None if shift is None else round(shift, 3),
    }
