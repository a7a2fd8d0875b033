"""Issue map, river map and delivery preview without a browser: escaping, offline pages, data filters, export."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from gis_service.catalogue import bundled_catalogue
from gis_service.cli.main import app as cli
from gis_service.db.engine import transaction
from gis_service.db.models import Problem
from gis_service.errors import ConfigurationError
from gis_service.settings import Settings
from gis_service.store.bulk import insert_features
from gis_service.webmap import assets
from gis_service.webmap.base import MapSetup, gcj02_from_wgs84, js_literal
from gis_service.webmap.data import overlay_collection
from gis_service.webmap.escape import popup_html
from gis_service.webmap.preview import delivery_preview_html

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
TODAY = dt.date.today()


def outside_urls(html: str) -> set[str]:
    """Return every http(s) URL in a page that points outside the service."""
    return {
        u for u in re.findall(r"https?://[^\s\"'<>)]+", html) if not re.match(r"https?://(127\.0\.0\.1|localhost)", u)
    }


def decode(body: dict) -> tuple[list[int], np.ndarray, np.ndarray, list[str], list[str]]:
    """Undo the compact encoding: id runs, fixed-width base-64 offsets, status*categories+category."""
    digit = {ch: i for i, ch in enumerate(body["alphabet"])}

    def column(text: str, width: int) -> list[int]:
        values = []
        for j in range(0, len(text), width):
            v = 0
            for ch in text[j : j + width]:
                v = v * 64 + digit[ch]
            values.append(v)
        return values

    ids = [first + k for first, count in body["ids"] for k in range(count)]
    lon = (body["x0"] + np.asarray(column(body["x"], body["wx"]))) / body["scale"]
    lat = (body["y0"] + np.asarray(column(body["y"], body["wy"]))) / body["scale"]
    ncat = len(body["category"])
    sc = column(body["sc"], body["wsc"])
    return ids, lon, lat, [body["status"][v // ncat] for v in sc], [body["category"][v % ncat] for v in sc]


# ---- escaping -------------------------------------------------------------------------------------


def test_popup_escapes_script_and_img_onerror() -> None:
    html = popup_html("标题<b>", [("问题描述", XSS), ("空", None)])
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert "标题&lt;b&gt;" in html
    assert "空" not in html  # empty values are left out


def test_embedded_data_cannot_close_its_script_element() -> None:
    text = js_literal({"description": "</script><script>alert(1)</script>", "amp": "a&b"})
    assert "</script" not in text and "<" not in text and ">" not in text
    assert "\\u003c/script\\u003e" in text


def test_overlay_popups_escape_layer_values() -> None:
    rivers = gpd.GeoDataFrame(
        {"code": ["R1"], "name": [XSS], "important": [True]},
        geometry=[shapely.LineString([(106.8, 28.9), (106.9, 28.95)])],
        crs="EPSG:4490",
    )
    fc = overlay_collection(bundled_catalogue()["rivers"], rivers)
    popup = fc["features"][0]["properties"]["_p"]
    assert "<script" not in popup and "<img" not in popup and "&lt;img src=x" in popup
    assert "重要河道" in popup and "是" in popup
    assert fc["features"][0]["properties"]["_s"]["color"] == "#1f78b4"  # rivers.toml style


# ---- basemaps and GCJ-02 ------------------------------------------------------------------------


def test_gcj02_shift_is_hundreds_of_metres_in_wansheng_and_none_abroad() -> None:
    lon, lat = np.array([106.9, 107.0, 2.35]), np.array([28.9, 29.0, 48.85])
    glon, glat = gcj02_from_wgs84(lon, lat)
    _, _, dist = Geod(ellps="WGS84").inv(lon, lat, glon, glat)
    # GCJ-02 offsets in south-west China are a few hundred metres; Paris is outside China: unchanged.
    assert 100 < dist[0] < 1000 and 100 < dist[1] < 1000
    assert dist[2] == 0


def test_problems_page_is_offline_with_no_basemap(demo_client) -> None:
    r = demo_client.get("/maps/problems")
    assert r.status_code == 200
    assert outside_urls(r.text) == set()
    sources = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    # the service's own assets, the site data preloaded with the page, and an empty icon written in the page
    assert sources and all(s.startswith(("/static/", "/maps/data/problems?")) or s == "data:," for s in sources)
    assert '<link rel="icon" href="data:,">' in r.text  # the browser asks for no /favicon.ico
    for url in sources:
        assert url == "data:," or demo_client.get(url).status_code == 200, url
    assert "leaflet.markercluster.js" in r.text
    # the page is a shell: no site's record is in it
    assert "QSL-2022-0001" not in r.text


def test_gaode_basemap_shifts_site_data_and_lists_only_gcj_tiles(demo_client) -> None:
    page = demo_client.get("/maps/problems?basemap=gaode").text
    assert "autonavi.com" in page and "openstreetmap" not in page
    assert "datum=gcj02" in page
    plain = demo_client.get("/maps/data/problems").json()
    shifted = demo_client.get("/maps/data/problems?datum=gcj02").json()
    assert shifted["n"] == plain["n"] and (shifted["x0"], shifted["y0"]) != (plain["x0"], plain["y0"])
    assert demo_client.get("/maps/problems?basemap=mars").status_code == 400
    assert demo_client.get("/maps/problems?basemap=tianditu_vec").json()["error"]["code"] == "basemap_key_missing"


def test_missing_assets_name_the_setup_command(demo_client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(assets, "candidate_dirs", lambda configured: [tmp_path])
    assets.vendor_dir.cache_clear()
    try:
        with pytest.raises(ConfigurationError) as err:
            assets.vendor_dir(None)
        assert err.value.code == "map_assets_missing" and "scripts/setup.sh" in err.value.message
        r = demo_client.get("/maps/problems")
        assert r.status_code == 503 and r.json()["error"]["code"] == "map_assets_missing"
    finally:
        assets.vendor_dir.cache_clear()


def test_static_route_serves_only_the_map_packages(demo_client) -> None:
    assert demo_client.get("/static/vendor/leaflet/dist/leaflet.css").status_code == 200
    # Only what a browser needs: scripts, styles, images; never a package's or the service's configuration.
    assert demo_client.get("/static/vendor/leaflet/package.json").status_code == 404
    assert demo_client.get("/static/maps/basemaps.toml").status_code == 404
    assert demo_client.get("/static/maps/styles.toml").status_code == 404
    assert demo_client.get("/static/maps/js/rivergis.js").status_code == 200
    assert demo_client.get("/static/vendor/.package-lock.json").status_code == 404
    assert demo_client.get("/static/maps/%2e%2e/pyproject.toml").status_code == 404
    assert demo_client.get("/static/etc/passwd").status_code == 404


# ---- the data endpoint ----------------------------------------------------------------------------


def _site(
    code: str,
    lon: float,
    lat: float,
    status: str,
    category: str,
    town: str,
    river: str,
    found: dt.date,
    deadline: dt.date | None,
) -> dict:
    return {
        "code": code,
        "category": category,
        "status": status,
        "town": town,
        "river_code": river,
        "found_date": found,
        "deadline": deadline,
        "description": XSS if code == "P2" else "一般描述",
        "geometry": shapely.Point(lon, lat),
    }


@pytest.fixture
def four_sites(engine: Engine) -> Engine:
    """Four sites whose filter answers are worked out by hand in the tests."""
    past, future = TODAY - dt.timedelta(days=10), TODAY + dt.timedelta(days=10)
    rows = [
        _site("P1", 106.80001, 28.90002, "reported", "dumping", "万盛街道", "WS001", dt.date(2024, 1, 5), None),
        _site("P2", 106.85, 28.95, "assigned", "mining", "青年镇", "WS001", dt.date(2024, 3, 1), past),
        _site("P3", 106.9, 29.0, "closed", "dumping", "青年镇", "WS002", dt.date(2024, 6, 30), past),
        _site("P4", 107.0, 29.05, "rectifying", "construction", "万盛街道", "WS002", dt.date(2025, 1, 1), future),
    ]
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4490")
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["problems"], gdf)
    return engine


def test_map_data_filters_by_status_category_town_river_dates_and_overdue(four_sites, client) -> None:
    def n(query: str) -> int:
        r = client.get(f"/maps/data/problems?{query}")
        assert r.status_code == 200, r.text
        return r.json()["n"]

    assert n("") == 4
    assert n("status=reported,closed") == 2  # P1, P3
    assert n("status=已上报&status=已销号") == 2  # Chinese labels, repeated parameter
    assert n("category=dumping") == 2  # P1, P3
    assert n("category=乱堆&town=青年镇") == 1  # P3
    assert n("river=WS002") == 2  # P3, P4
    assert n("from=2024-02-01&to=2024-12-31") == 2  # P2 (03-01), P3 (06-30)
    # overdue: deadline passed and not finished; P3 is closed, P4's deadline is ahead, P1 has none.
    assert n("overdue=1") == 1  # P2
    assert n("bbox=106.79,28.89,106.86,28.96") == 2  # P1, P2


def test_map_data_is_compact_columns_that_decode_to_the_sites(four_sites, client) -> None:
    body = client.get("/maps/data/problems").json()
    ids, lon, lat, statuses, categories = decode(body)
    assert len(set(ids)) == 4 and body["ids"] == [[ids[0], 4]]  # four consecutive ids: one run
    # P1 at (106.80001, 28.90002): integers of 1e-5 degree, so exact to the 5th decimal.
    assert lon[0] == pytest.approx(106.80001, abs=1e-9) and lat[0] == pytest.approx(28.90002, abs=1e-9)
    # P4 is 0.19999 degree east of P1: 19 999 units, three base-64 digits (64**2 = 4096 < 19 999 < 64**3)
    assert body["wx"] == 3 and len(body["x"]) == 4 * 3
    assert statuses == ["reported", "assigned", "closed", "rectifying"]
    assert categories == ["dumping", "mining", "dumping", "construction"]
    record = client.get(f"/maps/data/problems/{ids[1]}").json()
    assert record["code"] == "P2" and record["overdue"] is True and record["description"] == XSS
    assert record["url"] == f"/api/v1/problems/{ids[1]}"


def test_map_data_rejects_bad_filters_with_the_fix(four_sites, client) -> None:
    for query, code in (
        ("status=gone", "bad_status"),
        ("category=x", "bad_category"),
        ("from=2024-13-01", "bad_date"),
        ("from=2024-05-01&to=2024-01-01", "bad_date_range"),
        ("bbox=1,2,3", "bad_bbox"),
        ("datum=mars", "bad_datum"),
    ):
        r = client.get(f"/maps/data/problems?{query}")
        assert r.status_code == 400 and r.json()["error"]["code"] == code, query
    assert client.get("/maps/data/problems/999999").status_code == 404
    assert client.get("/maps/data/layers/tokens").json()["error"]["code"] == "bad_map_layer"


def test_filter_in_the_page_url_presets_the_form(four_sites, client) -> None:
    page = client.get("/maps/problems?status=closed&town=青年镇&overdue=1").text
    assert re.search(r'value="closed" checked', page)
    assert re.search(r'<option value="青年镇" selected>', page)
    assert '"overdue":true' in page


# ---- river map, preview, static export -------------------------------------------------------------


def test_river_map_shows_ratio_panel_and_zones(demo_client) -> None:
    r = demo_client.get("/maps/rivers/WS002")
    assert r.status_code == 200
    assert "岸线功能区核算" in r.text and "保护区+保留区占比" in r.text
    assert "岸线保护区" in r.text and outside_urls(r.text) == set()
    missing = demo_client.get("/maps/rivers/NOPE")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "river_not_found"


def test_delivery_preview_marks_findings_escaped() -> None:
    lines = gpd.GeoDataFrame(
        {"river_code": ["WS001", "WS001"], "bank": ["left", XSS]},
        geometry=[
            shapely.LineString([(106.8, 28.9), (106.81, 28.91)]),
            shapely.LineString([(106.82, 28.9), (106.83, 28.91)]),
        ],
        crs="EPSG:4490",
    )
    findings = [
        {"lon": 106.805, "lat": 28.905, "code": "gap", "message": XSS, "severity": "error"},
        {"lon": 106.82, "lat": 28.9, "code": "z_values", "message": "带Z值", "severity": "warning"},
        {"code": "no_prj", "message": "缺少 .prj", "severity": "warning"},
    ]
    html = delivery_preview_html(lines, findings, MapSetup.of(Settings()))
    assert "<img src=x" not in html and "window.__xss=1</script" not in html
    assert "\\u0026lt;img src=x" in html  # the escaped popup text (&lt;img), carried as JSON
    assert re.search(r'data-count="severity:error">1<', html)  # one error
    assert re.search(r'data-count="severity:warning">2<', html)  # two warnings, one without a place
    assert outside_urls(html) == set()


def test_static_export_is_one_standalone_file(demo_engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "map.html"
    result = CliRunner().invoke(cli, ["map", "problems", "-o", str(out), "--status", "closed,dismissed"])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", html) and not re.search(r"<link[^>]+stylesheet", html)
    assert "L.MarkerClusterGroup" in html  # the plugin is inlined
    assert "data:image/png;base64," in html  # leaflet.css images inlined
    with demo_engine.connect() as conn:
        closed = conn.scalar(
            select(func.count()).select_from(Problem).where(Problem.status.in_(["closed", "dismissed"]))
        )
        one = conn.scalar(select(Problem.code).where(Problem.status == "closed").order_by(Problem.id))
    assert re.search(rf'"n":{closed},', html)
    assert html.count(f'"{one}"') == 1  # data embedded once, not per marker
    assert "<script>alert" not in html and "<img src=x onerror" not in html
    bad = CliRunner().invoke(cli, ["map", "problems", "-o", str(tmp_path / "x.html"), "--status", "nope"])
    assert bad.exit_code == 2 and "bad_status" in bad.output
