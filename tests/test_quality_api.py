"""Water quality, tasks, health and bulletins over HTTP: roles, contract shapes, clear 4xx errors."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from docx import Document
from fastapi.testclient import TestClient

from gis_service.clock import BusinessClock
from tests.helpers import bearer
from tests.test_quality import SECTIONS, xlsx
from tests.test_quality_tasks import HEADER, TASKS

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload(client: TestClient, url: str, path: Path, token: str | None) -> object:
    """POST ``path`` as the multipart ``file`` field."""
    headers = bearer(token) if token else {}
    with path.open("rb") as fh:
        return client.post(url, files={"file": (path.name, fh, XLSX)}, headers=headers)


@pytest.mark.usefixtures("demo_without_quality")
def test_samples_tasks_health_and_bulletin_over_http(
    demo_client: TestClient, demo_tokens: dict[str, str], tmp_path: Path
) -> None:
    c, t = demo_client, demo_tokens
    c.app.state.clock = BusinessClock.at(dt.datetime(2024, 7, 1, 4, 0))  # type: ignore[attr-defined]
    assert c.get("/api/v1/quality").json()["samples"] == []
    r = upload(c, "/api/v1/deliveries/sections", xlsx(tmp_path / "s.xlsx", SECTIONS), t["surveyor"])
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]

    samples = xlsx(tmp_path / "m.xlsx", [["断面编码", "采样日期", "溶解氧", "氨氮"], ["S1", "2024-06-03", 6.5, 1.2]])
    assert upload(c, "/api/v1/quality/samples", samples, None).status_code == 401  # type: ignore[attr-defined]
    assert upload(c, "/api/v1/quality/samples", samples, t["viewer"]).status_code == 403  # type: ignore[attr-defined]
    r = upload(c, "/api/v1/quality/samples", samples, t["surveyor"])
    assert r.status_code == 201 and r.json()["stored"] == 1  # type: ignore[attr-defined]
    unknown = xlsx(tmp_path / "u.xlsx", [["断面编码", "采样日期", "氨氮"], ["NOPE", "2024-06-03", 0.1]])
    r = upload(c, "/api/v1/quality/samples", unknown, t["surveyor"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_section"  # type: ignore[attr-defined]
    (tmp_path / "m.txt").write_text("断面编码,采样日期\n", encoding="utf-8")
    r = upload(c, "/api/v1/quality/samples", tmp_path / "m.txt", t["surveyor"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_format"  # type: ignore[attr-defined]
    body = c.get("/api/v1/quality", params={"period": "2024-06"}).json()
    # DO 6.5 → II, 氨氮 1.2 → IV: class IV set by 氨氮.
    assert body["samples"] == [{"section_code": "S1", "date": "2024-06-03", "class": "IV", "deciding": ["氨氮"]}]
    assert c.get("/api/v1/quality", params={"period": "June"}).json()["error"]["code"] == "bad_period"
    points = c.get("/api/v1/quality/sections.geojson", params={"period": "2024-06"}).json()["features"]
    colours = {f["properties"]["code"]: (f["properties"]["class"], f["properties"]["color"]) for f in points}
    assert colours["S1"] == ("IV", "#ffff00") and colours["S2"] == (None, "#999999")
    assert points[0]["geometry"]["type"] == "Point"

    tasks = xlsx(tmp_path / "t.xlsx", [HEADER, *TASKS])
    assert upload(c, "/api/v1/tasks/import", tasks, t["surveyor"]).status_code == 403  # type: ignore[attr-defined]
    assert upload(c, "/api/v1/tasks/import", tasks, t["admin"]).status_code == 201  # type: ignore[attr-defined]
    late = c.get("/api/v1/tasks", params={"overdue": "true"}).json()["tasks"]
    assert [x["task"] for x in late] == ["清理河道垃圾"]  # on 1 July 2024 only the March task is overdue
    task_id = late[0]["id"]
    url = f"/api/v1/tasks/{task_id}/progress"
    assert c.post(url, json={"percent": 50}, headers=bearer(t["viewer"])).status_code == 403
    r = c.post(url, json={"percent": 150}, headers=bearer(t["surveyor"]))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    r = c.post(url, json={"value": 10, "note": "已清理完毕"}, headers=bearer(t["surveyor"]))
    assert r.status_code == 201 and r.json()["percent"] == 100.0  # 10 of the 10 km target
    assert c.get("/api/v1/tasks", params={"overdue": "true"}).json()["tasks"] == []
    assert c.get(url).json()["reports"][0]["note"] == "已清理完毕"
    r = c.post("/api/v1/tasks/99999/progress", json={"percent": 5}, headers=bearer(t["surveyor"]))
    assert r.status_code == 404 and r.json()["error"]["code"] == "task_not_found"
    assert c.get("/api/v1/tasks/rollup", params={"by": "nope"}).json()["error"]["code"] == "bad_group"

    body = {"river_code": "WS001", "year": 2024, "manual": {"ecological_flow": 85}}
    assert c.post("/api/v1/quality/health", json=body, headers=bearer(t["surveyor"])).status_code == 403
    r = c.post("/api/v1/quality/health", json=body, headers=bearer(t["admin"]))
    assert r.status_code == 201, r.text
    r_health = r.json()
    record = r.json()["inputs"]["indicators"]
    # S1 (WS001) is IV for 2024 → 50 points; ecological flow 85% → 80 points (the 70–90 band).
    assert (record["water_quality"]["value"], record["water_quality"]["score"]) == ("IV", 50.0)
    assert record["ecological_flow"]["score"] == 80.0 and record["patrol_coverage"]["value"] is None
    # The score is the weighted mean over the indicators with a value (patrol coverage left out).
    scored = [v for v in record.values() if v["score"] is not None]
    expected = sum(v["weight"] * v["score"] for v in scored) / sum(v["weight"] for v in scored)
    assert r_health["score"] == round(expected, 1) and r_health["inputs"]["missing"] == ["patrol_coverage"]
    assert c.get("/api/v1/quality/health", params={"river": "WS001"}).json()["records"][0]["id"] == r.json()["id"]
    bad = {"river_code": "WS001", "year": 2024, "manual": {"shoreline_ratio": 1}}
    r = c.post("/api/v1/quality/health", json=bad, headers=bearer(t["admin"]))
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_indicator"

    r = c.get("/api/v1/bulletins/2024-06.docx")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    doc = Document(io.BytesIO(r.content))
    assert doc.paragraphs[0].text == "万盛经开区河长制工作通报（2024-06）"
    assert c.get("/api/v1/bulletins/2024-06.xlsx").status_code == 200
    assert c.get("/api/v1/bulletins/2024-99.docx").json()["error"]["code"] == "bad_period"
    board = c.get("/api/v1/quality/dashboard", params={"period": "2024"}).json()
    # 1 July 2024: 清理河道垃圾 now done, 拆除违建 done; 整治排污口 (0% of a year-end task) behind.
    assert board["tasks"] == {"year": 2024, "total": 4, "done": 2, "overdue": 0, "behind": 1}
    assert board["sections"]["assessed_sections"] == 2 and board["sections"]["assessed_all_good"] is False
    assert board["health"]["WS001"]["score"] == r_health["score"]
    checks = c.get("/api/v1/quality/sources/checks").json()
    assert checks["count"] == 0 and checks["flags"] == []  # no protection zones yet
