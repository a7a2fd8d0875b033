"""The settings an app is built with are what its routes, pages and edge use (``app.state``, not the environment)."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis_service.api.app import create_app
from gis_service.settings import Settings
from tests.helpers import bearer


def test_reads_follow_the_apps_own_settings(engine: Engine) -> None:
    # The environment reads publicly (the default); the app given private settings does not.
    with TestClient(create_app(engine, settings=Settings(public_read=False)), raise_server_exceptions=False) as c:
        assert c.get("/api/v1/layers").status_code == 401
        page = c.get("/ratios", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
    with TestClient(create_app(engine), raise_server_exceptions=False) as c:
        assert c.get("/api/v1/layers").status_code == 200


def test_the_upload_limit_is_the_apps_own(engine: Engine, tokens: dict[str, str]) -> None:
    # 50 000 bytes against a 0.01 MB (10 485 bytes) limit set on the app only: refused at the edge, 413.
    small = Settings(max_upload_mb=0.01)
    with TestClient(create_app(engine, settings=small), raise_server_exceptions=False) as c:
        response = c.post(
            "/api/v1/deliveries/rivers",
            headers=bearer(tokens["surveyor"]),
            files={"file": ("big.zip", io.BytesIO(b"x" * 50_000), "application/zip")},
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "upload_too_large"
