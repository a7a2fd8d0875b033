"""一河一策 tasks: import, overdue and behind schedule, progress reports, roll-ups by river, unit and town."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from gis_service.catalogue import bundled_catalogue
from gis_service.clock import BusinessClock
from gis_service.db.engine import transaction
from gis_service.quality.tasks import list_tasks, report_progress, rollup, task_history
from tests.test_quality import run, xlsx

HEADER = ["河流编码", "年度", "任务", "措施", "责任单位", "时限", "目标值", "单位", "镇街", "进度"]
TASKS = [
    ["WS001", 2024, "清理河道垃圾", "人工清理", "南桐镇人民政府", "2024-03-31", 10, "km", None, None],
    ["WS001", 2024, "整治排污口", "封堵", "生态环境局", "2024-12-31", 5, "个", None, None],
    ["WS002", 2024, "生态护岸", "新建护岸", "生态环境局", "2024-12-31", 2, "km", "黑山镇", 60],
    ["WS002", 2024, "拆除违建", "拆除", "南桐镇人民政府", "2024-06-30", 3, "处", None, 100],
]
# Noon of 1 July 2024 in Chongqing.
JULY = BusinessClock.at(dt.datetime(2024, 7, 1, 4, 0))


@pytest.mark.usefixtures("demo_without_quality")
def test_rollups_by_river_unit_and_town(demo_engine: Engine, tmp_path: Path) -> None:
    result = run("import", "tasks", str(xlsx(tmp_path / "一河一策.xlsx", [HEADER, *TASKS])))
    assert result.exit_code == 0, result.output
    with transaction(demo_engine) as session:
        items = {t["task"]: t for t in list_tasks(session, JULY)}
        # 1 July: 182 of the 365 days from 1 January to 31 December gone → 49.9% expected.
        assert items["清理河道垃圾"]["overdue"] and not items["清理河道垃圾"]["behind"]
        assert items["整治排污口"]["expected_progress"] == 49.9 and items["整治排污口"]["behind"]
        assert not items["生态护岸"]["behind"] and not items["生态护岸"]["overdue"]  # 60 + 10 ≥ 49.9
        assert items["拆除违建"]["done"] and not items["拆除违建"]["overdue"]
        by_river = {g["key"]: g for g in rollup(session, bundled_catalogue(), JULY, "river")["groups"]}
        assert by_river["WS001"] == {
            "key": "WS001", "tasks": 2, "done": 0, "overdue": 1, "behind": 1, "mean_progress": 0.0
        }  # fmt: skip
        assert by_river["WS002"] == {
            "key": "WS002", "tasks": 2, "done": 1, "overdue": 0, "behind": 0, "mean_progress": 80.0
        }  # fmt: skip
        by_unit = {g["key"]: g for g in rollup(session, bundled_catalogue(), JULY, "unit")["groups"]}
        assert (by_unit["南桐镇人民政府"]["tasks"], by_unit["南桐镇人民政府"]["done"]) == (2, 1)
        assert by_unit["南桐镇人民政府"]["overdue"] == 1 and by_unit["南桐镇人民政府"]["mean_progress"] == 50.0
        assert (by_unit["生态环境局"]["behind"], by_unit["生态环境局"]["mean_progress"]) == (1, 30.0)
        # Towns: a task's own 镇街, else each town of its river (demo: WS001 青年镇, 万盛街道, 南桐镇;
        # WS002 黑山镇, 万东镇, 南桐镇). 南桐镇: both WS001 tasks and 拆除违建 → 3; 黑山镇: 生态护岸 and 拆除违建.
        by_town = {g["key"]: g for g in rollup(session, bundled_catalogue(), JULY, "town")["groups"]}
        assert {k: g["tasks"] for k, g in by_town.items()} == {
            "南桐镇": 3, "黑山镇": 2, "万东镇": 1, "青年镇": 2, "万盛街道": 2
        }  # fmt: skip
        assert (by_town["南桐镇"]["overdue"], by_town["南桐镇"]["behind"], by_town["南桐镇"]["done"]) == (1, 1, 1)


@pytest.mark.usefixtures("demo_without_quality")
def test_progress_reports_and_overdue_list(demo_engine: Engine, tmp_path: Path) -> None:
    rows = [HEADER, *TASKS, ["WS003", 2099, "远期任务", None, "水利局", "2099-12-31", None, None, None, None]]
    assert run("import", "tasks", str(xlsx(tmp_path / "t.xlsx", rows))).exit_code == 0
    with transaction(demo_engine) as session:
        task_id = next(t["id"] for t in list_tasks(session, JULY) if t["task"] == "整治排污口")
        # 4 of the target 5 outfalls → 80%; an older report filed later stays in the history only.
        report_progress(session, task_id, reported_on=dt.date(2024, 6, 20), value=4, actor="t")
        report_progress(session, task_id, reported_on=dt.date(2024, 5, 1), percent=30, note="补报", actor="t")
        item = next(t for t in list_tasks(session, JULY) if t["id"] == task_id)
        assert item["progress"] == 80.0 and not item["behind"]
        assert [h["percent"] for h in task_history(session, task_id)] == [30.0, 80.0]
    out = json.loads(run("tasks", "list", "--overdue", "--json").stdout)
    # Today (2026 or later) every 2024 task not at 100% is overdue; the 2099 task is not.
    assert sorted(t["task"] for t in out["tasks"]) == ["整治排污口", "清理河道垃圾", "生态护岸"]
    assert set(out["tasks"][0]) >= {"id", "river_code", "task", "responsible_unit", "deadline", "progress", "overdue"}
    assert all(t["overdue"] is True for t in out["tasks"])
    # Re-importing the same list updates the tasks in place (no duplicates).
    again = run("import", "tasks", str(xlsx(tmp_path / "t.xlsx", rows)), "--json")
    assert json.loads(again.stdout)["updated"] == 5
    listed = json.loads(run("tasks", "list", "--json").stdout)["tasks"]
    assert len(listed) == 5 and next(t for t in listed if t["id"] == task_id)["progress"] == 80.0


@pytest.mark.usefixtures("demo_without_quality")
def test_bad_task_files_are_refused(demo_engine: Engine, tmp_path: Path) -> None:
    bad_river = xlsx(tmp_path / "a.xlsx", [HEADER, ["XX999", *TASKS[0][1:]]])
    result = run("import", "tasks", str(bad_river))
    assert result.exit_code == 2 and "unknown_river" in result.stderr and "XX999" in result.stderr
    header = [h for h in HEADER if h != "时限"]
    no_deadline = xlsx(tmp_path / "b.xlsx", [header, ["WS001", 2024, "x", "y", "z", 1, "km"]])
    result = run("import", "tasks", str(no_deadline))
    assert result.exit_code == 2 and "missing_columns" in result.stderr and "时限" in result.stderr
    assert json.loads(run("tasks", "list", "--json").stdout) == {"tasks": []}


@pytest.mark.usefixtures("demo_without_quality")
def test_tasks_link_to_layer_features(demo_engine: Engine, tmp_path: Path) -> None:
    header = [*HEADER, "关联图层", "关联编码"]
    rows = [header, [*TASKS[1], "入河排污口", "WS001-CZ01"], [*TASKS[0], None, None]]
    assert run("import", "tasks", str(xlsx(tmp_path / "l.xlsx", rows))).exit_code == 0
    links = {t["task"]: t["link"] for t in json.loads(run("tasks", "list", "--json").stdout)["tasks"]}
    assert links == {"整治排污口": {"layer": "outfalls", "code": "WS001-CZ01"}, "清理河道垃圾": None}
    bad = run("import", "tasks", str(xlsx(tmp_path / "x.xlsx", [header, [*TASKS[1], "水文站", "A1"]])))
    assert bad.exit_code == 2 and "bad_link_layer" in bad.stderr and "第 2 行" in bad.stderr
