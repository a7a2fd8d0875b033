"""The ledger pages on both backends: the board with the map's filters, a site's buttons per status, reporting."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from gis_service.db.models import Attachment, AuditEntry, Problem, ProblemEvent
from tests.web_helpers import csrf_of, make_users
from tests.web_pages_helpers import XSS, as_role, assert_escaped, attribute, jpeg

# Every action's label as the ledger's state machine names it (ledger/states.py), per status.
BUTTONS = {
    "reported": ["确认", "排除（不属实）"],
    "confirmed": ["交办"],
    "assigned": ["开始整改"],
    "rectifying": ["整改完成"],
    "rectified": ["验收不通过", "验收销号"],
    "closed": ["回头看反弹"],
}


@pytest.fixture
def ledger(demo_engine: Engine) -> Engine:
    """The demo database with one account of each role."""
    make_users(demo_engine)
    return demo_engine


def _site(engine: Engine, status: str) -> Problem:
    """Return the demo's first site in ``status``."""
    with engine.connect() as conn:
        row = conn.execute(select(Problem.id, Problem.status, Problem.lock_version).where(Problem.status == status))
        found = row.first()
    assert found is not None, f"the demo has no {status} site"
    return found  # type: ignore[return-value]


def _state(engine: Engine, pid: int) -> tuple[str, int]:
    with engine.connect() as conn:
        row = conn.execute(select(Problem.status, Problem.lock_version).where(Problem.id == pid)).one()
    return row.status, row.lock_version


def _step(client: TestClient, pid: int, action: str, photos: int = 0, **fields: str):  # noqa: ANN202
    """Press a step's button like a browser: its form's token and version, the fields, photos from a camera."""
    page = client.get(f"/problems/{pid}").text
    data = {"csrf_token": csrf_of(page), "expected_version": attribute(page, "data-version", "rg-problem")}
    data |= {f"{action}-{k}": v for k, v in fields.items()}
    files = [("photos", (f"现场{i}.jpg", jpeg(), "image/jpeg")) for i in range(photos)]
    return client.post(f"/problems/{pid}/actions/{action}", data=data, files=files or None, follow_redirects=False)


def test_a_site_shows_one_button_per_action_its_status_allows(demo_client, ledger) -> None:
    as_role(demo_client, "admin")
    for status, labels in BUTTONS.items():
        pid = _site(ledger, status).id
        page = demo_client.get(f"/problems/{pid}")
        assert page.status_code == 200
        shown = re.findall(r'<summary class="btn[^"]*" id="rg-open-[a-z]+">([^<]+)</summary>', page.text)
        assert shown == labels, status
    # The step forms are labelled as the ledger labels them, with photos from a phone's camera.
    confirmed = demo_client.get(f"/problems/{_site(ledger, 'confirmed').id}").text
    for label in ("整改时限", "责任单位", "说明"):
        assert f">{label}</label>" in confirmed
    assert 'accept="image/*" capture="environment" multiple' in confirmed
    rectified = demo_client.get(f"/problems/{_site(ledger, 'rectified').id}").text
    assert ">验收人</label>" in rectified


