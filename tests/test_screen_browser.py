"""The issue 18 "done when" path in headless Chromium: samples and tasks imported on the pages, the classes on
the river map, the 1920×1080 大屏 (no scrollbars, every figure in view, refreshing itself) and the month's bulletin.

Screenshots go to /tmp/shots18/.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from sqlalchemy import Engine

from gis_service.api.app import create_app
from gis_service.clock import BusinessClock
from tests.helpers import clear_caches
from tests.test_bulletin import tables_of
from tests.test_maps_browser import Watch, browser  # noqa: F401 - the browser fixture
from tests.test_quality import SECTIONS, geojson, run, square, xlsx
from tests.test_quality_tasks import HEADER
from tests.web_helpers import PASSWORDS, make_users

pytestmark = pytest.mark.browser
SCREEN = {"width": 1920, "height": 1080}
SHOTS = Path("/tmp/shots18")
# Noon of 20 September 2026 in Chongqing (the demo's patrols run from 1 September).
SEPT_20 = BusinessClock.at(dt.datetime(2026, 9, 20, 4, 0))


@pytest.fixture
def office(demo_without_quality: Engine, demo_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Serve the demo (sections imported, accounts made) with the clock at 20 September 2026 and a 2 s refresh."""
    monkeypatch.setenv("RIVERGIS_SCREEN_REFRESH_S", "2")
    clear_caches()
    make_users(demo_engine)
    import uvicorn

    app = create_app(demo_engine)
    app.state.clock = SEPT_20
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
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


def upload(page: Any, form: str, path: Path) -> None:
    """Choose ``path`` in a page form's file field and submit it."""
    page.set_input_files(f"{form} input[type=file]", str(path))
    page.click(f"{form} button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#rg-error").count() == 0, page.locator("#rg-error").inner_text()


