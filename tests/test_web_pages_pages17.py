"""The river chiefs' pages on both backends: the roster with its coverage and import, the signboards."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from gis_service.api.app import create_app
from gis_service.clock import BusinessClock
from gis_service.db.models import Problem
from gis_service.db.models_chiefs import ChiefAssignment, Signboard
from tests.chiefs_world import ROSTER, write_gpx, write_roster
from tests.test_ledger_world import SITE_EAST, world_engine  # noqa: F401 - fixture
from tests.web_helpers import csrf_of, make_users
from tests.web_pages_helpers import XSS, as_role, assert_escaped, jpeg

# 20:00 UTC on 2025-03-17 is 04:00 on 2025-03-18 in China.
FIXED = dt.datetime(2025, 3, 17, 20, 0, tzinfo=dt.UTC)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def web(world_engine: Engine):  # type: ignore[no-untyped-def]  # noqa: F811
    """A page client on the hand-made district with a stopped clock and one account of each role."""
    make_users(world_engine)
    app = create_app(world_engine)
    app.state.clock = BusinessClock.at(FIXED)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, world_engine


def _assignments(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(ChiefAssignment)) or 0)


def _import(client: TestClient, content: bytes, token: str, name: str = "名录.xlsx"):  # type: ignore[no-untyped-def]
    return client.post(
        "/chiefs/import", data={"csrf_token": token}, files={"file": (name, content, XLSX)}, follow_redirects=False
    )


def test_admin_imports_the_roster_and_everyone_sees_it_phones_only_for_staff(web, tmp_path) -> None:
    client, engine = web
    roster = write_roster(tmp_path / "名录.xlsx", ROSTER).read_bytes()
    as_role(client, "surveyor")
    page = client.get("/chiefs")
    assert page.status_code == 200 and 'id="rg-roster-import"' not in page.text
    refused = _import(client, roster, csrf_of(client.get("/account/password").text))
    assert refused.status_code == 403 and "管理员" in refused.text
    assert _assignments(engine) == 0

    as_role(client, "admin")
    page = client.get("/chiefs")
    assert 'id="rg-roster-import"' in page.text
    token = csrf_of(page.text)
    no_token = client.post("/chiefs/import", files={"file": ("名录.xlsx", roster, XLSX)})
    assert no_token.status_code == 403 and "csrf_failed" in no_token.text
    # Row 3 of the sheet (title, header, then the data) names a river that does not exist; the chief's name is typed.
    bad = write_roster(tmp_path / "坏.xlsx", [["R9", None, None, None, XSS, None, "村级", None, None]]).read_bytes()
    rejected = _import(client, bad, token, "坏.xlsx")
    assert rejected.status_code == 422 and "roster_rejected" in rejected.text
    assert 'data-row="3"' in rejected.text
    assert XSS not in rejected.text
    assert _assignments(engine) == 0

    done = _import(client, roster, token)
    assert done.status_code == 303 and done.headers["location"] == "/chiefs?imported=7"
    assert _assignments(engine) == 7
    shown = client.get("/chiefs")
    assert len(re.findall(r"data-assignment=", shown.text)) == 7
    assert "13800000001" in shown.text and "K8+000" in shown.text
    assert 'data-complete="yes"' in shown.text

    client.cookies.clear()
    public = client.get("/chiefs")  # public reading: the roster without phones
    assert public.status_code == 200 and "邓区长" in public.text and "13800000001" not in public.text
    before = client.get("/chiefs", params={"on": "2024-12-31"})  # before the roster took office
    assert before.status_code == 200 and "data-assignment=" not in before.text
    assert client.get("/chiefs", params={"on": "明天"}).status_code == 400


def test_admin_generates_boards_and_records_one_replaced(web, tmp_path) -> None:
    client, engine = web
    # 甲村长's name typed as a script: it is printed on the board of K0+000 to K1+000.
    rows = [[XSS if cell == "甲村长" else cell for cell in row] for row in ROSTER]
    as_role(client, "admin")
    token = csrf_of(client.get("/chiefs").text)
    assert _import(client, write_roster(tmp_path / "名录.xlsx", rows).read_bytes(), token).status_code == 303

    as_role(client, "viewer")
    page = client.get("/signboards")
    assert page.status_code == 200 and "data-board=" not in page.text and 'id="rg-boards-generate"' not in page.text
    refused = client.post("/signboards/generate", data={"csrf_token": csrf_of(client.get("/account/password").text)})
    assert refused.status_code == 403 and "管理员" in refused.text

    as_role(client, "admin")
    token = csrf_of(client.get("/signboards").text)
    assert client.post("/signboards/generate").status_code == 403  # no CSRF token
    assert "data-board=" not in client.get("/signboards").text
    done = client.post("/signboards/generate", data={"csrf_token": token}, follow_redirects=False)
    # The same four boards as over the API (tests/test_chiefs_api.py): K0–K1, K1–K3, K3–K8, K8–end.
    assert done.status_code == 303 and done.headers["location"] == "/signboards?added=4"
    page = client.get("/signboards")
    ids = re.findall(r'data-board="(\d+)" data-status="current"', page.text)
    assert len(ids) == 4
    assert_escaped(page.text)
    docx = client.get(f"/api/v1/signboards/{ids[0]}/board.docx")
    assert f'href="/api/v1/signboards/{ids[0]}/board.docx"' in page.text and docx.content.startswith(b"PK")

    with engine.begin() as conn:  # a board found out of date (as a roster edit would flag it)
        conn.execute(update(Signboard).where(Signboard.id == int(ids[1])).values(status="outdated"))
    flagged = client.get("/signboards", params={"status": "outdated"})
    assert re.findall(r'data-board="(\d+)"', flagged.text) == [ids[1]] and "待更新" in flagged.text
    assert client.post(f"/signboards/{ids[1]}/updated").status_code == 403  # no CSRF token
    marked = client.post(f"/signboards/{ids[1]}/updated", data={"csrf_token": token}, follow_redirects=False)
    assert marked.status_code == 303
    with engine.connect() as conn:
        assert conn.scalar(select(Signboard.status).where(Signboard.id == int(ids[1]))) == "current"
    assert client.post("/signboards/9999/updated", data={"csrf_token": token}).status_code == 404


def _report(client: TestClient, description: str, photo: bytes | None = None) -> str:
    """Send a citizen's report through the public intake (no login) and return its reference."""
    data = {"lon": str(SITE_EAST[0]), "lat": str(SITE_EAST[1]), "category": "乱堆", "description": description}
    if photo is None:
        sent = client.post("/api/v1/public-reports", json=data)
    else:
        sent = client.post("/api/v1/public-reports", data=data, files=[("photos", ("a.jpg", photo, "image/jpeg"))])
    assert sent.status_code == 201, sent.text
    return str(sent.json()["reference"])


