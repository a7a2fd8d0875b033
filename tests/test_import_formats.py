"""Surveyors' real files: GBK with and without .cpg, three CRSs, GeoJSON crs member, tables, KML, GeoPackage."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from sqlalchemy import Engine

from gis_service.store.features import read_features
from tests.test_import_fixtures import PREFIX, X0, Y0, cli, ogr2ogr, river_frame, shapefile_zip, write, zip_files

NAME = "孝子河（万盛段）"


def gbk_shapefile(folder: Path, *, cpg: bool) -> Path:
    """Write a GBK river Shapefile with ogr2ogr; without .cpg its LDID byte is zeroed, as Chinese tools do."""
    folder.mkdir(parents=True, exist_ok=True)
    src = write(river_frame(name=NAME), folder / "src.gpkg")
    ogr2ogr("-f", "ESRI Shapefile", "-lco", "ENCODING=CP936", str(folder / "rivers.shp"), str(src))
    if not cpg:
        (folder / "rivers.cpg").unlink()
        dbf = folder / "rivers.dbf"
        data = bytearray(dbf.read_bytes())
        data[29] = 0
        dbf.write_bytes(bytes(data))
    return zip_files(folder / "rivers.zip", [p for p in folder.glob("rivers.*") if p.suffix != ".zip"])


def stored_river(engine: Engine, code: str = "R1") -> gpd.GeoDataFrame:
    with engine.connect() as conn:
        return read_features(conn, "rivers", where={"code": code})


def test_surveyor_delivery_with_gbk_and_cpg(engine: Engine, tmp_path: Path) -> None:
    exit_code, body = cli("import", "rivers", str(gbk_shapefile(tmp_path / "a", cpg=True)))
    assert exit_code == 0, body
    assert body["source"]["encoding"]["source"] == "cpg"
    assert stored_river(engine)["name"].iloc[0] == NAME


def test_surveyor_delivery_with_gbk_and_no_cpg(engine: Engine, tmp_path: Path) -> None:
    archive = gbk_shapefile(tmp_path / "b", cpg=False)
    exit_code, body = cli("import", "rivers", str(archive))
    assert exit_code == 0, body
    assert body["source"]["encoding"] == {
        "encoding": "GB18030",
        "source": "detected",
        "note": "无 .cpg 且代码页标记为 0，按字节内容判断为 GB18030（兼容 GBK）",
    }
    assert stored_river(engine)["name"].iloc[0] == NAME


def test_encoding_option_overrides(engine: Engine, tmp_path: Path) -> None:
    exit_code, body = cli("import", "rivers", str(gbk_shapefile(tmp_path / "c", cpg=False)), "--encoding", "GBK")
    assert exit_code == 0, body
    assert body["source"]["encoding"]["source"] == "option"
    assert stored_river(engine)["name"].iloc[0] == NAME


def test_utf8_without_cpg_is_detected(engine: Engine, tmp_path: Path) -> None:
    archive = shapefile_zip(
        river_frame(name=NAME), tmp_path / "u", "rivers", drop=(".cpg",), layer_options={"ENCODING": "UTF-8"}
    )
    dbf = tmp_path / "u" / "rivers.dbf"
    assert struct.unpack("B", dbf.read_bytes()[29:30])[0] in (0, 0x57)  # the case detection exists for
    exit_code, body = cli("import", "rivers", str(archive))
    assert exit_code == 0, body
    assert body["source"]["encoding"]["encoding"] == "UTF-8"
    assert stored_river(engine)["name"].iloc[0] == NAME


def test_4524_4545_4490_inputs_store_the_same_geometry(engine: Engine, tmp_path: Path) -> None:
    for epsg in (4524, 4545, 4490):
        base = write(river_frame(f"R{epsg}"), tmp_path / f"base{epsg}.gpkg")  # EPSG:4545
        out = tmp_path / f"r{epsg}.geojson"
        ogr2ogr("-f", "GeoJSON", "-t_srs", f"EPSG:{epsg}", "-lco", "RFC7946=NO", str(out), str(base))
        exit_code, body = cli("import", "rivers", str(out))
        assert exit_code == 0, body
        assert body["source"]["crs"] == f"EPSG:{epsg}"
    coords = [
        shapely.get_coordinates(stored_river(engine, f"R{e}").to_crs(4545).geometry.values) for e in (4524, 4545, 4490)
    ]
    # The same 2 vertices, within 1 cm of each other and of the original (X0+10, Y0+50), (X0+90, Y0+50).
    expected = np.array([[X0 + 10, Y0 + 50], [X0 + 90, Y0 + 50]])
    for c in coords:
        assert np.abs(c - expected).max() < 0.01


def test_rfc7946_geojson_reads_as_cgcs2000(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "r.geojson"
    write(river_frame().to_crs(4326), out, driver="GeoJSON", layer_options={"RFC7946": "YES"})
    exit_code, body = cli("import", "rivers", str(out))
    assert exit_code == 0, body


def test_geopackage_with_several_layers_asks_which(engine: Engine, tmp_path: Path) -> None:
    gpkg = tmp_path / "multi.gpkg"
    write(river_frame("R1"), gpkg, layer="main")
    write(river_frame("R2"), gpkg, layer="branch", append=False)
    exit_code, body = cli("import", "rivers", str(gpkg))
    assert exit_code == 2 and body["error"]["code"] == "choose_layer"
    assert sorted(body["error"]["details"]["layers"]) == ["branch", "main"]
    exit_code, body = cli("import", "rivers", str(gpkg), "--layer", "branch")
    assert exit_code == 0, body
    assert stored_river(engine, "R2").shape[0] == 1


def test_zipped_shapefile_in_a_folder(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    write(river_frame(), folder / "rivers.shp")
    parts = sorted(folder.glob("rivers.*"))
    archive = zip_files(tmp_path / "nested.zip", parts, [f"成果/河流/{p.name}" for p in parts])
    exit_code, body = cli("import", "rivers", str(archive))
    assert exit_code == 0, body
    assert body["source"]["filename"] == "nested.zip/成果/河流/rivers.shp"


def zip_with_raw_names(target: Path, files: list[Path], names: list[bytes]) -> Path:
    """Zip ``files`` under ``names`` written as these very bytes, without the UTF-8 flag, as tools other than
    Python's write them: each name is stored as an ASCII stand-in of the same length, then its bytes are put in
    its place in the local header and in the central directory (a name is not covered by any checksum)."""
    stand_ins = [f"{i:0{len(name)}d}".encode() for i, name in enumerate(names)]
    zip_files(target, files, [s.decode() for s in stand_ins])
    data = target.read_bytes()
    for stand_in, name in zip(stand_ins, names, strict=True):
        assert data.count(stand_in) == 2, stand_in  # the local header's and the central directory's
        data = data.replace(stand_in, name)
    target.write_bytes(data)
    return target


@pytest.mark.parametrize(
    "encoding",
    [
        pytest.param("gbk", id="gbk-names-as-windows-tools-write-them"),
        pytest.param("utf-8", id="utf8-names-without-the-flag-as-info-zip-and-macos-write-them"),
    ],
)
def test_chinese_member_names_without_the_utf8_flag(engine: Engine, tmp_path: Path, encoding: str) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    write(river_frame(), folder / "rivers.shp")
    parts = sorted(folder.glob("rivers.*"))
    members = [f"万盛成果/孝子河{p.suffix}" for p in parts]
    archive = zip_with_raw_names(tmp_path / "成果.zip", parts, [m.encode(encoding) for m in members])
    with zipfile.ZipFile(archive) as zf:
        assert not any(info.flag_bits & 0x800 for info in zf.infolist())
    exit_code, body = cli("import", "rivers", str(archive))
    assert exit_code == 0, body
    assert body["source"]["filename"] == "成果.zip/万盛成果/孝子河.shp"


def test_kml_delivery(engine: Engine, tmp_path: Path) -> None:
    kml = tmp_path / "r.kml"
    frame = river_frame().rename(columns={"HLBM": "code", "HLMC": "name"}).to_crs(4326)
    write(frame, kml, driver="KML")
    exit_code, body = cli("import", "rivers", str(kml))
    assert exit_code == 0, body
    assert stored_river(engine)["name"].iloc[0] == "试验河"


def _stake_points(engine: Engine, n: int = 4) -> np.ndarray:
    """Return ``n`` points on WS001's approved range line, in EPSG:4524 (easting with prefix 36)."""
    with engine.connect() as conn:
        ranges = read_features(conn, "boundaries", where={"river_code": "WS001"}).to_crs(4524)
    ring = shapely.union_all(
        shapely.boundary(ranges.geometry.values[shapely.get_dimensions(ranges.geometry.values) == 2])
    )
    return shapely.get_coordinates(
        shapely.line_interpolate_point(shapely.line_merge(ring), np.linspace(0.1, 0.4, n), normalized=True)
    )


