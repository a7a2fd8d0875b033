"""Every action of the role table tried with every role: refused below its role, let through from it up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis_service.access import Role
from gis_service.api.app import create_app
from gis_service.ledger.states import ACTIONS
from gis_service.roles import ROLES
from tests.helpers import bearer, clear_caches

# One request per action. Ids that do not exist (or stale versions) are fine: a caller the table lets
# through then gets 400/404/409, never 401/403; the role is checked before anything else.
STALE = {"expected_version": 999}
JUNK_FILE = {"file": ("x.gpkg", b"not a geopackage", "application/octet-stream")}
REQUESTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "read": ("GET", "/api/v1/problems", {}),
    "delivery.upload": ("POST", "/api/v1/deliveries/zones", {"files": JUNK_FILE}),
    "delivery.preview": ("POST", "/api/v1/deliveries/zones/preview", {"files": JUNK_FILE}),
    "delivery.approve_on_upload": ("POST", "/api/v1/deliveries/zones", {"files": JUNK_FILE, "data": {"approve": "1"}}),
    "delivery.approve": ("POST", "/api/v1/deliveries/999999/approve", {}),
    "delivery.reject": ("POST", "/api/v1/deliveries/999999/reject", {"json": {"reason": "范围有误"}}),
    "problem.report": ("POST", "/api/v1/problems", {"json": {}}),
    "problem.edit": ("PATCH", "/api/v1/problems/1", {"json": {**STALE, "description": "改"}}),
    "problem.photo": ("POST", "/api/v1/problems/1/events/1/photos", {"files": JUNK_FILE}),
    **{
        f"problem.{name}": ("POST", "/api/v1/problems/1/transitions", {"json": {"action": name, **STALE}})
        for name in ACTIONS
    },
    "outfall.register": ("POST", "/api/v1/outfalls", {"json": {}}),
    "outfall.edit": ("PATCH", "/api/v1/outfalls/1", {"json": {**STALE, "name": "改"}}),
    "outfall.photo": ("POST", "/api/v1/outfalls/1/events/1/photos", {"files": JUNK_FILE}),
    "outfall.close": ("PATCH", "/api/v1/outfalls/1", {"json": {**STALE, "stage": "fix", "outcome": "closed"}}),
    "outfall.delete": ("DELETE", "/api/v1/outfalls/999999", {}),
    "token.create": ("POST", "/api/v1/tokens", {"json": {"name": "x", "role": "viewer"}}),
    "token.list": ("GET", "/api/v1/tokens", {}),
    "token.revoke": ("DELETE", "/api/v1/tokens/nobody", {}),
    "audit.read": ("GET", "/api/v1/audit", {}),
}


@pytest.fixture
def private_client(demo_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A client on the demo data with public reads off, so that reading needs a token too."""
    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "false")
    clear_caches()
    with TestClient(create_app(demo_engine), raise_server_exceptions=False) as client:
        yield client


def test_the_table_matches_the_spec() -> None:
    # SPEC.md: the office approves deliveries, assigns, verifies and closes (销号) problems and outfalls.
    for action in ("delivery.approve", "delivery.reject", "problem.close", "problem.assign", "outfall.close"):
        assert ROLES[action] is Role.ADMIN
    assert ROLES["delivery.upload"] is Role.SURVEYOR and ROLES["read"] is Role.VIEWER
    # The ledger's steps take their roles from the table.
    assert {f"problem.{n}": a.role for n, a in ACTIONS.items()} == {
        f"problem.{n}": ROLES[f"problem.{n}"] for n in ACTIONS
    }


def test_every_action_of_the_role_table_with_every_role(
    private_client: TestClient, demo_tokens: dict[str, str]
) -> None:
    assert set(REQUESTS) == set(ROLES), "every action of the table needs its request here"
    wrong: list[str] = []
    for action, (method, path, kwargs) in REQUESTS.items():
        needed = ROLES[action]
        for role in (None, *Role):
            headers = bearer(demo_tokens[role.value]) if role else {}
            status = private_client.request(method, path, headers=headers, **kwargs).status_code
            if role is None:
                expected = "401"
                ok = status == 401
            elif not role.allows(needed):
                expected = "403"
                ok = status == 403
            else:
                expected = "not 401/403"
                ok = status not in {401, 403}
            if not ok:
                wrong.append(f"{action} as {role.value if role else 'anonymous'}: {status}, expected {expected}")
    assert not wrong, "\n".join(wrong)
