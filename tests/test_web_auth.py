"""Web workbench accounts on both backends: login, lockout, CSRF, sessions, roles, error pages, the user command."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from gis_service.cli.main import app as cli
from gis_service.db.engine import transaction
from gis_service.db.models import AuditEntry, User, WebSession
from gis_service.settings import get_settings
from gis_service.web.deps import SESSION_COOKIE
from tests.web_helpers import csrf_of, login, make_users


@pytest.fixture
def users(engine: Engine) -> dict[str, str]:
    """One account of each role on the empty database."""
    return make_users(engine)


def _sessions(engine: Engine, username: str) -> list[WebSession]:
    with transaction(engine) as session:
        return list(
            session.scalars(
                select(WebSession).join(User, User.id == WebSession.user_id).where(User.username == username)
            )
        )


def _set_cookie_headers(response) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]


def test_login_form_and_a_session_in_an_httponly_lax_cookie_stored_hashed(client, engine, users) -> None:
    page = client.get("/login")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<label class="form-label" for="username">用户名</label>' in page.text
    assert '<label class="form-label" for="password">密码</label>' in page.text
    assert ">登录</button>" in page.text

    response = login(client, "surveyor", users["surveyor"], next_path="/deliveries")
    assert response.status_code == 303 and response.headers["location"] == "/deliveries"
    cookie = next(c for c in _set_cookie_headers(response) if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Secure" not in cookie
    raw = client.cookies.get(SESSION_COOKIE)
    stored = _sessions(engine, "surveyor")
    assert len(stored) == 1 and stored[0].session_hash == hashlib.sha256(raw.encode()).hexdigest() != raw

    home = client.get("/")
    assert home.status_code == 200 and "测试surveyor" in home.text and "退出登录" in home.text


def test_login_refuses_other_sites_as_next(client, users) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = login(client, "viewer", users["viewer"], next_path=target)
        assert response.status_code == 303 and response.headers["location"] == "/"


def test_secure_cookie_when_the_setting_says_so(client, users, monkeypatch) -> None:
    monkeypatch.setenv("RIVERGIS_COOKIE_SECURE", "true")
    get_settings.cache_clear()
    client.base_url = "https://testserver"  # the client, like a browser, sends Secure cookies only over HTTPS
    response = login(client, "viewer", users["viewer"])
    cookie = next(c for c in _set_cookie_headers(response) if c.startswith(f"{SESSION_COOKIE}="))
    assert "Secure" in cookie


def test_five_wrong_passwords_lock_the_username_with_429(client, engine, users) -> None:
    for left in (4, 3, 2, 1):
        response = login(client, "admin", "wrong-password")
        assert response.status_code == 401
        assert f"还可尝试 {left} 次" in response.text
    fifth = login(client, "admin", "wrong-password")
    assert fifth.status_code == 429 and "已暂时锁定" in fifth.text
    assert 0 < int(fifth.headers["retry-after"]) <= 15 * 60  # the default lockout, 15 minutes
    # Locked: even the right password is refused, and nothing logs in.
    right = login(client, "admin", users["admin"])
    assert right.status_code == 429 and SESSION_COOKIE not in client.cookies
    assert _sessions(engine, "admin") == []
    # Once the lock has run out (moved into the past here rather than waiting), the right password works.
    with transaction(engine) as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.execute(update(User).where(User.username == "admin").values(locked_until=past))
    assert login(client, "admin", users["admin"]).status_code == 303
    with transaction(engine) as session:
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions.count("login.locked") == 2 and actions[-1] == "login"


def test_a_successful_login_resets_the_count(client, users) -> None:
    for _ in range(4):
        assert login(client, "viewer", "nope-nope-nope").status_code == 401
    assert login(client, "viewer", users["viewer"]).status_code == 303
    # A fresh count: four more failures are still not a lock.
    for _ in range(4):
        assert login(client, "viewer", "nope-nope-nope").status_code == 401


def test_forms_without_or_with_a_wrong_csrf_token_are_refused_403(client, engine, users) -> None:
    client.get("/login")
    form = {"username": "viewer", "password": users["viewer"]}
    assert client.post("/login", data=form).status_code == 403
    refused = client.post("/login", data={**form, "csrf_token": "forged"})
    assert refused.status_code == 403 and "csrf_failed" in refused.text
    assert _sessions(engine, "viewer") == []

    assert login(client, "viewer", users["viewer"]).status_code == 303
    assert client.post("/logout", data={}).status_code == 403
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert len(_sessions(engine, "viewer")) == 1  # the forged logouts ended nothing


def test_logout_ends_the_session_on_the_server(client, engine, users, monkeypatch) -> None:
    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "false")
    get_settings.cache_clear()
    assert login(client, "viewer", users["viewer"]).status_code == 303
    raw = client.cookies.get(SESSION_COOKIE)
    home = client.get("/")
    assert home.status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert out.status_code == 303 and _sessions(engine, "viewer") == []
    # The old cookie, sent again, opens nothing.
    client.cookies.set(SESSION_COOKIE, raw)
    again = client.get("/", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/login?next=/"


def test_login_rotates_the_session(client, engine, users) -> None:
    assert login(client, "viewer", users["viewer"]).status_code == 303
    first = client.cookies.get(SESSION_COOKIE)
    assert login(client, "surveyor", users["surveyor"]).status_code == 303
    second = client.cookies.get(SESSION_COOKIE)
    assert first != second
    assert _sessions(engine, "viewer") == []  # the cookie's previous session ended at the new login
    assert len(_sessions(engine, "surveyor")) == 1


def test_password_change_ends_every_session(client, engine, users) -> None:
    assert login(client, "surveyor", users["surveyor"]).status_code == 303
    page = client.get("/account/password")
    assert page.status_code == 200
    token = csrf_of(page.text)
    wrong = {
        "current_password": "not-mine-at-all",
        "new_password": "xin-mi-ma-2027",
        "confirm_password": "xin-mi-ma-2027",
    }
    refused = client.post("/account/password", data={**wrong, "csrf_token": token})
    assert refused.status_code == 400 and "当前密码不正确" in refused.text
    form = {**wrong, "current_password": users["surveyor"], "csrf_token": token}
    changed = client.post("/account/password", data=form, follow_redirects=False)
    assert changed.status_code == 303 and changed.headers["location"] == "/login?changed=1"
    assert _sessions(engine, "surveyor") == []
    client.cookies.clear()
    assert login(client, "surveyor", users["surveyor"]).status_code == 401
    assert login(client, "surveyor", "xin-mi-ma-2027").status_code == 303


def test_private_reading_sends_anonymous_visitors_to_login(client, users, monkeypatch) -> None:
    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "false")
    get_settings.cache_clear()
    response = client.get("/?x=1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/%3Fx%3D1"
    assert login(client, "viewer", users["viewer"], next_path="/?x=1").headers["location"] == "/?x=1"


def test_unknown_pages_answer_a_chinese_404_page_but_the_api_keeps_json(client) -> None:
    page = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "text/html" in page.headers["content-type"] and "页面不存在" in page.text
    api = client.get("/api/v1/no-such-thing", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    ogc = client.get("/ogc/no-such-thing", headers={"Accept": "application/json"})
    assert ogc.status_code == 404 and "error" in ogc.json()


def test_user_command_creates_lists_disables_and_resets(engine, client) -> None:
    runner = CliRunner()
    args = ["user", "create", "zhang", "--role", "surveyor", "--name", "张工", "--unit", "某测绘院"]
    assert runner.invoke(cli, args).exit_code == 2  # no --password-stdin: refused, nothing created
    short = runner.invoke(cli, [*args, "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "password_too_short" in short.output
    made = runner.invoke(cli, [*args, "--password-stdin"], input="ce-hui-zhang-1\n")
    assert made.exit_code == 0, made.output
    again = runner.invoke(cli, [*args, "--password-stdin"], input="ce-hui-zhang-1\n")
    assert again.exit_code == 2 and "user_exists" in again.output
    bad_role = runner.invoke(cli, ["user", "create", "li", "--role", "chief", "--password-stdin"], input="x" * 10)
    assert bad_role.exit_code == 2 and "unknown_role" in bad_role.output
    listed = runner.invoke(cli, ["user", "list"])
    assert listed.exit_code == 0 and "zhang" in listed.output and "张工" in listed.output

    with transaction(engine) as session:
        stored = session.scalar(select(User).where(User.username == "zhang"))
        assert stored is not None and stored.password_hash.startswith("$argon2id$")

    assert login(client, "zhang", "ce-hui-zhang-1").status_code == 303
    assert runner.invoke(cli, ["user", "disable", "zhang"]).exit_code == 0
    assert _sessions(engine, "zhang") == []
    assert login(client, "zhang", "ce-hui-zhang-1").status_code == 401
    reset = runner.invoke(cli, ["user", "reset", "zhang", "--password-stdin"], input="xin-de-mi-ma-2\n")
    assert reset.exit_code == 0
    assert runner.invoke(cli, ["user", "reset", "nobody", "--password-stdin"], input="xin-de-mi-ma-2\n").exit_code == 2


def test_a_logged_in_users_404_page_keeps_their_navigation(client, users) -> None:
    assert login(client, "admin", users["admin"]).status_code == 303
    page = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "退出登录" in page.text and 'href="/admin"' in page.text
    malformed = client.get("/deliveries/abc")
    assert malformed.status_code == 404 and "页面不存在" in malformed.text and "退出登录" in malformed.text
    assert client.get("/api/v1/deliveries/abc").json()["error"]["code"] == "invalid_request"


def test_migration_0005_downgrades_and_upgrades_again(engine) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from gis_service.db.schema import alembic_config

    assert {"users", "web_sessions"} <= set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
    assert not {"users", "web_sessions"} & set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert {"users", "web_sessions"} <= set(inspect(engine).get_table_names())
