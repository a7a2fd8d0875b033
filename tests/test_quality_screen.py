"""The large screen (大屏): its JSON equals the engines' figures, and its page is served offline for viewers."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gis_service.analysis.shoreline.ratios import RatioRules
from gis_service.catalogue import bundled_catalogue
from gis_service.chiefs.stats import patrol_stats
from gis_service.clock import BusinessClock
from gis_service.db.engine import transaction
from gis_service.ledger.filters import ProblemFilter
from gis_service.ledger.stats import overdue, statistics
from gis_service.settings import Settings
from gis_service.store.ratios import current_report
from tests.helpers import bearer, clear_caches
from tests.test_quality import SECTIONS, xlsx
from tests.test_quality_api import upload
from tests.test_quality_tasks import HEADER

# The bundled catalogue's problems layer: the ledger's status and category words.
PROBLEMS = bundled_catalogue()["problems"]

# Noon of 20 September 2026 in Chongqing: the demo's patrols (from 1 September) are within 30 days.
SEPT_20 = BusinessClock.at(dt.datetime(2026, 9, 20, 4, 0))


def fill(c: TestClient, t: dict[str, str], tmp_path: Path) -> None:
    """Import the sections, a sample each for S1 and S2 and two 2026 tasks over HTTP."""
    r = upload(c, "/api/v1/deliveries/sections", xlsx(tmp_path / "s.xlsx", SECTIONS), t["surveyor"])
    assert r.status_code == 201  # type: ignore[attr-defined]
    rows = [["断面编码", "采样日期", "溶解氧", "氨氮"], ["S1", "2026-09-03", 6.5, 1.2], ["S2", "2026-09-04", 8, 0.1]]
    assert upload(c, "/api/v1/quality/samples", xlsx(tmp_path / "m.xlsx", rows), t["surveyor"]).status_code == 201  # type: ignore[attr-defined]
    tasks = [
        HEADER,
        ["WS001", 2026, "清理河道垃圾", "人工清理", "南桐镇人民政府", "2026-08-31", 10, "km", None, 40],
        ["WS002", 2026, "生态护岸", "新建护岸", "生态环境局", "2026-12-31", 2, "km", None, 100],
    ]
    assert upload(c, "/api/v1/tasks/import", xlsx(tmp_path / "t.xlsx", tasks), t["admin"]).status_code == 201  # type: ignore[attr-defined]


@pytest.mark.usefixtures("demo_without_quality")
def test_screen_figures_equal_the_engines(
    demo_client: TestClient, demo_engine: Engine, demo_tokens: dict[str, str], tmp_path: Path
) -> None:
    c = demo_client
    c.app.state.clock = SEPT_20  # type: ignore[attr-defined]
    fill(c, demo_tokens, tmp_path)
    body = c.get("/api/v1/quality/screen").json()
    assert body["refresh_s"] == 60 and body["as_of"].startswith("2026-09-20T12:00")
    # Sections: S1 (国控) DO 6.5 → II, 氨氮 1.2 → IV; S2 (市控) DO 8 → I, 氨氮 0.1 → I. One of the two assessed 优良.
    summary = body["sections"]["summary"]
    assert (summary["assessed_sections"], summary["assessed_good"], summary["assessed_all_good"]) == (2, 1, False)
    classes = {r["code"]: (r["class_label"], r["level"], r["compliant"]) for r in body["sections"]["rows"]}
    assert classes["S1"] == ("Ⅳ类", "国控", False) and classes["S2"] == ("Ⅰ类", "市控", True)
    assert classes["W1"][0] == "无数据"
    assert body["sections"]["by_class"]["Ⅳ类"] == 1 and body["sections"]["by_class"]["Ⅰ类"] == 1
    # Tasks of 2026 on 20 September: T1 (deadline 31 August, 40%) overdue, T2 done (100%); mean (40 + 100) / 2 = 70.
    assert body["tasks"] == {
        "year": 2026,
        "total": 2,
        "done": 1,
        "overdue": 1,
        "behind": body["tasks"]["behind"],
        "mean_progress": 70.0,
    }
    with transaction(demo_engine) as session:
        month = ProblemFilter(found_from=dt.date(2026, 9, 1), found_to=dt.date(2026, 9, 30))
        new = statistics(session, flt=month, clock=SEPT_20, problems=PROBLEMS)["total"]
        late = overdue(session, clock=SEPT_20, limit=1, problems=PROBLEMS)["count"]
        everything = statistics(session, clock=SEPT_20, problems=PROBLEMS)
        patrols = patrol_stats(session, Settings(), dt.date(2026, 9, 20))
    ledger = body["ledger"]
    assert (ledger["month"], ledger["new"], ledger["overdue"], ledger["total"]) == (
        "2026-09",
        new,
        late,
        everything["total"],
    )
    assert sum(r["new"] for r in ledger["by_town"]) == new and sum(r["overdue"] for r in ledger["by_town"]) == late
    assert body["patrols"]["by_town"] == patrols["by_town"] and body["patrols"]["total"] == patrols["total"]
    assert patrols["total"]["patrols"] > 0  # the demo's September tracks: not a comparison of empties
    ratios = body["ratios"]
    assert ratios["rivers"] == len(ratios["by_river"]) and ratios["compliant"] == sum(
        r["compliant"] for r in ratios["by_river"]
    )
    assert ratios["threshold"] == 0.5
    layers = c.get("/api/v1/quality/screen/layers").json()
    assert {i["label"]: i["count"] for i in layers["legend"] if i["count"]} == {"Ⅰ类": 1, "Ⅳ类": 1}
    assert {f["properties"]["class"] for f in layers["reaches"]["features"]} == {"I", "IV"}
    assert len(layers["sections"]["features"]) == 4


def test_screen_page_is_offline_and_for_viewers(
    demo_client: TestClient, demo_tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = demo_client
    page = c.get("/screen")
    assert page.status_code == 200 and "万盛经开区河长制调度大屏" in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith(("/", "data:")) for s in sources), sources  # nothing from the internet
    assert (
        "/static/vendor/leaflet/dist/leaflet.js" in sources and "/static/vendor/echarts/dist/echarts.min.js" in sources
    )
    for asset in ("/web/static/screen.js", "/web/static/screen.css", "/static/vendor/echarts/dist/echarts.min.js"):
        assert c.get(asset).status_code == 200, asset
    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "false")
    monkeypatch.setenv("RIVERGIS_SCREEN_REFRESH_S", "15")
    clear_caches()
    try:
        r = c.get("/screen", follow_redirects=False)
        assert r.status_code in (302, 303) and r.headers["location"].startswith("/login?next=")
        assert c.get("/api/v1/quality/screen").status_code == 401
        answer = c.get("/api/v1/quality/screen", headers=bearer(demo_tokens["viewer"]))
        assert answer.status_code == 200 and answer.json()["refresh_s"] == 15
    finally:
        monkeypatch.undo()
        clear_caches()


def test_health_takes_patrol_coverage_and_the_ratio_check(
    demo_client: TestClient, demo_engine: Engine, demo_tokens: dict[str, str]
) -> None:
    c, admin = demo_client, bearer(demo_tokens["admin"])
    with transaction(demo_engine) as session:
        rows = session.execute(
            text("SELECT river_code, coverage FROM patrols WHERE patrol_date BETWEEN '2026-01-01' AND '2026-12-31'")
        ).all()
        ratios = {
            r["code"]: r["ratio"] for r in current_report(session, bundled_catalogue(), RatioRules()).rivers_json()
        }
    assert rows, "the demo has patrols in 2026"
    river = rows[0][0]
    shares = [float(cov) for code, cov in rows if code == river]
    record = c.post("/api/v1/quality/health", json={"river_code": river, "year": 2026}, headers=admin).json()
    patrol = record["inputs"]["indicators"]["patrol_coverage"]
    assert patrol["value"] == pytest.approx(round(sum(shares) / len(shares) * 100, 1))
    assert patrol["source"].startswith("巡河记录") and patrol["score"] is not None
    assert record["inputs"]["indicators"]["shoreline_ratio"]["value"] == ratios[river]
    # The office's own figure overrides the system's and says so.
    body = {"river_code": river, "year": 2026, "manual": {"patrol_coverage": 95}}
    manual = c.post("/api/v1/quality/health", json=body, headers=admin).json()["inputs"]["indicators"]
    assert manual["patrol_coverage"] == {**manual["patrol_coverage"], "value": 95, "score": 100.0, "source": "人工填报"}
    # No patrol on the river in 2024: the indicator is missing, its weight left out.
    old = c.post("/api/v1/quality/health", json={"river_code": river, "year": 2024}, headers=admin).json()
    assert "patrol_coverage" in old["inputs"]["missing"]


def test_the_screen_on_an_empty_database(client: TestClient) -> None:
    # Nothing imported yet: every figure is there, empty, and the page renders (no 500).
    body = client.get("/api/v1/quality/screen").json()
    assert body["sections"]["rows"] == [] and body["sections"]["period"] is None
    assert body["sources"] == {} and body["zone_checks"]["count"] == 0
    assert (body["ledger"]["new"], body["ledger"]["overdue"], body["ledger"]["by_town"]) == (0, 0, [])
    assert body["tasks"]["total"] == 0 and body["tasks"]["mean_progress"] is None
    assert body["patrols"]["total"] == {"reaches": 0, "overdue": 0, "patrols": 0}
    assert client.get("/api/v1/quality/screen/layers").json()["legend"] == []
    page = client.get("/screen")
    assert page.status_code == 200 and 'data-fig="ledger.new">0<' in page.text


@pytest.mark.usefixtures("demo_without_quality")
def test_a_section_without_level_or_target_keeps_the_screen_strict_json(
    demo_client: TestClient, demo_tokens: dict[str, str], tmp_path: Path
) -> None:
    """An optional field left empty is null in every JSON the screen reads, never NaN (which JSON.parse refuses)."""
    c = demo_client
    rows = [SECTIONS[0], *SECTIONS[1:3], ["W9", "无级别断面", None, "WS003", None, 106.92, 28.92]]
    r = upload(c, "/api/v1/deliveries/sections", xlsx(tmp_path / "s.xlsx", rows), demo_tokens["surveyor"])
    assert r.status_code == 201  # type: ignore[attr-defined]
    samples = [["断面编码", "采样日期", "溶解氧", "氨氮"], ["W9", "2026-09-03", 6.5, 1.2]]
    answer = upload(c, "/api/v1/quality/samples", xlsx(tmp_path / "m.xlsx", samples), demo_tokens["surveyor"])
    assert answer.status_code == 201  # type: ignore[attr-defined]

    def strict(text: str) -> Any:
        def refuse(constant: str) -> None:
            raise AssertionError(f"{constant} in the screen's JSON")

        return json.loads(text, parse_constant=refuse)

    page = c.get("/screen", headers=bearer(demo_tokens["viewer"]))
    assert page.status_code == 200
    embedded = re.search(r'<script type="application/json" id="sc-layers">(.*?)</script>', page.text, re.S)
    assert embedded, "the screen page embeds its map layers"
    sections = strict(embedded.group(1))["sections"]["features"]
    w9 = next(f["properties"] for f in sections if f["properties"]["code"] == "W9")
    assert w9["level"] is None and w9["target"] is None and w9["name"] == "无级别断面"
    answer = c.get("/api/v1/quality/screen/layers", headers=bearer(demo_tokens["viewer"]))
    assert answer.status_code == 200
    assert next(f for f in strict(answer.text)["sections"]["features"] if f["properties"]["code"] == "W9")
    figures = c.get("/api/v1/quality/screen", headers=bearer(demo_tokens["viewer"]))
    assert figures.status_code == 200
    row = next(r for r in strict(figures.text)["sections"]["rows"] if r["code"] == "W9")
    assert row["level"] == "" and row["target"] == ""