def test_reported_to_closed_with_photos_and_the_timeline(demo_client, ledger) -> None:
    pid = _site(ledger, "reported").id
    as_role(demo_client, "surveyor")
    assert _step(demo_client, pid, "confirm").status_code == 303
    assert _state(ledger, pid)[0] == "confirmed"
    # 交办 is an admin's step: the surveyor gets the 403 page naming the role, and nothing moves.
    refused = _step(demo_client, pid, "assign", deadline="2099-12-31", responsible_unit="城管局")
    assert refused.status_code == 403 and "管理员" in refused.text and "insufficient_role" in refused.text
    assert _state(ledger, pid)[0] == "confirmed"

    as_role(demo_client, "admin")
    missing = _step(demo_client, pid, "assign", deadline="2099-12-31")
    assert missing.status_code == 400 and "责任单位" in missing.text and 'id="rg-step-error"' in missing.text
    assert _step(demo_client, pid, "assign", deadline="2099-12-31", responsible_unit="万盛城管局").status_code == 303
    as_role(demo_client, "surveyor")
    assert _step(demo_client, pid, "start").status_code == 303
    # 整改完成 needs evidence: without a photo or an evidence text it is refused, naming what is missing.
    bare = _step(demo_client, pid, "rectify")
    assert bare.status_code == 400 and "证据" in bare.text
    assert _step(demo_client, pid, "rectify", photos=2, note="已清运").status_code == 303
    as_role(demo_client, "admin")
    assert _step(demo_client, pid, "close", verifier="张工", photos=1).status_code == 303
    assert _state(ledger, pid)[0] == "closed"

    page = demo_client.get(f"/problems/{pid}").text
    assert 'id="rg-status">已销号<' in page
    for label in ("上报", "确认", "交办", "开始整改", "整改完成", "验收销号"):
        assert f"<h4>{label}" in page
    assert "万盛城管局" in page and "张工" in page
    with ledger.connect() as conn:
        photo_ids = conn.scalars(
            select(Attachment.id)
            .join(ProblemEvent, ProblemEvent.id == Attachment.event_id)
            .where(ProblemEvent.problem_id == pid)
        ).all()
        audited = conn.scalars(select(AuditEntry.action).where(AuditEntry.target_id == str(pid))).all()
    assert len(photo_ids) == 3
    assert set(audited) >= {"problem.confirm", "problem.assign", "problem.start", "problem.rectify", "problem.close"}
    for aid in photo_ids:
        assert f'src="/problems/{pid}/photos/{aid}"' in page
        served = demo_client.get(f"/problems/{pid}/photos/{aid}")
        assert served.status_code == 200 and served.content == jpeg()


def test_a_stale_page_hears_the_new_status_and_changes_nothing(demo_client, ledger) -> None:
    pid = _site(ledger, "reported").id
    as_role(demo_client, "admin")
    stale = demo_client.get(f"/problems/{pid}").text
    assert _step(demo_client, pid, "confirm").status_code == 303
    data = {"csrf_token": csrf_of(stale), "expected_version": attribute(stale, "data-version", "rg-problem")}
    data["dismiss-note"] = "重复上报"
    data["dismiss-evidence"] = "见巡河记录"
    conflict = demo_client.post(f"/problems/{pid}/actions/dismiss", data=data)
    assert conflict.status_code == 409 and "已确认" in conflict.text and "version_conflict" in conflict.text
    assert _state(ledger, pid)[0] == "confirmed"


def test_forms_without_the_csrf_token_are_refused_and_change_nothing(demo_client, ledger) -> None:
    pid, _status, version = _site(ledger, "reported")
    as_role(demo_client, "admin")
    refused = demo_client.post(f"/problems/{pid}/actions/confirm", data={"expected_version": str(version)})
    assert refused.status_code == 403 and "csrf_failed" in refused.text
    forged = demo_client.post(
        f"/problems/{pid}/actions/confirm", data={"expected_version": str(version), "csrf_token": "forged"}
    )
    assert forged.status_code == 403
    assert _state(ledger, pid) == ("reported", version)
    before = _count(ledger)
    new = demo_client.post("/problems/new", data={"lon": "106.9", "lat": "28.9", "category": "dumping"})
    assert new.status_code == 403 and _count(ledger) == before


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Problem)) or 0)


