"""Every layer downloads over HTTP in the format, CRS, encoding and labels the user asks for."""

from __future__ import annotations

import io
import zipfile

import pyogrio
import pytest
from openpyxl import load_workbook


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "csv"])
def test_each_layer_downloads_with_the_stored_count(demo_client, tmp_path, fmt):
    for layer in ("rivers", "zones", "outfalls"):
        got = demo_client.get(f"/api/v1/layers/{layer}/export", params={"format": fmt})
        assert got.status_code == 200, got.text
        stored = demo_client.get(f"/api/v1/layers/{layer}/features", params={"limit": 10000}).json()
        path = tmp_path / f"{layer}.{fmt}"
        path.write_bytes(got.content)
        if fmt == "csv":
            assert got.content.startswith("\ufeff".encode())  # BOM: Excel reads the Chinese correctly
            assert len(got.content.decode("utf-8-sig").strip().splitlines()) == stored["numberReturned"] + 1
        else:
            assert pyogrio.read_info(path)["features"] == stored["numberReturned"]


def test_gbk_shapefile_in_gauss_krueger_with_chinese_labels(demo_client, tmp_path):
    got = demo_client.get(
        "/api/v1/layers/rivers/export", params={"format": "shp.zip", "crs": "4545", "encoding": "GBK", "labels": "zh"}
    )
    assert got.status_code == 200
    assert "attachment" in got.headers["content-disposition"]
    names = zipfile.ZipFile(io.BytesIO(got.content)).namelist()
    assert {"rivers.shp", "rivers.dbf", "rivers.prj", "rivers.cpg"} <= set(names)
    assert zipfile.ZipFile(io.BytesIO(got.content)).read("rivers.cpg").decode().upper().startswith(("GBK", "936"))
    path = tmp_path / "rivers.shp.zip"
    path.write_bytes(got.content)
    gdf = pyogrio.read_dataframe(f"/vsizip/{path}/rivers.shp")
    assert gdf.crs.to_epsg() == 4545
    # CM 108°E without the zone prefix: eastings about 378 000 – 408 000.
    minx, _, maxx, _ = gdf.total_bounds
    assert 300_000 < minx < maxx < 500_000
    assert "孝子河" in set(gdf["河流名称"])


def test_ledger_workbook_downloads(demo_client, tmp_path):
    got = demo_client.get("/api/v1/layers/problems/export", params={"format": "xlsx"})
    assert got.status_code == 200
    book = load_workbook(io.BytesIO(got.content))
    headers = [c.value for c in book.worksheets[0][1]]
    assert "编号" in headers and "类别" in headers


def test_bad_export_requests_name_the_fix(demo_client):
    assert demo_client.get("/api/v1/layers/rivers/export", params={"format": "dwg"}).status_code == 400
    bad_crs = demo_client.get("/api/v1/layers/rivers/export", params={"crs": "EPSG:0"})
    assert bad_crs.status_code == 400 and bad_crs.json()["error"]["code"] == "unknown_crs"
    bad_enc = demo_client.get("/api/v1/layers/rivers/export", params={"format": "csv", "encoding": "EBCDIC"})
    assert bad_enc.status_code == 400 and bad_enc.json()["error"]["code"] == "unknown_encoding"
    assert demo_client.get("/api/v1/layers/bridges/export").status_code == 404


def test_dbf_field_names_fit_ten_bytes_stay_unique_and_encodable():
    from gis_service.export.files import dbf_field_names

    names = dbf_field_names(
        ["流域面积(km²)", "受纳河流编码", "受纳河流编号", "responsible_unit", "responsible_person"], "GBK"
    )
    # 流域面积 = 8 GBK bytes, "(" = 1, "k" = 1 → 10; ² is folded to 2 (NFKC) and cut.
    assert names["流域面积(km²)"] == "流域面积(k"
    assert len(set(names.values())) == 5
    assert all(len(n.encode("GBK")) <= 10 for n in names.values())
