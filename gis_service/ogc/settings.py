"""Settings of the OGC API: paging bounds and which reverse proxies' ``X-Forwarded-*`` headers are believed."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class OgcSettings(BaseSettings):
    """``RIVERGIS_TRUSTED_PROXIES``: comma-separated client addresses (or ``*``) whose forwarded headers count."""

    model_config = SettingsConfigDict(env_prefix="RIVERGIS_", env_file=".env", extra="ignore")

    trusted_proxies: str = ""
    default_limit: int = 100
    max_limit: int = 10000

    def trusts(self, client: str | None) -> bool:
        """Return whether a request from ``client`` may say, through its headers, where the client sees us."""
        trusted = {part.strip() for part in self.trusted_proxies.split(",") if part.strip()}
        return "*" in trusted or (client is not None and client in trusted)


@lru_cache
def get_ogc_settings() -> OgcSettings:
    """Return the process's OGC settings (cached; tests clear the cache after changing the environment)."""
    return OgcSettings()
