"""OGC API - Features: what QGIS, ArcGIS and GDAL's OAPIF driver need to read every layer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import socket
import subprocess
import threading
import time

import geopandas as gpd
import pytest
import uvicorn
from shapely.geometry import LineString, Point, Polygon

from gis_service.api.app import create_app
from gis_service.catalogue import FieldSpec, LayerSpec, bundled_catalogue
from gis_service.db.engine import transaction
from gis_service.db.models import Delivery
from gis_service.export import geojson
from gis_service.store.bulk import insert_features
from gis_service.store.current import CurrentFeatures, LayerVersions
from gis_service.store.features import read_features


def _sites(engine, n: int) -> None:
    # Problem sites on a line: site i at (106.80 + 0.001 i, 28.90).
    gdf = gpd.GeoDataFrame(
        {"code": [f"S{i:04d}" for i in range(n)], "category": ["dumping"] * n, "status": ["reported"] * n},
        geometry=[Point(106.80 + 0.001 * i, 28.90) for i in range(n)],
        crs="EPSG:4490",
    )
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["problems"], gdf)


def test_landing_conformance_and_collections(client, engine):
    _sites(engine, 3)
    landing = client.get("/ogc/").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    conf = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    cols = {c["id"]: c for c in client.get("/ogc/collections").json()["collections"]}
    assert set(cols) == set(bundled_catalogue().layers)
    assert cols["problems"]["title"] == "问题点"
    # Extent of the three sites: 106.800–106.802 by 28.90.
    box = cols["problems"]["extent"]["spatial"]["bbox"][0]
    assert box == pytest.approx([106.80, 28.90, 106.802, 28.90])
    assert "extent" not in cols["rivers"]


def test_collection_extent_covers_every_feature(client, engine):
    """The extent may be rounded outward (PostGIS reads its spatial index), never cut a feature off."""
    spec = _ledger_sites(engine)
    with engine.connect() as conn:
        bounds = read_features(conn, spec).total_bounds  # 106.80012345678901, 28.900000000000002, 107.0, 29.1
    box = client.get("/ogc/collections/problems").json()["extent"]["spatial"]["bbox"][0]
    assert box[0] <= bounds[0] and box[1] <= bounds[1] and box[2] >= bounds[2] and box[3] >= bounds[3]
    assert box == pytest.approx(list(bounds), abs=1e-5)  # within a metre


def test_items_paging_bbox_and_single_item(client, engine):
    _sites(engine, 12)
    page = client.get("/ogc/collections/problems/items", params={"limit": 5})
    assert page.headers["content-type"].startswith("application/geo+json")
    body = page.json()
    assert body["numberReturned"] == 5
    codes = [f["properties"]["code"] for f in body["features"]]
    seen = list(codes)
    while nxt := [link["href"] for link in body["links"] if link["rel"] == "next"]:
        body = client.get(nxt[0].replace("http://testserver", "")).json()
        seen += [f["properties"]["code"] for f in body["features"]]
    assert seen == [f"S{i:04d}" for i in range(12)]
    # bbox 106.8035–106.8065 holds sites 4, 5 and 6.
    boxed = client.get("/ogc/collections/problems/items", params={"bbox": "106.8035,28.8,106.8065,29"}).json()
    assert [f["properties"]["code"] for f in boxed["features"]] == ["S0004", "S0005", "S0006"]
    fid = boxed["features"][0]["id"]
    one = client.get(f"/ogc/collections/problems/items/{fid}").json()
    assert one["properties"]["code"] == "S0004" and one["geometry"]["coordinates"] == [106.804, 28.9]
    assert client.get("/ogc/collections/bridges/items").json()["error"]["code"] == "unknown_collection"
    assert client.get("/ogc/collections/problems/items/99999").status_code == 404


# A field the tables have no column for: stored in ``attrs``, served like any other.
REMARK = FieldSpec(name="remark", type="str", label="备注")
RECHECKED = FieldSpec(name="rechecked_on", type="date", label="复查日期")


def _ledger_sites(engine) -> LayerSpec:
    """Store three sites with Chinese text, quotes, markup, dates, nulls, booleans, a polygon, attrs fields."""
    problems = bundled_catalogue()["problems"]
    spec = dataclasses.replace(problems, fields=(*problems.fields, REMARK, RECHECKED))
    gdf = gpd.GeoDataFrame(
        {
            "code": ["W001", "W002", "W003"],
            "category": ["dumping", "construction", "occupation"],
            "description": ['孝子河左岸"乱堆"建筑垃圾\n约 30 m³', None, "<script>alert(1)</script> 反斜杠 \\ 与 \t"],
            "town": ["万盛街道", None, "青年镇"],
            "inside_range": [True, False, None],
            "found_date": [dt.date(2022, 3, 1), None, dt.date(2022, 12, 31)],
            "deadline": [dt.date(2022, 4, 15), dt.date(2022, 5, 1), None],
            "remark": ["回头看：反弹", None, ""],
            "rechecked_on": [dt.date(2023, 1, 5), None, None],
        },
        geometry=[
            Point(106.80012345678901, 28.900000000000002),
            Polygon([(106.9, 29.0), (106.91, 29.0), (106.91, 29.01), (106.9, 29.0)]),
            Point(107.0, 29.1),
        ],
        crs="EPSG:4490",
    )
    with transaction(engine) as session:
        insert_features(session, spec, gdf)
    return spec


def _texts(conn, spec, *, current_only=True, delivery_id=None, **filters) -> list[str]:
    """The Feature texts of the read path (CurrentFeatures, or LayerVersions for a version or every version)."""
    if delivery_id is not None or not current_only:
        return LayerVersions(spec, delivery_id=delivery_id, **filters).texts(conn)
    return CurrentFeatures(spec, **filters).texts(conn)


def _old_documents(conn, spec, **filters) -> list[dict]:
    """The Feature documents as the GeoDataFrame path writes them (the reference for the text path)."""
    return json.loads(geojson.dumps(geojson.features(read_features(conn, spec, **filters))))


def test_feature_texts_are_the_documents_of_the_geodataframe_path(engine):
    """PostGIS-written (or shapely-written) Feature texts hold exactly what the GeoDataFrame path gives."""
    spec = _ledger_sites(engine)
    with engine.connect() as conn:
        everything = [json.loads(t) for t in _texts(conn, spec)]
        ids = [f["id"] for f in everything]
        for filters in (
            {},
            {"limit": 2},
            {"limit": 2, "offset": 1},
            {"offset": 2},
            {"fid": ids[1]},
            {"bbox": (106.85, 28.95, 106.95, 29.05)},
            {"where": {"town": "青年镇"}},
            {"where": {"town": "青年镇"}, "bbox": (106.0, 28.0, 108.0, 30.0), "limit": 5},
        ):
            texts = _texts(conn, spec, **filters)
            assert [json.loads(t) for t in texts] == _old_documents(conn, spec, **filters), filters
    first, second, third = everything
    # Properties in catalogue order after the system columns, attrs fields last, as the catalogue lists them.
    assert list(first["properties"]) == ["id", "lock_version", *spec.field_names]
    assert first["geometry"] == {"type": "Point", "coordinates": [106.80012345678901, 28.900000000000002]}
    assert first["properties"]["description"] == '孝子河左岸"乱堆"建筑垃圾\n约 30 m³'
    assert first["properties"]["found_date"] == "2022-03-01"
    assert first["properties"]["remark"] == "回头看：反弹" and first["properties"]["rechecked_on"] == "2023-01-05"
    assert [f["properties"]["inside_range"] for f in everything] == [True, False, None]
    assert second["geometry"]["type"] == "Polygon" and second["properties"]["description"] is None
    assert second["properties"]["found_date"] is None and second["properties"]["remark"] is None
    assert third["properties"]["description"] == "<script>alert(1)</script> 反斜杠 \\ 与 \t"
    assert third["properties"]["deadline"] is None and third["id"] == third["properties"]["id"]


def test_versioned_layers_serve_the_approved_set_or_the_version_asked_for(engine):
    zones = bundled_catalogue()["zones"]
    with transaction(engine) as session:
        made = {}
        for version, status in ((1, "approved"), (2, "submitted")):
            delivery = Delivery(river_code="WS001", layer="zones", version=version, status=status, feature_count=2)
            session.add(delivery)
            session.flush()
            made[status] = delivery.id
            gdf = gpd.GeoDataFrame(
                {
                    "code": [f"V{version}-L01", f"V{version}-R01"],
                    "river_code": ["WS001"] * 2,
                    "bank": ["left", "right"],
                    "zone_type": ["protected", "developed"],
                    "start_chainage": ["K0+000", None],
                    "basis": ["位于生态保护红线内", None],
                },
                geometry=[LineString([(106.8, 28.8), (106.81, 28.81)]), LineString([(106.8, 28.79), (106.81, 28.8)])],
                crs="EPSG:4490",
            )
            insert_features(session, zones, gdf, {"delivery_id": delivery.id})
    with engine.connect() as conn:
        for filters in (
            {},
            {"delivery_id": made["submitted"]},
            {"current_only": False},
            {"where": {"river_code": "WS001"}, "limit": 1, "offset": 1},
        ):
            texts = _texts(conn, zones, **filters)
            assert [json.loads(t) for t in texts] == _old_documents(conn, zones, **filters), filters
        current = [json.loads(t)["properties"]["code"] for t in _texts(conn, zones)]
        asked = _texts(conn, zones, delivery_id=made["submitted"])
    assert current == ["V1-L01", "V1-R01"]
    assert [json.loads(t)["properties"]["delivery_id"] for t in asked] == [made["submitted"]] * 2


def test_items_carry_chinese_text_dates_and_nulls_as_stored(client, engine):
    _ledger_sites(engine)
    response = client.get("/ogc/collections/problems/items", params={"limit": 2})
    assert "万盛街道" in response.text  # UTF-8 as is, not \u escapes
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["numberReturned"] == 2
    assert list(body) == ["type", "features", "numberMatched", "numberReturned", "timeStamp", "links"]
    first, second = body["features"]
    assert first["properties"]["town"] == "万盛街道" and first["properties"]["found_date"] == "2022-03-01"
    assert second["properties"]["town"] is None and second["properties"]["inside_range"] is False
    assert first["geometry"]["coordinates"] == [106.80012345678901, 28.900000000000002]
    assert [link["rel"] for link in body["links"]] == ["self", "alternate", "collection", "next"]
    one = client.get(f"/ogc/collections/problems/items/{second['id']}").json()
    assert {k: v for k, v in one.items() if k != "links"} == second
    assert [link["rel"] for link in one["links"]] == ["self", "alternate", "collection"]
    # Past the end: an empty page, no next link.
    empty = client.get("/ogc/collections/problems/items", params={"offset": 3}).json()
    assert empty["features"] == [] and empty["numberReturned"] == 0
    assert "next" not in {link["rel"] for link in empty["links"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL command-line tools (gdal-bin) missing")
def test_gdal_reads_a_layer_through_oapif(engine):
    """GDAL's own OGC API - Features client lists the collections and reads every feature."""
    _sites(engine, 7)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        out = subprocess.run(
            ["ogrinfo", "-ro", "-al", "-so", f"OAPIF:http://127.0.0.1:{port}/ogc", "problems"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert "Feature Count: 7" in out.stdout
    finally:
        server.should_exit = True
        thread.join(timeout=10)
