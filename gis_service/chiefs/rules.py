"""The chiefs' rules as the settings give them: patrol tolerance and frequency per level."""

from __future__ import annotations

from dataclasses import dataclass

from gis_service.chiefs.levels import Level
from gis_service.settings import Settings


@dataclass(frozen=True)
class PatrolRules:
    """How patrols are judged (``RIVERGIS_PATROL_*``): the track's reach and each level's period."""

    tolerance_m: float = 50.0  # a centerline point counts as patrolled within this distance of the track
    days_village: int = 7
    days_town: int = 14
    days_district: int = 30

    @classmethod
    def of(cls, settings: Settings) -> PatrolRules:
        """Return the rules the settings give."""
        return cls(
            tolerance_m=settings.patrol_tolerance_m,
            days_village=settings.patrol_days_village,
            days_town=settings.patrol_days_town,
            days_district=settings.patrol_days_district,
        )

    def period_days(self, level: Level) -> int:
        """Return the patrol period of ``level`` in days (村级 weekly, 镇街级 fortnightly, 区级 monthly)."""
        return {Level.VILLAGE: self.days_village, Level.TOWN: self.days_town, Level.DISTRICT: self.days_district}[level]
