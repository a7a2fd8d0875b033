"""The water quality, task, source and bulletin pages in headless Chromium: each fits a 375 px phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.test_maps_browser import Watch, browser, server  # noqa: F401 - the browser and server fixtures
from tests.test_quality import SECTIONS, run, xlsx
from tests.test_quality_tasks import HEADER, TASKS
from tests.web_helpers import PASSWORDS, make_users

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 812}
PAGES = {
    "quality": "/quality?year=2024&month=6",
    "sources": "/sources",
    "tasks": "/tasks",
    "task": "/tasks/1",
    "bulletins": "/bulletins?year=2024&part=6",
}


@pytest.fixture
def filled(demo_engine: Engine, tmp_path: Path) -> Engine:
    """The demo database with sections, a June sample, the task list and one account of each role."""
    assert run("import", "sections", str(xlsx(tmp_path / "s.xlsx", SECTIONS))).exit_code == 0
    samples = [["断面编码", "采样日期", "溶解氧", "氨氮"], ["S1", "2024-06-03", 6.5, 1.2]]
    assert run("import", "samples", str(xlsx(tmp_path / "m.xlsx", samples))).exit_code == 0
    assert run("import", "tasks", str(xlsx(tmp_path / "t.xlsx", [HEADER, *TASKS]))).exit_code == 0
    make_users(demo_engine)
    return demo_engine


def test_the_quality_pages_fit_a_phone(browser: Any, server: str, filled: Engine, artifacts: Path) -> None:  # noqa: F811
    shots = artifacts / "screenshots"
    shots.mkdir(exist_ok=True)
    page = browser.new_page(viewport=PHONE, bypass_csp=True)
    watch = Watch(page, (server,))
    page.goto(f"{server}/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORDS["admin"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")
    for name, path in PAGES.items():
        response = page.goto(f"{server}{path}")
        assert response is not None and response.status == 200, path
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 375px"
        page.screenshot(path=str(shots / f"{name}_phone.png"), full_page=True)
    watch.assert_clean(page)
