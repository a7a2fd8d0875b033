"""Patrol frequency (巡河频次): periods of a chief's level, which of them had a patrol, and overdue reaches.

Pure functions over dates; "today" comes from the business clock (:mod:`gis_service.clock`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Period:
    """One patrol period of a chief: its days, how many patrols fell in it, and whether the rule is met."""

    start: dt.date
    end: dt.date
    patrols: int
    closed: bool

    @property
    def met(self) -> bool:
        """Whether the period had at least one patrol."""
        return self.patrols > 0

    def as_dict(self) -> dict[str, object]:
        """Return the period as JSON-ready values."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "patrols": self.patrols,
            "met": self.met,
            "closed": self.closed,
        }


def periods(since: dt.date, today: dt.date, period_days: int, dates: Iterable[dt.date]) -> list[Period]:
    """Return the periods of ``period_days`` from ``since`` up to ``today``, each with its patrol count.

    The last period may still be running (``closed`` False): it is not yet a failure.
    """
    counted = sorted(d for d in dates if since <= d <= today)
    out = []
    start = since
    while start <= today:
        end = start + dt.timedelta(days=period_days - 1)
        n = sum(1 for d in counted if start <= d <= end)
        out.append(Period(start, end, n, closed=end < today))
        start = end + dt.timedelta(days=1)
    return out


def due_date(last_patrol: dt.date | None, since: dt.date, period_days: int) -> dt.date:
    """Return the last day the next patrol is due: ``period_days`` after the last one (or the start of office)."""
    return (last_patrol or since) + dt.timedelta(days=period_days)


def is_overdue(last_patrol: dt.date | None, since: dt.date, period_days: int, today: dt.date) -> bool:
    """Tell whether a reach has gone unpatrolled past its period."""
    return today > due_date(last_patrol, since, period_days)
