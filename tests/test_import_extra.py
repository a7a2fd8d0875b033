"""Fields the catalogue does not know (备注, 测量单位, 日期) are kept: report, storage, API and exports."""

from __future__ import annotations

import subprocess
from pathlib import Path

import geopandas as gpd
from fastapi.testclient import TestClient

from tests.test_import_fixtures import cli, ogr2ogr, river_frame, write, zip_files


def gbk_river_with_extra_fields(folder: Path) -> Path:
    """Write a GBK river Shapefile with three columns beyond the catalogue (ogr2ogr), zipped."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = river_frame(name="孝子河")
    frame["备注"] = "左岸新建堤防"
    frame["测量单位"] = "万盛测绘院"
    frame["日期"] = "2024-05-20"
    src = write(gpd.GeoDataFrame(frame, crs=frame.crs), folder / "src.gpkg")
    ogr2ogr("-f", "ESRI Shapefile", "-lco", "ENCODING=CP936", str(folder / "rivers.shp"), str(src))
    return zip_files(folder / "rivers.zip", [p for p in folder.glob("rivers.*")])


def test_unknown_fields_kept_through_report_storage_api_and_export(client: TestClient, tmp_path: Path) -> None:
    archive = gbk_river_with_extra_fields(tmp_path / "in")
    exit_code, body = cli("import", "rivers", str(archive))
    assert exit_code == 0, body
    assert body["source"]["extra_fields"] == ["备注", "测量单位", "日期"]
    assert {"column": "HLMC", "read_as": "field:name"} in body["source"]["columns"]
    expected = {"备注": "左岸新建堤防", "测量单位": "万盛测绘院", "日期": "2024-05-20"}
    features = client.get("/api/v1/layers/rivers/features").json()["features"]
    assert [f["properties"]["extra"] for f in features] == [expected]
    one = client.get(f"/api/v1/layers/rivers/features/{features[0]['id']}").json()
    assert one["properties"]["extra"] == expected
    # And out again: GeoPackage and GBK Shapefile downloads carry them as JSON text.
    response = client.get("/api/v1/layers/rivers/export", params={"format": "gpkg"})
    assert response.status_code == 200
    gpkg = tmp_path / "rivers.gpkg"
    gpkg.write_bytes(response.content)
    shown = subprocess.run(["ogrinfo", "-ro", "-al", "-q", str(gpkg)], capture_output=True, text=True).stdout
    assert 'extra (String) = {"备注": "左岸新建堤防", "测量单位": "万盛测绘院", "日期": "2024-05-20"}' in shown


def test_reimporting_an_export_keeps_extra(client: TestClient, tmp_path: Path) -> None:
    exit_code, _ = cli("import", "rivers", str(gbk_river_with_extra_fields(tmp_path / "in")))
    assert exit_code == 0
    response = client.get("/api/v1/layers/rivers/export", params={"format": "gpkg"})
    gpkg = tmp_path / "back.gpkg"
    gpkg.write_bytes(response.content)
    exit_code, body = cli("import", "rivers", str(gpkg))
    assert exit_code == 0, body
    assert body["source"]["extra_fields"] == ["id"]  # the old row id is kept aside, not taken for a field
    features = client.get("/api/v1/layers/rivers/features").json()["features"]
    assert features[0]["properties"]["extra"]["测量单位"] == "万盛测绘院"


def test_equal_rows_share_one_extra_object_and_encode_each_their_own() -> None:
    import numpy as np

    from gis_service.db.backends.columns import json_text
    from gis_service.db.backends.pgcopy import copy_text
    from gis_service.ingest.normalise import extra_values

    frame = gpd.GeoDataFrame({"备注": ["甲", "甲", "乙", None], "n": [1, 1, 1, None]}, geometry=[None] * 4)
    values = extra_values(frame, ["备注", "n"], None)
    assert values == [{"备注": "甲", "n": 1}, {"备注": "甲", "n": 1}, {"备注": "乙", "n": 1}, None]
    assert values[0] is values[1]  # encoded once when a whole delivery carries the same note
    cells = np.empty(4, dtype=object)
    cells[:] = values
    assert copy_text(cells, json_text).to_pylist() == ['{"备注": "甲", "n": 1}'] * 2 + ['{"备注": "乙", "n": 1}', "\\N"]
