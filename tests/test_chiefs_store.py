"""The chiefs' work on both backends: roster import (and its refusals), handovers, boards to update, patrols."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from gis_service.chiefs.patrols import overdue_reaches
from gis_service.chiefs.rules import PatrolRules
from gis_service.cli.main import app
from gis_service.clock import BusinessClock
from gis_service.db.engine import transaction
from gis_service.db.models_chiefs import Chief, ChiefAssignment, Signboard
from tests.chiefs_world import ROSTER, r1_length, write_gpx, write_roster
from tests.test_ledger_world import world_engine  # noqa: F401 - fixture


def run(*args: str) -> tuple[int, str]:
    """Run ``rivergis`` and return its exit code and output."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def roster_engine(world_engine, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    """The hand-made district with the roster of :data:`tests.chiefs_world.ROSTER` imported."""
    code, out = run("import", "chiefs", str(write_roster(tmp_path / "名录.xlsx", ROSTER)))
    assert code == 0, out
    return world_engine


def test_roster_import_stores_every_reach_and_the_river_is_fully_covered(roster_engine, tmp_path) -> None:
    code, out = run("chiefs", "list", "--river", "R1", "--json")
    assert code == 0, out
    rows = json.loads(out)["assignments"]
    assert [(r["level"], r["chief"], r["start"]) for r in rows] == [
        ("district", "邓区长", "K0+000"),
        ("town", "孙镇长", "K0+000"),
        ("town", "吴镇长", "K8+000"),
        ("village", "甲村长", "K0+000"),
        ("village", "王村长", "K1+000"),
        ("village", "丙村长", "K3+000"),
        ("village", "丁村长", "K8+000"),
    ]
    # A blank end chainage is the river's mouth: R1 is 15 597 m by pyproj.
    assert rows[0]["end_m"] == pytest.approx(r1_length(), abs=0.2)
    assert rows[4]["phone"] == "13800000005"
    code, out = run("chiefs", "coverage", "--json")
    report = json.loads(out)
    assert code == 0 and report["complete"], out
    assert [r["code"] for r in report["rivers"]] == ["R1"]  # R2 is neither important nor has chiefs
    # Importing the same roster again changes nothing.
    assert run("import", "chiefs", "--json", str(write_roster(tmp_path / "again.xlsx", ROSTER)))[0] == 0
    with transaction(roster_engine) as session:
        assert session.execute(select(func.count()).select_from(ChiefAssignment)).scalar_one() == 7
        assert session.execute(select(func.count()).select_from(Chief)).scalar_one() == 7


def test_a_bad_row_refuses_the_roster_with_a_report_and_stores_nothing(world_engine, tmp_path) -> None:  # noqa: F811
    rows = [
        ROSTER[0],
        ["R9", None, "K0+000", "K1+000", "错河长", "村支书", "村级", None, "2025-01-01"],
        ["R1", None, "K3+000", "K1+000", "倒桩号", "村支书", "村级", None, "2025-01-01"],
        ["R1", None, "K0+000", "K99+000", "超长", "村支书", "村级", None, "2025-01-01"],
        ["R1", None, "K0+000", "K1+000", "无级别", "村支书", "省级", None, "2025-01-01"],
        ["R1", None, "一公里", "K1+000", "乱桩号", "村支书", "村级", None, "2025/13/01"],
    ]
    code, out = run("import", "chiefs", str(write_roster(tmp_path / "坏名录.xlsx", rows)))
    assert code == 2, out
    assert "roster_rejected" in out and "5 行有误" in out
    for text in (
        "R9",
        "终点桩号须大于起点桩号",
        "超出河流 R1 的长度",
        "级别无法识别",
        "起点桩号无法识别",
        "任职日期无法识别",
    ):
        assert text in out, text
    code, out = run("import", "chiefs", "--json", str(tmp_path / "坏名录.xlsx"))
    problems = json.loads(out)["error"]["details"]["problems"]
    assert code == 2 and sorted({p["row"] for p in problems}) == [4, 5, 6, 7, 8]  # Excel rows (title, header first)
    with transaction(world_engine) as session:
        assert session.execute(select(func.count()).select_from(ChiefAssignment)).scalar_one() == 0
    good = write_roster(tmp_path / "名录.xlsx", ROSTER)
    code, out = run("import", "chiefs", "--dry-run", "--json", str(good))
    assert code == 0 and json.loads(out) == {"rows": 7, "stored": False}
    not_excel = tmp_path / "名录2.xlsx"
    not_excel.write_text("河流编码,河长姓名\nR1,某\n", encoding="utf-8")
    code, out = run("import", "chiefs", str(not_excel))
    assert code == 2 and "bad_roster_file" in out and "另存为 .xlsx" in out
    with transaction(world_engine) as session:
        assert session.execute(select(func.count()).select_from(ChiefAssignment)).scalar_one() == 0
    missing = write_roster(tmp_path / "无表头.xlsx", [["R1"]], header=["河流编码", "职务"])
    code, out = run("import", "chiefs", str(missing))
    assert code == 2 and "roster_header_missing" in out


def test_a_village_gap_and_an_overlap_are_reported_like_zone_gaps(world_engine, tmp_path) -> None:  # noqa: F811
    # 丙村长 starts at K3+500 instead of K3+000 (a 500 m gap); 戊村长 shares K7–K9 with 丙 and 丁
    # (two villages on opposite banks, say): rows of one roster never end each other, so both stay.
    rows = [r for r in ROSTER if r[4] != "丙村长"] + [
        ["R1", None, "K3+500", "K8+000", "丙村长", "村支书", "村级", None, "2025-01-01"],
        ["R1", None, "K7+000", "K9+000", "戊村长", "村支书", "村级", None, "2025-01-01"],
    ]
    assert run("import", "chiefs", str(write_roster(tmp_path / "缺.xlsx", rows)))[0] == 0
    code, out = run("chiefs", "coverage", "--json")
    assert code == 1
    levels = {lv["level"]: lv for lv in json.loads(out)["rivers"][0]["levels"]}
    assert levels["village"]["gaps"] == [
        {"start_m": 3000.0, "end_m": 3500.0, "start": "K3+000", "end": "K3+500", "length_m": 500.0}
    ]
    assert [(o["start"], o["end"]) for o in levels["village"]["overlaps"]] == [
        ("K7+000", "K8+000"),
        ("K8+000", "K9+000"),
    ]
    assert levels["district"]["gaps"] == levels["town"]["gaps"] == [] and levels["town"]["overlaps"] == []


def test_a_chief_change_flags_exactly_the_boards_that_name_the_old_chief(roster_engine, tmp_path) -> None:
    assert run("signboards", "generate")[0] == 0
    code, out = run("signboards", "list", "--json")
    boards = json.loads(out)["signboards"]
    # One board a village reach, naming every chief whose reach shares it.
    assert [(b["code"], b["chiefs"], b["status"]) for b in boards] == [
        ("R1-GS001", "邓区长、孙镇长、甲村长", "current"),
        ("R1-GS002", "邓区长、孙镇长、王村长", "current"),
        ("R1-GS003", "邓区长、孙镇长、丙村长", "current"),
        ("R1-GS004", "邓区长、吴镇长、丁村长", "current"),
    ]
    assert "镇街级河长：孙镇长（万盛街道党工委书记）" in boards[0]["text"] and "13800000002" not in boards[0]["text"]
    # 孙镇长 hands K0–K8 over to 赵镇长: the three boards naming 孙镇长 are to be updated, not the fourth.
    handover = [["R1", None, "K0+000", "K8+000", "赵镇长", "万盛街道党工委书记", "镇街级", "13800000009", "2025-06-01"]]
    code, out = run("import", "chiefs", str(write_roster(tmp_path / "交接.xlsx", handover)))
    assert code == 0 and "待更新公示牌 3 块" in out, out
    code, out = run("signboards", "list", "--outdated", "--json")
    assert [b["code"] for b in json.loads(out)["signboards"]] == ["R1-GS001", "R1-GS002", "R1-GS003"]
    # History: on 2025-05-31 孙镇长 answered for K0–K8, from 2025-06-01 赵镇长.
    before = json.loads(run("chiefs", "list", "--river", "R1", "--on", "2025-05-31", "--json")[1])["assignments"]
    after = json.loads(run("chiefs", "list", "--river", "R1", "--on", "2025-06-01", "--json")[1])["assignments"]
    assert "孙镇长" in {a["chief"] for a in before} and "赵镇长" not in {a["chief"] for a in before}
    assert "赵镇长" in {a["chief"] for a in after} and "孙镇长" not in {a["chief"] for a in after}
    # The board put up anew carries the new chief and is current again.
    with transaction(roster_engine) as session:
        first = session.execute(select(Signboard.id).where(Signboard.code == "R1-GS001")).scalar_one()
    assert run("signboards", "updated", str(first))[0] == 0
    code, out = run("signboards", "list", "--outdated", "--json")
    assert [b["code"] for b in json.loads(out)["signboards"]] == ["R1-GS002", "R1-GS003"]
    out_file = tmp_path / "待更新.xlsx"
    assert run("signboards", "export", "-o", str(out_file), "--docx", str(tmp_path / "版面"))[0] == 0
    import docx

    layouts = sorted(p.name for p in (tmp_path / "版面").glob("*.docx"))
    assert layouts == ["R1-GS002.docx", "R1-GS003.docx"]
    table = docx.Document(str(tmp_path / "版面" / "R1-GS002.docx")).tables[0]
    rows = {r.cells[0].text: r.cells[1].text for r in table.rows}
    assert rows["河段"] == "K1+000—K3+000" and rows["镇街级河长"] == "赵镇长（万盛街道党工委书记）"
    from openpyxl import load_workbook

    sheet = load_workbook(out_file).active
    assert sheet is not None
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == ["R1-GS002", "R1-GS003"]
    assert "镇街级河长：赵镇长" in str(sheet.cell(row=2, column=7).value)
    assert "镇街级河长：孙镇长" in str(sheet.cell(row=2, column=8).value)


def test_a_chief_uploads_a_gpx_patrol_and_sees_its_coverage(roster_engine, tmp_path) -> None:
    # 王村长's reach is K1+000–K3+000; the track runs 20 m off the centerline from 500 to 2500 m:
    # length 2000 m, 1600 s, coverage (2545.8 − 1000) / 2000 = 0.7729 (worked out in test_chiefs_pure).
    start = dt.datetime(2025, 3, 10, 1, 0, tzinfo=dt.UTC)
    track = write_gpx(tmp_path / "王村长.gpx", 500, 2500, north_m=20, step_m=50, step_s=40, start=start)
    code, out = run("patrols", "add", str(track), "--chief", "王村长", "--river", "R1", "--json")
    assert code == 0, out
    patrol = json.loads(out)
    assert set(patrol) >= {"id", "chief", "river_code", "length_m", "duration_s", "coverage"}
    assert patrol["chief"] == "王村长" and patrol["river_code"] == "R1"
    assert patrol["length_m"] == pytest.approx(2000, rel=0.01)
    assert patrol["duration_s"] == 1600
    assert patrol["coverage"] == pytest.approx(1545.8 / 2000, rel=0.01)
    # Without --river the chief's one river is taken; the district chief's reach is the whole river,
    # covered from 500 − 45.8 to 2500 + 45.8: 2091.7 m of 15 597 m.
    code, out = run("patrols", "add", str(track), "--chief", "邓区长", "--json")
    assert code == 0 and json.loads(out)["coverage"] == pytest.approx(2091.7 / r1_length(), rel=0.01)
    code, out = run("patrols", "add", str(track), "--chief", "无此人", "--json")
    assert code == 2 and "chief_not_found" in out
    code, out = run("patrols", "add", str(track), "--chief", "丁村长", "--json")
    assert code == 0 and json.loads(out)["coverage"] == 0.0  # 丁村长's reach (K8 on) is far from this track
    code, out = run("patrols", "add", str(track), "--chief", "王村长", "--river", "R2")
    assert code == 2 and "no_reach" in out
    # Overdue on a frozen calendar: a village chief patrols every 7 days. 王村长 patrolled 03-10
    # (China time); 20:00 UTC on 03-17 is 03-18 in China: one day overdue. 甲村长 never patrolled.
    with transaction(roster_engine) as session:
        evening = BusinessClock.at(dt.datetime(2025, 3, 17, 20)).today()
        late = {r["chief"]: r for r in overdue_reaches(session, evening, PatrolRules())}
        on_time = {r["chief"] for r in overdue_reaches(session, dt.date(2025, 3, 17), PatrolRules())}
    assert late["王村长"]["days_overdue"] == 1 and late["王村长"]["last_patrol"] == "2025-03-10"
    assert "王村长" not in on_time and "甲村长" in on_time


def test_migration_0008_goes_down_to_0004_and_back(engine) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from gis_service.db.schema import alembic_config, current_revision, head_revision, upgrade

    tables = {"chiefs", "chief_assignments", "signboards", "patrols", "public_reports"}
    assert tables <= set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
    assert not tables & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert tables <= set(inspect(engine).get_table_names()) and current_revision(engine) == head_revision()


def test_the_demo_has_a_roster_boards_and_a_season_of_patrols(demo_engine) -> None:
    from openpyxl import load_workbook

    from gis_service.resources import data_path

    folder = data_path("shapefiles")
    sheet = load_workbook(folder / "河长名录.xlsx").active
    assert sheet is not None
    rows = [r for r in sheet.iter_rows(min_row=3, values_only=True) if r[0]]
    gpx_files = sorted((folder / "patrols").glob("*.gpx"))
    code, out = run("chiefs", "coverage", "--json")
    assert code == 0 and json.loads(out)["complete"], out
    assert len(json.loads(run("chiefs", "list", "--json")[1])["assignments"]) == len(rows)
    patrols = json.loads(run("patrols", "list", "--json")[1])["patrols"]
    assert len(patrols) == len(gpx_files) >= 12
    assert all(0.5 < p["coverage"] <= 1.0 and p["duration_s"] > 0 for p in patrols)
    boards = json.loads(run("signboards", "list", "--json")[1])["signboards"]
    villages = sum(1 for r in rows if r[5] == "村级")
    assert len(boards) == villages and {b["status"] for b in boards} == {"current"}
