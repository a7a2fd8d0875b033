"""Real clients read the OGC API: GDAL's OAPIF and MVT drivers, OWSLib and QGIS, answers compared with the database."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from owslib.ogcapi.features import Features
from pyproj import Transformer

from gis_service.api.app import create_app
from gis_service.catalogue import bundled_catalogue
from gis_service.store.current import CurrentFeatures
from tests.conftest import IN_CI
from tests.test_ogc_standard import TEST_BOX, store_rivers, store_sites

needs_gdal = pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL command-line tools (gdal-bin) missing")

# QGIS lives in the system Python (Debian's python3-qgis, installed by scripts/setup.sh --test), not in the venv.
QGIS_PYTHON = "/usr/bin/python3"
QGIS_READER = Path(__file__).parent / "clients" / "qgis_read.py"


def _has_qgis() -> bool:
    if not Path(QGIS_PYTHON).exists():
        return False
    return subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=60).returncode == 0


# In CI QGIS is installed: a missing one fails the tests instead of skipping them.
needs_qgis = pytest.mark.skipif(not IN_CI and not _has_qgis(), reason="QGIS (python3-qgis) missing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(engine) -> Iterator[str]:
    """The app on ``engine`` served on a loopback port; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live(engine) -> Iterator[str]:
    """The app on the empty database, served; yields its base URL."""
    with served(engine) as base:
        yield base


@pytest.fixture
def demo_live(demo_engine) -> Iterator[str]:
    """The app on the demo database, served; yields its base URL."""
    with served(demo_engine) as base:
        yield base