def test_stake_table_csv_gbk_with_x_as_northing(demo_engine: Engine, tmp_path: Path) -> None:
    xy = _stake_points(demo_engine)
    assert (xy[:, 0] > PREFIX).all()  # eastings carry the 36 prefix
    table = pd.DataFrame(
        {
            "界桩编号": [f"JZ-T{i}" for i in range(len(xy))],
            "河流编码": "WS001",
            "X": xy[:, 1].round(3),
            "Y": xy[:, 0].round(3),
            "备注": "新埋设",
        }
    )
    csv = tmp_path / "界桩坐标成果表.csv"
    csv.write_bytes(table.to_csv(index=False).encode("gbk"))
    exit_code, body = cli("import", "stakes", str(csv))
    assert exit_code == 0, body
    assert body["source"]["axes"].startswith("X 列为北坐标（7 位），Y 列为东坐标（8 位，含带号 36）")
    assert body["source"]["encoding"]["encoding"] == "GB18030"
    assert body["deliveries"][0]["feature_count"] == 4


def test_stake_table_xlsx_with_lonlat(demo_engine: Engine, tmp_path: Path) -> None:
    points = gpd.GeoSeries(shapely.points(_stake_points(demo_engine, 3)), crs=4524).to_crs(4490)
    table = pd.DataFrame({"编号": ["A", "B", "C"], "经度": points.x, "纬度": points.y})
    xlsx = tmp_path / "stakes.xlsx"
    table.to_excel(xlsx, index=False)
    exit_code, body = cli("import", "stakes", str(xlsx), "--river", "WS001")
    assert exit_code == 0, body
    assert "经度" in body["source"]["axes"]


