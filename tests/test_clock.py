"""One business clock: the ledger, the issue map, its popups and statistics agree on "overdue" at any hour.

A deadline is a date in China. At 00:30 on 12 March in China it is still 11 March in UTC, so a server
on UTC that asked its own calendar would call a site due on 11 March "not yet overdue" while the
office already counts it overdue; at 23:30 on 11 March in China (15:30 UTC) it is due today and
overdue nowhere.
"""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from gis_service.api.app import create_app
from gis_service.clock import BusinessClock
from tests.helpers import bearer
from tests.test_ledger_world import SITE_IN_R1, world_engine  # noqa: F401

CHINA = dt.timezone(dt.timedelta(hours=8))


def _site_due(c: TestClient, h: dict[str, dict[str, str]], deadline: str) -> int:
    """Report a site, confirm it and assign it with ``deadline``; return its id."""
    r = c.post(
        "/api/v1/problems",
        json={"category": "dumping", "lon": SITE_IN_R1[0], "lat": SITE_IN_R1[1]},
        headers=h["surveyor"],
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    url = f"/api/v1/problems/{pid}/transitions"
    assert c.post(url, json={"action": "confirm", "expected_version": 1}, headers=h["surveyor"]).status_code == 201
    assign = {"action": "assign", "expected_version": 2, "data": {"deadline": deadline, "responsible_unit": "万盛街道"}}
    assert c.post(url, json=assign, headers=h["admin"]).status_code == 201
    return int(pid)


def _overdue_everywhere(c: TestClient, pid: int) -> dict[str, object]:
    """Ask every door whether site ``pid`` is overdue."""
    ledger_list = {p["id"] for p in c.get("/api/v1/problems/overdue").json()["items"]}
    stats = c.get("/api/v1/problems/stats").json()
    map_data = c.get("/maps/data/problems", params={"overdue": "1"}).json()
    return {
        "record": c.get(f"/api/v1/problems/{pid}").json()["overdue"],
        "ledger_list": pid in ledger_list,
        "stats": stats["overdue"] >= 1,
        "map_count": map_data["n"] >= 1,
        "popup": c.get(f"/maps/data/problems/{pid}").json()["overdue"],
    }


@pytest.mark.parametrize(
    ("china_time", "expected"),
    [
        # 00:30 on 12 March in China = 16:30 on 11 March UTC: due 11 March, so overdue (China's calendar).
        (dt.datetime(2025, 3, 12, 0, 30, tzinfo=CHINA), True),
        # 23:30 on 11 March in China = 15:30 UTC the same day: due today, not overdue.
        (dt.datetime(2025, 3, 11, 23, 30, tzinfo=CHINA), False),
    ],
)
def test_map_ledger_and_stats_agree_on_overdue_at_any_hour(
    world_engine,  # noqa: F811
    tokens: dict[str, str],
    china_time: dt.datetime,
    expected: bool,
) -> None:
    app = create_app(world_engine)
    h = {role: bearer(t) for role, t in tokens.items()}
    with TestClient(app, raise_server_exceptions=False) as c:
        app.state.clock = BusinessClock.at(dt.datetime(2025, 3, 1, 4, tzinfo=dt.UTC))
        pid = _site_due(c, h, "2025-03-11")
        app.state.clock = BusinessClock.at(china_time)
        answers = _overdue_everywhere(c, pid)
        # The stopped clock's "today" is China's date, whatever the server's zone.
        assert app.state.clock.today() == china_time.date()
    assert answers == dict.fromkeys(answers, expected), answers


def test_the_office_time_zone_is_a_setting() -> None:
    moment = dt.datetime(2025, 3, 11, 16, 30, tzinfo=dt.UTC)
    assert BusinessClock.at(moment).today() == dt.date(2025, 3, 12)  # Asia/Shanghai, the default
    assert BusinessClock.at(moment, zone="UTC").today() == dt.date(2025, 3, 11)
    assert BusinessClock.at(moment, zone="Asia/Urumqi").local_date(moment) == dt.date(2025, 3, 11)
