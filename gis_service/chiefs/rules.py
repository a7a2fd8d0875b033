"""Settings of the chiefs' work: patrol tolerance and frequency per level, public report limits."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from gis_service.chiefs.levels import Level


class ChiefSettings(BaseSettings):
    """``RIVERGIS_PATROL_*`` and ``RIVERGIS_PUBLIC_REPORT_*``: how patrols are judged and reports limited."""

    model_config = SettingsConfigDict(env_prefix="RIVERGIS_", env_file=".env", extra="ignore")

    # A centerline point counts as patrolled within this distance of the track (metres).
    patrol_tolerance_m: float = 50.0
    # At least one patrol every this many days (村级 weekly, 镇街级 fortnightly, 区级 monthly).
    patrol_days_village: int = 7
    patrol_days_town: int = 14
    patrol_days_district: int = 30
    # Public reports from one address: at most this many in the window.
    public_report_limit: int = 5
    public_report_window_minutes: int = 60
    public_report_max_photos: int = 6
    hotline: str = "12345"
    supervising_unit: str = "区河长制办公室"

    def period_days(self, level: Level) -> int:
        """Return the patrol period of ``level`` in days."""
        return {
            Level.VILLAGE: self.patrol_days_village,
            Level.TOWN: self.patrol_days_town,
            Level.DISTRICT: self.patrol_days_district,
        }[level]


def get_chief_settings() -> ChiefSettings:
    """Return the chiefs' settings, read afresh (cheap, and a changed environment is seen at once)."""
    return ChiefSettings()
