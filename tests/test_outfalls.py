"""The outfall register (一口一档): register, campaign stages forward only, outcome, flags, roles, audit."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gis_service.api.app import create_app
from gis_service.catalogue import bundled_catalogue
from gis_service.clock import BusinessClock
from gis_service.settings import Settings
from tests.helpers import bearer
from tests.test_ledger_world import world_engine  # noqa: F401


@pytest.fixture
def api(world_engine, tokens):  # type: ignore[no-untyped-def]  # noqa: F811
    with TestClient(create_app(world_engine), raise_server_exceptions=False) as c:
        yield c, {role: bearer(t) for role, t in tokens.items()}


def register(c, h, code, lon, lat, **kw):  # type: ignore[no-untyped-def]
    r = c.post(
        "/api/v1/outfalls",
        json={"code": code, "name": f"{code} 排口", "outfall_type": "工业", "lon": lon, "lat": lat, **kw},
        headers=h["surveyor"],
    )
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
    r = c.post(
        "/api/v1/outfalls",
        json={"code": "PK1", "name": "x", "outfall_type": "其他", "lon": 106.9, "lat": 28.9},
        headers=h["surveyor"],
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_outfall_code"
    r = c.post(
        "/api/v1/outfalls",
        json={"code": "PK9", "name": "x", "outfall_type": "火星", "lon": 106.9, "lat": 28.9},
        headers=h["surveyor"],
    )
    assert r.status_code == 400
    assert (
        c.post(
            "/api/v1/outfalls",
            json={"code": "PK8", "name": "x", "outfall_type": "其他", "lon": 106.9, "lat": 28.9},
            headers=h["viewer"],
        ).status_code
        == 403
    )


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
    # Closing the file (销号) is the office's decision: a surveyor is refused and nothing changes.
    r = c.patch(url, json={"expected_version": 3, "outcome": "closed"}, headers=h["surveyor"])
    assert r.status_code == 403 and r.json()["error"]["details"]["action"] == "outfall.close"
    assert c.get(url).json()["properties"]["status"] != "closed"
    r = c.patch(url, json={"expected_version": 3, "outcome": "closed"}, headers=h["admin"])
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


def test_register_refuses_a_polygon_outfall(api) -> None:
    c, h = api
    square = {"type": "Polygon", "coordinates": [[[106.9, 28.9], [106.91, 28.9], [106.91, 28.91], [106.9, 28.9]]]}
    r = c.post(
        "/api/v1/outfalls",
        json={"code": "PK5", "name": "x", "outfall_type": "其他", "geometry": square},
        headers=h["surveyor"],
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_geometry_type"
    assert "点" in r.json()["error"]["message"]


def test_statistics_for_dashboards_count_every_value_and_each_check(api) -> None:
    c, h = api
    register(c, h, "PK1", 106.85, 28.9006)  # industrial, on R1's protected stretch: flagged
    register(c, h, "PK2", 106.95, 28.9006, outfall_type="农业")
    banned = register(c, h, "PK3", 106.96, 28.9006, outfall_type="城镇污水处理厂")["id"]
    r = c.patch(
        f"/api/v1/outfalls/{banned}",
        json={"expected_version": 1, "stage": "fix", "outcome": "ban"},
        headers=h["surveyor"],
    )
    assert r.status_code == 200
    stats = c.get("/api/v1/outfalls/stats").json()
    assert stats["total"] == 3
    assert stats["by_type"] == {"industrial": 1, "municipal": 1, "agricultural": 1, "other": 0}
    assert stats["by_stage"] == {"survey": 2, "monitor": 0, "trace": 0, "fix": 1}
    # Two outfalls have no outcome yet: counted as unset, next to every allowed outcome.
    assert stats["by_outcome"] == {"ban": 1, "merge": 0, "regularise": 0, "closed": 0, "unset": 2}
    assert stats["by_status"] == {"active": 3, "closed": 0}
    assert stats["flagged"] == 2
    flags = {"on_protected_zone": 1, "banned_still_active": 1, "in_source_zone_first": 0, "in_source_zone": 0}
    assert stats["flags"] == flags
    assert c.get("/api/v1/outfalls/stats", params={"outfall_type": "agricultural"}).json()["flagged"] == 0
    assert c.get("/api/v1/outfalls/stats", params={"stage": "backwards"}).status_code == 400


def test_photo_evidence_on_an_outfall_event(api) -> None:
    from tests.test_ledger_api import jpeg

    c, h = api
    oid = register(c, h, "PK6", 106.95, 28.9006)["id"]
    r = c.patch(
        f"/api/v1/outfalls/{oid}",
        json={"expected_version": 1, "stage": "fix", "outcome": "regularise"},
        headers=h["surveyor"],
    )
    event = r.json()["history"][-1]
    photo = jpeg(gps=(106.95, 28.9006), when="2025:03:10 09:30:00")
    url = f"/api/v1/outfalls/{oid}/events/{event['id']}/photos"
    assert c.post(url, files=[("photos", ("a.jpg", photo, "image/jpeg"))], headers=h["viewer"]).status_code == 403
    r = c.post(url, files=[("photos", ("整治后.jpg", photo, "image/jpeg"))], headers=h["surveyor"])
    assert r.status_code == 201, r.text
    stored = r.json()["attachments"][0]
    assert stored["filename"] == "整治后.jpg" and abs(stored["lon"] - 106.95) < 1e-5
    assert stored["taken_at"].startswith("2025-03-10T01:30:00")  # 09:30 China time
    assert "path" not in stored
    history = c.get(f"/api/v1/outfalls/{oid}").json()["history"]
    assert history[-1]["attachments"][0]["sha256"] == stored["sha256"]
    assert "photos" not in history[-1]["changes"]
    got = c.get(stored["href"])
    assert got.status_code == 200 and got.content == photo
    assert c.get(f"/api/v1/outfalls/{oid}/events/{event['id']}/photos/5").status_code == 404
    r = c.post(url, files=[("photos", ("x.jpg", b"not a photo", "image/jpeg"))], headers=h["surveyor"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_photo"
    other = register(c, h, "PK7", 106.96, 28.9006)["id"]
    r = c.post(
        f"/api/v1/outfalls/{other}/events/{event['id']}/photos",
        files=[("photos", ("a.jpg", photo, "image/jpeg"))],
        headers=h["surveyor"],
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "event_not_found"
    audit = c.get("/api/v1/audit", headers=h["admin"]).json()["entries"]
    assert "outfall.photo" in {e["action"] for e in audit}


def test_outfalls_cli_list_stats_and_export(world_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    import json

    import pyogrio
    from openpyxl import load_workbook
    from shapely import Point
    from typer.testing import CliRunner

    from gis_service.cli.main import app
    from gis_service.db.engine import transaction
    from gis_service.ledger import outfalls

    with transaction(world_engine) as session:
        outfalls.register_outfalls(
            session,
            outfalls.outfall_frame(
                bundled_catalogue()["outfalls"],
                Point(106.85, 28.9006),
                {"code": "PK1", "name": "一号排口", "outfall_type": "工业"},
            ),
            actor="t",
            settings=Settings(),
            clock=BusinessClock(),
        )
        outfalls.register_outfalls(
            session,
            outfalls.outfall_frame(
                bundled_catalogue()["outfalls"],
                Point(106.95, 28.9006),
                {"code": "PK2", "name": "二号排口", "outfall_type": "农业"},
            ),
            actor="t",
            settings=Settings(),
            clock=BusinessClock(),
        )
    runner = CliRunner()
    result = runner.invoke(app, ["outfalls", "list", "--flagged", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["code"] for r in rows] == ["PK1"] and rows[0]["flags"] == ["on_protected_zone"]
    result = runner.invoke(app, ["outfalls", "list", "--type", "agricultural"])
    assert result.exit_code == 0 and "（1 个）" in result.output and "PK2" in result.output
    assert runner.invoke(app, ["outfalls", "list", "--stage", "nonsense"]).exit_code == 2
    result = runner.invoke(app, ["outfalls", "stats", "--json"])
    assert json.loads(result.output)["flags"]["on_protected_zone"] == 1
    assert runner.invoke(app, ["outfalls", "stats"]).exit_code == 0
    result = runner.invoke(app, ["outfalls", "export", "-o", str(tmp_path / "o.gpkg"), "--crs", "4524"])
    assert result.exit_code == 0, result.output
    exported = pyogrio.read_dataframe(tmp_path / "o.gpkg")
    assert exported.crs.to_epsg() == 4524
    assert exported.set_index("code").loc["PK1", "flags"] == "位于岸线保护区岸段"
    result = runner.invoke(app, ["outfalls", "export", "-o", str(tmp_path / "o.xlsx"), "--flagged"])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(tmp_path / "o.xlsx")["入河排污口名录"]
    assert sheet.max_row == 2 and sheet["J2"].value == "位于岸线保护区岸段"
