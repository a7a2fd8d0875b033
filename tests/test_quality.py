"""Sections and samples: import, GB 3838 classes, compliance over a year (both settings), source zones and checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from gis_service.cli.main import app
from gis_service.db.engine import transaction
from gis_service.db.models_quality import Sample
from gis_service.settings import Settings
from tests.helpers import clear_caches


def xlsx(path: Path, rows: list[list[Any]]) -> Path:
    """Write ``rows`` (header first) as the first sheet of an .xlsx file."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def run(*args: str) -> Any:
    """Run the ``rivergis`` command; return the result."""
    return CliRunner().invoke(app, list(args))


SECTIONS = [
    ["断面编码", "断面名称", "级别", "河流编码", "水质目标", "经度", "纬度"],
    ["S1", "孝子河出境", "国控", "WS001", "Ⅲ类", 106.90, 28.95],
    ["S2", "藻渡河入境", "市控", "WS002", "II", 106.95, 28.90],
    ["W1", "城区水厂取水口", "区控", "WS003", "III", 106.91, 28.91],
    ["W2", "乡镇水厂取水口", "区控", "WS004", "III", 107.01, 29.01],
]


def monthly_series(path: Path) -> Path:
    """Twelve monthly samples of S1: 氨氮 0.4 for Jan–Jun and 1.4 for Jul–Dec; other indicators class I/II."""
    rows: list[list[Any]] = [["断面编码", "采样日期", "pH", "溶解氧", "氨氮", "总磷", "水温"]]
    for month in range(1, 13):
        nh3n = 0.4 if month <= 6 else 1.4
        rows.append(["S1", f"2024-{month:02d}-10", 7.2, 7.0, nh3n, 0.05, 18])
    return xlsx(path, rows)


@pytest.fixture
def sections(demo_without_quality: Engine, tmp_path: Path) -> Engine:
    """The demo district (its rivers, not its quality data) with the four sections imported with the CLI."""
    result = run("import", "sections", str(xlsx(tmp_path / "断面.xlsx", SECTIONS)))
    assert result.exit_code == 0, result.output
    return demo_without_quality


def test_annual_compliance_from_a_hand_made_series(sections: Engine, tmp_path: Path, monkeypatch) -> None:
    result = run("import", "samples", str(monthly_series(tmp_path / "监测.xlsx")))
    assert result.exit_code == 0, result.output
    report = json.loads(run("quality", "--period", "2024", "--json").stdout)
    # Each month: 氨氮 0.4 → II, 1.4 → IV; DO 7.0 → II; pH 7.2 → I; TP 0.05 → II.
    by_date = {s["date"]: s for s in report["samples"]}
    assert by_date["2024-03-10"]["class"] == "II"
    assert set(by_date["2024-03-10"]["deciding"]) == {"溶解氧", "氨氮", "总磷"}
    assert by_date["2024-09-10"] == {"section_code": "S1", "date": "2024-09-10", "class": "IV", "deciding": ["氨氮"]}
    s1 = next(s for s in report["sections"] if s["code"] == "S1")
    # Annual mean 氨氮 (6×0.4 + 6×1.4)/12 = 0.9 → III (0.5 < 0.9 ≤ 1.0): meets the III target.
    assert (s1["class"], s1["target"], s1["compliant"], s1["deciding"]) == ("III", "III", True, ["氨氮"])
    assert report["summary"]["assessed_all_good"] is False  # S2 (市控) has no result: not counted as good
    assert report["summary"]["assessed_sections"] == 2 and report["summary"]["assessed_good"] == 1

    # Month by month, July–December are IV: not compliant, 6 of 12 months compliant.
    monkeypatch.setenv("RIVERGIS_QUALITY_ASSESSMENT", "monthly")
    clear_caches()
    monthly = json.loads(run("quality", "--period", "2024", "--json").stdout)
    s1 = next(s for s in monthly["sections"] if s["code"] == "S1")
    assert s1["compliant"] is False and s1["compliance_rate"] == 0.5
    assert s1["months"]["2024-06"] == "II" and s1["months"]["2024-07"] == "IV"

    # One month: June alone is II.
    june = json.loads(run("quality", "--period", "2024-06", "--json").stdout)
    assert [(s["code"], s["class"], s["compliant"]) for s in june["sections"] if s["class"]] == [("S1", "II", True)]