def run(*argv: str) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def geojson_of(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@needs_gdal
def test_gdal_spatial_filter_gives_exactly_the_intersecting_features(engine, live, tmp_path):
    store_rivers(engine)
    out = tmp_path / "rivers.geojson"
    minx, miny, maxx, maxy = TEST_BOX.split(",")
    run("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{live}/ogc", "rivers", "-spat", minx, miny, maxx, maxy)
    # GDAL also filters on its side: without the server's exact answer, A would come back too.
    assert [f["properties"]["code"] for f in geojson_of(out)["features"]] == ["B"]
    summary = run("ogrinfo", "-ro", "-so", f"OAPIF:{live}/ogc", "rivers")
    assert "Feature Count: 2" in summary  # numberMatched, as QGIS shows it


@needs_gdal
def test_gdal_where_goes_to_the_server_as_cql2(engine, live, tmp_path):
    store_sites(engine)
    out = tmp_path / "sites.geojson"
    run("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{live}/ogc", "problems", "-where", "town = '青年镇'")
    got = sorted(f["properties"]["code"] for f in geojson_of(out)["features"])
    with engine.connect() as conn:
        expected = CurrentFeatures(bundled_catalogue()["problems"], where={"town": "青年镇"}).frame(conn)
    assert got == sorted(expected["code"]) == [f"S{i:04d}" for i in range(0, 12, 2)]


@needs_gdal
def test_gdal_copies_a_whole_layer_into_epsg_4545_matching_the_servers_crs_answer(engine, live, tmp_path):
    store_sites(engine)
    out = tmp_path / "sites_4545.gpkg"
    run("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{live}/ogc", "problems", "-t_srs", "EPSG:4545")
    exported = json.loads(run("ogr2ogr", "-f", "GeoJSON", "/vsistdout/", str(out)))
    assert len(exported["features"]) == 12
    # GDAL writes GeoJSON of a projected CRS easting first; the server answers EPSG:4545 northing first.
    gdal = {f["properties"]["code"]: f["geometry"]["coordinates"] for f in exported["features"]}
    served = httpx.get(f"{live}/ogc/collections/problems/items", params={"crs": "EPSG:4545", "limit": 100}).json()
    assert served["numberMatched"] == 12
    for feature in served["features"]:
        northing, easting = feature["geometry"]["coordinates"]
        assert gdal[feature["properties"]["code"]] == pytest.approx([easting, northing], abs=0.001)


@needs_gdal
def test_gdal_mvt_driver_reads_a_tile(engine, live, tmp_path):
    store_sites(engine)
    # Zoom 10, column 815, row 426 holds every site (see test_ogc_standard).
    tile = tmp_path / "10" / "815" / "426.pbf"
    tile.parent.mkdir(parents=True)
    response = httpx.get(f"{live}/ogc/collections/problems/tiles/WebMercatorQuad/10/426/815")
    assert response.status_code == 200
    tile.write_bytes(response.content)
    read = json.loads(run("ogr2ogr", "-f", "GeoJSON", "/vsistdout/", str(tile), "problems", "-t_srs", "EPSG:4490"))
    by_code = {f["properties"]["code"]: f["geometry"]["coordinates"] for f in read["features"]}
    assert sorted(by_code) == [f"S{i:04d}" for i in range(12)]
    # A tile keeps 4096 units over ~39 km at zoom 10: a site moves by at most half a unit (~5 m, 5e-5°).
    for i in range(12):
        assert by_code[f"S{i:04d}"] == pytest.approx([106.80 + 0.001 * i, 28.90], abs=5e-5)


def test_owslib_reads_collections_items_filters_and_crs(engine, live):
    store_sites(engine)
    api = Features(live + "/ogc")
    assert "problems" in [c["id"] for c in api.collections()["collections"]]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
    page = api.collection_items("problems", limit=5, bbox=[106.8015, 28.8, 106.8045, 29.0])
    assert [f["properties"]["code"] for f in page["features"]] == ["S0002", "S0003", "S0004"]
    assert page["numberMatched"] == 3
    filtered = api.collection_items("problems", filter="category = 'mining'")
    # category is mining for i divisible by 3.
    assert [f["properties"]["code"] for f in filtered["features"]] == ["S0000", "S0003", "S0006", "S0009"]
    queryables = api.collection_queryables("problems")
    assert "town" in queryables["properties"]
    in_4326 = api.collection_items("problems", crs="http://www.opengis.net/def/crs/EPSG/0/4326", limit=1)
    assert in_4326["features"][0]["geometry"]["coordinates"] == pytest.approx([28.90, 106.80])
    one = api.collection_item("problems", str(page["features"][0]["id"]))
    assert one["properties"]["code"] == "S0002"
    to_4545 = Transformer.from_crs(4490, 4545, always_xy=True)
    easting, northing = to_4545.transform(106.80, 28.90)
    projected = api.collection_items("problems", crs="http://www.opengis.net/def/crs/EPSG/0/4545", limit=1)
    assert projected["features"][0]["geometry"]["coordinates"] == pytest.approx([northing, easting], abs=1e-6)


@needs_gdal
def test_gdal_sends_where_to_the_server(engine, live, tmp_path):
    """GDAL reads the OGC OpenAPI document and sends -where as a filter (a client-side filter would also pass above)."""
    store_sites(engine)
    env = {**os.environ, "CPL_DEBUG": "ON"}
    out = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-q", f"OAPIF:{live}/ogc", "problems", "-where", "town = '青年镇'"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    fetched = [line for line in out.stderr.splitlines() if "/items?" in line]
    # The first page is GDAL learning the schema; the read itself carries the filter.
    assert "filter=" in fetched[-1] and "filter-lang=cql-text" in fetched[-1], fetched
    assert "Full filter will be evaluated on client side" not in out.stderr


def qgis_read(live: str, collection: str, *box: str) -> dict:
    """What QGIS's OAPIF provider reads of ``collection`` (in ``box`` only, when given)."""
    out = subprocess.run(
        [QGIS_PYTHON, str(QGIS_READER), f"{live}/ogc", collection, *box], capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@needs_qgis
def test_qgis_counts_and_reads_every_site_as_stored(engine, live):
    store_sites(engine)
    read = qgis_read(live, "problems")
    assert read["valid"]
    # featureCount() is the server's numberMatched: without it QGIS 3.22 showed 0.
    assert read["count"] == 12
    with engine.connect() as conn:
        stored = CurrentFeatures(bundled_catalogue()["problems"]).frame(conn)
    by_code = {f["attributes"]["code"]: f for f in read["features"]}
    assert sorted(by_code) == sorted(stored["code"])
    for _, row in stored.iterrows():
        attributes = by_code[row["code"]]["attributes"]
        assert attributes["id"] == row["id"]
        assert attributes["town"] == row["town"]
        # Markup in a text is data: QGIS gets it verbatim.
        assert attributes["description"] == row["description"]
        assert attributes["found_date"] == row["found_date"].isoformat()
        x, y = by_code[row["code"]]["wkt"].removeprefix("Point (").removesuffix(")").split()
        assert (float(x), float(y)) == pytest.approx((row.geometry.x, row.geometry.y), abs=1e-9)


@needs_qgis
def test_qgis_asks_for_a_map_extent_and_reads_the_rivers_crossing_it(engine, live):
    store_rivers(engine)
    assert qgis_read(live, "rivers")["count"] == 2
    # QGIS asks the server for the extent only (a bbox request); river A's box covers the extent
    # but its line misses it. QGIS tests geometries itself too, so the server's own exactness is
    # pinned by the GDAL test above; here QGIS's box request must be understood and answered.
    read = qgis_read(live, "rivers", *TEST_BOX.split(","))
    assert [f["attributes"]["code"] for f in read["features"]] == ["B"]
    assert read["features"][0]["wkt"].startswith("MultiLineString")


def _current_ids(engine, layer: str) -> list[int]:
    with engine.connect() as conn:
        return sorted(int(fid) for (fid,) in CurrentFeatures(bundled_catalogue()[layer]).values(conn, "id"))


@needs_gdal
@needs_qgis
def test_gdal_and_qgis_read_every_layer_of_the_demo_as_stored(demo_engine, demo_live, tmp_path):
    collections = [c["id"] for c in httpx.get(f"{demo_live}/ogc/collections").json()["collections"]]
    assert sorted(collections) == sorted(bundled_catalogue().layers)
    for name in collections:
        ids = _current_ids(demo_engine, name)
        out = tmp_path / f"{name}.geojson"
        run("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{demo_live}/ogc", name)
        gdal = geojson_of(out)["features"]
        assert sorted(f["properties"]["id"] for f in gdal) == ids, name
        read = qgis_read(demo_live, name)
        assert read["valid"], name
        assert read["count"] == len(ids), name
        assert sorted(f["attributes"]["id"] for f in read["features"]) == ids, name