def test_admin_accepts_a_report_into_the_ledger_and_declines_one_with_a_reason(web) -> None:
    client, engine = web
    client.cookies.clear()
    kept = _report(client, XSS, jpeg("green"))
    other = _report(client, "河边有建筑垃圾")
    as_role(client, "surveyor")
    refused = client.get("/moderation")
    assert refused.status_code == 403 and "管理员" in refused.text

    as_role(client, "admin")
    page = client.get("/moderation")
    assert page.status_code == 200
    assert set(re.findall(r'data-report="([^"]+)"', page.text)) == {kept, other}
    assert_escaped(page.text)  # the citizen's description is shown as text
    photo = client.get(f"/moderation/{kept}/photos/0")
    assert f'src="/moderation/{kept}/photos/0"' in page.text and photo.status_code == 200
    assert photo.headers["content-type"] == "image/jpeg"
    token = csrf_of(page.text)

    assert client.post(f"/moderation/{kept}/accept").status_code == 403  # no CSRF token
    assert client.post(f"/moderation/{other}/decline", data={"reason": "重复"}).status_code == 403
    no_reason = client.post(f"/moderation/{other}/decline", data={"csrf_token": token, "reason": " "})
    assert no_reason.status_code == 400 and "missing_reason" in no_reason.text

    done = client.post(f"/moderation/{kept}/accept", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    problem_id = int(done.headers["location"].rsplit("=", 1)[1])
    with engine.connect() as conn:
        site = conn.execute(select(Problem.source, Problem.river_code).where(Problem.id == problem_id)).one()
    # SITE_EAST lies in R1's range (tests/test_ledger_world.py); the source is the citizens' channel.
    assert (site.source, site.river_code) == ("public_report", "R1")
    again = client.post(f"/moderation/{kept}/accept", data={"csrf_token": token})
    assert again.status_code == 409 and "report_already_decided" in again.text

    declined = client.post(f"/moderation/{other}/decline", data={"csrf_token": token, "reason": XSS})
    assert declined.status_code == 200
    status = client.get(f"/api/v1/public-reports/{other}").json()
    assert (status["status"], status["reason"]) == ("declined", XSS)
    listed = client.get("/moderation", params={"status": "declined"})
    assert re.findall(r'data-report="([^"]+)"', listed.text) == [other]
    assert_escaped(listed.text)
    assert 'data-report="' not in client.get("/moderation").text


def test_surveyor_uploads_a_track_from_the_phone_and_sees_its_coverage(web, tmp_path) -> None:
    client, engine = web
    as_role(client, "admin")
    token = csrf_of(client.get("/chiefs").text)
    assert _import(client, write_roster(tmp_path / "名录.xlsx", ROSTER).read_bytes(), token).status_code == 303
    # 王村长 walks K0+500 to K2+500 of R1, 20 m off the line, a point every 50 m and 40 s: 40 steps, 1600 s.
    gpx = write_gpx(
        tmp_path / "t.gpx",
        500,
        2500,
        north_m=20,
        step_m=50,
        step_s=40,
        start=dt.datetime(2025, 3, 10, 1, 0, tzinfo=dt.UTC),
    ).read_bytes()
    fields = {"chief": "王村长", "river": "R1", "joint_units": "万盛街道", "notes": XSS}
    track = {"track": ("巡河.gpx", gpx, "application/gpx+xml")}

    as_role(client, "viewer")
    page = client.get("/patrols")
    assert page.status_code == 200 and 'id="rg-patrol-upload"' not in page.text
    refused = client.post("/patrols", data={**fields, "csrf_token": csrf_of(client.get("/account/password").text)})
    assert refused.status_code == 403 and "测绘单位" in refused.text

    as_role(client, "surveyor")
    page = client.get("/patrols")
    assert page.status_code == 200, page.text[-3000:]
    token = csrf_of(page.text)
    assert client.post("/patrols", data=fields, files=track).status_code == 403  # no CSRF token
    bad = client.post(
        "/patrols", data={**fields, "csrf_token": token}, files={"track": ("t.txt", b"hello", "text/plain")}
    )
    assert bad.status_code == 400 and "bad_track_format" in bad.text
    assert_escaped(bad.text)  # the typed notes come back in the form, as text
    assert "data-patrol=" not in client.get("/patrols").text

    done = client.post("/patrols", data={**fields, "csrf_token": token}, files=track, follow_redirects=False)
    assert done.status_code == 303
    page = client.get("/patrols")
    patrol = re.search(r'data-patrol="(\d+)"[^>]*>(.*?)</tr>', page.text, re.S)
    assert patrol is not None
    # Coverage 1545.8 m of the 2000 m reach K1–K3 (tests/test_chiefs_api.py): 77 %; 1600 s is 27 minutes.
    assert "77%" in patrol.group(2) and "27 分" in patrol.group(2) and "王村长" in patrol.group(2)
    assert_escaped(page.text)
    # On 2025-03-18 (China) 王村长's last patrol (03-10) is 8 days old: one day past the weekly rule.
    late = re.search(r"王村长</a></td>.*?data-days=\"(\d+)\"", page.text, re.S)
    assert late is not None and late.group(1) == "1"