def test_office_imports_sees_the_screen_and_downloads_the_bulletin(
    browser: Any,  # noqa: F811
    office: str,
    tmp_path: Path,
) -> None:
    SHOTS.mkdir(exist_ok=True)
    # A section name carrying markup is data: the screen's table shows it as text, never runs it.
    marked = ["X1", "<img src=x onerror=window.__xss=1>", "区控", "WS005", "III", 106.93, 28.93]
    assert run("import", "sections", str(xlsx(tmp_path / "断面.xlsx", [*SECTIONS, marked]))).exit_code == 0
    zones = geojson(
        tmp_path / "水源保护区.geojson",
        [
            ({"编码": "Z1", "名称": "城区水厂一级", "水源地名称": "城区水厂", "级别": "一级", "类型": "城市",
              "监测断面编码": "W1"}, square(106.91, 28.91, 0.01)),
            ({"编码": "Z3", "名称": "乡镇水厂一级", "水源地名称": "乡镇水厂", "级别": "一级", "类型": "乡镇",
              "监测断面编码": "W2"}, square(107.01, 29.01, 0.01)),
        ],
    )  # fmt: skip
    assert run("import", "source_zones", str(zones)).exit_code == 0
    # September's results: S1 (国控) DO 7.0 → II, 氨氮 0.4 → II: 优良; S2 (市控) 氨氮 1.2 → IV: not 优良;
    # the sources' W1 and W2: 氨氮 0.4, 总磷 0.05 → II, within the drinking-water class III: 100% and 100%.
    month = [
        ["断面编码", "采样日期", "pH", "溶解氧", "氨氮", "总磷"],
        ["S1", "2026-09-03", 7.2, 7.0, 0.4, 0.05],
        ["S2", "2026-09-04", 7.4, 8.0, 1.2, 0.02],
        ["W1", "2026-09-05", 7.3, 7.5, 0.4, 0.05],
        ["W2", "2026-09-05", 7.3, 7.5, 0.4, 0.05],
    ]
    tasks = [
        HEADER,
        ["WS001", 2026, "清理河道垃圾", "人工清理", "南桐镇人民政府", "2026-08-31", 10, "km", None, 40],
        ["WS002", 2026, "生态护岸", "新建护岸", "生态环境局", "2026-12-31", 2, "km", "黑山镇", 100],
    ]
    page = browser.new_page(viewport=SCREEN, bypass_csp=True)
    watch = Watch(page, (office,))
    page.goto(f"{office}/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORDS["admin"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{office}/")
    page.goto(f"{office}/quality")
    upload(page, "#rg-samples-upload", xlsx(tmp_path / "2026年9月监测.xlsx", month))
    assert "stored=4" in page.url
    page.goto(f"{office}/tasks")
    upload(page, "#rg-tasks-import", xlsx(tmp_path / "一河一策2026.xlsx", tasks))
    assert page.locator("text=清理河道垃圾").count() >= 1

    # The river map: WS002's reach drawn in the class IV colour, the class legend with its count.
    page.goto(f"{office}/maps/rivers/WS002")
    page.wait_for_selector("#rg-legend")
    legend = page.inner_text("#rg-legend")
    assert "河段水质类别" in legend and "Ⅳ类" in legend
    page.wait_for_function("document.querySelectorAll('.leaflet-overlay-pane canvas').length > 0")
    yellow = page.evaluate(
        """() => { let n = 0;
          Object.values(window).filter((v) => v instanceof L.Map).forEach((m) => m.eachLayer((l) => {
            if (l.feature && l.options && l.options.color === "#ffff00") n += 1; }));
          return n; }"""
    )
    assert yellow >= 1, "no reach drawn in the class IV colour"
    page.screenshot(path=str(SHOTS / "river_map_ws002.png"))

    # The large screen at 1920×1080: no scrollbars, every figure on screen and filled in.
    page.goto(f"{office}/screen")
    page.wait_for_selector("body[data-map-ready]", state="attached")
    size = page.evaluate(
        "[document.documentElement.scrollWidth - innerWidth, document.documentElement.scrollHeight - innerHeight]"
    )
    assert size == [0, 0] or max(size) <= 0, f"the screen scrolls by {size}"
    figures = page.locator("[data-fig]")
    assert figures.count() >= 18
    for i in range(figures.count()):
        box = figures.nth(i).bounding_box()
        name = figures.nth(i).get_attribute("data-fig")
        assert box is not None and box["width"] > 0, name
        assert (
            0 <= box["x"] and box["x"] + box["width"] <= 1920 and 0 <= box["y"] and box["y"] + box["height"] <= 1080
        ), name
        assert figures.nth(i).inner_text().strip(), name
    fig = page.locator("[data-fig='sections.assessed']")
    assert fig.inner_text() == "1/2" and page.inner_text("[data-fig='sections.all_good']") == "未实现"
    assert page.inner_text("[data-fig='sources.urban']") == "100%"
    assert page.inner_text("[data-fig='sources.township']") == "100%"
    assert page.inner_text("[data-fig='tasks.done']") == "1/2" and page.inner_text("[data-fig='tasks.overdue']") == "1"
    assert page.locator("#sc-sections tr").count() == 5
    assert page.locator("#sc-sections td", has_text="<img src=x").count() == 1
    for chart in ("ledger", "patrols", "classes"):
        assert page.locator(f"#sc-chart-{chart} canvas").count() == 1, chart
    assert page.locator("#sc-map path").count() > 0  # towns and rivers drawn as vectors, no tiles
    assert page.get_attribute("#sc-legend [data-class='Ⅳ类']", "data-count") == "1"
    page.screenshot(path=str(SHOTS / "screen_1920.png"))

    # The data change; the page, never reloaded, shows it on its next fetch (every 2 s).
    # S2 on 18 September: 氨氮 0.1; the September mean (1.2 + 0.1) / 2 = 0.65 → III: now both 优良.
    later = [["断面编码", "采样日期", "溶解氧", "氨氮"], ["S2", "2026-09-18", 8.0, 0.1]]
    assert run("import", "samples", str(xlsx(tmp_path / "补测.xlsx", later))).exit_code == 0
    page.evaluate("window.__notReloaded = true")
    page.wait_for_function("document.querySelector(\"[data-fig='sections.assessed']\").textContent === '2/2'")
    assert page.inner_text("[data-fig='sections.all_good']") == "已实现"
    # The map's class layer followed (fetched on its own, so it may land a moment after the figures):
    # WS002's reach is now class III (green), none is IV.
    page.wait_for_function("document.querySelector(\"#sc-legend [data-class='Ⅲ类']\")?.dataset.count === '1'")
    assert page.get_attribute("#sc-legend [data-class='Ⅳ类']", "data-count") == "0"
    assert page.locator("#sc-map path[stroke='#00ff00']").count() >= 1
    assert page.locator("#sc-map path[stroke='#ffff00']").count() == 0
    assert page.evaluate("window.__notReloaded") is True
    page.screenshot(path=str(SHOTS / "screen_1920_refreshed.png"))

    # Opened on a phone instead: one column, never scrolling sideways.
    phone = browser.new_page(viewport={"width": 375, "height": 812}, bypass_csp=True)
    phone.goto(f"{office}/screen")
    phone.wait_for_selector("body[data-map-ready]", state="attached")
    assert phone.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0
    phone.screenshot(path=str(SHOTS / "screen_phone.png"), full_page=True)
    phone.close()

    # The month's bulletin from the workbench.
    page.goto(f"{office}/bulletins?year=2026&part=9")
    with page.expect_download() as download:
        page.click("#rg-bulletin-word")
    saved = tmp_path / "通报.docx"
    download.value.save_as(saved)
    sections = {r[0]: r for r in tables_of(saved)["4. 断面水质"][1:]}
    assert sections["S1"][3] == "Ⅱ类" and sections["S2"][3] == "Ⅲ类"
    assert len(Document(str(saved)).inline_shapes) >= 3
    page.screenshot(path=str(SHOTS / "bulletins.png"))
    watch.assert_clean(page)
