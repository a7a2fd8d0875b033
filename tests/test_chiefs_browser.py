"""Issue 17's "done when" in headless Chromium on both backends, every outside request blocked.

Staff import a roster (written by openpyxl) and see every reach's chiefs and the boards to update; a chief
uploads a GPX walk (written by gpxpy) from a phone and sees its coverage; a citizen reports from a phone on
``/report`` and staff accept it in ``/moderation``, so that it reaches the ledger with source 群众举报.
The district is the hand-made one of tests/test_ledger_world.py (R1 along lat 28.900, lon 106.82–106.98).
Screenshots at desktop and phone width go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from gis_service.api.app import create_app
from gis_service.clock import BusinessClock
from gis_service.db.models import Problem
from tests.chiefs_world import ROSTER, write_gpx, write_roster
from tests.live import threaded
from tests.test_ledger_world import SITE_IN_R1, world_engine  # noqa: F401 - fixture
from tests.test_maps_browser import Watch, browser  # noqa: F401 - the browser fixture
from tests.web_helpers import PASSWORDS, make_users
from tests.web_pages_helpers import XSS, jpeg

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
# A new town chief for K0–K8 (交接): the boards of K0–K1, K1–K3 and K3–K8 name 孙镇长, the board of K8 on does not.
HANDOVER = ["R1", None, "K0+000", "K8+000", "赵镇长", "万盛街道党工委书记", "镇街级", "13800000009", "2025-03-15"]


# 20:00 UTC on 2025-03-17 is 04:00 on 2025-03-18 in China: the day the page tests of the chiefs stand on.
FIXED = dt.datetime(2025, 3, 17, 20, 0, tzinfo=dt.UTC)


@pytest.fixture
def world_server(world_engine: Engine) -> Iterator[str]:  # noqa: F811
    """The hand-made district with accounts of each role and a stopped clock, served on a free localhost port."""
    make_users(world_engine)
    app = create_app(world_engine)
    app.state.clock = BusinessClock.at(FIXED)
    with threaded(app) as base:
        yield base


@pytest.fixture
def shots(artifacts: Path) -> Path:
    """The screenshots folder."""
    folder = artifacts / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


# The vector layers on the river map's canvas, and those drawn as overdue reaches (red, dashed).
DRAWN = """() => {
    const map = Object.keys(window).filter((k) => k.startsWith('map_')).map((k) => window[k])
        .find((v) => v instanceof L.Map);
    const out = {lines: 0, overdue: 0};
    map.eachLayer((l) => {
        if (!(l instanceof L.Path)) return;
        out.lines += 1;
        if (l.options.dashArray === '10 6' && l.options.color === '#d63939') out.overdue += 1;
    });
    return out;
}"""


def _open(browser: Any, base: str, viewport: dict[str, int], **context: Any) -> tuple[Any, Watch]:  # noqa: F811
    """Open a page in a new browser context (``context``: geolocation, permissions) and watch it."""
    page = browser.new_context(viewport=viewport, bypass_csp=True, accept_downloads=True, **context).new_page()
    return page, Watch(page, (base,))


def _login(page: Any, base: str, role: str) -> None:
    """Log in through the form as the account named after ``role``."""
    page.goto(f"{base}/login")
    page.fill("#username", role)
    page.fill("#password", PASSWORDS[role])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def _fits(page: Any) -> None:
    """The page does not scroll sideways."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


def _import(page: Any, path: Path) -> None:
    """Choose a roster workbook in the import form and send it."""
    page.set_input_files("#c-file", str(path))
    with page.expect_navigation():
        page.click("#rg-roster-import button[type=submit]")


