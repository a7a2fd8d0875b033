"""The issue map and river map in headless Chromium, served on localhost with every outside request blocked."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from gis_service.api.app import create_app
from gis_service.cli.main import app as cli
from gis_service.db.models import Problem
from gis_service.settings import get_settings

pytestmark = pytest.mark.browser
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _need_browser() -> Any:
    """Return Playwright's sync API, skipping locally (failing in CI) when Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        if IN_CI:
            pytest.fail("headless Chromium or Playwright missing in CI")
        pytest.skip("headless Chromium or Playwright not installed")
    return sync_playwright


@pytest.fixture
def server(demo_engine: Engine) -> Iterator[str]:
    """Serve the app on the demo database on a free localhost port; return its base URL."""
    import uvicorn

    config = uvicorn.Config(create_app(demo_engine), host="127.0.0.1", port=0, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


class Watch:
    """What a page did that it must not: page errors, dialogs (alert), requests leaving localhost."""

    def __init__(self, page: Any, allowed: tuple[str, ...]) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.outside: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

        def route(r: Any) -> None:
            if r.request.url.startswith(allowed):
                r.continue_()
            else:
                self.outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)

    def assert_clean(self, page: Any) -> None:
        """No errors, no dialog, no outside request, and the injected scripts never ran."""
        assert self.errors == [] and self.dialogs == [] and self.outside == []
        assert page.evaluate("window.__xss === undefined")


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's, never downloaded).

    Pages open with ``bypass_csp`` so that Playwright's waits can run, and so that the escaping is
    proven on its own, without the Content-Security-Policy header's help.
    """
    sync_playwright = _need_browser()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _ready(page: Any) -> int:
    """Wait until the sites are drawn; return how many."""
    page.wait_for_selector("body[data-rg-ready]", state="attached", timeout=20000)
    return int(page.get_attribute("body", "data-rg-sites"))


def _open_site(page: Any, code_id: int) -> str:
    """Zoom to one site's marker, click it like a user, and return the popup's text."""
    page.evaluate(
        """(id) => new Promise((done) => {
            const rg = window.RiverGIS, data = rg.current();
            const i = data.ids.indexOf(id);
            const marker = rg.cluster.getLayers().find((m) => m.options.rgIndex === i);
            rg.cluster.zoomToShowLayer(marker, () => { marker._icon.id = 'rg-target'; done(); });
        })""",
        code_id,
    )
    page.click("#rg-target")
    page.wait_for_selector(".leaflet-popup-content .rg-popup-title", timeout=10000)
    page.wait_for_function("!document.querySelector('.leaflet-popup-content').textContent.includes('加载中')")
    return str(page.inner_text(".leaflet-popup-content"))


def _count(engine: Engine, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Problem).where(*where)) or 0)


def test_issue_map_clusters_sites_opens_escaped_popups_and_filters(browser, server, demo_engine, artifacts) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    watch = Watch(page, (server,))
    data_requests: list[str] = []
    page.on("request", lambda r: data_requests.append(r.url) if "/maps/data/problems?" in r.url else None)
    page.goto(f"{server}/maps/problems")
    total = _count(demo_engine)
    assert _ready(page) == total > 0
    assert len(data_requests) == 1  # the preloaded request is the one the script reads, not a second
    assert page.locator(".marker-cluster").count() > 0
    assert int(page.inner_text("#rg-total")) == total
    page.screenshot(path=str(artifacts / "maps_problems.png"))

    with demo_engine.connect() as conn:
        hostile = conn.execute(
            select(Problem.id, Problem.code, Problem.description)
            .where(Problem.description.like("%<%"))
            .order_by(Problem.id)
        ).all()
    assert len(hostile) >= 2  # the demo data carries a <script> and an <img onerror> description
    for problem_id, code, description in hostile:
        text = _open_site(page, problem_id)
        assert code in text and description in text  # shown as text, exactly as reported
        assert page.locator(".leaflet-popup-content script, .leaflet-popup-content img").count() == 0
        link = page.get_attribute(".leaflet-popup-content a.rg-record-link", "href")
        assert link == f"/api/v1/problems/{problem_id}"
    page.screenshot(path=str(artifacts / "maps_problems_popup.png"))

    # Filter in the page: closed sites only; the URL carries the filter so the link can be shared.
    closed = _count(demo_engine, Problem.status == "closed")
    page.click("#rg-filter-toggle")
    page.check('#rg-filter input[name="status"][value="closed"]')
    page.click('#rg-filter button[type="submit"]')
    page.wait_for_function(
        f"document.body.getAttribute('data-rg-sites') === '{closed}' && document.body.hasAttribute('data-rg-ready')"
    )
    assert "status=closed" in page.url
    assert page.inner_text('[data-count="status:closed"]') == str(closed)
    assert page.inner_text('[data-count="status:reported"]') == "0"
    shared = page.url
    watch.assert_clean(page)

    again = browser.new_page(bypass_csp=True)
    watch2 = Watch(again, (server,))
    again.goto(shared)
    assert _ready(again) == closed
    watch2.assert_clean(again)


def test_standalone_export_works_from_a_file_with_no_network(browser, demo_engine, tmp_path, artifacts) -> None:
    out = tmp_path / "问题点地图.html"
    result = CliRunner().invoke(cli, ["map", "problems", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    watch = Watch(page, ("file://",))
    page.goto(out.as_uri())
    total = _count(demo_engine)
    assert _ready(page) == total
    hostile = _count(demo_engine, Problem.description.like("%<script>%"))
    assert hostile >= 1
    with demo_engine.connect() as conn:
        problem_id, code = conn.execute(
            select(Problem.id, Problem.code).where(Problem.description.like("%<script>%"))
        ).first()
    assert code in _open_site(page, problem_id)
    # client-side filter of the embedded data
    dumping = _count(demo_engine, Problem.category == "dumping")
    page.click("#rg-filter-toggle")
    page.check('#rg-filter input[name="category"][value="dumping"]')
    page.click('#rg-filter button[type="submit"]')
    page.wait_for_function(f"document.body.getAttribute('data-rg-sites') === '{dumping}'")
    page.screenshot(path=str(artifacts / "maps_problems_standalone.png"))
    watch.assert_clean(page)


@pytest.mark.parametrize("width", [1280, 690, 610], ids=["desktop", "small-tablet", "narrowest-not-a-phone"])
def test_river_map_draws_zones_and_ratio_panel(browser, server, artifacts, width: int) -> None:
    page = browser.new_page(
        viewport={"width": width, "height": 900}, screen={"width": width, "height": 900}, bypass_csp=True
    )
    watch = Watch(page, (server,))
    page.goto(f"{server}/maps/rivers/WS002")
    page.wait_for_selector("#rg-ratio")
    page.wait_for_function("document.querySelectorAll('.leaflet-overlay-pane canvas').length > 0")
    assert "WS002" in page.inner_text("#rg-ratio")
    # Wider than a phone the list of layers is open beside the map: the ratio panel stops short of it (its table
    # scrolls inside), so neither the verdict nor a layer is under the other.
    layers = page.locator(".leaflet-control-layers")
    assert "leaflet-control-layers-expanded" in layers.get_attribute("class")
    panel, listed = page.locator("#rg-ratio").bounding_box(), layers.bounding_box()
    assert panel and listed and panel["x"] + panel["width"] <= listed["x"]
    assert page.locator("#rg-ratio .rg-ok, #rg-ratio .rg-bad").is_visible()
    page.screenshot(path=str(artifacts / f"maps_river_WS002_{width}.png"))
    watch.assert_clean(page)


def test_a_desktop_map_in_a_short_frame_keeps_its_legend_and_layers_open(browser, server) -> None:
    # As the delivery review page shows its map: a frame 480 px high on a desktop's 1280 x 800 screen. A phone's screen
    # folds both (``RiverGIS.onPhone``); a short frame on a desktop is no phone.
    page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page.goto(f"{server}/maps/rivers/WS002")  # the frame below is then the page's own origin
    page.set_content('<iframe src="/maps/rivers/WS002" style="width: 990px; height: 480px; border: 0"></iframe>')
    frame = page.frame_locator("iframe")
    layers = frame.locator(".leaflet-control-layers")
    layers.wait_for()
    assert "leaflet-control-layers-expanded" in layers.get_attribute("class")
    assert frame.locator("details.rg-legend").evaluate("e => e.open") is True
    assert page.evaluate("screen.height") == 800 and frame.locator("body").evaluate("() => innerHeight") == 480


@pytest.mark.parametrize(
    "width,height", [(1280, 800), (375, 740), (740, 360)], ids=["desktop", "phone", "phone-landscape"]
)
def test_issue_map_past_the_threshold_draws_server_clusters_and_filters_them(
    browser, server, demo_engine, artifacts, monkeypatch: pytest.MonkeyPatch, width: int, height: int
) -> None:
    total = _count(demo_engine)
    monkeypatch.setenv("RIVERGIS_MAP_CLUSTER_THRESHOLD", str(total - 1))  # the demo's sites are one too many
    get_settings.cache_clear()
    # A phone's screen is touched: its taps are what the layers button answers (Leaflet's collapsed control).
    phone = width <= 600 or min(width, height) <= 500  # ``RiverGIS.onPhone``'s rule; the screen is the viewport here
    page = browser.new_page(viewport={"width": width, "height": height}, bypass_csp=True, has_touch=phone)
    watch = Watch(page, (server,))
    press = page.tap if phone else page.click  # a phone is tapped, never clicked: no mouse left anywhere
    page.goto(f"{server}/maps/problems")
    assert _ready(page) == total
    assert page.get_attribute("body", "data-rg-mode") == "clusters"
    assert page.locator(".rg-server-cluster").count() > 0  # counted by the service, not by markercluster
    assert page.locator(".leaflet-marker-pane .marker-cluster").count() == page.locator(".rg-server-cluster").count()
    assert int(page.inner_text("#rg-total")) == total
    page.screenshot(path=str(artifacts / f"maps_problems_server_clusters_{width}.png"))

    # The drawn clusters hold every site in the view; zooming in asks again.
    def drawn() -> tuple[int, int]:
        in_view = int(page.get_attribute("body", "data-rg-view-sites"))
        shown = page.evaluate(
            "Array.from(document.querySelectorAll('.rg-server-cluster span')).map(s => +s.textContent)"
            ".reduce((a, b) => a + b, 0) + document.querySelectorAll('.leaflet-marker-pane .rg-site-icon').length"
        )
        return shown, in_view

    shown, in_view = drawn()
    assert shown == in_view > 0
    # Folium names the map ``map_<hash>``; no animation: a headless page may never end a CSS transition.
    live = "window[Object.keys(window).find((k) => k.startsWith('map_'))]"
    zoom = int(page.evaluate(f"{live}.getZoom()"))
    page.evaluate(f"void {live}.zoomIn(1, {{animate: false}})")
    page.wait_for_function(
        f"document.body.hasAttribute('data-rg-ready') && +document.body.dataset.rgZoom === {live}.getZoom()"
        f" && {live}.getZoom() > {zoom - 1}",
        polling=100,
    )
    shown, in_view = drawn()
    assert shown == in_view > 0

    # A filter answers from the service: closed sites only, legend and total follow.
    closed = _count(demo_engine, Problem.status == "closed")
    press("#rg-filter-toggle")
    press('#rg-filter input[name="status"][value="closed"]')
    assert page.is_checked('#rg-filter input[name="status"][value="closed"]')
    press('#rg-filter button[type="submit"]')
    page.wait_for_function(
        f"document.body.getAttribute('data-rg-sites') === '{closed}' && document.body.hasAttribute('data-rg-ready')"
    )
    assert 0 < closed < total and int(page.inner_text("#rg-total")) == closed
    # On a phone the legend starts folded (open it would cover half the map); a tap on its title opens it.
    legend = page.locator("#rg-legend")
    assert legend.evaluate("e => e.open") is not phone
    if phone:
        press("#rg-legend > summary")
        assert legend.evaluate("e => e.open") is True
    assert page.inner_text('[data-count="status:closed"]') == str(closed)
    assert page.inner_text('[data-count="status:reported"]') == "0"
    assert "status=closed" in page.url
    # The list of layers too: on a phone Leaflet's layers button, which a tap opens; beside the map elsewhere.
    layers = page.locator(".leaflet-control-layers")
    expanded = "leaflet-control-layers-expanded"
    assert (expanded in layers.get_attribute("class")) is not phone
    assert layers.get_by_text("问题点", exact=True).is_visible() is not phone
    if phone:
        press("#rg-filter-toggle")  # the open filter covers the button: folded first, as a person would
        layers.locator(".leaflet-control-layers-toggle").tap()
        assert expanded in layers.get_attribute("class")
        assert layers.get_by_text("问题点", exact=True).is_visible()
    page.screenshot(path=str(artifacts / f"maps_problems_server_clusters_closed_{width}.png"))
    watch.assert_clean(page)
