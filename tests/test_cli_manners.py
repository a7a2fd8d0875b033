"""CLI manners: whole tables off a terminal, 不达标 with its reason, `rivers list`, one GBK name, usage errors,
a small command loading only what it uses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.test_import_fixtures import cli, run
from tests.test_import_formats import gbk_shapefile


def test_ratio_table_is_whole_off_a_terminal_and_says_why_a_river_fails(demo_engine: Engine) -> None:
    result = run("ratios")  # CliRunner: stdout is not a terminal, as in a pipe
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("│ WS")}
    figures = json.loads(run("ratios", "--format", "json").stdout)["rivers"]
    assert len(rows) == len(figures) > 0
    for river in figures:
        row = rows[river["code"]]
        assert "…" not in row
        if river["compliant"]:
            assert "达标" in row and "不达标" not in row
            continue
        reasons = []
        if river["ratio"] < 0.5:
            reasons.append(f"保护区+保留区 {river['ratio']:.1%} < 50%")
        gaps = sum(bank["gaps_m"] for bank in river["banks"].values())
        if gaps > 0:
            reasons.append("空缺")
        assert "不达标（" in row
        for reason in reasons:
            assert reason in row, row
    assert max(len(line) for line in result.stdout.splitlines()) > 80  # wider than rich's default for pipes


def test_rivers_list_and_the_ratio_error_that_points_to_it(demo_engine: Engine) -> None:
    listed = run("rivers", "list")
    assert listed.exit_code == 0, listed.output
    assert "WS001" in listed.stdout and "孝子河" in listed.stdout
    data = json.loads(run("rivers", "list", "--json").stdout)
    assert [r["code"] for r in data["rivers"]][:2] == ["WS001", "WS002"]
    missing = run("ratios", "--river", "NOPE")
    assert missing.exit_code == 2
    assert "rivergis rivers list" in missing.output


def test_a_small_command_loads_no_migrations_workbooks_or_copy_driver(demo_engine: Engine) -> None:
    """`rivergis ratios --river` checks the schema without Alembic, writes no workbook and copies nothing (issue 16)."""
    probe = (
        "import sys\n"
        "from gis_service.cli.main import app\n"
        "try:\n"
        "    app(['ratios', '--river', 'WS001'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "names = ('alembic', 'mako', 'openpyxl', 'psycopg')\n"
        "print('LOADED', ','.join(sorted(m for m in names if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert "WS001" in done.stdout
    # PostGIS's driver is psycopg itself; a SpatiaLite run needs it not.
    expected = "LOADED psycopg\n" if demo_engine.dialect.name == "postgresql" else "LOADED \n"
    assert expected in done.stdout, done.stdout[-300:]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ratios", "--nope"], "没有选项 --nope"),
        (["export", "rivers"], "缺少选项 -o / --output"),
        (["import"], "缺少参数 LAYER"),
        (["deliveries", "approve", "abc"], "DELIVERY_IDS 的值无效：应为整数"),
        (["ratios", "surplus"], "多余的参数：surplus"),
        (["frobnicate"], "没有命令 frobnicate"),
    ],
)
def test_usage_errors_are_in_chinese(args: list[str], words: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert words in result.output
    assert "[usage_error]" in result.output and "--help" in result.output
    assert "Usage:" not in result.output and "No such" not in result.output


def test_report_names_the_gbk_codec_once(engine: Engine, tmp_path: Path) -> None:
    exit_code, body = cli("import", "rivers", str(gbk_shapefile(tmp_path / "a", cpg=True)))
    assert exit_code == 0, body
    encoding = body["source"]["encoding"]
    # The .cpg says CP936 (GBK); the text is decoded as GB18030, and the note says both the same way.
    assert encoding["encoding"] == "GB18030"
    assert "GB18030（兼容 GBK）" in encoding["note"]
