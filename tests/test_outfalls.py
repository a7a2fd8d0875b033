"""The outfall register (一口一档): register, campaign stages forward only, outcome, flags, roles, audit."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gis_service.api.app import create_app
from tests.conftest import bearer
from tests.test_ledger_world import world_engine  # noqa: F401


@pytest.fixture
def api(world_engine, tokens):  # type: ignore[no-untyped-def]  # noqa: F811
    with TestClient(create_app(world_engine), raise_server_exceptions=False) as c:
        yield c, {role: bearer(t) for role, t in tokens.items()}


def register(c, h, code, lon, lat, **kw):  # type: ignore[no-untyped-def]
    r = c.post("/api/v1/outfalls", json={"code": code, "name": f"{code} 排口", "outfall_type": "工业",
                                         "lon": lon, "lat": lat, **kw}, headers=h["surveyor"])
    assert r.status_code == 201, r.text
    return r.json()


def test_register_derives_river_and_flags_protected_stretch(api) -> None:
    c, h = api
    # 0.0000° from R1's protected left-bank line (lat 28.9006, lon 106.82–106.86).
    on_protected = register(c, h, "PK1", 106.85, 28.9006)
    assert on_protected["properties"]["river_code"] == "R1"
    assert on_protected["properties"]["zone_type"] == "protected"
    assert on_protected["properties"]["flags"] == ["on_protected_zone"]
    assert on_protected["properties"]["stage"] == "survey" and on_protected["properties"]["status"] == "active"
    # On the developed stretch (lon > 106.86) and given its river: no flag.
    plain = register(c, h, "PK2", 106.95, 28.9006, river_code="R1", outfall_type="农业")
    assert plain["properties"]["flags"] == [] and plain["properties"]["outfall_type"] == "agricultural"
    flagged = c.get("/api/v1/outfalls", params={"flagged": "true"}).json()
    assert [f["properties"]["code"] for f in flagged["features"]] == ["PK1"]
    assert flagged["features"][0]["properties"]["flag_labels"] == ["位于岸线保护区岸段"]
    r = c.post("/api/v1/outfalls", json={"code": "PK1", "name": "x", "outfall_type": "其他", "lon": 106.9,
                                         "lat": 28.9}, headers=h["surveyor"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_outfall_code"
    r = c.post("/api/v1/outfalls", json={"code": "PK9", "name": "x", "outfall_type": "火星", "lon": 106.9,
                                         "lat": 28.9}, headers=h["surveyor"])
    assert r.status_code == 400
    assert c.post("/api/v1/outfalls", json={"code": "PK8", "name": "x", "outfall_type": "其他", "lon": 106.9,
                                            "lat": 28.9}, headers=h["viewer"]).status_code == 403


def test_campaign_stages_outcome_ban_flag_and_closure(api) -> None:
    c, h = api
    oid = register(c, h, "PK3", 106.95, 28.9006)["id"]
    url = f"/api/v1/outfalls/{oid}"
    r = c.patch(url, json={"expected_version": 1, "stage": "trace"}, headers=h["surveyor"])
    assert r.status_code == 200 and r.json()["properties"]["stage"] == "trace"
    r = c.patch(url, json={"expected_version": 2, "stage": "monitor"}, headers=h["surveyor"])
    assert r.status_code == 409 and r.json()["error"]["details"]["allowed"] == ["trace", "fix"]
    r = c.patch(url, json={"expected_version": 2, "outcome": "取缔"}, headers=h["surveyor"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "outcome_before_fix"
    r = c.patch(url, json={"expected_version": 1, "responsible": "x"}, headers=h["surveyor"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "version_conflict"
    r = c.patch(url, json={"expected_version": 2, "stage": "fix", "outcome": "依法取缔"}, headers=h["surveyor"])
    assert r.status_code == 200
    # Banned but still marked active: flagged in the register.
    assert r.json()["properties"]["flags"] == ["banned_still_active"]
    r = c.patch(url, json={"expected_version": 3, "outcome": "closed"}, headers=h["surveyor"])
    props = r.json()["properties"]
    assert (props["status"], props["outcome"], props["flags"]) == ("closed", "closed", [])
    assert [e["action"] for e in r.json()["history"]] == ["register", "stage", "outcome", "close"]
    r = c.patch(url, json={"expected_version": 4, "name": "改名"}, headers=h["admin"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "outfall_closed"
    assert c.delete(url, headers=h["admin"]).status_code == 409  # a closed file is kept


def test_delete_is_admin_only_and_audited(api) -> None:
    c, h = api
    oid = register(c, h, "PK4", 106.9, 28.9)["id"]
    assert c.delete(f"/api/v1/outfalls/{oid}", headers=h["surveyor"]).status_code == 403
    r = c.delete(f"/api/v1/outfalls/{oid}", headers=h["admin"])
    assert r.status_code == 200 and r.json()["snapshot"]["code"] == "PK4"
    assert c.get(f"/api/v1/outfalls/{oid}").status_code == 404
    audit = c.get("/api/v1/audit", headers=h["admin"]).json()["entries"]
    assert [e["action"] for e in audit][:2] == ["outfall.delete", "outfall.register"]
