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
    district_file: Path | None = None  # another district: a TOML file (see gis_service/district.py)

    # Validation tolerances, in metres.
    zone_range_tolerance_m: float = 5.0
    stake_line_tolerance_m: float = 2.0
    gap_tolerance_m: float = 20.0
    ratio_threshold: float = 0.5
    jurisdiction_distance_m: float = 500.0
    range_width_warning_m: float = 1000.0  # a management range wider on average is flagged as implausible

    # Upload limits.
    max_upload_mb: float = 200.0
    max_archive_entries: int = 2000
    max_uncompressed_mb: float = 2000.0
    max_compression_ratio: float = 200.0
    max_photo_mb: float = 15.0
    # Whole request bodies, enforced while they stream (``api/limits.py``): photo forms and JSON/forms.
    max_photos_body_mb: float = 64.0
    max_json_kb: float = 1024.0
    # Features a batch when a large GeoPackage/Shapefile delivery is read and normalised in a stream.
    import_batch_rows: int = Field(default=32_768, ge=1)

    # Database waits, in seconds: connecting, waiting for a lock (SQLite: the write lock), one
    # request's statements; imports (CLI and HTTP uploads) may wait and run longer.
    db_connect_timeout_s: float = 5.0
    db_lock_timeout_s: float = 15.0
    db_statement_timeout_s: float = 15.0
    db_import_lock_timeout_s: float = 60.0
    db_import_timeout_s: float = 600.0

    # Served over HTTPS (behind a proxy): the token cookie is then marked Secure.
    https: bool = False

    # GeoPackage version of exports: 1.2 is read without warnings by GDAL ≥ 2.2 and ArcGIS 10.6+.
    gpkg_version: str = "1.2"

    # The issue map: up to this many sites the browser loads them all and clusters them itself;
    # past it the page draws server-side clusters. A standalone map file holds at most the second.
    map_cluster_threshold: int = Field(default=100_000, ge=1)
    map_standalone_limit: int = Field(default=100_000, ge=1)

    # Basemap: none | osm | tianditu_vec | tianditu_img | gaode
    basemap: str = "none"
    tianditu_key: str = ""

    # The office's time zone: deadlines, "today" and overdue are counted in it (gis_service.clock).
    timezone: str = "Asia/Shanghai"
    # Web workbench: the session cookie is sent only over HTTPS when true (behind a TLS proxy).
    cookie_secure: bool = False
    session_hours: float = 12.0
    login_lockout_minutes: float = 15.0

    # Section compliance over a period (issue 18): annual_mean (class of the period's mean values)
    # or monthly (class of each month's mean; compliant when every month meets the target).
    quality_assessment: str = "annual_mean"
    # The dispatch room's large screen (/screen) fetches its figures again every so many seconds.
    screen_refresh_s: int = Field(default=60, ge=2, le=3600)

    # OGC API: the page size when none is asked and the largest (a larger ``limit`` is capped), and the
    # reverse proxies whose X-Forwarded-* headers are believed (comma-separated client addresses, or *).
    default_limit: int = 100
    max_limit: int = 10000
    trusted_proxies: str = ""

    # River chiefs: a centerline point counts as patrolled within this distance of the track (metres);
    # at least one patrol every so many days (村级 weekly, 镇街级 fortnightly, 区级 monthly); public
    # reports from one address: at most so many in the window; the hotline and unit on boards and forms.
    patrol_tolerance_m: float = 50.0
    patrol_days_village: int = 7
    patrol_days_town: int = 14
    patrol_days_district: int = 30
    public_report_limit: int = 5
    public_report_window_minutes: int = 60
    public_report_max_photos: int = 6
    hotline: str = "12345"
    supervising_unit: str = "区河长制办公室"

    # Where the map's npm packages are (a ``node_modules`` folder), when not installed with the service.
    assets_dir: Path | None = None

    host: str = "127.0.0.1"
    port: int = 8000

    def trusts(self, client: str | None) -> bool:
        """Return whether a request from ``client`` may say, through its headers, where the client sees us."""
        trusted = {part.strip() for part in self.trusted_proxies.split(",") if part.strip()}
        return "*" in trusted or (client is not None and client in trusted)

    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to a SpatiaLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'rivergis.sqlite'}"


@lru_cache
def get_settings() -> Settings:
    """Return the process settings (cached; tests clear the cache after changing the environment)."""
    return Settings()