def test_typed_scripts_are_shown_escaped(demo_client, ledger) -> None:
    pid = _site(ledger, "confirmed").id
    as_role(demo_client, "admin")
    fields = {"deadline": "2099-12-31", "responsible_unit": XSS, "measures": XSS, "note": XSS}
    assert _step(demo_client, pid, "assign", **fields).status_code == 303
    page = demo_client.get(f"/problems/{pid}").text
    assert_escaped(page)
    dismissed = _site(ledger, "reported").id
    assert _step(demo_client, dismissed, "dismiss", note=XSS, evidence=XSS).status_code == 303
    assert_escaped(demo_client.get(f"/problems/{dismissed}").text)
    closed = _site(ledger, "rectified").id
    assert _step(demo_client, closed, "close", verifier=XSS).status_code == 303
    assert_escaped(demo_client.get(f"/problems/{closed}").text)
    board = demo_client.get("/problems", params={"unit": XSS})
    assert board.status_code == 200 and 'value="&lt;script&gt;' in board.text and XSS not in board.text

    form = demo_client.get("/problems/new").text
    data = {"csrf_token": csrf_of(form), "lon": "106.90", "lat": "28.95", "category": "dumping"}
    data |= {"description": XSS, "note": XSS, "source": "patrol", "found_date": ""}
    made = demo_client.post("/problems/new", data=data, follow_redirects=False)
    assert made.status_code == 303
    assert_escaped(demo_client.get(made.headers["location"]).text)
    # A refused report shows the form again with what was typed, escaped.
    bad = demo_client.post("/problems/new", data={**data, "lon": XSS})
    assert bad.status_code == 400 and "bad_coordinate" in bad.text
    assert_escaped(bad.text)


def test_reporting_from_typed_coordinates_derives_the_place(demo_client, ledger) -> None:
    as_role(demo_client, "surveyor")
    form = demo_client.get("/problems/new")
    assert form.status_code == 200 and "/static/vendor/leaflet/dist/leaflet.js" in form.text
    for label in ("经度", "纬度", "类别", "问题描述", "发现日期", "来源", "说明"):
        assert f">{label}</label>" in form.text
    token = csrf_of(form.text)
    outside = demo_client.post(
        "/problems/new", data={"csrf_token": token, "lon": "28.95", "lat": "106.90", "category": "dumping"}
    )
    assert outside.status_code == 400 and "outside_district" in outside.text and "写反" in outside.text
    before = _count(ledger)
    made = demo_client.post(
        "/problems/new",
        data={"csrf_token": token, "lon": "106.8488", "lat": "28.9412", "category": "乱堆", "description": "河边堆土"},
        follow_redirects=False,
    )
    assert made.status_code == 303 and _count(ledger) == before + 1
    page = demo_client.get(made.headers["location"]).text
    # The point lies beside 孝子河 (WS001) in 南桐镇, where the demo's site 5 was found (see the demo's towns).
    assert 'data-field="river_code">WS001<' in page and 'data-field="status">已上报<' in page


def test_the_board_filters_pages_counts_and_links_the_map(demo_client, ledger) -> None:
    as_role(demo_client, "viewer")
    with ledger.connect() as conn:
        reported_in_town = conn.scalar(
            select(func.count()).select_from(Problem).where(Problem.status == "reported", Problem.town == "南桐镇")
        )
        total = conn.scalar(select(func.count()).select_from(Problem))
    page = demo_client.get("/problems", params={"status": "已上报", "town": "南桐镇"})
    assert page.status_code == 200
    assert f'data-count="total">{reported_in_town}<' in page.text
    rows = re.findall(r'<tr data-problem="(\d+)">', page.text)
    assert len(rows) == min(reported_in_town, 50)
    link = urlsplit(attribute(page.text, "href", "rg-map-link").replace("&amp;", "&"))
    assert link.path == "/maps/problems" and parse_qs(link.query) == {"status": ["reported"], "town": ["南桐镇"]}
    # Paging: the whole ledger in pages of 50, the last one holding the rest.
    last = (total - 1) // 50 + 1
    tail = demo_client.get("/problems", params={"page": last})
    assert len(re.findall(r"<tr data-problem=", tail.text)) == total - 50 * (last - 1)
    assert f"第 {last} / {last} 页" in tail.text
    # A viewer sees no step forms and no report button.
    site = demo_client.get(f"/problems/{_site(ledger, 'reported').id}").text
    assert '<form method="post" action="/problems/' not in site and "需要「测绘单位" in site
    refused = demo_client.get("/problems/new")
    assert refused.status_code == 403 and "「测绘单位" in refused.text and "insufficient_role" in refused.text
    bad = demo_client.get("/problems", params={"status": "无此状态"})
    assert bad.status_code == 400 and "bad_status" in bad.text
