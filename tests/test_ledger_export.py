"""The ledger and outfall register workbooks, read back with openpyxl, and the ledger CLI."""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import pytest
from openpyxl import load_workbook
from shapely import Point
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gis_service.catalogue import bundled_catalogue
from gis_service.cli.main import app
from gis_service.clock import BusinessClock
from gis_service.export.files import write_layer
from gis_service.export.ledger import write_problem_ledger
from gis_service.settings import Settings
from tests.test_ledger_world import world_engine  # noqa: F401

runner = CliRunner()


def ledger_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": [1, 2],
            "code": ["WT001", "WT002"],
            "category": ["dumping", "flood_obstruction"],
            "description": ["河滩堆放建筑垃圾", "=cmd|' /C calc'!A0"],
            "river_code": ["R1", None],
            "town": ["万盛街道", None],
            "inside_range": [True, False],
            "found_date": [dt.date(2025, 3, 1), dt.date(2025, 3, 2)],
            "source": ["patrol", "remote_sensing"],
            "status": ["assigned", "closed"],
            "deadline": [dt.date(2025, 4, 30), dt.date(2025, 3, 20)],
            "responsible_unit": ["万盛街道办事处", "南桐镇"],
            "measures": ["清运", None],
            "closed_date": [None, dt.date(2025, 3, 18)],
        },
        geometry=[Point(106.85, 28.9002), Point(106.95, 28.9003)],
        crs="EPSG:4490",
    )


def test_ledger_workbook_has_the_offices_headers_labels_dates_and_overdue(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "台账.xlsx"
    write_problem_ledger(
        ledger_frame(), bundled_catalogue()["problems"], path, today=dt.date(2025, 5, 10), names={"R1": "河一"}
    )
    book = load_workbook(path)
    sheet = book["问题台账"]
    header = [c.value for c in sheet[1]]
    assert header[:15] == [
        "序号",
        "编号",
        "类别",
        "问题描述",
        "河流",
        "镇街",
        "是否在管理范围内",
        "发现日期",
        "来源",
        "状态",
        "整改时限",
        "责任单位",
        "整改措施",
        "销号日期",
        "是否超期",
    ]
    first = {h: c.value for h, c in zip(header, sheet[2], strict=True)}
    assert first["类别"] == "乱堆" and first["河流"] == "河一（R1）" and first["状态"] == "已交办"
    assert first["来源"] == "巡河" and first["是否在管理范围内"] == "是"
    assert first["整改时限"] == dt.datetime(2025, 4, 30) and sheet["K2"].number_format == "yyyy-mm-dd"
    # 2025-04-30 < 2025-05-10 and still assigned: overdue, shown in red.
    assert first["是否超期"] == "是" and sheet["A2"].font.color.rgb.endswith("C00000")
    second = {h: c.value for h, c in zip(header, sheet[3], strict=True)}
    assert second["类别"] == "妨碍河道行洪" and second["是否超期"] == "否"  # closed is never overdue
    assert second["销号日期"] == dt.datetime(2025, 3, 18) and second["来源"] == "遥感图斑"
    assert second["问题描述"] == "=cmd|' /C calc'!A0" and sheet["D3"].data_type == "s"  # text, not a formula
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    summary = book["按镇街汇总"]
    rows = {r[0]: r for r in summary.iter_rows(min_row=2, values_only=True)}
    assert rows["万盛街道"][1] == 1 and rows["未判定"][-1] == 1.0  # 1 closed of 1 counted: 100%, a number
    assert summary.cell(2, summary.max_column).number_format == "0.0%"


def test_export_command_writes_the_ledger_and_register_workbooks(world_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: E501, F811
    from gis_service.db.engine import transaction
    from gis_service.ledger import outfalls, service

    with transaction(world_engine) as session:
        service.report_sites(
            session,
            service.site_frame(bundled_catalogue()["problems"], Point(106.85, 28.9002), {"category": "乱建"}),
            actor="t",
            settings=Settings(),
            clock=BusinessClock(),
        )
        outfalls.register_outfalls(
            session,
            outfalls.outfall_frame(
                bundled_catalogue()["outfalls"],
                Point(106.85, 28.9006),
                {"code": "PK1", "name": "一号排口", "outfall_type": "工业"},
            ),
            actor="t",
            settings=Settings(),
            clock=BusinessClock(),
        )
    out = tmp_path / "problems.xlsx"
    result = runner.invoke(app, ["export", "problems", "-o", str(out)])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out)["问题台账"]
    assert sheet["C2"].value == "乱建" and sheet["E2"].value == "河一（R1）" and sheet["F2"].value == "万盛街道"
    out = tmp_path / "outfalls.xlsx"
    result = runner.invoke(app, ["export", "outfalls", "-o", str(out)])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out)["入河排污口名录"]
    assert [c.value for c in sheet[1]][:6] == ["序号", "排污口编码", "排污口名称", "受纳河流", "排口类型", "状态"]
    assert sheet["E2"].value == "工业排污口" and sheet["D2"].value == "河一（R1）"
    assert sheet["J2"].value == "位于岸线保护区岸段"  # on R1's protected left bank
    # The plain formats still work for these layers.
    assert runner.invoke(app, ["export", "problems", "-o", str(tmp_path / "p.geojson")]).exit_code == 0
    assert json.loads((tmp_path / "p.geojson").read_text())["features"][0]["properties"]["town"] == "万盛街道"


def test_ledger_cli_transition_overdue_stats_history(world_engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from gis_service.db.engine import transaction
    from gis_service.ledger import service

    with transaction(world_engine) as session:
        pid = service.report_new(
            session,
            service.site_frame(bundled_catalogue()["problems"], Point(106.85, 28.9002), {"category": "mining"}),
            actor="t",
            settings=Settings(),
            clock=BusinessClock(),
        )[0]
    assert runner.invoke(app, ["problems", "transition", str(pid), "confirm"]).exit_code == 0
    future = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    result = runner.invoke(
        app,
        [
            "problems",
            "transition",
            str(pid),
            "assign",
            "--set",
            f"deadline={future}",
            "--set",
            "responsible_unit=万盛街道办事处",
            "--version",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["problems", "transition", str(pid), "close", "--set", "verifier=x"])
    assert result.exit_code == 2 and "invalid_transition" in result.output
    later = (dt.date.today() + dt.timedelta(days=15)).isoformat()
    result = runner.invoke(app, ["problems", "overdue", "--as-of", later, "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["count"] == 1
    result = runner.invoke(app, ["problems", "stats", "--by", "town", "--json"])
    assert json.loads(result.output)["groups"][0]["key"] == "万盛街道"
    result = runner.invoke(app, ["problems", "history", str(pid), "--json"])
    assert [e["action"] for e in json.loads(result.output)] == ["report", "confirm", "assign"]


def test_write_layer_uses_the_workbook_hook(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write_layer(ledger_frame(), bundled_catalogue()["problems"], tmp_path / "x.xlsx")
    assert load_workbook(path).sheetnames == ["问题台账", "按镇街汇总"]


def test_a_failing_database_stops_the_workbook_rather_than_leaving_names_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Before: the river names were read on a global engine and any error gave a workbook of bare codes.
    broken = Session(create_engine("sqlite://"))  # an empty database: reading the rivers fails
    with pytest.raises(OperationalError):
        write_layer(
            ledger_frame(), bundled_catalogue()["problems"], tmp_path / "x.xlsx", session=broken, settings=Settings()
        )
    assert not (tmp_path / "x.xlsx").exists()