def test_contract_shape_and_reimport_replaces(sections: Engine, tmp_path: Path) -> None:
    header = ["断面编码", "采样日期", "pH", "溶解氧", "高锰酸盐指数", "化学需氧量", "五日生化需氧量", "氨氮", "总磷"]
    rows: list[list[Any]] = [[*header, "总氮"]]
    rows.append(["S2", "2024年6月5日", 7.0, 8.0, 1.5, 10, 2.0, "0.02L", 0.01, 3.0])
    first = xlsx(tmp_path / "a.xlsx", rows)
    assert run("import", "samples", str(first)).exit_code == 0
    out = json.loads(run("quality", "--json").stdout)
    assert set(out) >= {"samples", "sections"}
    (sample,) = out["samples"]
    assert set(sample) == {"section_code", "date", "class", "deciding"}
    # 0.02L is below the detection limit 0.02: counted as 0.01 → I. 总氮 (river) is not classed. All class I.
    assert sample["class"] == "I" and "总氮" not in sample["deciding"]
    keys = {"code", "name", "level", "river_code", "target", "samples", "class", "deciding", "good", "compliant"}
    assert all(set(s) == keys for s in out["sections"])
    rows[1][7] = 2.5  # 氨氮 above V's 2.0 → 劣V; same section and day: replaces the first result
    assert run("import", "samples", str(xlsx(tmp_path / "b.xlsx", rows))).exit_code == 0
    out = json.loads(run("quality", "--json").stdout)
    assert [(s["class"], s["deciding"]) for s in out["samples"]] == [("劣V", ["氨氮"])]
    s2 = next(s for s in out["sections"] if s["code"] == "S2")
    assert (s2["class"], s2["target"], s2["compliant"]) == ("劣V", "II", False)


@pytest.mark.parametrize(
    ("rows", "code", "words"),
    [
        ([["断面编码", "采样日期", "氨氮"], ["S9", "2024-06-01", 0.3]], "unknown_section", "S9"),
        ([["断面编码", "采样日期", "氨氮"], ["S1", "2024-06-01", "很高"]], "bad_value", "第 2 行"),
        ([["断面编码", "采样日期", "氨氮"], ["S1", "六月", 0.3]], "bad_date", "第 2 行"),
        ([["断面编码", "氨氮"], ["S1", 0.3]], "missing_columns", "采样日期"),
        ([["断面编码", "采样日期", "备注"], ["S1", "2024-06-01", "x"]], "no_indicators", "氨氮"),
    ],
)
def test_bad_sample_files_are_refused_with_nothing_stored(
    sections: Engine, tmp_path: Path, rows: list[list[Any]], code: str, words: str
) -> None:
    good = xlsx(tmp_path / "ok.xlsx", [["断面编码", "采样日期", "氨氮"], ["S1", "2024-05-01", 0.3]])
    assert run("import", "samples", str(good)).exit_code == 0
    rows = [*rows, ["S1", "2024-05-01", 1.9]] if code == "unknown_section" else rows
    result = run("import", "samples", str(xlsx(tmp_path / "bad.xlsx", rows)))
    assert result.exit_code == 2
    assert code in result.stderr and words in result.stderr and "Traceback" not in result.output
    with transaction(sections) as session:
        # Only the first file's sample, unchanged (the unknown-section file also carried a new S1 May value).
        assert session.scalar(select(func.count()).select_from(Sample)) == 1
        assert session.scalar(select(Sample.values)) == {"nh3n": 0.3}


def geojson(path: Path, features: list[tuple[dict[str, Any], dict[str, Any]]]) -> Path:
    """Write a GeoJSON FeatureCollection of (properties, geometry) pairs."""
    body = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": p, "geometry": g} for p, g in features],
    }
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return path


def square(lon: float, lat: float, half: float) -> dict[str, Any]:
    """Return a GeoJSON square polygon centred on (lon, lat)."""
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def point(lon: float, lat: float) -> dict[str, Any]:
    """Return a GeoJSON point."""
    return {"type": "Point", "coordinates": [lon, lat]}


