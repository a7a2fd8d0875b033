"""The OGC API's HTML answers in headless Chromium: a Leaflet map of the page's features, offline, markup inert."""

from __future__ import annotations

import pytest

from gis_service.catalogue import bundled_catalogue
from tests.test_maps_browser import Watch, browser  # noqa: F401 - the browser fixture
from tests.test_ogc_clients import live  # noqa: F401 - the live server fixture
from tests.test_ogc_standard import store_sites

pytestmark = pytest.mark.browser


def test_items_page_draws_every_feature_of_the_page_on_an_offline_map(browser, live, engine, artifacts):  # noqa: F811
    store_sites(engine)  # site 0's description is a <script> tag
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    watch = Watch(page, (live,))
    page.goto(f"{live}/ogc/collections/problems/items?limit=5")  # a browser's Accept: text/html
    page.wait_for_selector(".leaflet-interactive", timeout=20000)
    # Five circle markers for the page's five sites; the table links each to its own page.
    assert page.locator(".leaflet-interactive").count() == 5
    assert page.locator("table a[href*='/ogc/collections/problems/items/']").count() == 5
    page.screenshot(path=str(artifacts / "ogc-items.png"))
    page.click("table a[href*='/items/']")
    page.wait_for_selector(".leaflet-interactive", timeout=20000)
    assert "S0000" in page.inner_text("table")
    assert "<script>alert('x')</script>" in page.inner_text("table")  # shown as text, never run
    # A feature's page: its coded values in words as on the items page, and no page counts.
    category = bundled_catalogue()["problems"].field("category")
    shown = page.inner_text("table")
    assert any(v.label in shown for v in category.values.values()) and not any(c in shown for c in category.values)
    assert "个要素" not in page.inner_text("body")
    watch.assert_clean(page)


def test_items_page_on_a_phone_scrolls_its_table_not_the_page(browser, live, engine, artifacts):  # noqa: F811
    store_sites(engine)
    page = browser.new_page(viewport={"width": 375, "height": 812})
    page.goto(f"{live}/ogc/collections/problems/items?limit=5")
    page.wait_for_selector(".leaflet-interactive", timeout=20000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.evaluate("document.querySelector('.rows').scrollWidth > document.querySelector('.rows').clientWidth")
    page.screenshot(path=str(artifacts / "ogc-items-375.png"))
