"""Every route guarded: each write refuses no token, a wrong, a revoked or an expired token and a lower role;
with ``RIVERGIS_PUBLIC_READ=false`` every read refuses an anonymous caller.

The routes come from the OpenAPI document and the routers' unlisted page routes, so a new route
fails here until it is listed below with the role it needs.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from gis_service.access import create_token
from gis_service.api.app import ROUTERS
from gis_service.db.engine import transaction
from gis_service.db.models import Token
from gis_service.token_admin import revoke_tokens
from tests.helpers import bearer, clear_caches

# Each write and the least role it needs (SPEC: surveyors deliver and report, admins decide).
WRITES = {
    ("POST", "/api/v1/tokens"): "admin",
    ("DELETE", "/api/v1/tokens/{name}"): "admin",
    ("POST", "/api/v1/problems"): "surveyor",
    ("PATCH", "/api/v1/problems/{problem_id}"): "surveyor",
    ("POST", "/api/v1/problems/{problem_id}/transitions"): "surveyor",
    ("POST", "/api/v1/problems/{problem_id}/events/{event_id}/photos"): "surveyor",
    ("POST", "/api/v1/outfalls"): "surveyor",
    ("PATCH", "/api/v1/outfalls/{outfall_id}"): "surveyor",
    ("POST", "/api/v1/outfalls/{outfall_id}/events/{event_id}/photos"): "surveyor",
    ("DELETE", "/api/v1/outfalls/{outfall_id}"): "admin",
    ("POST", "/api/v1/deliveries/{layer}"): "surveyor",
    ("POST", "/api/v1/deliveries/{layer}/preview"): "surveyor",
    ("POST", "/api/v1/deliveries/approve"): "admin",
    ("POST", "/api/v1/deliveries/{delivery_id}/approve"): "admin",
    ("POST", "/api/v1/deliveries/{delivery_id}/reject"): "admin",
    # River chiefs, boards, patrols and public reports (一河一长, 公示牌, 巡河, 群众举报).
    ("POST", "/api/v1/chiefs/import"): "admin",
    ("PATCH", "/api/v1/chiefs/{chief_id}"): "admin",
    ("POST", "/api/v1/chiefs/assignments/{assignment_id}/end"): "admin",
    ("POST", "/api/v1/signboards/generate"): "admin",
    ("POST", "/api/v1/signboards/{board_id}/updated"): "admin",
    ("POST", "/api/v1/patrols"): "surveyor",
    ("POST", "/api/v1/patrols/{patrol_id}/problems"): "surveyor",
    ("POST", "/api/v1/public-reports/{reference}/accept"): "admin",
    ("POST", "/api/v1/public-reports/{reference}/decline"): "admin",
    # Water quality, tasks and river health (断面, 一河一策, 河流健康).
    ("POST", "/api/v1/quality/samples"): "surveyor",
    ("POST", "/api/v1/quality/health"): "admin",
    ("POST", "/api/v1/tasks/import"): "admin",
    ("POST", "/api/v1/tasks/{task_id}/progress"): "surveyor",
}
# Writes anyone may make, by design: a citizen's report (rate-limited per address, its photos checked).
ANONYMOUS_WRITES = {("POST", "/api/v1/public-reports")}
ADMIN_READS = {"/api/v1/tokens", "/api/v1/audit", "/api/v1/audit/export.{fmt}", "/api/v1/public-reports"}
# Open to anyone by design: the health probe and the map's own JavaScript/CSS (no data in either).
# A citizen follows their own report by its reference, and reports from a public page (群众举报), with no login.
OPEN = {"/healthz", "/static/{kind}/{path:path}", "/api/v1/public-reports/{reference}", "/report"}
EXAMPLES = {
    "name": "nobody",
    "layer": "rivers",
    "collection_id": "rivers",
    "fmt": "xlsx",
    "code": "R1",
    "river_code": "R1",
    "kind": "maps",
    "path:path": "js/rivergis.js",
    "period": "2024-06",
}
QUERIES = {  # required query parameters
    "/api/v1/deliveries/diff": {"from": 1, "to": 2},
    "/api/v1/quality/sources": {"period": "2024"},
}
LOWER = {"viewer": [], "surveyor": ["viewer"], "admin": ["viewer", "surveyor"]}


def concrete(path: str) -> str:
    """Return ``path`` with its parameters filled in (numbers for ids)."""
    return re.sub(r"\{([^}]+)\}", lambda m: EXAMPLES.get(m.group(1), "1"), path)


def operations(client: TestClient) -> set[tuple[str, str]]:
    """Return (method, path) of every operation in the OpenAPI document and every unlisted page route."""
    document = client.get("/openapi.json").json()
    found = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and not route.include_in_schema:
                found |= {(m, route.path) for m in route.methods if m != "HEAD"}
    return found


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    """Send a request with an empty JSON object as the body of a write (enough to reach the guard)."""
    body = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
    return client.request(method, concrete(path), headers=headers, **body)


@pytest.fixture
def callers(engine: Engine, tokens: dict[str, str]) -> dict[str, str]:
    """Tokens by role, plus an admin token that was revoked and one that expired."""
    with transaction(engine) as session:
        revoked = create_token(session, name="former-admin", role="admin")
        revoke_tokens(session, "former-admin")
        expired = create_token(session, name="lapsed-admin", role="admin")
        session.execute(
            update(Token)
            .where(Token.name == "lapsed-admin")
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        )
    return {**tokens, "revoked": revoked, "expired": expired}


def test_every_write_refuses_missing_wrong_revoked_expired_tokens_and_lower_roles(
    client: TestClient, callers: dict[str, str]
) -> None:
    found = operations(client)
    writes = {(m, p) for m, p in found if m != "GET"} - ANONYMOUS_WRITES
    assert writes == set(WRITES), "a write route is missing from WRITES (or gone): name the role it needs"
    checked = 0
    for (method, path), role in sorted(WRITES.items()):
        for name, headers in (
            ("no token", {}),
            ("wrong token", bearer("rg_" + "x" * 43)),
            ("revoked token", bearer(callers["revoked"])),
            ("expired token", bearer(callers["expired"])),
        ):
            response = call(client, method, path, headers)
            assert response.status_code == 401, (method, path, name, response.text)
            assert response.json()["error"]["code"] in {"token_required", "invalid_token"}
            checked += 1
        for lower in LOWER[role]:
            response = call(client, method, path, bearer(callers[lower]))
            assert response.status_code == 403, (method, path, lower, response.text)
            assert response.json()["error"]["code"] == "insufficient_role"
            checked += 1
        # The right role passes the guard (whatever the empty request then gets).
        allowed = call(client, method, path, bearer(callers[role]))
        assert allowed.status_code not in (401, 403), (method, path, allowed.text)
    surveyor = sum(1 for role in WRITES.values() if role == "surveyor")
    admin = sum(1 for role in WRITES.values() if role == "admin")
    # Each write x 4 bad tokens, plus each surveyor write x 1 lower role and each admin write x 2.
    assert checked == len(WRITES) * 4 + surveyor + admin * 2


def test_with_private_reads_every_read_refuses_an_anonymous_caller(
    client: TestClient, callers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "false")
    clear_caches()
    reads = sorted(p for m, p in operations(client) if m == "GET" and p not in OPEN)
    assert len(reads) >= 36  # API, OGC, maps, map data, exports, photos, previews (36 today)
    for path in reads:
        for headers in ({}, bearer(callers["revoked"])):
            response = client.get(concrete(path), headers=headers)
            assert response.status_code == 401, (path, headers, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
        viewer = client.get(concrete(path), params=QUERIES.get(path), headers=bearer(callers["viewer"]))
        if path in ADMIN_READS:
            assert viewer.status_code == 403, (path, viewer.text)
        else:
            # Let through, and answered (a 404 for an id the empty database lacks), never a 500.
            assert viewer.status_code in (200, 404), (path, viewer.text)
    for path in OPEN:
        # Answered without a token: 200, or 404 for a report reference the empty database lacks.
        assert client.get(concrete(path)).status_code in (200, 404), path
