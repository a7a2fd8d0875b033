"""One ratio check through every door: the import report, the API, the CLI, the CSV export and the river map
give the same numbers for the same zones, whether the surveyor drew them as lines or as polygons.

Polygon zones are measured along the river's approved bank range lines; a door that forgot the ranges
would measure them differently (before the one entry point, the import report and the river map did).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gis_service.api.app import create_app
from gis_service.cli.main import app as cli
from gis_service.resources import data_path

RIVER = "WS001"


def _delivery(tmp_path: Path, shape: str) -> Path:
    """Write WS001's demo zones as a GeoPackage of lines, or of polygons reaching the range lines.

    The demo's zone lines run 10 m from the centerline (drawn downstream) and its range lines 60 m: a band
    50 m wide on the zone line's outer side (left of a left-bank line) is the strip from the water's
    edge to the range line, as a surveyor draws a zone polygon.
    """
    zones = gpd.read_file(data_path("shapefiles") / "zones.shp", encoding="gbk")
    zones = zones[zones["河流编码"] == RIVER].copy()
    if shape == "polygon":
        outward = zones["岸别"].map({"左岸": 50.0, "右岸": -50.0})  # shapely: positive = left side
        zones["geometry"] = [
            line.buffer(d, cap_style="flat", single_sided=True)  # EPSG:4524 metres
            for line, d in zip(zones.geometry, outward, strict=True)
        ]
    path = tmp_path / f"{RIVER}_{shape}.gpkg"
    zones.to_file(path, layer="分区", driver="GPKG")
    return path


def _river(body: dict) -> dict:
    """Return WS001's entry of a ratio JSON (SPEC.md shape)."""
    (entry,) = [r for r in body["rivers"] if r["code"] == RIVER]
    return entry


def _figures(entry: dict) -> dict[str, float | None]:
    """Return the numbers a door gives for the river: ratio, and per bank length, zone lengths, gaps, overlaps."""
    out: dict[str, float | None] = {"ratio": entry["ratio"], "length_m": entry["length_m"]}
    for bank, b in entry["banks"].items():
        out |= {f"{bank}.{k}": b[k] for k in ("length_m", "ratio", "gaps_m", "overlaps_m")}
        out |= {f"{bank}.{t}": v for t, v in b["zones_m"].items()}
    return out


@pytest.mark.parametrize("shape", ["line", "polygon"])
def test_every_door_gives_the_same_numbers(demo_engine, demo_tokens, tmp_path: Path, shape: str) -> None:
    path = _delivery(tmp_path, shape)
    result = CliRunner().invoke(cli, ["import", "zones", str(path), "--approve", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    from_import = _figures(_river(report["ratios"]))

    result = CliRunner().invoke(cli, ["ratios", "--river", RIVER, "--format", "json"])
    assert result.exit_code == 0, result.output
    from_cli = _figures(_river(json.loads(result.stdout)))

    with TestClient(create_app(demo_engine), raise_server_exceptions=False) as c:
        from_api = _figures(_river(c.get("/api/v1/ratios", params={"river": RIVER}).json()))
        page = c.get(f"/maps/rivers/{RIVER}").text
        table = c.get("/api/v1/ratios/export.csv", params={"river": RIVER}).content.decode("utf-8-sig")

    assert from_import["ratio"] is not None and 0 < from_import["ratio"] < 1
    assert from_import == from_cli == from_api
    # The river map's panel carries the same ratio.
    panel = re.search(r'id="rg-ratio"[^>]*data-ratio="([^"]*)"', page)
    assert panel is not None and float(panel.group(1)) == pytest.approx(from_api["ratio"], abs=1e-12)
    # The CSV export's river rows agree with the JSON to the precision it prints.
    rows = [r for r in csv.DictReader(io.StringIO(table)) if r["river_code"] == RIVER]
    assert {r["bank"] for r in rows} == {"left", "right"}
    for r in rows:
        assert float(r["river_ratio"]) == pytest.approx(from_api["ratio"], abs=5e-5)
        assert float(r["length_m"]) == pytest.approx(from_api[f"{r['bank']}.length_m"], abs=0.005)
        assert float(r["protected_m"]) == pytest.approx(from_api[f"{r['bank']}.protected"], abs=0.005)


def test_polygon_and_line_zones_measure_alike(demo_engine, tmp_path: Path) -> None:
    """Polygons around the zone lines measure, along the bank range lines, close to the lines themselves."""
    figures = {}
    for shape in ("line", "polygon"):
        result = CliRunner().invoke(cli, ["import", "zones", str(_delivery(tmp_path, shape)), "--dry-run", "--json"])
        assert result.exit_code == 0, result.output
        figures[shape] = _figures(_river(json.loads(result.stdout)["ratios"]))
    assert figures["polygon"]["ratio"] == pytest.approx(figures["line"]["ratio"], rel=0.05)
