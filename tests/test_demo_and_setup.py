"""The demo dataset loads on both backends, every layer exports, and a wheel carries what it needs."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pyogrio
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from gis_service.catalogue import bundled_catalogue
from gis_service.cli.main import app
from gis_service.clock import BusinessClock
from gis_service.db.engine import transaction
from gis_service.db.models_quality import RiverTask, Sample, Section, SourceZone
from gis_service.quality.assessment import parse_period, quality_report
from gis_service.quality.tasks import list_tasks
from gis_service.quality.zones import source_compliance
from gis_service.resources import data_path

REPO = Path(__file__).resolve().parent.parent
DEMO_QUALITY_SHEETS = ["水质断面.xlsx", "水质监测结果2026.xlsx", "一河一策任务2026.xlsx"]
DEMO_QUALITY_MODELS = [Section, Sample, RiverTask, SourceZone]
LAYERS = ["towns", "rivers", "boundaries", "stakes", "zones", "outfalls", "problems"]


def _source_counts() -> dict[str, int]:
    """Count the demo features straight from the delivered files (GDAL, not our reader)."""
    folder = data_path("shapefiles")
    counts = {layer: pyogrio.read_info(folder / f"{layer}.shp")["features"] for layer in LAYERS}
    counts["boundaries"] += pyogrio.read_info(folder / "boundary_lines.shp")["features"]
    return counts


def test_demo_loads_every_layer_and_exports_the_same_counts(demo_engine, tmp_path):
    expected = _source_counts()
    runner = CliRunner()
    for layer in LAYERS:
        out = tmp_path / f"{layer}.gpkg"
        result = runner.invoke(app, ["export", layer, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert pyogrio.read_info(out)["features"] == expected[layer], layer
    again = runner.invoke(app, ["demo"])
    assert again.exit_code == 0 and "未重复加载" in again.output


def test_demo_text_survives_gbk_and_the_crs_is_cgcs2000(demo_engine, tmp_path):
    out = tmp_path / "rivers.geojson"
    assert CliRunner().invoke(app, ["export", "rivers", "-o", str(out)]).exit_code == 0
    rivers = pyogrio.read_dataframe(out)
    assert {"孝子河", "藻渡河", "清溪河", "丛林河", "养生河", "小河"} <= set(rivers["name"])
    # Every river lies inside the Wansheng extent, in lon/lat.
    minx, miny, maxx, maxy = rivers.total_bounds
    assert 106.7 < minx < maxx < 107.1 and 28.7 < miny < maxy < 29.15


def test_demo_problem_sites_carry_their_derived_jurisdiction(demo_engine, tmp_path):
    out = tmp_path / "problems.csv"
    assert CliRunner().invoke(app, ["export", "problems", "-o", str(out)]).exit_code == 0
    import pandas as pd

    sites = pd.read_csv(out, encoding="utf-8-sig")
    assert sites["town"].notna().mean() > 0.95
    assert sites["river_code"].notna().mean() > 0.8
    inside = sites["inside_range"].astype(str).str.lower().isin(["true", "1"])
    assert 0.5 < inside.mean() < 1.0


@pytest.mark.parametrize("suffix", [".shp.zip", ".csv", ".xlsx", ".geojson"])
def test_every_export_format_in_the_asked_crs(demo_engine, tmp_path, suffix):
    out = tmp_path / f"outfalls{suffix}"
    result = CliRunner().invoke(
        app,
        [
            "export",
            "outfalls",
            "-o",
            str(out),
            "--crs",
            "4524",
            "--encoding",
            "GBK" if suffix == ".shp.zip" else "UTF-8",
            "--labels",
            "zh",
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    if suffix == ".shp.zip":
        gdf = pyogrio.read_dataframe(f"/vsizip/{out}")
        assert gdf.crs.to_epsg() == 4524
        # Zone-36 eastings carry the prefix: 36 378 000 – 36 408 000.
        assert ((gdf.geometry.x > 36_300_000) & (gdf.geometry.x < 36_500_000)).all()
        assert "排口类型" in gdf.columns or any("排口" in c for c in gdf.columns)


def test_a_bad_export_request_is_exit_2_and_writes_nothing(demo_engine, tmp_path):
    runner = CliRunner()
    bad_ext = runner.invoke(app, ["export", "rivers", "-o", str(tmp_path / "r.dwg")])
    assert bad_ext.exit_code == 2 and "unknown_export_format" in bad_ext.output
    bad_crs = runner.invoke(app, ["export", "rivers", "-o", str(tmp_path / "r.gpkg"), "--crs", "EPSG:99999"])
    assert bad_crs.exit_code == 2 and "unknown_crs" in bad_crs.output
    bad_layer = runner.invoke(app, ["export", "bridges", "-o", str(tmp_path / "r.gpkg")])
    assert bad_layer.exit_code == 2 and "unknown_layer" in bad_layer.output
    assert list(tmp_path.glob("r.*")) == []


def test_a_wheel_carries_the_catalogue_maps_and_demo_data(tmp_path):
    """``pip install .`` then ``rivergis init && rivergis demo`` from any folder."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
    )
    target = tmp_path / "site"
    wheel = next(wheels.glob("rivergis-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    assert (target / "gis_service" / "_data" / "layers" / "zones.toml").exists()
    assert (target / "gis_service" / "_data" / "shapefiles" / "rivers.shp").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "RIVERGIS_DATA_DIR": str(tmp_path / "data")}
    env.pop("RIVERGIS_DATABASE_URL", None)
    cli = [sys.executable, "-c", "from gis_service.cli.main import app; app()"]
    for args in (["init"], ["demo"]):
        run = subprocess.run(cli + args, cwd=elsewhere, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    assert "河流（rivers）：6" in run.stdout and "水质监测结果（samples）：77" in run.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import gis_service; print(gis_service.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(target))


def test_help_lists_every_command_without_loading_the_heavy_modules() -> None:
    """`rivergis --help` answers from the command table: no database, GIS or web library is imported."""
    probe = (
        "import sys\n"
        "from gis_service.cli.main import COMMANDS, app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('geopandas', 'sqlalchemy', 'pandas', 'fastapi', 'folium', 'pyogrio')\n"
        "heavy = sorted(m for m in names if m in sys.modules)\n"
        "print('HEAVY', ','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert "HEAVY \n" in done.stdout, done.stdout[-300:]
    from gis_service.cli.main import COMMANDS

    for command in COMMANDS:
        assert command.name in done.stdout
    # Each command still loads and answers its own help.
    for command in COMMANDS:
        result = CliRunner().invoke(app, [command.name, "--help"])
        assert result.exit_code == 0, (command.name, result.output)


def test_demo_water_quality_loads_from_its_files(demo_engine):
    """The demo's sections, results, zones and tasks are stored as the files hold them, with the engine's classes."""
    folder = data_path("shapefiles")
    # Counted with openpyxl and GDAL, not our readers: each sheet's rows below its header, the zone polygons.
    sheets = {name: load_workbook(folder / name, read_only=True).active for name in DEMO_QUALITY_SHEETS}
    rows = {name: sum(1 for r in sheet.iter_rows(min_row=2) if r[0].value) for name, sheet in sheets.items()}
    zones = pyogrio.read_info(folder / "source_zones.shp")["features"]
    with transaction(demo_engine) as session:
        stored = {m.__tablename__: session.scalar(select(func.count()).select_from(m)) for m in DEMO_QUALITY_MODELS}
        report = quality_report(session, parse_period("2026"), "monthly")
        sources = source_compliance(session, bundled_catalogue(), parse_period("2026"))
        overdue = list_tasks(session, BusinessClock.at(dt.datetime(2026, 12, 5, 4)), overdue=True)
    assert stored == {
        "sections": rows["水质断面.xlsx"],
        "samples": rows["水质监测结果2026.xlsx"],
        "river_tasks": rows["一河一策任务2026.xlsx"],
        "source_zones": zones,
    }
    assert (stored["sections"], stored["samples"], zones) == (7, 7 * 11, 6)  # 7 sections × Jan–Nov, 3 sources × 2
    # 小河 (WSDM07) is class IV in June–September and II–III in the other months.
    summer = {s["date"][:7] for s in report["samples"] if s["section_code"] == "WSDM07" and s["class"] == "IV"}
    assert summer == {"2026-06", "2026-07", "2026-08", "2026-09"}
    assert all(s["class"] in {"I", "II", "III"} for s in report["samples"] if s["section_code"] != "WSDM07")
    # Every source sample is III or better: 11 urban and 22 township samples, all compliant.
    by_type = {k: (v["samples"], v["compliant_samples"]) for k, v in sources["by_type"].items()}
    assert by_type == {"urban": (11, 11), "township": (22, 22)}
    # On 5 December 2026 the two tasks due 31 October (75%) and 30 November (60%) are overdue.
    assert sorted(t["deadline"] for t in overdue) == ["2026-10-31", "2026-11-30"]
