"""Settings from ``RIVERGIS_*`` environment variables and a ``.env`` file, one class a concern."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    """Return the per-user data folder (XDG on Linux, ~/.local/share/rivergis by default)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "rivergis"


_CONFIG = SettingsConfigDict(env_prefix="RIVERGIS_", env_file=".env", extra="ignore")


class Settings(BaseSettings):
    """Service-wide settings: storage, access, district extent, checks, uploads and basemaps."""

    model_config = _CONFIG

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    public_read: bool = True
    layers_dir: Path | None = None

    # The district the checks expect deliveries to fall in (lon/lat, EPSG:4490). Default: Wansheng.
    district_name: str = "万盛经开区"
    district_bbox: tuple[float, float, float, float] = (106.70, 28.72, 107.12, 29.15)

    # Validation tolerances, in metres.
    zone_range_tolerance_m: float = 5.0
    stake_line_tolerance_m: float = 2.0
    gap_tolerance_m: float = 20.0
    ratio_threshold: float = 0.5
    jurisdiction_distance_m: float = 500.0

    # Upload limits.
    max_upload_mb: float = 200.0
    max_archive_entries: int = 2000
    max_uncompressed_mb: float = 2000.0
    max_compression_ratio: float = 200.0
    max_photo_mb: float = 15.0

    # Basemap: none | osm | tianditu_vec | tianditu_img | gaode
    basemap: str = "none"
    tianditu_key: str = ""

    # The office's time zone: deadlines, "today" and overdue are counted in it (gis_service.clock).
    timezone: str = "Asia/Shanghai"

    # Section compliance over a period (issue 18): annual_mean (class of the period's mean values)
    # or monthly (class of each month's mean; compliant when every month meets the target).
    quality_assessment: str = "annual_mean"

    host: str = "127.0.0.1"
    port: int = 8000

    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to a SpatiaLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'rivergis.sqlite'}"


@lru_cache
def get_settings() -> Settings:
    """Return the process settings (cached; tests clear the cache after changing the environment)."""
    return Settings()
