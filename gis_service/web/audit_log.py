"""The audit log for the admin page: filtered by who, what and when (China-time dates), newest first, paged."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from gis_service.clock import BusinessClock
from gis_service.db.models import AuditEntry


@dataclass(frozen=True)
class AuditFilter:
    """Which entries: an actor, an action (exact, or a prefix ending in ``.`` such as ``problem.``), a date range."""

    actor: str = ""
    action: str = ""
    since: dt.date | None = None
    until: dt.date | None = None

    def clauses(self, clock: BusinessClock) -> list[ColumnElement[bool]]:
        """Return the SQL conditions; dates are whole days in the office's time zone."""
        out: list[ColumnElement[bool]] = []
        if self.actor:
            out.append(AuditEntry.actor == self.actor)
        if self.action:
            out.append(
                AuditEntry.action.startswith(self.action, autoescape=True)
                if self.action.endswith(".")
                else AuditEntry.action == self.action
            )
        if self.since:
            out.append(AuditEntry.at >= _start_of(self.since, clock))
        if self.until:
            out.append(AuditEntry.at < _start_of(self.until + dt.timedelta(days=1), clock))
        return out


def _start_of(day: dt.date, clock: BusinessClock) -> dt.datetime:
    """Return the first moment of ``day`` in the office's time zone, in UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=clock.zone).astimezone(dt.UTC)


def search(
    session: Session, flt: AuditFilter, clock: BusinessClock, *, limit: int = 50, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    """Return a page of matching entries, newest first, and how many match in all."""
    where = flt.clauses(clock)
    total = int(session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0)
    rows = session.scalars(
        select(AuditEntry).where(*where).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def known_values(session: Session) -> dict[str, Any]:
    """Return the actors and actions the log holds, for the filter's choices."""
    actors = sorted(a for a in session.scalars(select(AuditEntry.actor).distinct()) if a)
    actions = sorted(a for a in session.scalars(select(AuditEntry.action).distinct()) if a)
    return {"actors": actors, "actions": actions}
