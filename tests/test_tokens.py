"""Tokens an office can manage: listed without secrets, revoked by name, lapsing on their own; 401s say Bearer."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, select, update

from gis_service.db.models import Token
from tests.helpers import bearer
from tests.test_import_fixtures import cli, run

PROBLEM = {"lon": 106.9, "lat": 28.9, "category": "dumping"}


def test_401_names_the_bearer_scheme(client: TestClient, tokens: dict[str, str]) -> None:
    anonymous = client.post("/api/v1/problems", json=PROBLEM)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="rivergis"'
    wrong = client.post("/api/v1/problems", json=PROBLEM, headers=bearer("rg_not-a-token"))
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_token"
    assert wrong.headers["www-authenticate"] == 'Bearer realm="rivergis", error="invalid_token"'
    # A refusal for the role is a 403 and asks for no other scheme.
    low = client.post("/api/v1/tokens", json={"name": "x", "role": "viewer"}, headers=bearer(tokens["surveyor"]))
    assert low.status_code == 403 and "www-authenticate" not in low.headers


def test_cli_lists_tokens_without_secrets_and_revokes_by_name(engine: Engine, client: TestClient) -> None:
    created = run("token", "create", "--role", "surveyor", "--name", "测绘院", "--expires-days", "30")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert client.post("/api/v1/problems", json=PROBLEM, headers=bearer(secret)).status_code == 201

    exit_code, listed = cli("token", "list")
    assert exit_code == 0, listed
    (row,) = [t for t in listed["tokens"] if t["name"] == "测绘院"]
    assert row["role"] == "surveyor" and row["state"] == "active"
    created_at = dt.datetime.fromisoformat(row["created_at"])
    # 30 days after creation, to the second the command took.
    assert abs(dt.datetime.fromisoformat(row["expires_at"]) - created_at - dt.timedelta(days=30)) < dt.timedelta(
        minutes=1
    )
    assert row["last_used_at"] is not None  # the report above used it
    with engine.connect() as conn:
        stored_hash = conn.scalar(select(Token.token_hash).where(Token.name == "测绘院"))
    table = run("token", "list")
    for shown in (str(listed), table.stdout):
        assert secret not in shown and secret[3:20] not in shown and stored_hash not in shown
    assert "测绘院" in table.stdout and "有效" in table.stdout

    revoked = run("token", "revoke", "测绘院")
    assert revoked.exit_code == 0 and "1" in revoked.stdout
    refused = client.post("/api/v1/problems", json=PROBLEM, headers=bearer(secret))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    assert cli("token", "list")[1]["tokens"][-1]["state"] == "revoked"
    again = run("token", "revoke", "测绘院")
    assert again.exit_code == 2 and "token_not_found" in again.output
    bad = run("token", "create", "--role", "viewer", "--name", "x", "--expires-days", "0")
    assert bad.exit_code == 2 and "bad_expiry" in bad.output


def test_an_expired_token_is_refused(engine: Engine, client: TestClient, tokens: dict[str, str]) -> None:
    assert client.get("/api/v1/tokens", headers=bearer(tokens["admin"])).status_code == 200
    with engine.begin() as conn:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        conn.execute(update(Token).where(Token.name == "test-admin").values(expires_at=past))
    expired = client.get("/api/v1/tokens", headers=bearer(tokens["admin"]))
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "invalid_token"
    listed = cli("token", "list")[1]["tokens"]
    assert {t["name"]: t["state"] for t in listed}["test-admin"] == "expired"


def test_admins_list_and_revoke_tokens_over_http(client: TestClient, tokens: dict[str, str]) -> None:
    admin = bearer(tokens["admin"])
    made = client.post("/api/v1/tokens", json={"name": "外业组", "role": "viewer", "expires_days": 7}, headers=admin)
    assert made.status_code == 201
    secret = made.json()["token"]
    listed = client.get("/api/v1/tokens", headers=admin)
    assert listed.status_code == 200
    rows = {t["name"]: t for t in listed.json()["tokens"]}
    assert set(rows) == {"test-viewer", "test-surveyor", "test-admin", "外业组"}
    assert rows["外业组"]["expires_at"] and rows["test-viewer"]["expires_at"] is None
    assert secret not in listed.text and "hash" not in listed.text
    for role in ("viewer", "surveyor"):
        assert client.get("/api/v1/tokens", headers=bearer(tokens[role])).status_code == 403
        assert client.delete("/api/v1/tokens/外业组", headers=bearer(tokens[role])).status_code == 403
    gone = client.delete("/api/v1/tokens/外业组", headers=admin)
    assert gone.status_code == 200 and gone.json()["revoked"] == 1
    assert client.get("/api/v1/problems", headers=bearer(secret)).status_code == 401
    missing = client.delete("/api/v1/tokens/外业组", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "token_not_found"
    audit = client.get("/api/v1/audit", headers=admin).json()["entries"]
    assert [e["action"] for e in audit][:2] == ["token.revoke", "token.create"]
    too_long = client.post("/api/v1/tokens", json={"name": "y", "role": "viewer", "expires_days": 0}, headers=admin)
    assert too_long.status_code == 400


def test_tokens_survive_migration_0006_down_and_up(engine: Engine, client: TestClient, tokens: dict[str, str]) -> None:
    from alembic import command

    from gis_service.db.schema import alembic_config, current_revision, head_revision, upgrade

    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("tokens")}
    assert {"last_used_at", "expires_at"}.isdisjoint(columns) and "revoked_at" in columns
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    # Tokens made before the upgrade never expire and still work.
    assert client.get("/api/v1/tokens", headers=bearer(tokens["admin"])).status_code == 200
