"""The ledger over HTTP: report, list, transitions with photos, conflicts, roles, overdue, stats, audit."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pyproj import Transformer

from gis_service.api.app import create_app
from gis_service.clock import BusinessClock
from tests.helpers import bearer
from tests.test_ledger_world import SITE_EAST, SITE_IN_R1, world_engine  # noqa: F401

FIXED = dt.datetime(2025, 3, 10, 4, 0, tzinfo=dt.UTC)  # 12:00 in China


@pytest.fixture
def api(world_engine, tokens):  # type: ignore[no-untyped-def]  # noqa: F811
    app = create_app(world_engine)
    app.state.clock = BusinessClock.at(FIXED)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, {role: bearer(t) for role, t in tokens.items()}


def jpeg(gps: tuple[float, float] | None = None, when: str | None = None) -> bytes:
    """Return a small JPEG, with an EXIF GPS position and capture time when given."""
    image = Image.new("RGB", (32, 24), (120, 160, 90))
    exif = image.getexif()
    if gps:
        lon, lat = gps

        def dms(v: float) -> tuple[float, float, float]:
            d = int(v)
            m = int((v - d) * 60)
            return (float(d), float(m), round((v - d - m / 60) * 3600, 4))

        exif.get_ifd(0x8825).update({1: "N", 2: dms(lat), 3: "E", 4: dms(lon)})
    if when:
        exif.get_ifd(0x8769)[36867] = when
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def new_site(c, h, where=SITE_IN_R1, **kw):  # type: ignore[no-untyped-def]
    r = c.post(
        "/api/v1/problems", json={"category": "乱堆", "lon": where[0], "lat": where[1], **kw}, headers=h["surveyor"]
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_report_from_map_point_and_from_projected_coordinates(api) -> None:
    c, h = api
    site = new_site(c, h, description="<script>alert(1)</script>")
    assert (site["category"], site["river_code"], site["town"], site["inside_range"], site["zone_type"]) == (
        "dumping",
        "R1",
        "万盛街道",
        True,
        "protected",
    )
    assert site["found_date"] == "2025-03-10" and site["lock_version"] == 1
    # The same place given in CGCS2000 / 3° GK zone 36 (EPSG:4524), as surveyors deliver it.
    x, y = Transformer.from_crs(4490, 4524, always_xy=True).transform(*SITE_EAST)
    r = c.post(
        "/api/v1/problems",
        json={"category": "mining", "lon": x, "lat": y, "crs": "4524", "source": "举报"},
        headers=h["surveyor"],
    )
    assert r.status_code == 201, r.text
    assert r.json()["town"] == "东林街道" and r.json()["source"] == "public_report"
    assert abs(r.json()["lon"] - SITE_EAST[0]) < 1e-7
    polygon = {
        "type": "Polygon",
        "coordinates": [
            [[106.849, 28.9001], [106.851, 28.9001], [106.851, 28.9003], [106.849, 28.9003], [106.849, 28.9001]]
        ],
    }
    r = c.post("/api/v1/problems", json={"category": "occupation", "geometry": polygon}, headers=h["admin"])
    assert r.status_code == 201 and r.json()["river_code"] == "R1"


def test_bad_reports_are_clear_4xx(api) -> None:
    c, h = api
    cases = [
        ({"category": "乱堆", "lon": 28.9, "lat": 106.85}, "outside_district"),  # swapped
        ({"category": "乱倒", "lon": 106.85, "lat": 28.9}, "bad_field_value"),
        ({"category": "dumping"}, "missing_location"),
        ({"category": "dumping", "lon": 106.85, "lat": 28.9, "crs": "EPSG:99999"}, "unknown_crs"),
        (
            {"category": "dumping", "geometry": {"type": "LineString", "coordinates": [[106.8, 28.9], [106.9, 28.9]]}},
            "bad_geometry_type",
        ),
    ]
    for body, code in cases:
        r = c.post("/api/v1/problems", json=body, headers=h["surveyor"])
        assert r.status_code == 400 and r.json()["error"]["code"] == code, (body, r.text)
    assert "写反" in c.post("/api/v1/problems", json=cases[0][0], headers=h["surveyor"]).json()["error"]["message"]
    assert c.post("/api/v1/problems", json=cases[1][0] | {"category": "dumping"}).status_code == 401
    assert (
        c.post(
            "/api/v1/problems", json={"category": "dumping", "lon": 106.85, "lat": 28.9}, headers=h["viewer"]
        ).status_code
        == 403
    )


def test_lifecycle_over_http_with_photo_evidence_roles_and_conflict(api) -> None:
    c, h = api
    pid = new_site(c, h)["id"]
    url = f"/api/v1/problems/{pid}/transitions"
    assert c.post(url, json={"action": "confirm", "expected_version": 1}, headers=h["viewer"]).status_code == 403
    r = c.post(url, json={"action": "confirm", "expected_version": 1, "note": "属实"}, headers=h["surveyor"])
    assert r.status_code == 201 and r.json()["problem"]["status"] == "confirmed"
    # A stale second confirm: conflict, not saved.
    r = c.post(url, json={"action": "confirm", "expected_version": 1}, headers=h["surveyor"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "version_conflict"
    # Surveyors may not assign (admin only); the refusal names the needed role.
    assign = {
        "action": "assign",
        "expected_version": 2,
        "data": {"deadline": "2025-04-30", "responsible_unit": "万盛街道办事处"},
    }
    r = c.post(url, json=assign, headers=h["surveyor"])
    assert r.status_code == 403 and "admin" in r.json()["error"]["message"]
    assert c.post(url, json=assign, headers=h["admin"]).status_code == 201
    r = c.post(url, json={"action": "close", "expected_version": 3, "data": {"verifier": "x"}}, headers=h["admin"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"
    assert r.json()["error"]["details"]["allowed"] == ["start"]
    assert c.post(url, json={"action": "start", "expected_version": 3}, headers=h["surveyor"]).status_code == 201
    photo = jpeg(gps=(106.85, 28.9002), when="2025:03:10 09:30:00")
    r = c.post(
        url,
        data={"action": "rectify", "expected_version": "4", "note": "已清运"},
        files=[("photos", ("现场.jpg", photo, "image/jpeg"))],
        headers=h["surveyor"],
    )
    assert r.status_code == 201, r.text
    attachment = r.json()["event"]["attachments"][0]
    assert attachment["content_type"] == "image/jpeg" and attachment["filename"] == "现场.jpg"
    assert abs(attachment["lon"] - 106.85) < 1e-5 and abs(attachment["lat"] - 28.9002) < 1e-5
    # 09:30 China time (EXIF has no offset: +08:00 assumed) is 01:30 UTC.
    assert attachment["taken_at"].startswith("2025-03-10T01:30:00")
    got = c.get(f"/api/v1/problems/{pid}/attachments/{attachment['id']}")
    assert got.status_code == 200 and got.content == photo
    r = c.post(url, json={"action": "close", "expected_version": 5, "data": {"verifier": "河长办"}}, headers=h["admin"])
    assert r.status_code == 201 and r.json()["problem"]["closed_date"] == "2025-03-10"
    events = c.get(f"/api/v1/problems/{pid}/history").json()["events"]
    assert [e["action"] for e in events] == ["report", "confirm", "assign", "start", "rectify", "close"]
    # A later photo added to the closing event.
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    r = c.post(
        f"/api/v1/problems/{pid}/events/{events[-1]['id']}/photos",
        files=[("photos", ("a.png", png.getvalue(), "image/png"))],
        headers=h["admin"],
    )
    assert r.status_code == 201 and r.json()["attachments"][0]["lon"] is None
    audit = c.get("/api/v1/audit", headers=h["admin"]).json()["entries"]
    actions = {e["action"] for e in audit}
    assert {
        "problem.report",
        "problem.confirm",
        "problem.assign",
        "problem.start",
        "problem.rectify",
        "problem.close",
        "problem.photo",
    } <= actions
    # Closed: no edits.
    r = c.patch(f"/api/v1/problems/{pid}", json={"expected_version": 6, "description": "x"}, headers=h["admin"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "problem_final"


def test_photo_checks(api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    c, h = api
    pid = new_site(c, h)["id"]
    event = c.get(f"/api/v1/problems/{pid}/history").json()["events"][0]["id"]
    url = f"/api/v1/problems/{pid}/events/{event}/photos"
    r = c.post(url, files=[("photos", ("x.jpg", b"<html>not a photo</html>", "image/jpeg"))], headers=h["surveyor"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_photo"
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    r = c.post(url, files=[("photos", ("x.gif", gif.getvalue(), "image/gif"))], headers=h["surveyor"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_photo_type"
    monkeypatch.setenv("RIVERGIS_MAX_PHOTO_MB", "0.001")
    from gis_service.settings import get_settings

    get_settings.cache_clear()
    r = c.post(url, files=[("photos", ("big.jpg", jpeg() * 3, "image/jpeg"))], headers=h["surveyor"])
    assert r.status_code == 413
    # Dismissal without a reason or evidence names what is missing.
    r = c.post(
        f"/api/v1/problems/{pid}/transitions", json={"action": "dismiss", "expected_version": 1}, headers=h["admin"]
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_fields"


def test_list_filters_overdue_and_stats_over_http(api) -> None:
    c, h = api
    a = new_site(c, h)["id"]
    b = new_site(c, h, where=SITE_EAST, category="mining")["id"]
    url = f"/api/v1/problems/{a}/transitions"
    c.post(url, json={"action": "confirm", "expected_version": 1}, headers=h["admin"])
    c.post(
        url,
        json={
            "action": "assign",
            "expected_version": 2,
            "data": {"deadline": "2025-03-20", "responsible_unit": "万盛街道办事处"},
        },
        headers=h["admin"],
    )
    r = c.get("/api/v1/problems", params={"town": "东林街道"})
    assert [i["id"] for i in r.json()["items"]] == [b]
    r = c.get("/api/v1/problems", params={"limit": 1, "sort": "id"})
    assert [i["id"] for i in r.json()["items"]] == [a] and r.json()["links"][0]["rel"] == "next"
    assert c.get("/api/v1/problems", params={"status": "bogus"}).status_code == 400
    assert c.get("/api/v1/problems", params={"bbox": "1,2"}).status_code == 400
    assert c.get("/api/v1/problems/overdue").json()["count"] == 0  # deadline 03-20, today 03-10
    c.app.state.clock = BusinessClock.at(dt.datetime(2025, 3, 25, 4, tzinfo=dt.UTC))  # type: ignore[attr-defined]
    late = c.get("/api/v1/problems/overdue").json()
    assert [i["id"] for i in late["items"]] == [a] and late["items"][0]["days_overdue"] == 5
    assert [i["id"] for i in c.get("/api/v1/problems", params={"overdue": "true"}).json()["items"]] == [a]
    stats = c.get("/api/v1/problems/stats", params={"by": "river"}).json()
    assert stats["total"] == 2 and stats["overdue"] == 1 and stats["by_category"]["mining"] == 1
    assert stats["on_time_rate"] == 0.0  # 1 due (overdue), 0 on time
    assert c.get("/api/v1/problems/stats", params={"by": "moon"}).status_code == 400
    assert c.get("/api/v1/problems/99999").status_code == 404


def test_overdue_over_http_is_paged_with_next_links(api) -> None:
    c, h = api
    ids = [new_site(c, h)["id"] for _ in range(3)]
    for pid, deadline in zip(ids, ("2025-03-15", "2025-03-12", "2025-03-18"), strict=True):
        url = f"/api/v1/problems/{pid}/transitions"
        c.post(url, json={"action": "confirm", "expected_version": 1}, headers=h["admin"])
        c.post(
            url,
            json={
                "action": "assign",
                "expected_version": 2,
                "data": {"deadline": deadline, "responsible_unit": "万盛街道办事处"},
            },
            headers=h["admin"],
        )
    c.app.state.clock = BusinessClock.at(dt.datetime(2025, 3, 25, 4, tzinfo=dt.UTC))  # type: ignore[attr-defined]
    page = c.get("/api/v1/problems/overdue", params={"limit": 2}).json()
    assert [i["id"] for i in page["items"]] == [ids[1], ids[0]] and page["numberReturned"] == 2
    assert page["count"] == 3 and page["links"][0]["rel"] == "next"
    rest = c.get(page["links"][0]["href"]).json()
    assert [i["id"] for i in rest["items"]] == [ids[2]] and rest["links"] == []
    newest = c.get("/api/v1/problems/overdue", params={"sort": "-deadline", "limit": 1}).json()
    assert newest["items"][0]["id"] == ids[2] and newest["items"][0]["days_overdue"] == 7
    assert c.get("/api/v1/problems/overdue", params={"sort": "nonsense"}).status_code == 400
    assert c.get("/api/v1/problems/overdue", params={"limit": 0}).status_code in (400, 422)
