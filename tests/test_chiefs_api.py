"""The chiefs' work over HTTP: public reports (rate limit, EXIF removed, moderation), roster, patrols, boards."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gis_service.api.app import create_app
from gis_service.clock import BusinessClock
from gis_service.settings import get_settings
from tests.chiefs_world import ROSTER, write_gpx, write_roster
from tests.helpers import bearer
from tests.test_ledger_api import jpeg
from tests.test_ledger_world import SITE_EAST, SITE_FAR, world_engine  # noqa: F401 - fixture

# 20:00 UTC on 2025-03-17 is 04:00 on 2025-03-18 in China.
FIXED = dt.datetime(2025, 3, 17, 20, 0, tzinfo=dt.UTC)


@pytest.fixture
def api(world_engine, tokens):  # type: ignore[no-untyped-def]  # noqa: F811
    """A client on the hand-made district with a stopped clock, and the headers of each role."""
    app = create_app(world_engine)
    app.state.clock = BusinessClock.at(FIXED)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, {role: bearer(t) for role, t in tokens.items()}


def report(c, **fields):  # type: ignore[no-untyped-def]
    """Post a public report (no token) at SITE_EAST unless told otherwise."""
    body = {"lon": SITE_EAST[0], "lat": SITE_EAST[1], "category": "乱堆", "description": "河边倒了建筑垃圾", **fields}
    return c.post("/api/v1/public-reports", json=body)


def test_public_reports_need_no_token_and_one_address_is_rate_limited(api, monkeypatch) -> None:
    c, _ = api
    limited = get_settings().model_copy(update={"public_report_limit": 2})
    c.app.state.settings = lambda: limited  # the app's settings, as the factory keeps them
    first = report(c, contact="13900000000")
    assert first.status_code == 201, first.text
    reference = first.json()["reference"]
    assert reference.startswith("JB20250318-") and first.json()["status"] == "pending"
    assert report(c).status_code == 201
    third = report(c)
    assert third.status_code == 429 and third.json()["error"]["code"] == "too_many_reports"
    # Its public status: pending, no contact anywhere in the answer.
    status = c.get(f"/api/v1/public-reports/{reference}")
    assert status.status_code == 200
    assert status.json()["status_label"] == "待审核" and status.json()["category_label"] == "乱堆"
    assert "13900000000" not in status.text and "contact" not in status.json()
    assert c.get("/api/v1/public-reports/JB20250318-NOSUCH00").status_code == 404


def test_bad_public_reports_are_refused_with_a_reason(api) -> None:
    c, _ = api
    far = report(c, lon=SITE_FAR[0] + 5, lat=SITE_FAR[1])
    assert far.status_code == 400 and far.json()["error"]["code"] == "outside_district"
    assert report(c, category="乱扔").json()["error"]["code"] == "unknown_category"
    assert report(c, description="   ").json()["error"]["code"] == "missing_description"
    fake = c.post(
        "/api/v1/public-reports",
        data={"lon": str(SITE_EAST[0]), "lat": str(SITE_EAST[1]), "category": "乱堆", "description": "x"},
        files=[("photos", ("p.jpg", b"not a photo", "image/jpeg"))],
    )
    assert fake.status_code == 400 and fake.json()["error"]["code"] == "bad_photo"
    # A good photo with a place outside the district: refused before any file is written.
    outside = c.post(
        "/api/v1/public-reports",
        data={"lon": "100.0", "lat": "30.0", "category": "乱堆", "description": "x"},
        files=[("photos", ("p.jpg", jpeg(), "image/jpeg"))],
    )
    assert outside.status_code == 400 and outside.json()["error"]["code"] == "outside_district"
    attachments = get_settings().data_dir / "attachments"
    assert not attachments.exists() or not any(p.is_file() for p in attachments.rglob("*"))


def test_public_photos_are_stored_without_exif_and_their_position_used_when_allowed(api) -> None:
    c, h = api
    photo = jpeg(gps=SITE_EAST, when="2025:03:17 09:30:00")
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(0x8825)  # the upload carries its GPS position
    sent = c.post(
        "/api/v1/public-reports",
        data={"category": "乱堆", "description": "照片里的垃圾", "use_photo_location": "true"},
        files=[("photos", ("现场.jpg", photo, "image/jpeg"))],
    )
    assert sent.status_code == 201, sent.text
    queue = c.get("/api/v1/public-reports", headers=h["admin"]).json()["reports"]
    assert len(queue) == 1
    assert (queue[0]["lon"], queue[0]["lat"]) == pytest.approx(SITE_EAST, abs=1e-5)
    stored = get_settings().data_dir / queue[0]["photos"][0]["path"]
    with Image.open(stored) as image:
        assert image.format == "JPEG" and image.size == (32, 24)
        assert len(image.getexif()) == 0 and "exif" not in image.info
    # Staff read the queue; the public may not.
    assert c.get("/api/v1/public-reports").status_code == 401
    assert c.get("/api/v1/public-reports", headers=h["viewer"]).status_code == 403


def test_moderation_files_accepted_reports_in_the_ledger_with_jurisdiction(api) -> None:
    c, h = api
    photo = jpeg()
    sent = c.post(
        "/api/v1/public-reports",
        data={"lon": str(SITE_EAST[0]), "lat": str(SITE_EAST[1]), "category": "乱堆", "description": "<b>垃圾</b>"},
        files=[("photos", ("a.jpg", photo, "image/jpeg"))],
    )
    reference = sent.json()["reference"]
    assert c.post(f"/api/v1/public-reports/{reference}/accept").status_code == 401
    accepted = c.post(f"/api/v1/public-reports/{reference}/accept", headers=h["admin"])
    assert accepted.status_code == 200, accepted.text
    problem = accepted.json()["problem"]
    # SITE_EAST lies in R1's range in 东林街道 (tests/test_ledger_world.py).
    assert (problem["river_code"], problem["town"]) == ("R1", "东林街道")
    site = c.get(f"/api/v1/problems/{problem['id']}").json()
    assert (site["source"], site["status"], site["description"]) == ("public_report", "reported", "<b>垃圾</b>")
    assert site["found_date"] == "2025-03-18"
    history = c.get(f"/api/v1/problems/{problem['id']}/history").json()["events"]
    assert reference in history[0]["note"] and len(history[0]["attachments"]) == 1
    public = c.get(f"/api/v1/public-reports/{reference}").json()
    assert public["status_label"] == "已受理" and public["problem_code"] == site["code"]
    again = c.post(f"/api/v1/public-reports/{reference}/accept", headers=h["admin"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "report_already_decided"
    other = report(c).json()["reference"]
    no_reason = c.post(f"/api/v1/public-reports/{other}/decline", json={}, headers=h["admin"])
    assert no_reason.status_code == 400 and no_reason.json()["error"]["code"] == "missing_reason"
    declined = c.post(
        f"/api/v1/public-reports/{other}/decline", json={"reason": "经核实为施工临时堆放"}, headers=h["admin"]
    )
    assert declined.status_code == 200
    public = c.get(f"/api/v1/public-reports/{other}").json()
    assert (public["status_label"], public["reason"]) == ("不予受理", "经核实为施工临时堆放")


def test_roster_patrols_and_boards_over_http(api, tmp_path) -> None:
    c, h = api
    roster = write_roster(tmp_path / "名录.xlsx", ROSTER).read_bytes()
    bad = write_roster(tmp_path / "坏.xlsx", [["R9", None, None, None, "某", None, "村级", None, None]]).read_bytes()
    files = {"file": ("坏.xlsx", bad, "application/octet-stream")}
    refused = c.post("/api/v1/chiefs/import", files=files, headers=h["admin"])
    assert refused.status_code == 422 and refused.json()["error"]["details"]["problems"][0]["row"] == 3
    files = {"file": ("名录.xlsx", roster, "application/octet-stream")}
    assert c.post("/api/v1/chiefs/import", files=files, headers=h["surveyor"]).status_code == 403
    done = c.post("/api/v1/chiefs/import", files=files, headers=h["admin"])
    assert done.status_code == 200 and done.json()["added"] == 7
    # Phones are for staff only.
    public = c.get("/api/v1/chiefs", params={"river": "R1"}).json()["assignments"]
    staff = c.get("/api/v1/chiefs", params={"river": "R1"}, headers=h["viewer"]).json()["assignments"]
    assert len(public) == 7 and all("phone" not in a for a in public) and staff[0]["phone"] == "13800000001"
    assert c.get("/api/v1/chiefs/export.xlsx").status_code == 401
    assert c.get("/api/v1/chiefs/export.xlsx", headers=h["viewer"]).content.startswith(b"PK")
    assert c.get("/api/v1/chiefs/coverage").json()["complete"] is True
    # 王村长 uploads a GPX from the phone (see tests/test_chiefs_pure.py for the hand computation).
    gpx = write_gpx(
        tmp_path / "t.gpx",
        500,
        2500,
        north_m=20,
        step_m=50,
        step_s=40,
        start=dt.datetime(2025, 3, 10, 1, 0, tzinfo=dt.UTC),
    ).read_bytes()
    form = {"chief": "王村长", "river": "R1", "joint_units": "万盛街道、东林街道"}
    track = {"track": ("巡河.gpx", gpx, "application/gpx+xml")}
    assert c.post("/api/v1/patrols", data=form, files=track).status_code == 401
    added = c.post("/api/v1/patrols", data=form, files=track, headers=h["surveyor"])
    assert added.status_code == 201, added.text
    patrol = added.json()
    assert patrol["coverage"] == pytest.approx(1545.8 / 2000, rel=0.01) and patrol["duration_s"] == 1600
    assert patrol["joint_units"] == "万盛街道、东林街道" and patrol["patrol_date"] == "2025-03-10"
    bad_track = {"track": ("t.txt", b"hello", "text/plain")}
    refused = c.post("/api/v1/patrols", data=form, files=bad_track, headers=h["surveyor"])
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_track_format"
    # A problem found on the patrol goes to the ledger with its jurisdiction, linked to the patrol.
    found = {"lon": SITE_EAST[0], "lat": SITE_EAST[1], "category": "乱占", "description": "违建棚房"}
    filed = c.post(f"/api/v1/patrols/{patrol['id']}/problems", json=found, headers=h["surveyor"])
    assert filed.status_code == 201, filed.text
    site = filed.json()["problem"]
    assert (site["source"], site["river_code"], site["town"], site["found_date"]) == (
        "patrol",
        "R1",
        "东林街道",
        "2025-03-10",
    )
    assert c.get(f"/api/v1/patrols/{patrol['id']}").json()["problems"] == [site["id"]]
    # Every chiefs' layer exports like any other (the catalogue defines it once).
    for layer in ("reaches", "patrols"):
        got = c.get(f"/api/v1/layers/{layer}/export", params={"format": "gpkg"})
        assert got.status_code == 200 and got.content[:15] == b"SQLite format 3"
    # On 2025-03-18 (China) 王村长's last patrol (03-10) is 8 days old: one day past the weekly rule.
    overdue = {r["chief"]: r for r in c.get("/api/v1/patrols/overdue").json()["overdue"]}
    assert overdue["王村长"]["days_overdue"] == 1
    # By town (tests/test_ledger_world.py: 万盛街道 west of lon 106.90, 东林街道 east): R1's village
    # reaches K0–K1, K1–K3 and K3–K8 lie mostly in 万盛街道 (K8 is lon 106.902), K8 on in 东林街道.
    by_town = {r["town"]: r for r in c.get("/api/v1/patrols/stats").json()["by_town"]}
    assert by_town["万盛街道"]["patrols"] == 1 and by_town["万盛街道"]["mean_coverage"] == patrol["coverage"]
    assert by_town["东林街道"]["patrols"] == 0 and by_town["东林街道"]["overdue"] >= 1
    assert sum(r["reaches"] for r in by_town.values()) == 7
    calendar = c.get(f"/api/v1/chiefs/{patrol['chief_id']}/calendar").json()
    assert calendar["period_days"] == 7 and sum(p["patrols"] for p in calendar["periods"]) == 1
    # Boards from the roster, also served as an OGC collection from the catalogue.
    assert c.post("/api/v1/signboards/generate", headers=h["admin"]).json()["added"] == 4
    boards = c.get("/api/v1/signboards").json()["signboards"]
    assert [b["status_label"] for b in boards] == ["现行"] * 4
    items = c.get("/ogc/collections/signboards/items").json()
    assert items["numberReturned"] == 4
    assert c.get("/ogc/collections/patrols/items").json()["numberReturned"] == 1
    assert c.get("/api/v1/signboards/export.xlsx", params={"all": "true"}).content.startswith(b"PK")
    layout = c.get(f"/api/v1/signboards/{boards[0]['id']}/board.docx")
    assert layout.status_code == 200 and layout.content.startswith(b"PK")
    assert c.get("/api/v1/signboards/9999/board.docx").json()["error"]["code"] == "signboard_not_found"
    # Edits from the workbench: a corrected post flags the boards that print it; a term ended early.
    district = staff[0]
    edit = c.patch(f"/api/v1/chiefs/{district['chief_id']}", json={"post": "区委书记"}, headers=h["admin"])
    assert edit.status_code == 200 and edit.json()["signboards_outdated"] == 4
    assert c.patch(f"/api/v1/chiefs/{district['chief_id']}", json={"post": "x"}, headers=h["viewer"]).status_code == 403
    for board in c.get("/api/v1/signboards").json()["signboards"]:
        assert c.post(f"/api/v1/signboards/{board['id']}/updated", headers=h["admin"]).status_code == 200
    ended = c.post(
        f"/api/v1/chiefs/assignments/{staff[-1]['id']}/end", json={"end_date": "2025-03-18"}, headers=h["admin"]
    )
    assert ended.status_code == 200 and ended.json()["end_date"] == "2025-03-18"
    assert ended.json()["signboards_outdated"] == 1  # only the board naming 丁村长
    again = c.post(
        f"/api/v1/chiefs/assignments/{staff[-1]['id']}/end", json={"end_date": "2025-03-19"}, headers=h["admin"]
    )
    assert again.status_code == 409
    assert c.get("/api/v1/chiefs/coverage").json()["complete"] is False  # K8 on has no village chief now


def test_the_public_report_page_works_offline_and_escapes_what_it_shows(api) -> None:
    c, _ = api
    page = c.get("/report")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "群众举报" in page.text and '<option value="dumping">乱堆</option>' in page.text
    assert "action" not in page.text.split("<form", 1)[1].split(">", 1)[0]  # posts by script to the API
    assert "/api/v1/public-reports" in page.text and "/static/vendor/leaflet/dist/leaflet.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: it works on an intranet
    # Messages are written with textContent: a reporter's text is never markup.
    assert "innerHTML" not in page.text
