"""The ratio, ledger, outfall and admin pages in headless Chromium on both backends, every outside request blocked.

Screenshots of each page at desktop and phone width go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select

from gis_service.db.models import Outfall, Problem
from tests.test_maps_browser import Watch, browser, server  # noqa: F401 - the browser and server fixtures
from tests.web_helpers import PASSWORDS, make_users
from tests.web_pages_helpers import XSS, jpeg

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def accounts(demo_engine: Engine) -> Engine:
    """The demo database (served by ``server``) with one account of each role."""
    make_users(demo_engine)
    return demo_engine


@pytest.fixture
def shots(artifacts: Path) -> Path:
    """The screenshots folder."""
    folder = artifacts / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


def _logged_in(browser: Any, base: str, role: str, viewport: dict[str, int] = DESKTOP) -> tuple[Any, Watch]:  # noqa: F811
    """Open a page, log in through the form as ``role``, and return the page and its watch."""
    page = browser.new_page(viewport=viewport, bypass_csp=True, accept_downloads=True)
    watch = Watch(page, (base,))
    page.goto(f"{base}/login")
    page.fill("#username", role)
    page.fill("#password", PASSWORDS[role])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page, watch


def _status(page: Any) -> str:
    return str(page.inner_text("#rg-status"))


def _press(page: Any, action: str, fill: dict[str, str] | None = None, photo: bool = False) -> None:
    """Open a step's button, fill its form like a user, attach a camera photo, submit, wait for the new page."""
    page.click(f"#rg-open-{action}")
    for name, value in (fill or {}).items():
        page.fill(f"#{action}-{name}", value)
    if photo:
        page.set_input_files(
            f"#{action}-photos", files=[{"name": "现场.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}]
        )
    with page.expect_navigation():
        page.click(f"#rg-do-{action}")


def test_a_problem_goes_from_reported_to_closed_through_the_buttons(browser, server, accounts, shots) -> None:  # noqa: F811
    with accounts.connect() as conn:
        pid = conn.scalar(select(Problem.id).where(Problem.status == "reported").order_by(Problem.id))
    page, watch = _logged_in(browser, server, "admin")
    page.goto(f"{server}/problems?status=reported")
    page.click(f'tr[data-problem="{pid}"] a')
    assert _status(page) == "已上报"
    _press(page, "confirm")
    assert _status(page) == "已确认"
    _press(page, "assign", {"deadline": "2099-12-31", "responsible_unit": f"城管局{XSS}"})
    assert _status(page) == "已交办"
    _press(page, "start")
    assert _status(page) == "整改中"
    _press(page, "rectify", {"note": "已清运完毕"}, photo=True)
    assert _status(page) == "已整改"
    _press(page, "close", {"verifier": "张工"})
    assert _status(page) == "已销号"
    assert page.locator("#rg-record [data-field=responsible_unit]").inner_text() == f"城管局{XSS}"
    page.wait_for_function("[...document.querySelectorAll('.rg-thumb')].every((i) => i.complete && i.naturalWidth > 0)")
    assert page.locator(".rg-thumb").count() == 1
    page.screenshot(path=str(shots / "problem_closed_desktop.png"), full_page=True)
    watch.assert_clean(page)
    with accounts.connect() as conn:
        assert conn.scalar(select(Problem.status).where(Problem.id == pid)) == "closed"


def test_the_ratio_workbook_downloads_and_opens(browser, server, accounts, tmp_path) -> None:  # noqa: F811
    page, watch = _logged_in(browser, server, "viewer")
    page.goto(f"{server}/ratios")
    with page.expect_download() as info:
        page.click("text=下载 Excel")
    path = tmp_path / "岸线.xlsx"
    info.value.save_as(path)
    book = load_workbook(io.BytesIO(path.read_bytes()), read_only=True)
    assert "合规检查" in book.sheetnames
    codes = {row[1] for row in book["合规检查"].iter_rows(min_row=2, values_only=True) if row}
    assert {"WS001", "WS002", "WS003"} <= codes
    watch.assert_clean(page)


def _api_status(base: str, secret: str) -> int:
    """Return the API's answer status to a read with the token (urllib, outside the browser)."""
    request = urllib.request.Request(f"{base}/api/v1/layers", headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our localhost server
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_a_token_revoked_on_admin_is_refused_by_the_api(browser, server, accounts) -> None:  # noqa: F811
    page, watch = _logged_in(browser, server, "admin")
    page.goto(f"{server}/admin/tokens")
    page.fill("#t-name", "QGIS-河长办")
    page.select_option("#t-role", "viewer")
    with page.expect_navigation():
        page.click("#rg-token-add")
    secret = page.inner_text("#rg-secret").strip()
    assert secret.startswith("rg_") and _api_status(server, secret) == 200
    page.goto(f"{server}/admin/tokens")
    assert secret not in page.content()
    with page.expect_navigation():
        page.click('tr[data-token="QGIS-河长办"] button.rg-revoke')
    assert page.get_attribute('tr[data-token="QGIS-河长办"]', "data-state") == "revoked"
    assert _api_status(server, secret) == 401
    watch.assert_clean(page)


def test_every_page_fits_a_phone_and_is_photographed(browser, server, accounts, shots) -> None:  # noqa: F811
    with accounts.connect() as conn:
        pid = conn.scalar(select(Problem.id).where(Problem.status == "rectified").order_by(Problem.id))
        oid = conn.scalar(select(Outfall.id).where(Outfall.status == "active").order_by(Outfall.id))
    pages = {
        "ratios": "/ratios",
        "problems": "/problems",
        "problem": f"/problems/{pid}",
        "problem_new": "/problems/new",
        "outfalls": "/outfalls",
        "outfall": f"/outfalls/{oid}",
        "admin_users": "/admin",
        "admin_tokens": "/admin/tokens",
        "admin_audit": "/admin/audit",
    }
    for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page, watch = _logged_in(browser, server, "admin", viewport)
        for name, path in pages.items():
            page.goto(f"{server}{path}")
            if name == "problem_new":
                page.wait_for_selector("#rg-pick-map[data-ready]")
            if name == "problem":
                page.click("#rg-open-close")  # an open step form must fit too
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {viewport['width']}px"
            page.screenshot(path=str(shots / f"{name}_{width}.png"), full_page=True)
        watch.assert_clean(page)


def test_reporting_by_clicking_on_the_map(browser, server, accounts) -> None:  # noqa: F811
    page, watch = _logged_in(browser, server, "surveyor", PHONE)
    page.goto(f"{server}/problems/new")
    page.wait_for_selector("#rg-pick-map[data-ready]")
    box = page.locator("#rg-pick-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    lon, lat = float(page.input_value("#lon")), float(page.input_value("#lat"))
    # The middle of the map is the middle of the district's extent (settings: 106.70–107.12°E, 28.72–29.15°N).
    assert abs(lon - 106.91) < 0.05 and abs(lat - 28.935) < 0.05
    page.select_option("#category", "dumping")
    page.fill("#description", f"河边堆土{XSS}")
    with page.expect_navigation():
        page.click("#rg-report")
    assert _status(page) == "已上报"
    assert f"河边堆土{XSS}" in page.inner_text("#rg-record")
    watch.assert_clean(page)
    assert json.dumps(watch.outside) == "[]"
