"""The business clock: one "now" and one "today" for the ledger, the maps, statistics and exports.

A deadline (整改时限) is a calendar date in the office's time zone (Asia/Shanghai by default,
``RIVERGIS_TIMEZONE``), not the server's: a machine on UTC would otherwise call a site overdue
eight hours late every day. Everything that asks "what day is it" asks a :class:`BusinessClock`;
the app keeps one on ``app.state.clock`` and the CLI builds the same from the settings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gis_service.errors import ConfigurationError

DEFAULT_ZONE = "Asia/Shanghai"
# China has kept UTC+8 without daylight saving since 1991; used where the tz database is missing.
CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")


def utc_now() -> dt.datetime:
    """Return the current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


def zone_named(name: str) -> dt.tzinfo:
    """Return the time zone ``name`` (an IANA name such as ``Asia/Shanghai``), or say how to fix it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name == DEFAULT_ZONE:
            return CHINA_TZ  # a minimal system without tzdata still knows China time
        raise ConfigurationError(
            f"RIVERGIS_TIMEZONE={name!r} 不是可用的时区名称；请写成 Asia/Shanghai 这样的 IANA 时区名。",
            code="bad_timezone",
        ) from None


@dataclass(frozen=True)
class BusinessClock:
    """The office's clock: the current moment (UTC) and the calendar date in the office's zone.

    Calling the clock returns the current moment, so it can stand wherever a ``() -> datetime`` is
    expected; tests build one with :meth:`at` to freeze time.
    """

    zone: dt.tzinfo = CHINA_TZ
    source: Callable[[], dt.datetime] = field(default=utc_now, compare=False)

    @classmethod
    def named(cls, zone: str = DEFAULT_ZONE) -> BusinessClock:
        """Return the live clock of the time zone ``zone``."""
        return cls(zone=zone_named(zone))

    @classmethod
    def at(cls, moment: dt.datetime, zone: str = DEFAULT_ZONE) -> BusinessClock:
        """Return a clock stopped at ``moment`` (naive moments are taken as UTC)."""
        fixed = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        return cls(zone=zone_named(zone), source=lambda: fixed)

    def now(self) -> dt.datetime:
        """Return the current moment, timezone-aware in UTC."""
        moment = self.source()
        return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)

    def __call__(self) -> dt.datetime:
        """Return the current moment (so the clock is also a plain ``() -> datetime``)."""
        return self.now()

    def today(self) -> dt.date:
        """Return today's calendar date in the office's time zone."""
        return self.local_date(self.now())

    def local_date(self, moment: dt.datetime) -> dt.date:
        """Return the calendar date of ``moment`` in the office's time zone (naive moments are UTC)."""
        aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        return aware.astimezone(self.zone).date()
