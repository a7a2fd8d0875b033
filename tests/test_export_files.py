"""Exports as offices keep them, each read back with GDAL's ogrinfo: mixed Shapefiles, GBK LDID, GPKG 1.2,
typed dates, Chinese labels on every column, the fields a surveyor sent beyond the catalogue."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import shapely
from sqlalchemy import Engine

from gis_service.store.features import read_features
from tests.test_import_fixtures import run


def ogrinfo(*args: str) -> subprocess.CompletedProcess[str]:
    """Run GDAL's ogrinfo (the reader every office's GIS shares) and return its output."""
    return subprocess.run(["ogrinfo", "-ro", *args], check=True, capture_output=True, text=True)


def schema(path: str, layer: str) -> dict[str, str]:
    """Return the field names and GDAL types of ``layer`` as ogrinfo lists them (``name: Type (w.p)``)."""
    out = ogrinfo("-so", path, layer).stdout
    fields = {}
    for line in out.split("Data axis to CRS axis mapping")[-1].splitlines():
        match = re.match(r"^(.+): (\w+)(\(\w+\))? \(", line)
        if match and match.group(1) not in {"FID Column", "Geometry Column"}:
            fields[match.group(1)] = match.group(2)
    return fields


def feature_count(path: str, layer: str) -> int:
    """Return the feature count ogrinfo reports."""
    match = re.search(r"Feature Count: (\d+)", ogrinfo("-so", path, layer).stdout)
    assert match, path
    return int(match.group(1))


def stored_boundaries(engine: Engine) -> tuple[int, int]:
    """Return how many current management-range features are polygons and how many lines."""
    with engine.connect() as conn:
        ranges = read_features(conn, "boundaries")
    dims = shapely.get_dimensions(ranges.geometry.values)
    return int((dims == 2).sum()), int((dims == 1).sum())


def test_mixed_range_layer_as_shapefile_writes_one_file_per_geometry_type(demo_engine: Engine, tmp_path: Path) -> None:
    polygons, lines = stored_boundaries(demo_engine)
    assert polygons and lines  # the demo's ranges mix both, as surveyors deliver them
    out = tmp_path / "ranges.shp.zip"
    result = run("export", "boundaries", "-o", str(out))
    assert result.exit_code == 0, result.output
    names = set(zipfile.ZipFile(out).namelist())
    assert {"boundaries_polygon.shp", "boundaries_line.shp", "boundaries_polygon.cpg"} <= names
    assert feature_count(f"/vsizip/{out}/boundaries_polygon.shp", "boundaries_polygon") == polygons
    assert feature_count(f"/vsizip/{out}/boundaries_line.shp", "boundaries_line") == lines
    assert "Geometry: Polygon" in ogrinfo("-so", f"/vsizip/{out}/boundaries_polygon.shp", "boundaries_polygon").stdout


def test_gbk_shapefile_carries_ldid_0x4d_and_reads_without_cpg(demo_engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "rivers.shp.zip"
    assert run("export", "rivers", "-o", str(out), "--encoding", "GBK").exit_code == 0
    folder = tmp_path / "unzipped"
    zipfile.ZipFile(out).extractall(folder)
    assert (folder / "rivers.dbf").read_bytes()[29] == 0x4D
    assert (folder / "rivers.cpg").read_text().strip().upper() in {"GBK", "CP936", "936"}
    # ArcGIS 10.x without a .cpg: the LDID alone must make the names read as Chinese.
    (folder / "rivers.cpg").unlink()
    text = ogrinfo("-al", "-q", str(folder / "rivers.shp")).stdout
    assert "孝子河" in text


def test_geopackage_is_version_1_2_and_dates_are_typed(demo_engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "ranges.gpkg"
    assert run("export", "boundaries", "-o", str(out)).exit_code == 0
    with sqlite3.connect(out) as db:
        # GeoPackage 1.2: application_id 'GPKG', user_version 10200 (OGC 12-128r15).
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10200
    check = ogrinfo("-so", str(out), "boundaries")
    assert "partially supported" not in check.stderr
    fields = schema(str(out), "boundaries")
    assert fields["survey_date"] == "Date"
    assert fields["id"] == "Integer64" and fields["delivery_id"] == "Integer64"


def test_shapefile_dates_are_date_fields(demo_engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "problems.shp.zip"
    assert run("export", "problems", "-o", str(out)).exit_code == 0
    fields = schema(f"/vsizip/{out}/problems.shp", "problems")
    assert fields["found_date"] == "Date"
    with demo_engine.connect() as conn:
        first = read_features(conn, "problems", limit=1)
    found = first["found_date"].iloc[0]
    shown = ogrinfo("-al", "-q", "-where", f"code = '{first['code'].iloc[0]}'", f"/vsizip/{out}/problems.shp").stdout
    # ogrinfo prints a Date field as YYYY/MM/DD.
    assert f"found_date (Date) = {found:%Y/%m/%d}" in shown


def test_chinese_labels_name_every_column(demo_engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "ranges.gpkg"
    assert run("export", "boundaries", "-o", str(out), "--labels", "zh").exit_code == 0
    fields = schema(str(out), "boundaries")
    assert set(fields) == {"序号", "交付编号", "河流编码", "岸别", "测绘单位", "测绘日期", "其他字段"}
    assert fields["测绘日期"] == "Date"


def test_fields_beyond_the_catalogue_leave_in_every_export(demo_engine: Engine, tmp_path: Path) -> None:
    # The demo's deliveries carry a 备注 column the catalogue has no field for.
    out = tmp_path / "zones.gpkg"
    assert run("export", "zones", "-o", str(out)).exit_code == 0
    shown = ogrinfo("-al", "-q", str(out)).stdout
    assert 'extra (String) = {"备注": "演示数据（虚构）"}' in shown


def test_mixed_range_layer_over_http_is_a_zip_not_a_500(demo_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    response = demo_client.get("/api/v1/layers/boundaries/export", params={"format": "shp.zip", "encoding": "GBK"})
    assert response.status_code == 200
    out = tmp_path / "ranges.shp.zip"
    out.write_bytes(response.content)
    assert {"boundaries_polygon.dbf", "boundaries_line.dbf"} <= set(zipfile.ZipFile(out).namelist())
    assert "Geometry: Line String" in ogrinfo("-so", f"/vsizip/{out}/boundaries_line.shp", "boundaries_line").stdout
