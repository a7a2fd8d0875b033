"""The one read of delivery versions: a river's history, a layer's versions, the current (approved) one.

"Current" has one meaning everywhere: the version whose delivery is approved (:data:`CURRENT`).
Approving a version supersedes the river's previous approved one of that layer; submitted,
rejected and superseded versions are kept and listed here, never served as current features
(:class:`gis_service.store.current.CurrentFeatures` applies the same rule to the features).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from gis_service.db.models import Delivery

CURRENT = "approved"  # the status of the one current version of a river's layer


@dataclass(frozen=True)
class DeliveryHistory:
    """A read of deliveries (versions), narrowed by river, layer and status (None: any)."""

    river_code: str | None = None
    layer: str | None = None
    status: str | None = None

    def _filtered(self, query: Select[Any]) -> Select[Any]:
        """Add this read's river, layer and status to ``query``."""
        for column, value in (
            (Delivery.river_code, self.river_code),
            (Delivery.layer, self.layer),
            (Delivery.status, self.status),
        ):
            if value:
                query = query.where(column == value)
        return query

    def newest(self, session: Session, limit: int | None = 200) -> list[Delivery]:
        """Return the deliveries, newest first, at most ``limit`` (the delivery lists)."""
        return list(session.scalars(self._filtered(select(Delivery)).order_by(Delivery.id.desc()).limit(limit)))

    def versions(self, session: Session) -> list[Delivery]:
        """Return every delivery, oldest first by layer and version (a river's history)."""
        query = self._filtered(select(Delivery)).order_by(Delivery.layer, Delivery.version, Delivery.id)
        return list(session.scalars(query))

    def current(self, session: Session) -> dict[tuple[str, str], Delivery]:
        """Return the current (approved) delivery of each (river, layer) this read covers."""
        query = DeliveryHistory(self.river_code, self.layer, CURRENT)._filtered(select(Delivery))
        return {(d.river_code, d.layer): d for d in session.scalars(query.order_by(Delivery.id))}

    def submitted_together(
        self, session: Session, first: int, last: int, submitted_by: str, limit: int
    ) -> tuple[list[Delivery], int, int]:
        """Return the deliveries with ids ``first`` to ``last`` that ``submitted_by`` made, by river, at most ``limit``;
        with their number and their features in all.

        One upload's deliveries (a river each) are made in one transaction: the page it lands on names their ids'
        range. Another user's deliveries made meanwhile can fall within it, and are left out.
        """
        query = self._filtered(select(Delivery)).where(
            Delivery.id.between(first, last), Delivery.submitted_by == submitted_by
        )
        listed = query.order_by(Delivery.river_code, Delivery.id).limit(limit)
        # With their reports, which the summary reads: in one more query, not one a river.
        rows = list(session.scalars(listed.options(selectinload(Delivery.report_row))))
        totals = query.with_only_columns(func.count(), func.coalesce(func.sum(Delivery.feature_count), 0))
        count, features = session.execute(totals).one()
        return rows, int(count), int(features)

    def current_one(self, session: Session) -> Delivery | None:
        """Return the current (approved) delivery of this read's river and layer (both given), if any."""
        return next(iter(self.current(session).values()), None)
