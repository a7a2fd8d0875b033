"""The dashboard's 巡河 panel and the patrols page by town, on both backends (the hand-made district of R1)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from urllib.parse import quote

from fastapi.testclient import TestClient

from tests.chiefs_world import ROSTER, write_gpx, write_roster
from tests.test_ledger_world import world_engine  # noqa: F401 - fixture
from tests.test_web_pages_pages17 import XLSX, web  # noqa: F401 - the page client fixture (clock 2025-03-18)
from tests.web_helpers import csrf_of
from tests.web_pages_helpers import XSS, as_role, assert_escaped


def _figures(html: str) -> dict[str, dict]:
    """Return each figure's chart data (the JSON next to its chart)."""
    found = re.findall(r'<script type="application/json" id="rg-fig-(\w+)">(.*?)</script>', html, re.S)
    return {key: json.loads(body) for key, body in found}


def _town_row(html: str, town: str) -> str:
    row = re.search(rf'<tr data-town="{town}">(.*?)</tr>', html, re.S)
    assert row is not None, f"no row of {town}"
    return row.group(1)


def _roster_and_one_patrol(client: TestClient, tmp_path: Path) -> None:
    """Import the roster as an admin and upload 王村长's walk of K0+500–K2+500 (2025-03-10) as a surveyor."""
    as_role(client, "admin")
    token = csrf_of(client.get("/chiefs").text)
    roster = write_roster(tmp_path / "名录.xlsx", ROSTER).read_bytes()
    files = {"file": ("名录.xlsx", roster, XLSX)}
    imported = client.post("/chiefs/import", data={"csrf_token": token}, files=files, follow_redirects=False)
    assert imported.status_code == 303
    start = dt.datetime(2025, 3, 10, 1, 0, tzinfo=dt.UTC)
    gpx = write_gpx(tmp_path / "t.gpx", 500, 2500, north_m=20, step_m=50, step_s=40, start=start).read_bytes()
    as_role(client, "surveyor")
    token = csrf_of(client.get("/patrols").text)
    done = client.post(
        "/patrols",
        data={"chief": "王村长", "river": "R1", "csrf_token": token},
        files={"track": ("巡河.gpx", gpx, "application/gpx+xml")},
        follow_redirects=False,
    )
    assert done.status_code == 303


def test_the_dashboard_shows_patrol_coverage_and_overdue_reaches_by_town(web, tmp_path) -> None:  # noqa: F811
    client, _engine = web
    empty = client.get("/")
    assert empty.status_code == 200 and 'id="rg-patrol-panel"' in empty.text
    assert "还没有在任河长" in empty.text and 'data-kpi="patrol_reaches">0 段' in empty.text

    _roster_and_one_patrol(client, tmp_path)
    client.cookies.clear()  # the dashboard is public while RIVERGIS_PUBLIC_READ is on
    page = client.get("/")
    assert page.status_code == 200
    # On 2025-03-18 every one of the 7 terms (from 2025-01-01) is overdue: six chiefs never walked, and
    # 王村长's only walk (03-10) is 8 days old against the weekly rule of 村级.
    assert 'data-kpi="patrol_reaches">7 段' in page.text and 'data-kpi="patrol_overdue">7 段' in page.text
    assert 'data-kpi="patrol_count">1 次' in page.text
    figures = _figures(page.text)
    # The walk covers 1545.8 m of the 2000 m reach K1–K3 (tests/test_chiefs_api.py): 77.3 %, under the 80 % line.
    coverage = figures["patrol_coverage"]
    assert coverage["labels"] == ["万盛街道"] and coverage["values"] == [77.3] and coverage["good"] == [False]
    assert coverage["threshold"] == 80.0 and coverage["links"] == [f"/patrols?town={quote('万盛街道')}"]
    overdue = figures["patrol_overdue"]
    assert sum(overdue["values"]) == 7 and set(overdue["labels"]) == {"万盛街道", "东林街道"}
    assert all(link.endswith("#rg-overdue") for link in overdue["links"])
    # 东林街道 (east of lon 106.90) has no walk: its coverage cell says 未巡, and its row links to its list.
    east = _town_row(page.text, "东林街道")
    assert "未巡" in east and "0 次" in east
    assert f'href="/patrols?town={quote("东林街道")}#rg-overdue"' in east
    assert "77%" in _town_row(page.text, "万盛街道")


def test_the_patrols_page_of_one_town_keeps_its_reaches_and_walks(web, tmp_path) -> None:  # noqa: F811
    client, _engine = web
    _roster_and_one_patrol(client, tmp_path)
    # R1's K8 lies at lon 106.902 (tests/test_chiefs_api.py): the K8-on reaches are 东林街道's, the others 万盛街道's.
    east = client.get("/patrols", params={"town": "东林街道"})
    assert east.status_code == 200 and 'id="rg-town-filter"' in east.text
    chiefs = set(re.findall(r'<tr data-overdue="\d+">\s*<td><a [^>]*>(\S+?)</a>', east.text))
    assert {"吴镇长", "丁村长"} <= chiefs and not chiefs & {"王村长", "孙镇长", "甲村长", "丙村长"}
    assert "data-patrol=" not in east.text
    west = client.get("/patrols", params={"town": "万盛街道"})
    chiefs = set(re.findall(r'<tr data-overdue="\d+">\s*<td><a [^>]*>(\S+?)</a>', west.text))
    assert {"王村长", "孙镇长", "甲村长", "丙村长"} <= chiefs and not chiefs & {"吴镇长", "丁村长"}
    assert len(re.findall(r"data-patrol=", west.text)) == 1

    unknown = client.get("/patrols", params={"town": XSS})
    assert unknown.status_code == 400 and "unknown_town" in unknown.text and "东林街道" in unknown.text
    assert_escaped(unknown.text)


def test_a_chiefs_patrol_calendar_marks_each_week_met_or_missed(web, tmp_path) -> None:  # noqa: F811
    client, _engine = web
    _roster_and_one_patrol(client, tmp_path)
    client.cookies.clear()
    patrols = client.get("/patrols").text
    link = re.search(r'href="/chiefs/(\d+)/calendar">王村长</a>', patrols)
    assert link is not None
    page = client.get(f"/chiefs/{link.group(1)}/calendar")
    assert page.status_code == 200 and "王村长（村级）巡河日历" in page.text
    # Weekly periods from taking office on 2025-01-01 to 2025-03-18: 76 days after the first, so 11 periods,
    # the last (03-12 to 03-18) still running. The walk of 03-10 falls in the tenth (03-05 to 03-11).
    states = dict(re.findall(r'data-start="([\d-]+)" data-state="(\w+)"', page.text))
    assert len(states) == 11 and states["2025-03-12"] == "running" and states["2025-03-05"] == "met"
    assert list(states.values()).count("missed") == 9
    assert 'data-met="1"' in page.text and "已结束的 <strong>10</strong> 个周期" in page.text
    assert len(re.findall(r"<tr data-patrol=", page.text)) == 1
    # The roster links each chief to the calendar; an unknown chief is a Chinese 404 page.
    assert f'href="/chiefs/{link.group(1)}/calendar"' in client.get("/chiefs").text
    missing = client.get("/chiefs/99999/calendar")
    assert missing.status_code == 404 and "chief_not_found" in missing.text
    assert "没有编号为 99999 的河长" in missing.text
