"""The web workbench in headless Chromium on both backends, every outside request blocked.

A surveyor logs in and uploads a delivery, an admin approves it and the river's current version changes;
script typed into fields never runs; every page fits 375 px. ``scripts/screenshots.sh`` runs the last test
alone to write each page at desktop and phone width into ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from gis_service.api.app import create_app
from gis_service.db.models import Delivery
from gis_service.resources import data_path
from tests.test_import_fixtures import cli, river_frame, write, zip_files
from tests.test_import_versions import range_file
from tests.test_maps_browser import ARGS, CHROMIUM, Watch, _need_browser
from tests.web_helpers import PASSWORDS, make_users

pytestmark = pytest.mark.browser
HOSTILE = "<img src=x onerror=window.__xss=1><script>window.__xss=1</script>"
PHONE, DESKTOP = 375, 1280


def _serve(engine: Engine) -> Iterator[str]:
    """Serve the app on ``engine`` on a free localhost port; yield its base URL."""
    import uvicorn

    srv = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{srv.servers[0].sockets[0].getsockname()[1]}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def river_server(engine: Engine, tmp_path: Path) -> Iterator[str]:
    """River R1 (written by GDAL) with an approved first range, accounts of each role, served."""
    assert cli("import", "rivers", str(write(river_frame(), tmp_path / "river.gpkg")))[0] == 0
    assert cli("import", "boundaries", str(range_file(tmp_path, 0, "v1")), "--approve")[0] == 0
    make_users(engine)
    yield from _serve(engine)


@pytest.fixture
def demo_server(demo_engine: Engine) -> Iterator[str]:
    """The demo dataset with accounts of each role, served."""
    make_users(demo_engine)
    yield from _serve(demo_engine)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's, never downloaded)."""
    sync_playwright = _need_browser()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _login(page: Any, role: str) -> None:
    """Fill the login form by its labels and press 登录."""
    page.get_by_label("用户名").fill(role)
    page.get_by_label("密码").fill(PASSWORDS[role])
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def _logout(page: Any) -> None:
    """Press 退出登录 (a POST with the page's CSRF token)."""
    page.locator("header").get_by_role("button", name="退出登录").click()
    page.wait_for_url(re.compile(r".*/login$"))


def _decide(page: Any, button: str, action: str, status: str) -> None:
    """Press 批准 or 确认退回 and wait for the delivery's page to show its new status."""
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(action)) as answer:
        page.get_by_role("button", name=button).click()
    assert answer.value.status == 303
    page.wait_for_function(
        "(s) => document.querySelector('#rg-delivery') && document.querySelector('#rg-delivery').dataset.status === s",
        arg=status,
    )


def _current(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Delivery.version, Delivery.status).where(Delivery.river_code == "R1").order_by(Delivery.version)
        )
        return [(v, s) for v, s in rows]


