"""OGC API - Features: what QGIS, ArcGIS and GDAL's OAPIF driver need to read every layer."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time

import geopandas as gpd
import pytest
import uvicorn
from shapely.geometry import Point

from gis_service.api.app import create_app
from gis_service.catalogue import get_catalogue
from gis_service.db.engine import transaction
from gis_service.store.features import insert_features


def _sites(engine, n: int) -> None:
    # Problem sites on a line: site i at (106.80 + 0.001 i, 28.90).
    gdf = gpd.GeoDataFrame(
        {"code": [f"S{i:04d}" for i in range(n)], "category": ["dumping"] * n, "status": ["reported"] * n},
        geometry=[Point(106.80 + 0.001 * i, 28.90) for i in range(n)], crs="EPSG:4490")
    with transaction(engine) as session:
        insert_features(session, get_catalogue()["problems"], gdf)


def test_landing_conformance_and_collections(client, engine):
    _sites(engine, 3)
    landing = client.get("/ogc/").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    conf = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    cols = {c["id"]: c for c in client.get("/ogc/collections").json()["collections"]}
    assert set(cols) == set(get_catalogue().layers)
    assert cols["problems"]["title"] == "问题点"
    # Extent of the three sites: 106.800–106.802 by 28.90.
    box = cols["problems"]["extent"]["spatial"]["bbox"][0]
    assert box == pytest.approx([106.80, 28.90, 106.802, 28.90])
    assert "extent" not in cols["rivers"]


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
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert "Feature Count: 7" in out.stdout
    finally:
        server.should_exit = True
        thread.join(timeout=10)
