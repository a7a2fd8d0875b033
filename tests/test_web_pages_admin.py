"""The admin pages on both backends: accounts, API tokens (shown once, revoked and refused), the audit log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, select

from gis_service.db.engine import transaction
from gis_service.db.models import Token, User
from tests.helpers import bearer
from tests.web_helpers import csrf_of, login, make_users
from tests.web_pages_helpers import XSS, as_role, assert_escaped


@pytest.fixture
def users(engine: Engine) -> Engine:
    """The empty database with one account of each role."""
    make_users(engine)
    return engine


@pytest.mark.parametrize("path", ["/admin", "/admin/tokens", "/admin/audit"])
def test_only_admins_open_the_admin_pages(client, users, path) -> None:
    assert client.get(path, follow_redirects=False).headers["location"] == f"/login?next={path}"
    for role in ("viewer", "surveyor"):
        as_role(client, role)
        refused = client.get(path)
        assert refused.status_code == 403 and "「管理员」" in refused.text and "insufficient_role" in refused.text
    as_role(client, "admin")
    assert client.get(path).status_code == 200


def test_create_disable_and_reset_accounts(client, users) -> None:
    as_role(client, "admin")
    page = client.get("/admin").text
    for label in ("用户名", "姓名", "单位", "角色", "初始密码"):
        assert f">{label}</label>" in page
    form = {"csrf_token": csrf_of(page), "username": "zhang3", "display_name": XSS, "unit": XSS, "role": "surveyor"}
    short = client.post("/admin/users", data={**form, "password": "short"})
    assert short.status_code == 400 and "password_too_short" in short.text
    made = client.post("/admin/users", data={**form, "password": "zhang-san-2026"})
    assert made.status_code == 200 and 'data-user="zhang3"' in made.text
    assert_escaped(made.text)
    with users.connect() as conn:
        assert conn.scalar(select(User.role).where(User.username == "zhang3")) == "surveyor"
    twice = client.post("/admin/users", data={**form, "password": "zhang-san-2026"})
    assert twice.status_code == 400 and "user_exists" in twice.text

    reset = client.post("/admin/users/zhang3/reset", data={"csrf_token": csrf_of(page), "password": "xin-mi-ma-2026"})
    assert reset.status_code == 200
    disabled = client.post("/admin/users/zhang3/disable", data={"csrf_token": csrf_of(page)})
    assert disabled.status_code == 200
    self_off = client.post("/admin/users/admin/disable", data={"csrf_token": csrf_of(page)})
    assert self_off.status_code == 400 and "cannot_disable_self" in self_off.text
    client.cookies.clear()
    assert login(client, "zhang3", "xin-mi-ma-2026").status_code == 401  # disabled: no login


def test_admin_forms_refuse_a_missing_csrf_token(client, users) -> None:
    as_role(client, "admin")
    posts = {
        "/admin/users": {"username": "li4", "role": "viewer", "password": "li-si-2026-x"},
        "/admin/users/viewer/disable": {},
        "/admin/users/viewer/reset": {"password": "changed-2026"},
        "/admin/tokens": {"name": "QGIS", "role": "viewer"},
        "/admin/tokens/revoke": {"name": "QGIS"},
    }
    for path, data in posts.items():
        refused = client.post(path, data=data)
        assert refused.status_code == 403 and "csrf_failed" in refused.text, path
    with users.connect() as conn:
        assert conn.scalar(select(User.id).where(User.username == "li4")) is None
        assert conn.scalar(select(User.disabled).where(User.username == "viewer")) is False
        assert conn.scalar(select(Token.id)) is None


def test_a_token_is_shown_once_listed_and_refused_once_revoked(client, users) -> None:
    as_role(client, "admin")
    token = csrf_of(client.get("/admin/tokens").text)
    made = client.post("/admin/tokens", data={"csrf_token": token, "name": f"QGIS{XSS}", "role": "viewer"})
    assert made.status_code == 200
    secret = re.search(r'id="rg-secret">([^<]+)<', made.text).group(1)  # type: ignore[union-attr]
    assert_escaped(made.text)
    assert client.get("/api/v1/layers", headers=bearer(secret)).status_code == 200
    listed = client.get("/admin/tokens").text
    assert secret not in listed and 'data-state="active"' in listed  # never shown again
    with transaction(users) as session:
        assert session.scalar(select(Token.token_hash)) != secret

    revoked = client.post("/admin/tokens/revoke", data={"csrf_token": token, "name": f"QGIS{XSS}"})
    assert revoked.status_code == 200 and 'data-state="revoked"' in revoked.text
    refused = client.get("/api/v1/layers", headers=bearer(secret))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    assert_escaped(client.get("/admin/audit", params={"action": "token.revoke"}).text)
    again = client.post("/admin/tokens/revoke", data={"csrf_token": token, "name": "无此令牌"})
    assert again.status_code == 404 and "token_not_found" in again.text


def test_the_audit_log_filters_by_who_what_and_when(client, users) -> None:
    as_role(client, "admin")
    token = csrf_of(client.get("/admin/tokens").text)
    for name in ("甲", "乙"):
        client.post("/admin/tokens", data={"csrf_token": token, "name": name, "role": "viewer"})
    everything = client.get("/admin/audit")
    assert everything.status_code == 200
    made = client.get("/admin/audit", params={"action": "token.create", "actor": "admin"})
    assert 'data-count="audit">2<' in made.text and made.text.count("<code>token.create</code>") == 2
    logins = client.get("/admin/audit", params={"action": "login"})
    assert 'data-count="audit">' in logins.text and "<code>token.create</code>" not in logins.text
    # Whole days in China time: every entry was written today, none before.
    today = client.app.state.clock.today().isoformat()  # type: ignore[attr-defined]
    assert 'data-count="audit">0<' in client.get("/admin/audit", params={"to": "2000-01-01"}).text
    assert (
        'data-count="audit">2<'
        in client.get("/admin/audit", params={"from": today, "to": today, "action": "token.create"}).text
    )
    bad = client.get("/admin/audit", params={"from": "2026-02-30"})
    assert bad.status_code == 400 and "bad_date" in bad.text
