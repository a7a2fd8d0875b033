"""Every bad-input kind of SPEC.md's Bars: exit 2 with a named problem, and nothing stored."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import Engine

from tests.helpers import clear_caches
from tests.test_import_fixtures import (
    PREFIX,
    X0,
    Y0,
    cli,
    river_frame,
    shapefile_zip,
    stored_counts,
    write,
    zip_files,
)


def rejected(engine: Engine, args: list[str], code: str) -> dict:
    """Run an import that must be refused with ``code``; assert nothing was stored."""
    before = stored_counts(engine)
    exit_code, body = cli("import", *args)
    assert exit_code == 2, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    assert stored_counts(engine) == before
    return body["error"]


def test_corrupt_archive(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "rivers.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip" * 10)
    error = rejected(engine, ["rivers", str(bad)], "corrupt_archive")
    assert "损坏" in error["message"]


def test_truncated_archive(engine: Engine, tmp_path: Path) -> None:
    good = shapefile_zip(river_frame(), tmp_path / "src", "rivers")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    rejected(engine, ["rivers", str(cut)], "corrupt_archive")


def test_empty_archive_and_empty_file(engine: Engine, tmp_path: Path) -> None:
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    rejected(engine, ["rivers", str(empty)], "empty_archive")
    nothing = tmp_path / "nothing.geojson"
    nothing.write_bytes(b"")
    rejected(engine, ["rivers", str(nothing)], "empty_file")


def test_archive_without_layer_files(engine: Engine, tmp_path: Path) -> None:
    note = tmp_path / "readme.txt"
    note.write_text("hello")
    rejected(engine, ["rivers", str(zip_files(tmp_path / "x.zip", [note]))], "empty_archive")


def test_missing_prj_names_crs_option(engine: Engine, tmp_path: Path) -> None:
    archive = shapefile_zip(river_frame(), tmp_path / "s", "rivers", drop=(".prj",))
    error = rejected(engine, ["rivers", str(archive)], "missing_crs")
    assert "--crs" in error["message"]
    # The fix the message names works.
    exit_code, body = cli("import", "rivers", str(archive), "--crs", "4545")
    assert exit_code == 0, body
    assert body["source"]["crs_source"] == "option"


def test_missing_dbf(engine: Engine, tmp_path: Path) -> None:
    archive = shapefile_zip(river_frame(), tmp_path / "s", "rivers", drop=(".dbf",))
    rejected(engine, ["rivers", str(archive)], "missing_dbf")


def test_missing_zone_prefix_is_diagnosed(engine: Engine, tmp_path: Path) -> None:
    # Coordinates without the 36 prefix, but the .prj says zone 36 with prefix (EPSG:4524).
    frame = river_frame().set_crs(4524, allow_override=True)
    error = rejected(engine, ["rivers", str(shapefile_zip(frame, tmp_path / "s", "rivers"))], "outside_district")
    assert "按 EPSG:4545读取即位于辖区内" in error["message"]
    assert "缺少带号前缀" in error["message"]
    finding = error["details"]["findings"][0]
    assert finding["value"]["readings_inside"] == [
        {
            "crs": "EPSG:4545",
            "swapped_xy": False,
            "options": "--crs 4545",
            "diagnosis": "东坐标缺少带号前缀，而坐标系声明为带带号的投影",
        }
    ]


def test_extra_zone_prefix_is_diagnosed(engine: Engine, tmp_path: Path) -> None:
    # Eastings with the prefix 36 (EPSG:4524 values) labelled EPSG:4545.
    frame = river_frame()
    frame.geometry = shapely.transform(frame.geometry.values, lambda c: c + [PREFIX, 0])
    error = rejected(engine, ["rivers", str(shapefile_zip(frame, tmp_path / "s", "rivers"))], "outside_district")
    assert "按 EPSG:4524读取即位于辖区内" in error["message"]


def test_swapped_xy_is_diagnosed_and_fixable(engine: Engine, tmp_path: Path) -> None:
    # Surveyor's order: X = northing, Y = easting, in EPSG:4545.
    frame = river_frame()
    frame.geometry = shapely.transform(frame.geometry.values, lambda c: c[:, ::-1])
    archive = shapefile_zip(frame, tmp_path / "s", "rivers")
    error = rejected(engine, ["rivers", str(archive)], "outside_district")
    assert "按 EPSG:4545、X 为北坐标（X/Y 互换）读取即位于辖区内" in error["message"]
    exit_code, body = cli("import", "rivers", str(archive), "--swap-xy")
    assert exit_code == 0, body


def test_wrong_zone_is_diagnosed(engine: Engine, tmp_path: Path) -> None:
    # Zone-36 coordinates (CM 108°E) labelled as CM 105°E (EPSG:4544).
    frame = river_frame().set_crs(4544, allow_override=True)
    error = rejected(engine, ["rivers", str(shapefile_zip(frame, tmp_path / "s", "rivers"))], "outside_district")
    assert "按 EPSG:4545读取即位于辖区内" in error["message"]
    assert "投影带不对" in error["message"]


def test_degrees_labelled_as_metres(engine: Engine, tmp_path: Path) -> None:
    frame = river_frame().to_crs(4490).set_crs(4545, allow_override=True)
    error = rejected(engine, ["rivers", str(shapefile_zip(frame, tmp_path / "s", "rivers"))], "outside_district")
    assert "按 EPSG:4490读取即位于辖区内" in error["message"]
    assert "经纬度" in error["message"]


def test_invalid_geometry_reports_reason_and_fix_repairs(demo_engine: Engine, tmp_path: Path) -> None:
    # A bow-tie range polygon on river WS001: self-intersection at its centre.
    from gis_service.store.features import read_features

    with demo_engine.connect() as conn:
        line = read_features(conn, "rivers", where={"code": "WS001"}).to_crs(4545).geometry.iloc[0]
    c = line.interpolate(0.5, normalized=True)
    bowtie = shapely.Polygon([(c.x - 50, c.y - 50), (c.x + 50, c.y + 50), (c.x + 50, c.y - 50), (c.x - 50, c.y + 50)])
    frame = gpd.GeoDataFrame({"HLBM": ["WS001"]}, geometry=[bowtie], crs=4545)
    archive = shapefile_zip(frame, tmp_path / "s", "boundaries")
    error = rejected(demo_engine, ["boundaries", str(archive)], "invalid_geometry")
    finding = error["details"]["findings"][0]
    assert finding["value"].startswith("Self-intersection")
    assert finding["feature"] == 1 and "lon" in finding
    exit_code, body = cli("import", "boundaries", str(archive), "--fix")
    assert exit_code == 0, body
    repaired = [f for f in body["findings"] if f["code"] == "geometry_repaired"]
    assert repaired and "Polygon → MultiPolygon" in repaired[0]["message"]


def test_empty_geometry(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "rivers.geojson"
    path.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null,'
        '"properties":{"code":"R9","name":"无图形河"}}]}',
        encoding="utf-8",
    )
    error = rejected(engine, ["rivers", str(path)], "empty_geometry")
    assert error["details"]["findings"][0]["feature"] == 1


def test_wrong_geometry_type(engine: Engine, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"code": ["R1"], "name": ["点河"]}, geometry=[shapely.Point(X0, Y0)], crs=4545)
    error = rejected(engine, ["rivers", str(write(frame, tmp_path / "r.gpkg"))], "wrong_geometry_type")
    # The type found and the types expected, as GIS software names them.
    message = error["details"]["findings"][0]["message"]
    assert "几何类型为 Point" in message and "LineString" in message


def test_z_values_are_dropped_and_reported(engine: Engine, tmp_path: Path) -> None:
    frame = river_frame()
    frame.geometry = shapely.force_3d(frame.geometry.values, 420.0)
    exit_code, body = cli("import", "rivers", str(write(frame, tmp_path / "r.gpkg")))
    assert exit_code == 0, body
    assert body["codes"] == {"z_dropped": 1}
    from gis_service.store.features import read_features

    with engine.connect() as conn:
        assert not read_features(conn, "rivers").geometry.has_z.any()


def test_unknown_field_value_lists_allowed(demo_engine: Engine, tmp_path: Path) -> None:
    line = shapely.LineString([(X0, Y0), (X0 + 100, Y0)])
    frame = gpd.GeoDataFrame({"HLBM": ["WS001"], "AB": ["左岸"], "GNQLX": ["湿地区"]}, geometry=[line], crs=4545)
    # Also outside WS001's range, so two kinds of error: the code is the general one.
    error = rejected(demo_engine, ["zones", str(write(frame, tmp_path / "z.gpkg"))], "delivery_rejected")
    found = next(f for f in error["details"]["findings"] if f["code"] == "unknown_value")
    assert "湿地区" in found["message"] and "岸线保护区(protected)" in found["message"]
    assert found["field"] == "zone_type" and found["feature"] == 1 and "lon" in found


def test_unknown_river_code(demo_engine: Engine, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"HLBM": ["NOPE"], "AB": ["左岸"], "GNQLX": ["保护区"]},
        geometry=[shapely.LineString([(X0, Y0), (X0 + 100, Y0)])],
        crs=4545,
    )
    error = rejected(demo_engine, ["zones", str(write(frame, tmp_path / "z.gpkg"))], "unknown_river")
    assert "NOPE" in error["message"]


def test_zip_bomb(engine: Engine, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("rivers.dbf", b"\0" * (50 * 1024 * 1024))  # 50 MB of zeros: ~1000:1
    rejected(engine, ["rivers", str(bomb)], "zip_bomb")


def test_path_traversal_in_archive(engine: Engine, tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escaped.shp", b"x")
        zf.writestr("/abs/escaped2.shp", b"x")
    rejected(engine, ["rivers", str(evil)], "unsafe_archive_path")
    assert not list(tmp_path.parent.glob("**/escaped*"))


def test_too_many_entries(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIVERGIS_MAX_ARCHIVE_ENTRIES", "3")
    clear_caches()
    crowded = tmp_path / "crowded.zip"
    with zipfile.ZipFile(crowded, "w") as zf:
        for i in range(5):
            zf.writestr(f"f{i}.txt", b"x")
    rejected(engine, ["rivers", str(crowded)], "too_many_entries")


def test_xml_entities_in_kml(engine: Engine, tmp_path: Path) -> None:
    kml = tmp_path / "lol.kml"
    kml.write_text(
        '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&b;</name>'
        "<Point><coordinates>106.9,28.95</coordinates></Point></Placemark></Document></kml>",
        encoding="utf-8",
    )
    rejected(engine, ["rivers", str(kml)], "xml_entities")
    kmz = zip_files(tmp_path / "lol.kmz", [kml], ["doc.kml"])
    rejected(engine, ["rivers", str(kmz)], "xml_entities")


def test_unsupported_and_unknown_layer(engine: Engine, tmp_path: Path) -> None:
    odd = tmp_path / "x.dwg"
    odd.write_bytes(b"AC1027")
    rejected(engine, ["rivers", str(odd)], "unsupported_format")
    rejected(engine, ["towns", str(odd)], "unknown_layer")


def test_rejected_delivery_prints_report_without_json(engine: Engine, tmp_path: Path) -> None:
    from tests.test_import_fixtures import run

    frame = river_frame()
    frame["HLMC"] = None
    result = run("import", "rivers", str(write(frame, tmp_path / "r.gpkg")))
    assert result.exit_code == 2
    assert "错误 1" in result.stdout and "missing_value" in result.stdout


def test_prefixed_coordinates_inside_are_accepted(engine: Engine, tmp_path: Path) -> None:
    frame = river_frame()
    frame.geometry = shapely.transform(frame.geometry.values, lambda c: c + [PREFIX, 0])
    frame = frame.set_crs(4524, allow_override=True)
    exit_code, body = cli("import", "rivers", str(shapefile_zip(frame, tmp_path / "s", "rivers")))
    assert exit_code == 0, body
    assert body["source"]["crs"] == "EPSG:4524"
