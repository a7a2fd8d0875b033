"""The server errors fuzzing found (issue 13), each pinned: now a 400 naming the parameter, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.helpers import bearer

HUGE = "-225462691681917960192"  # beyond 64 bits, as schemathesis sent it


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", f"/api/v1/outfalls/{HUGE}"),
        ("GET", "/api/v1/problems?offset=4789366699753309691010"),
        ("GET", "/api/v1/problems/2147483648"),  # one past PostgreSQL's INTEGER
        ("GET", "/api/v1/layers/rivers/features?offset=9223372036854775808"),
        ("GET", "/ogc/collections/rivers/items?offset=9223372036854775808"),
        ("GET", "/api/v1/deliveries/diff?from=1&to=99999999999999999999"),
        ("GET", "/maps/data/problems/0"),
        ("GET", "/api/v1/audit?limit=-5"),
    ],
)
def test_out_of_range_integers_are_400(client: TestClient, tokens: dict[str, str], method: str, path: str) -> None:
    response = client.request(method, path, headers=bearer(tokens["admin"]))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


def test_a_crs_with_superscript_digits_is_400(client: TestClient, tokens: dict[str, str]) -> None:
    exported = client.get("/api/v1/layers/rivers/export", params={"format": "geojson", "crs": "4545³"})
    assert exported.status_code == 400 and exported.json()["error"]["code"] == "unknown_crs"
    report = {"lon": 106.9, "lat": 28.9, "crs": "³", "category": "dumping"}
    reported = client.post("/api/v1/problems", json=report, headers=bearer(tokens["surveyor"]))
    assert reported.status_code == 400 and reported.json()["error"]["code"] == "unknown_crs"


def test_a_long_token_name_is_audited_whole(client: TestClient, tokens: dict[str, str]) -> None:
    name = "外业测绘组" * 20  # 100 characters; the audit's target column holds 64
    admin = bearer(tokens["admin"])
    assert client.post("/api/v1/tokens", json={"name": name, "role": "viewer"}, headers=admin).status_code == 201
    entry = client.get("/api/v1/audit", headers=admin).json()["entries"][0]
    assert len(entry["target_id"]) == 64 and entry["target_id"].endswith("…")
    assert entry["details"]["target"] == name


def test_an_undeclared_method_is_405_with_allow(client: TestClient) -> None:
    response = client.request("TRACE", "/healthz")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["allow"] == "GET"  # RFC 9110: a 405 lists what the resource accepts