def _fits(page: Any) -> bool:
    """Tell whether the page has no horizontal scroll (tables may scroll inside their own box)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_surveyor_uploads_admin_approves_and_the_current_version_changes(
    browser, river_server, engine, tmp_path, artifacts
) -> None:
    page = browser.new_page(viewport={"width": DESKTOP, "height": 900}, bypass_csp=True)
    watch = Watch(page, (river_server,))
    page.goto(f"{river_server}/deliveries/new")
    assert "/login?next=/deliveries/new" in page.url
    _login(page, "surveyor")
    assert page.url.endswith("/deliveries/new")

    # Script typed into a field comes back in the refusal as text; the progress bar follows the upload's bytes.
    page.evaluate(
        "window.__rgProgress = [];"
        "document.body.addEventListener('htmx:xhr:progress', (e) => window.__rgProgress.push(e.detail.loaded))"
    )
    page.get_by_label("图层").select_option("boundaries")
    page.get_by_label("成果文件").set_input_files(str(range_file(tmp_path, 10, "v2")))
    page.get_by_label("坐标系（可选）").fill(HOSTILE)
    page.get_by_role("button", name="提交").click()
    page.wait_for_selector("#rg-upload-error")
    assert "<script>" in page.inner_text("#rg-upload-error") or "onerror" in page.inner_text("#rg-upload-error")
    assert page.get_by_label("坐标系（可选）").input_value() == HOSTILE
    sent = page.evaluate("window.__rgProgress")
    assert sent and sent[-1] > range_file(tmp_path, 10, "v2").stat().st_size  # the file and the form's fields
    assert _current(engine) == [(1, "approved")]

    page.get_by_label("坐标系（可选）").fill("")
    page.get_by_label("成果文件").set_input_files(str(range_file(tmp_path, 10, "v2")))
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(re.compile(r".*/deliveries/\d+\?submitted=1$"))
    assert page.inner_text("#rg-status") == "待审核"
    assert page.locator("#rg-report").is_visible()
    assert _current(engine) == [(1, "approved"), (2, "submitted")]
    delivery_id = int(re.search(r"/deliveries/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    _logout(page)

    _login(page, "admin")
    page.goto(f"{river_server}/deliveries")
    page.locator("#rg-queue").get_by_role("link", name=re.compile("第 2 版")).click()
    page.wait_for_url(f"{river_server}/deliveries/{delivery_id}")
    # The 10 m shift of the square (see test_import_versions): about 1 000 m² added and a 10 m largest shift.
    assert page.inner_text('[data-diff="shift"]').startswith(("10.00", "9.99"))
    page.screenshot(path=str(artifacts / "web_delivery_review.png"), full_page=True)
    _decide(page, "批准", "/approve", "approved")
    assert _current(engine) == [(1, "superseded"), (2, "approved")]

    # A third version is sent back with a hostile reason; the surveyor sees it as text.
    _logout(page)
    _login(page, "surveyor")
    page.goto(f"{river_server}/deliveries/new")
    page.get_by_label("成果文件").set_input_files(str(range_file(tmp_path, 20, "v3")))
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(re.compile(r".*/deliveries/\d+\?submitted=1$"))
    third = int(re.search(r"/deliveries/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    _logout(page)
    _login(page, "admin")
    page.goto(f"{river_server}/deliveries/{third}")
    page.locator("summary", has_text="退回").click()
    page.get_by_label("退回原因").fill(HOSTILE)
    _decide(page, "确认退回", "/reject", "rejected")
    _logout(page)
    _login(page, "surveyor")
    page.goto(f"{river_server}/deliveries")
    assert page.inner_text(f'tr[data-delivery="{third}"] .rg-reason') == HOSTILE
    assert _current(engine) == [(1, "superseded"), (2, "approved"), (3, "rejected")]
    watch.assert_clean(page)


def test_an_upload_of_several_rivers_lands_on_its_summary_and_is_approved_on_a_phone(
    browser, demo_server, demo_engine, tmp_path, artifacts
) -> None:
    # The demo's zone set (six rivers, a GBK Shapefile in Gauss-Krüger coordinates) zipped as a surveyor sends it.
    parts = sorted(data_path("shapefiles").glob("zones.*"))
    archive = zip_files(tmp_path / "岸线功能分区.zip", parts)
    page = browser.new_page(viewport={"width": PHONE, "height": 800}, bypass_csp=True)
    watch = Watch(page, (demo_server,))
    page.goto(f"{demo_server}/deliveries/new")
    _login(page, "surveyor")
    page.get_by_label("图层").select_option("zones")
    page.get_by_label("成果文件").set_input_files(str(archive))
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(re.compile(r".*/deliveries\?submitted=\d+-\d+$"))
    summary = page.locator("#rg-upload-summary")
    assert summary.is_visible() and summary.locator('[data-upload="rivers"]').inner_text() == "6 条"
    rows = summary.locator("tbody tr")
    assert rows.count() == 6
    # Every river's link is on the screen without scrolling sideways, in the page or in the table.
    assert _fits(page)
    assert page.evaluate(
        "(() => { const t = document.querySelector('#rg-upload-rivers');"
        " return t.scrollWidth <= t.parentElement.clientWidth; })()"
    )
    page.screenshot(path=str(artifacts / "web_upload_summary_phone.png"), full_page=True)
    first = rows.first.get_by_role("link")
    river = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r".*/deliveries/\d+$"))
    assert page.locator("#rg-report").is_visible() and river in page.title()

    watch.assert_clean(page)
    # The office, on a phone of its own, ticks each river's newest version and approves the six at once.
    page = browser.new_page(viewport={"width": PHONE, "height": 800}, bypass_csp=True)
    watch = Watch(page, (demo_server,))
    page.goto(f"{demo_server}/deliveries")
    _login(page, "admin")
    page.get_by_role("button", name="勾选各河流最新版本").click()
    assert page.locator("#rg-approve-chosen input[name=ids]:checked").count() == 6
    assert _fits(page)
    page.get_by_role("button", name="批准所选").click()
    page.wait_for_url(re.compile(r".*/deliveries\?approved=6$"))
    assert page.locator("#rg-approved").is_visible() and page.locator("#rg-approve-chosen").count() == 0
    page.screenshot(path=str(artifacts / "web_queue_approved_phone.png"), full_page=True)
    with demo_engine.connect() as conn:
        rows = conn.execute(select(Delivery.version, Delivery.status).where(Delivery.layer == "zones")).all()
    assert sorted(set(rows)) == [(1, "superseded"), (2, "approved")] and len(rows) == 12
    watch.assert_clean(page)


PAGES = ("/no-such-page", "/", "/deliveries", "/deliveries/new", "/deliveries/1", "/account/password")


def test_every_page_fits_a_phone_and_is_screenshotted(browser, demo_server, artifacts) -> None:
    shots = artifacts / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for width, tag in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = browser.new_page(viewport={"width": width, "height": 800}, bypass_csp=True)
        watch = Watch(page, (demo_server,))
        page.goto(f"{demo_server}/login")
        page.screenshot(path=str(shots / f"login_{tag}.png"), full_page=True)
        assert _fits(page), f"/login scrolls sideways at {width} px"
        _login(page, "admin")
        for path in PAGES:
            page.goto(demo_server + path)
            page.wait_for_load_state("networkidle")
            if path == "/no-such-page":
                assert page.title().startswith("页面不存在") and page.get_by_text("退出登录").count() > 0
            if path == "/":
                page.wait_for_selector("body[data-charts-ready]", state="attached")
                # Seven charts and the patrol panel's (its coverage chart only with walks in the last 30 days).
                drawn = page.locator(".rg-chart[data-drawn]").count()
                assert drawn == page.locator(".rg-chart").count() and drawn >= 8
            name = path.strip("/").replace("/", "_") or "dashboard"
            page.screenshot(path=str(shots / f"{name}_{tag}.png"), full_page=True)
            assert _fits(page), f"{path} scrolls sideways at {width} px"
        if width == PHONE:
            # The navigation folds behind the hamburger on a phone and opens on a tap.
            assert not page.get_by_role("link", name="成果交付").is_visible()
            page.get_by_label("打开导航").click()
            page.get_by_role("link", name="成果交付").wait_for(state="visible")
        watch.assert_clean(page)
        page.close()
