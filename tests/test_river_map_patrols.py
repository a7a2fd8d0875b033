"""The river map's patrol layers on both backends: reaches coloured by their state on a stopped clock, recent tracks.

The hand-made district's R1 (tests/test_ledger_world.py) with the roster of tests/chiefs_world.py, a handover
on K0–K1 and three walks written by gpxpy; the clock of the page client stands at 2025-03-18 (China).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from fastapi.testclient import TestClient

from gis_service.webmap.patrol_layer import reach_state
from tests.chiefs_world import ROSTER, r1_length, write_gpx, write_roster
from tests.test_ledger_world import world_engine  # noqa: F401 - fixture
from tests.test_web_pages_pages17 import XLSX, web  # noqa: F401 - the page client fixture (clock 2025-03-18)
from tests.web_helpers import csrf_of
from tests.web_pages_helpers import XSS, as_role

NEW_CHIEF = f"新村长{XSS}"
# A new village chief for K0–K1 from 2025-03-15: 甲村长's term ends that day (交接).
HANDOVER = ["R1", None, "K0+000", "K1+000", NEW_CHIEF, "村支书", "村级", "13800000008", "2025-03-15"]


def _walk(client: TestClient, path: Path, chief: str, start_m: float, end_m: float, day: dt.date) -> None:
    """Upload a walk of R1 from ``start_m`` to ``end_m``, 20 m north of the line, on ``day`` (as a surveyor)."""
    start = dt.datetime.combine(day, dt.time(1, 0), tzinfo=dt.UTC)
    gpx = write_gpx(path, start_m, end_m, north_m=20, step_m=50, step_s=40, start=start).read_bytes()
    token = csrf_of(client.get("/patrols").text)
    done = client.post(
        "/patrols",
        data={"chief": chief, "river": "R1", "csrf_token": token},
        files={"track": (path.name, gpx, "application/gpx+xml")},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[-2000:]


def test_the_river_map_colours_each_reach_by_its_patrol_state(web, tmp_path) -> None:  # noqa: F811
    client, _engine = web
    as_role(client, "admin")
    for name, rows in (("名录.xlsx", ROSTER), ("交接.xlsx", [HANDOVER])):
        files = {"file": (name, write_roster(tmp_path / name, rows).read_bytes(), XLSX)}
        done = client.post("/chiefs/import", data={"csrf_token": csrf_of(client.get("/chiefs").text)}, files=files)
        assert done.status_code == 200 and "data-assignment=" in done.text
    as_role(client, "surveyor")
    # 王村长 (村级, every 7 days) walked K0+500–K2+500 on 03-10: 8 days ago, overdue.
    _walk(client, tmp_path / "w.gpx", "王村长", 500, 2500, dt.date(2025, 3, 10))
    # 吴镇长 (镇街级, 14 days) walked K8–K12 on 03-15: 4 km of the 7.6 km reach K8–end (≈ 4046 m with the
    # 50 m tolerance past the start, ≈ 53 %), under the 80 % line, not overdue.
    _walk(client, tmp_path / "t.gpx", "吴镇长", 8000, 12000, dt.date(2025, 3, 15))
    # 丁村长 (村级) walked the whole of K8–end on 03-17: covered, not overdue.
    _walk(client, tmp_path / "v.gpx", "丁村长", 8000, r1_length(), dt.date(2025, 3, 17))

    client.cookies.clear()  # maps are public while RIVERGIS_PUBLIC_READ is on
    page = client.get("/maps/rivers/R1", params={"patrols": "true"})
    assert page.status_code == 200
    states = re.findall(r'"state":"(\w+)"', page.text)
    # In force on 03-18: 邓区长, 孙镇长, 吴镇长, 新村长, 王村长, 丙村长, 丁村长 (甲村长 handed over).
    # Overdue: 邓区长 (30 days) and 孙镇长 (14) never walked since 01-01, 丙村长 neither, 王村长 8 days;
    # 新村长 took office 03-15 and has until 03-22: waiting.
    assert sorted(states) == sorted(["overdue"] * 4 + ["partial", "good", "waiting"])
    for state, n in {"overdue": 4, "good": 1, "partial": 1, "waiting": 1, "track": 3}.items():
        assert f'data-count="patrols:{state}">{n}<' in page.text
    assert "河长河段巡河状态" in page.text and "近 90 天巡河轨迹" in page.text
    assert XSS not in page.text  # the new chief's name is in a popup, escaped
    # The layers are in the layer control and hidden unless asked for: the zoning map stays readable.
    plain = client.get("/maps/rivers/R1")
    assert plain.status_code == 200 and "河长河段巡河状态" in plain.text
    assert plain.text.count(".addTo(map_") < page.text.count(".addTo(map_")


def test_a_reach_is_overdue_before_its_coverage_counts() -> None:
    assert reach_state(True, 1.0) == "overdue"
    assert reach_state(False, None) == "waiting"
    assert reach_state(False, 0.8) == "good" and reach_state(False, 0.79) == "partial"
