"""`rivergis ratios` and `/api/v1/ratios` on the demo dataset: JSON shape, exports, and what the office reads.

The demo has six rivers; 清溪河 (WS003) has a 300 m gap on its left bank, 养生河 (WS005) an overlap
on its right bank, and 藻渡河 (WS002) and 丛林河 (WS004) stay under 50 %.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from gis_service.catalogue import bundled_catalogue
from gis_service.cli.main import app

ZONES = ("protected", "reserved", "controlled", "developed")
BANK_KEYS = {"length_m", "zones_m", "ratio", "gaps_m", "overlaps_m"}


def check_shape(body: dict) -> None:
    """The JSON shape fixed in SPEC.md."""
    assert set(body["total"]) == {"rivers", "length_m", "ratio", "compliant"}
    for river in body["rivers"]:
        assert set(river) == {"code", "name", "important", "length_m", "ratio", "compliant", "banks"}
        assert set(river["banks"]) == {"left", "right"}
        for bank in river["banks"].values():
            assert set(bank) == BANK_KEYS and set(bank["zones_m"]) == set(ZONES)


def by_code(body: dict) -> dict[str, dict]:
    return {r["code"]: r for r in body["rivers"]}


def test_cli_ratios_json_on_the_demo(demo_engine: Engine) -> None:
    result = CliRunner().invoke(app, ["ratios", "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    check_shape(body)
    rivers = by_code(body)
    assert len(rivers) == 6 and body["total"]["rivers"] == 6
    # The gap and the overlap the demo was built with (DEMO README): about 300 m and 200 m.
    assert rivers["WS003"]["banks"]["left"]["gaps_m"] == pytest.approx(300, abs=5)
    assert rivers["WS005"]["banks"]["right"]["overlaps_m"] == pytest.approx(200, abs=5)
    assert not rivers["WS003"]["compliant"] and not rivers["WS005"]["compliant"]
    assert rivers["WS002"]["ratio"] < 0.5 and not rivers["WS002"]["compliant"]
    assert rivers["WS001"]["compliant"] is True
    # Bank lengths add up to the river, and the river ratio is the length-weighted bank ratio.
    for r in body["rivers"]:
        banks = r["banks"].values()
        assert r["length_m"] == pytest.approx(sum(b["length_m"] for b in banks), abs=0.02)
        pr = sum(b["zones_m"]["protected"] + b["zones_m"]["reserved"] for b in banks)
        if any(b["overlaps_m"] for b in banks):
            # WS005's protected and reserved stretches overlap: the ratio counts that 197 m once.
            assert r["ratio"] < pr / r["length_m"]
        else:
            assert r["ratio"] == pytest.approx(pr / r["length_m"], abs=2e-4)
    assert len(body["towns"]) == 10
    important = json.loads(CliRunner().invoke(app, ["ratios", "--format", "json", "--important-only"]).stdout)
    assert all(r["important"] for r in important["rivers"]) and important["total"]["rivers"] == 4


def test_cli_ratios_chainage_matches_the_delivered_chainage(demo_engine: Engine) -> None:
    from gis_service.analysis.shoreline.ratios import RatioRules
    from gis_service.store.features import read_features
    from gis_service.store.ratios import current_report

    with demo_engine.connect() as conn:
        zones = read_features(conn, "zones").set_index("code")
        report = current_report(conn, bundled_catalogue(), RatioRules())
    s = report.stretches.set_index("code")

    # The surveyors' 起点桩号 of each zone is what the engine computes from the geometry (to a few metres).
    def metres(k: str) -> float:
        km, m = k[1:].split("+")
        return int(km) * 1000 + float(m)

    diff = (s["start_m"] - zones.loc[s.index, "start_chainage"].map(metres)).abs()
    assert diff.max() < 15


def test_cli_ratios_table_xlsx_csv_and_errors(demo_engine: Engine, tmp_path: Path) -> None:
    runner = CliRunner()
    table = runner.invoke(app, ["ratios"])
    assert table.exit_code == 0 and "WS003" in table.stdout and "不达标" in table.stdout
    out = tmp_path / "ratios.xlsx"
    assert runner.invoke(app, ["ratios", "-f", "xlsx", "-o", str(out)]).exit_code == 0
    csv = runner.invoke(app, ["ratios", "-f", "csv", "-o", str(tmp_path / "r.csv")])
    assert csv.exit_code == 0
    assert (tmp_path / "r.csv").read_bytes().startswith(b"\xef\xbb\xbfriver_code,")
    one = json.loads(runner.invoke(app, ["ratios", "--river", "WS003", "-f", "json"]).stdout)
    assert [r["code"] for r in one["rivers"]] == ["WS003"]
    missing = runner.invoke(app, ["ratios", "--river", "NOPE"])
    assert missing.exit_code == 2 and "river_not_found" in missing.output
    assert runner.invoke(app, ["ratios", "-f", "pdf"]).exit_code == 2
    assert runner.invoke(app, ["ratios", "-f", "xlsx"]).exit_code == 2  # needs -o


def test_http_ratios_json_and_downloads_agree(demo_client: TestClient, demo_tokens: dict[str, str]) -> None:
    from tests.helpers import bearer

    head = bearer(demo_tokens["viewer"])
    response = demo_client.get("/api/v1/ratios", headers=head)
    assert response.status_code == 200
    body = response.json()
    check_shape(body)
    rivers = by_code(body)

    xlsx = demo_client.get("/api/v1/ratios/export.xlsx", headers=head)
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["岸线功能区汇总表", "镇街统计", "合规检查", "空缺与重叠"]
    summary = book["岸线功能区汇总表"]
    header = [c.value for c in summary[1]]
    for name in (
        "序号",
        "河流编码",
        "河流名称",
        "岸别",
        "功能区类型",
        "岸线长度(km)",
        "起点桩号",
        "终点桩号",
        "起点经度",
        "终点纬度",
        "主要划分依据",
    ):
        assert name in header
    assert summary.freeze_panes == "A2"
    km = header.index("岸线长度(km)") + 1
    assert summary.cell(2, km).number_format == "0.000"
    assert summary.max_row == 141 + 2  # 141 stretches + header + 合计

    check = book["合规检查"]
    cols = [c.value for c in check[1]]
    rows = {
        r[1]: dict(zip(cols, r, strict=True)) for r in check.iter_rows(min_row=2, values_only=True) if r[1] in rivers
    }
    assert check.cell(2, cols.index("保护区+保留区占比") + 1).number_format == "0.0%"
    for code, r in rivers.items():
        row = rows[code]
        assert row["保护区+保留区占比"] == pytest.approx(r["ratio"], abs=1e-4)
        assert row["岸线总长(km)"] == pytest.approx(r["length_m"] / 1000, abs=1e-5)
        assert row["结论"] == ("达标" if r["compliant"] else "不达标")
        left, right = r["banks"]["left"], r["banks"]["right"]
        assert row["空缺长度(m)"] == pytest.approx(left["gaps_m"] + right["gaps_m"], abs=0.02)
        assert row["重叠长度(m)"] == pytest.approx(left["overlaps_m"] + right["overlaps_m"], abs=0.02)
    assert "K12+" in rows["WS003"]["说明"]

    towns = book["镇街统计"]
    tcols = [c.value for c in towns[1]]
    assert {"镇街", "功能区个数", "岸线总长(km)", "岸线保护区占比", "岸线开发利用区长度(km)"} <= set(tcols)
    by_town = {t["name"]: t for t in body["towns"]}
    for r in towns.iter_rows(min_row=2, values_only=True):
        t = by_town[r[tcols.index("镇街")]]
        assert r[tcols.index("功能区个数")] == t["count"]
        assert r[tcols.index("岸线总长(km)")] == pytest.approx(t["length_m"] / 1000, abs=1e-5)
        shares = sum(r[tcols.index(c)] or 0 for c in tcols if c.endswith("占比") and c != "保护区+保留区占比")
        assert shares == pytest.approx(1.0 if t["length_m"] else 0.0, abs=1e-9)

    csv = demo_client.get("/api/v1/ratios/export.csv", headers=head)
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    assert len(csv.content.decode("utf-8-sig").strip().splitlines()) == 1 + 2 * 6

    geo = demo_client.get("/api/v1/ratios/export.geojson", params={"river": "WS005"}, headers=head)
    assert geo.status_code == 200
    features = geo.json()["features"]
    assert {f["properties"]["river_code"] for f in features} == {"WS005"}
    flagged = [f for f in features if "overlap" in (f["properties"]["flags"] or "")]
    assert len(flagged) == 2
    assert {"zone_type", "start_chainage", "end_chainage", "length_m"} <= set(features[0]["properties"])

    assert demo_client.get("/api/v1/ratios/export.pdf", headers=head).status_code == 400
    missing = demo_client.get("/api/v1/ratios", params={"river": "NOPE"}, headers=head)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "river_not_found"
    only = demo_client.get("/api/v1/ratios", params={"important_only": True}, headers=head).json()
    assert all(r["important"] for r in only["rivers"])


def test_http_ratios_need_a_token_when_reading_is_not_public(
    demo_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import clear_caches

    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "false")
    clear_caches()
    assert demo_client.get("/api/v1/ratios").status_code == 401