def test_staff_import_the_roster_and_see_the_chiefs_and_the_boards_to_update(browser, world_server, shots, tmp_path):  # noqa: F811
    base = world_server
    page, watch = _open(browser, base, DESKTOP)
    _login(page, base, "admin")
    page.goto(f"{base}/chiefs")
    _import(page, write_roster(tmp_path / "河长名录.xlsx", ROSTER))
    assert "新增 7 条任职" in page.inner_text("#rg-chiefs-imported")
    # Every reach of R1 (tests/chiefs_world.py): one district, two town and four village chiefs.
    chiefs = page.locator("#rg-chiefs tbody tr").all_inner_texts()
    assert len(chiefs) == 7
    for name in ("邓区长", "孙镇长", "吴镇长", "甲村长", "王村长", "丙村长", "丁村长"):
        assert sum(name in row for row in chiefs) == 1, name
    assert page.get_attribute("#rg-chiefs-coverage", "data-complete") == "yes"
    assert "13800000001" in page.inner_text("#rg-chiefs")  # staff see phones
    page.screenshot(path=str(shots / "chiefs_desktop.png"), full_page=True)

    page.goto(f"{base}/signboards")
    with page.expect_navigation():
        page.click("#rg-boards-generate button")
    assert page.locator("#rg-boards tr[data-status=current]").count() == 4  # one board a village reach
    page.goto(f"{base}/chiefs")
    _import(page, write_roster(tmp_path / "交接.xlsx", [HANDOVER]))
    page.goto(f"{base}/signboards?status=outdated")
    outdated = page.locator("#rg-boards tr[data-status=outdated]")
    assert outdated.count() == 3
    for text in outdated.all_inner_texts():
        assert "赵镇长" in text and "孙镇长" in text  # the new text, and the old one struck through
    page.screenshot(path=str(shots / "signboards_outdated_desktop.png"), full_page=True)
    watch.assert_clean(page)

    phone, watch = _open(browser, base, PHONE)
    _login(phone, base, "viewer")
    for name, path in (("chiefs", "/chiefs"), ("signboards", "/signboards?status=outdated")):
        phone.goto(f"{base}{path}")
        _fits(phone)
        phone.screenshot(path=str(shots / f"{name}_phone.png"), full_page=True)
    watch.assert_clean(phone)


def test_a_chief_uploads_a_walk_from_the_phone_and_sees_its_coverage(browser, world_server, shots, tmp_path):  # noqa: F811
    base = world_server
    admin, _ = _open(browser, base, DESKTOP)
    _login(admin, base, "admin")
    admin.goto(f"{base}/chiefs")
    _import(admin, write_roster(tmp_path / "河长名录.xlsx", ROSTER))

    page, watch = _open(browser, base, PHONE, has_touch=True)  # a phone: taps
    _login(page, base, "surveyor")
    page.goto(f"{base}/patrols")
    _fits(page)
    # 王村长 walks K0+500–K2+500 of R1, 20 m north of the line, a point every 50 m and 40 s (1600 s in all).
    start = dt.datetime(2025, 3, 10, 1, 0, tzinfo=dt.UTC)
    gpx = write_gpx(tmp_path / "巡河.gpx", 500, 2500, north_m=20, step_m=50, step_s=40, start=start)
    page.set_input_files("#p-track", str(gpx))
    page.fill("#p-chief", "王村长")
    page.fill("#p-river", "R1")
    page.fill("#p-notes", f"河面有漂浮物{XSS}")
    with page.expect_navigation():
        page.click("#rg-patrol-upload button[type=submit]")
    # The answer names its coverage at the top of the phone's screen: 1545.8 m of the 2000 m reach K1–K3 lie
    # within 50 m of the track (tests/test_chiefs_api.py), 77 %.
    added = page.locator("#rg-patrol-added")
    assert added.is_visible() and "覆盖所辖河段 77%" in added.inner_text() and "27 分" in added.inner_text()
    row = page.locator("#rg-patrols tr[data-patrol]").first
    assert abs(float(row.locator("[data-coverage]").get_attribute("data-coverage")) - 0.7729) < 0.01
    assert "77%" in row.inner_text() and "27 分" in row.inner_text() and f"河面有漂浮物{XSS}" in row.inner_text()
    _fits(page)
    page.screenshot(path=str(shots / "patrol_uploaded_phone.png"), full_page=True)

    # The chief's calendar (weekly periods from 2025-01-01: the walk falls in the one of 03-05 to 03-11),
    # then the river's map with the patrol layers switched on in the layer control.
    with page.expect_navigation():
        row.locator("a[href$='/calendar']").click()
    assert page.get_attribute("[data-state=met]", "data-start") == "2025-03-05"
    _fits(page)
    page.screenshot(path=str(shots / "chief_calendar_phone.png"), full_page=True)
    page.goto(f"{base}/maps/rivers/R1")
    page.wait_for_function("document.querySelectorAll('.leaflet-overlay-pane canvas').length > 0")
    before = page.evaluate(DRAWN)
    layers = page.locator(".leaflet-control-layers")
    # Folded on a phone to its button, which the river's ratio panel leaves clear (the verdict is never under it).
    panel, button = page.locator("#rg-ratio").bounding_box(), layers.bounding_box()
    assert panel and button and panel["x"] + panel["width"] <= button["x"]
    layers.locator(".leaflet-control-layers-toggle").tap()  # the chief opens it
    layers.get_by_text("河长河段巡河状态", exact=True).click()
    layers.get_by_text("近 90 天巡河轨迹", exact=True).click()
    after = page.evaluate(DRAWN)
    assert after["lines"] - before["lines"] == 7 + 1  # the seven reaches in force and the walk of 2025-03-10
    # On 2025-03-18 all seven are overdue, 王村长's too (8 days since the walk, against 7): red and dashed.
    assert after["overdue"] - before["overdue"] == 7
    page.click("#rg-legend > summary")  # folded on a phone: the chief opens it
    assert page.inner_text('[data-count="patrols:overdue"]') == "7"
    page.screenshot(path=str(shots / "river_patrols_phone.png"), full_page=True)
    watch.assert_clean(page)


