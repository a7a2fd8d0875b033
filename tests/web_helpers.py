"""What the web workbench tests share: making accounts, reading a form's CSRF token, logging in."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis_service.accounts import create_user
from gis_service.db.engine import transaction

PASSWORDS = {"viewer": "kan-kan-2026", "surveyor": "ce-hui-2026", "admin": "guan-li-2026"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


def make_users(engine: Engine) -> dict[str, str]:
    """Create one account of each role (username = role); return username → password."""
    with transaction(engine) as session:
        for role, password in PASSWORDS.items():
            create_user(session, username=role, role=role, password=password, display_name=f"测试{role}", unit="河长办")
    return dict(PASSWORDS)


def csrf_of(html: str) -> str:
    """Return the CSRF token of the first form on a page."""
    found = CSRF_FIELD.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def login(client: TestClient, username: str, password: str, next_path: str = "/") -> object:
    """Log in through the form like a browser; return the POST's response (not followed)."""
    page = client.get("/login", params={"next": next_path})
    assert page.status_code == 200
    form = {"username": username, "password": password, "next": next_path, "csrf_token": csrf_of(page.text)}
    return client.post("/login", data=form, follow_redirects=False)
