"""Helpers the tests share (kept out of conftest.py, which pytest owns)."""

from __future__ import annotations

from gis_service.db.engine import engine_for
from gis_service.settings import get_settings


def clear_caches() -> None:
    """Forget cached settings and engines after the environment changed."""
    get_settings.cache_clear()
    engine_for.cache_clear()


def bearer(token: str) -> dict[str, str]:
    """Return the Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}
