"""The dashboard (一张图首页) on the demo data, both backends: public reading, figures linking to their pages."""

from __future__ import annotations

import json
import re

from sqlalchemy import Engine, func, select

from gis_service.db.engine import transaction
from gis_service.db.models import Outfall, Problem, River
from gis_service.quality.assessment import quality_report
from gis_service.settings import get_settings
from tests.web_helpers import login, make_users


def _count(engine: Engine, model: type, *where: object) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _figures(html: str) -> dict[str, dict]:
    """Return each figure's chart data (the JSON next to its chart)."""
    found = re.findall(r'<script type="application/json" id="rg-fig-(\w+)">(.*?)</script>', html, re.S)
    return {key: json.loads(body) for key, body in found}


def test_dashboard_is_public_and_each_figure_links_to_its_page(demo_client, demo_engine) -> None:
    page = demo_client.get("/")
    assert page.status_code == 200 and "一张图首页" in page.text and ">登录</a>" in page.text
    # Counted here straight from the tables, not through the statistics the page uses.
    problems = _count(demo_engine, Problem)
    assert f'data-kpi="problems">{problems} 处' in page.text
    assert f'data-kpi="outfalls">{_count(demo_engine, Outfall)} 个' in page.text
    with demo_engine.connect() as conn:
        codes = list(conn.scalars(select(River.code)))
    for code in codes:
        assert f'href="/maps/rivers/{code}"' in page.text

    figures = _figures(page.text)
    # The patrol coverage chart needs a walk in the last 30 days: the demo's tracks have fixed dates.
    assert set(figures) - {"patrol_coverage"} == {
        "ratio_river", "ratio_town", "ledger_status", "ledger_category", "overdue_town", "overdue_unit",
        "outfall_stage", "patrol_overdue",
    }  # fmt: skip
    status = figures["ledger_status"]
    assert sum(status["values"]) == problems
    closed = _count(demo_engine, Problem, Problem.status == "closed")
    assert status["values"][status["links"].index("/problems?status=closed")] == closed
    assert status["labels"][status["links"].index("/problems?status=closed")] == "已销号"
    assert all(link.startswith("/maps/rivers/") for link in figures["ratio_river"]["links"])
    assert len(figures["ratio_river"]["links"]) == len(codes)
    assert all(link.startswith("/outfalls?stage=") for link in figures["outfall_stage"]["links"])
    # Nothing in the anonymous page offers what only roles may do.
    assert 'href="/deliveries/new"' not in page.text and 'href="/admin"' not in page.text


def test_navigation_shows_each_role_only_what_it_may_do(demo_client, demo_engine) -> None:
    users = make_users(demo_engine)
    expected = {
        "viewer": (set(), {"/deliveries/new", "/deliveries", "/admin"}),
        "surveyor": ({"/deliveries/new", "/deliveries"}, {"/admin"}),
        "admin": ({"/deliveries/new", "/deliveries", "/admin"}, set()),
    }
    for role, (shown, hidden) in expected.items():
        demo_client.cookies.clear()
        assert login(demo_client, role, users[role]).status_code == 303
        nav = demo_client.get("/").text.split('id="rg-nav"')[1].split("</ul>")[0]
        for href in shown:
            assert f'href="{href}"' in nav, (role, href)
        for href in hidden:
            assert f'href="{href}"' not in nav, (role, href)


def test_dashboard_needs_login_when_reading_is_private(demo_client, monkeypatch) -> None:
    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "false")
    get_settings.cache_clear()
    response = demo_client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/"


def test_dashboard_of_an_empty_database_says_what_to_do(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "还没有河流数据" in page.text


def _assessed(engine: Engine) -> dict:
    """Return the quality engine's summary of the newest monitoring year."""
    with transaction(engine) as session:
        return quality_report(session, None, get_settings().quality_assessment)["summary"]


def _kpi(s: dict) -> str:
    """Return the dashboard's 考核断面优良 figure for a summary."""
    return f'data-kpi="assessed-good">{s["assessed_good"]}/{s["assessed_sections"]}</div>'


def test_dashboard_shows_the_assessed_sections_good_figure(demo_client, demo_engine, demo_tokens, tmp_path) -> None:
    from tests.test_quality_screen import fill

    # The demo's 2026 results: WSDM01 (国控) and WSDM02, WSDM03 (市控), each 优良 in its monthly series.
    before = _assessed(demo_engine)
    assert (before["assessed_sections"], before["assessed_all_good"]) == (3, True)
    page = demo_client.get("/")
    assert _kpi(before) in page.text and "2026 年 · 全部优良" in page.text
    fill(demo_client, demo_tokens, tmp_path)
    # S1 (国控): DO 6.5 → II but 氨氮 1.2 → IV, not 优良; S2 (市控): DO 8, 氨氮 0.1 → I, 优良; plus the demo's three.
    after = _assessed(demo_engine)
    assert (after["assessed_sections"], after["assessed_good"], after["assessed_all_good"]) == (5, 4, False)
    page = demo_client.get("/")
    assert _kpi(after) in page.text
    assert "2026 年 · 未全部优良" in page.text and 'href="/quality"' in page.text
