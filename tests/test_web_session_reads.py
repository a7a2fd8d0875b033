"""A logged-in browser reads the service's maps, lists and downloads with its session when public reading is off;
the session cookie never authorises an API write (another site could make the browser send it)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis_service.api.app import create_app
from tests.helpers import clear_caches
from tests.web_helpers import login, make_users

READS = ["/maps/problems", "/api/v1/problems", "/api/v1/ratios/export.csv", "/ogc/collections"]


def test_a_logged_in_browser_reads_with_its_session_and_never_writes_with_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "false")
    clear_caches()
    passwords = make_users(engine)
    with TestClient(create_app(engine), raise_server_exceptions=False) as browser:
        for path in READS:  # anonymous first: refused
            assert browser.get(path).status_code == 401, path
        assert login(browser, "admin", passwords["admin"]).status_code == 303
        for path in READS:
            assert browser.get(path).status_code == 200, path
        # The same browser's cookie is not a credential for writes: refused before any body is read.
        write = browser.post("/api/v1/problems", json={"category": "dumping", "lon": 106.9, "lat": 28.9})
        assert write.status_code == 401 and write.json()["error"]["code"] == "token_required"
        # After logout the cookie reads nothing.
        page = browser.get("/account/password")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert browser.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
        assert browser.get("/api/v1/problems").status_code == 401