def test_a_citizens_report_reaches_the_ledger_through_moderation(browser, world_server, world_engine, shots):  # noqa: F811
    base = world_server
    # The citizen's phone says it stands at a site inside R1's range, in 万盛街道 (tests/test_ledger_world.py).
    position = {"longitude": SITE_IN_R1[0], "latitude": SITE_IN_R1[1]}
    page, watch = _open(browser, base, PHONE, geolocation=position, permissions=["geolocation"])
    page.goto(f"{base}/report")
    _fits(page)
    page.click("#locate")
    page.wait_for_function("document.getElementById('lon').value !== ''")
    assert abs(float(page.input_value("#lon")) - SITE_IN_R1[0]) < 1e-5
    page.select_option("#category", "dumping")
    page.fill("#description", f"河边倒了一堆建筑垃圾{XSS}")
    page.set_input_files("#photos", files=[{"name": "现场.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}])
    page.fill("#contact", "13900000000")
    page.click("#report button[type=submit]")
    page.wait_for_selector("#result.ok")
    found = re.search(r"举报编号 (\S+?)。", page.inner_text("#result"))
    assert found is not None
    reference = found.group(1)
    page.screenshot(path=str(shots / "report_sent_phone.png"), full_page=True)

    staff, staff_watch = _open(browser, base, DESKTOP)
    _login(staff, base, "admin")
    staff.goto(f"{base}/moderation")
    card = staff.locator(f'[data-report="{reference}"]')
    assert f"河边倒了一堆建筑垃圾{XSS}" in card.inner_text() and "13900000000" in card.inner_text()
    staff.wait_for_function("[...document.querySelectorAll('[data-report] img')].every((i) => i.complete)")
    staff.screenshot(path=str(shots / "moderation_desktop.png"), full_page=True)
    with staff.expect_navigation():
        card.locator("button.btn-success").click()
    with staff.expect_navigation():
        staff.click("#rg-report-accepted a")
    assert staff.inner_text("#rg-record [data-field=source]") == "群众举报"
    assert staff.inner_text("#rg-record [data-field=town]") == "万盛街道"
    assert "R1" in staff.inner_text("#rg-record [data-field=river_code]")
    staff.screenshot(path=str(shots / "report_in_ledger_desktop.png"), full_page=True)
    staff_watch.assert_clean(staff)
    with world_engine.connect() as conn:
        assert conn.scalar(select(Problem.source).where(Problem.description.like("河边倒了一堆%"))) == "public_report"

    # The citizen follows the reference: accepted, and filed in the ledger; the contact is never shown.
    page.fill("#reference", reference)
    page.click("#follow")
    page.wait_for_selector("#status.ok")
    status = page.inner_text("#status")
    assert "已转入问题台账" in status and "13900000000" not in status
    _fits(page)
    watch.assert_clean(page)