def test_stake_off_the_range_line_is_rejected(demo_engine: Engine, tmp_path: Path) -> None:
    xy = _stake_points(demo_engine, 1) + [30.0, 0.0]  # 30 m east of the line
    csv = tmp_path / "s.csv"
    pd.DataFrame({"界桩编号": ["J1"], "X": xy[:, 1], "Y": xy[:, 0]}).to_csv(csv, index=False)
    exit_code, body = cli("import", "stakes", str(csv), "--river", "WS001")
    assert exit_code == 2 and body["error"]["code"] == "stake_off_range_line"


def test_demo_zone_set_reports_ratios_gaps_and_overlaps(demo_engine: Engine, tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parent.parent / "shapefiles"
    archive = zip_files(tmp_path / "zones.zip", sorted(demo.glob("zones.*")))
    exit_code, body = cli("import", "zones", str(archive), "--dry-run")
    assert exit_code == 0, body
    assert body["stored"] == 0 and body["dry_run"] is True
    assert {r["code"] for r in body["ratios"]["rivers"]} == {f"WS00{i}" for i in range(1, 7)}
    assert body["source"]["encoding"]["source"] == "cpg"


def test_zone_on_the_wrong_bank(demo_engine: Engine, tmp_path: Path) -> None:
    with demo_engine.connect() as conn:
        zones = read_features(conn, "zones", where={"river_code": "WS002"})
    zones["bank"] = zones["bank"].map({"left": "右岸", "right": "左岸"})
    path = write(zones.drop(columns=["id", "delivery_id"]), tmp_path / "z.gpkg")
    exit_code, body = cli("import", "zones", str(path))
    assert exit_code == 2
    assert body["error"]["code"] == "bank_wrong_side"
    assert body["error"]["details"]["counts"]["error"] == len(zones)


def test_read_with_pyogrio_layers_listing(tmp_path: Path) -> None:
    # Sanity check of the fixture writer itself (GDAL): two layers in one GeoPackage.
    gpkg = tmp_path / "two.gpkg"
    write(river_frame(), gpkg, layer="a")
    write(river_frame(), gpkg, layer="b")
    assert {str(r[0]) for r in pyogrio.list_layers(gpkg)} == {"a", "b"}