def test_source_zones_compliance_and_outfall_in_a_first_level_zone(sections: Engine, tmp_path: Path) -> None:
    zones = geojson(
        tmp_path / "保护区.geojson",
        [
            ({"编码": "Z1", "名称": "城区水厂一级", "水源地名称": "城区水厂", "级别": "一级", "类型": "城市",
              "监测断面编码": "W1"}, square(106.91, 28.91, 0.01)),
            ({"编码": "Z2", "名称": "城区水厂二级", "水源地名称": "城区水厂", "级别": "二级", "类型": "城市"},
             square(106.95, 28.91, 0.01)),
            ({"编码": "Z3", "名称": "乡镇水厂一级", "水源地名称": "乡镇水厂", "级别": "一级", "类型": "乡镇",
              "监测断面编码": "W2"}, square(107.01, 29.01, 0.01)),
        ],
    )  # fmt: skip
    result = run("import", "source_zones", str(zones))
    assert result.exit_code == 0, result.output
    outfalls = geojson(
        tmp_path / "排口.geojson",
        [
            ({"排污口编码": "O1", "排污口名称": "一级区内排口", "排口类型": "工业"}, point(106.91, 28.91)),
            ({"排污口编码": "O2", "排污口名称": "二级区内排口", "排口类型": "农业"}, point(106.95, 28.915)),
            ({"排污口编码": "O3", "排污口名称": "区外排口", "排口类型": "其他"}, point(106.80, 28.80)),
            ({"排污口编码": "O4", "排污口名称": "已销号排口", "排口类型": "工业", "状态": "已销号"},
             point(106.912, 28.912)),
        ],
    )  # fmt: skip
    assert run("import", "outfalls", str(outfalls)).exit_code == 0
    sites = geojson(
        tmp_path / "问题.geojson",
        [
            ({"编号": "P-Z1", "类别": "乱堆", "问题描述": "一级保护区内堆放"}, point(106.905, 28.905)),
            ({"编号": "P-OUT", "类别": "乱建"}, point(106.80, 28.80)),
        ],
    )
    assert run("import", "problems", str(sites)).exit_code == 0
    samples = xlsx(
        tmp_path / "水源地.xlsx",
        [
            ["断面编码", "采样日期", "氨氮", "总磷"],
            ["W1", "2024-06-01", 0.4, 0.05],  # II
            ["W1", "2024-07-01", 0.9, 0.15],  # III
            ["W2", "2024-06-01", 0.4, 0.05],  # II
            ["W2", "2024-07-01", 1.2, 0.05],  # IV: not compliant
        ],
    )
    assert run("import", "samples", str(samples)).exit_code == 0
    out = json.loads(run("sources", "--period", "2024", "--checks", "--json").stdout)
    mine = {"O1", "O2", "O3", "O4", "P-Z1", "P-OUT"}  # only ours are asserted (the demo's lie elsewhere)
    flags = [(f["code"], f["zone_code"], f["severity"]) for f in out["checks"]["flags"] if f["code"] in mine]
    # O1 in the 一级 zone: red; O2 in the 二级 zone: orange; the site P-Z1 in the 一级 zone: orange;
    # O3 and P-OUT outside, O4 closed: not flagged.
    assert flags == [("O1", "Z1", "red"), ("O2", "Z2", "orange"), ("P-Z1", "Z1", "orange")]
    by_type = out["compliance"]["by_type"]
    # Urban: W1 2 of 2 samples ≤ III → 100% (target 100%). Township: W2 1 of 2 → 50% (< 93%).
    assert (by_type["urban"]["rate"], by_type["urban"]["meets_target"]) == (1.0, True)
    assert (by_type["township"]["rate"], by_type["township"]["meets_target"]) == (0.5, False)
    assert by_type["township"]["sources"] == 1 and by_type["township"]["compliant_sources"] == 0
    urban = next(s for s in out["compliance"]["sources"] if s["name"] == "城区水厂")
    assert sorted(urban["zones"]) == ["Z1", "Z2"] and urban["section_code"] == "W1"
    # The outfall register's own checks carry the same finding.
    from gis_service.ledger.outfall_reports import list_outfalls

    with transaction(sections) as session:
        register = list_outfalls(session, settings=Settings()).set_index("code")["flags"]
    assert register["O1"] == ["in_source_zone_first"] and register["O2"] == ["in_source_zone"]
    assert register["O3"] == [] and register["O4"] == []


def test_migration_0009_downgrades_and_upgrades_again(engine: Engine) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from gis_service.db.schema import alembic_config, current_revision, head_revision, upgrade

    ours = {"sections", "samples", "source_zones", "river_tasks", "river_task_progress", "river_health"}
    assert ours <= set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
    assert not ours & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert ours <= set(inspect(engine).get_table_names())


@pytest.mark.parametrize("module", ["gis_service.db.models_quality", "gis_service.quality.samples"])
def test_quality_modules_import_first_in_a_fresh_interpreter(module: str) -> None:
    import subprocess
    import sys

    code = f"import {module}; from gis_service.db.models import LAYER_MODELS; print(sorted(LAYER_MODELS))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "'sections'" in done.stdout and "'source_zones'" in done.stdout
