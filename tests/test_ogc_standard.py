"""OGC API - Features Parts 1-3 to the letter, HTML and vector tiles: the deviations of issue 14, each pinned."""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser

import geopandas as gpd
import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString, MultiLineString, Point

from gis_service.api.app import create_app
from gis_service.catalogue import bundled_catalogue
from gis_service.db.engine import transaction
from gis_service.db.models import Delivery
from gis_service.ogc.html import cell
from gis_service.store.bulk import insert_features
from tests.helpers import clear_caches


def store_rivers(engine) -> None:
    """Two rivers: A a diagonal whose box covers the test box but whose line misses it; B crosses it."""
    gdf = gpd.GeoDataFrame(
        {"code": ["A", "B"], "name": ["甲河", "乙河"], "level": ["town", "district"], "important": [False, True]},
        # A: (106.80, 28.80) → (106.90, 28.90), on y = x − 78.00; B: y = 28.82 from x 106.85 to 106.95.
        geometry=[
            MultiLineString([[(106.80, 28.80), (106.90, 28.90)]]),
            MultiLineString([[(106.85, 28.82), (106.95, 28.82)]]),
        ],
        crs="EPSG:4490",
    )
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["rivers"], gdf)


# Box 106.86–106.90 × 28.80–28.84: A there runs at y 28.86–28.90 (misses), B at y 28.82 (crosses).
TEST_BOX = "106.86,28.80,106.90,28.84"


def store_sites(engine, n: int = 12) -> None:
    """Sites S0000… at (106.80 + 0.001 i, 28.90), found on 2022-01-(i+1), town 青年镇 for even i, else 南桐镇."""
    gdf = gpd.GeoDataFrame(
        {
            "code": [f"S{i:04d}" for i in range(n)],
            "category": ["dumping" if i % 3 else "mining" for i in range(n)],
            "status": ["reported"] * n,
            "town": ["青年镇" if i % 2 == 0 else "南桐镇" for i in range(n)],
            "found_date": [dt.date(2022, 1, i + 1) for i in range(n)],
            "description": ["<script>alert('x')</script>"] + [f"第 {i} 处" for i in range(1, n)],
        },
        geometry=[Point(106.80 + 0.001 * i, 28.90) for i in range(n)],
        crs="EPSG:4490",
    )
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["problems"], gdf)


def codes(body: dict) -> list[str]:
    return [f["properties"]["code"] for f in body["features"]]


def test_bbox_keeps_only_features_whose_geometry_intersects(client, engine):
    store_rivers(engine)
    body = client.get("/ogc/collections/rivers/items", params={"bbox": TEST_BOX}).json()
    assert codes(body) == ["B"]
    assert body["numberMatched"] == 1 and body["numberReturned"] == 1


def test_number_matched_limit_cap_and_next_prev_links(client, engine, monkeypatch):
    store_sites(engine)
    body = client.get("/ogc/collections/problems/items", params={"limit": 5, "offset": 5}).json()
    assert body["numberMatched"] == 12 and body["numberReturned"] == 5
    assert codes(body) == [f"S{i:04d}" for i in range(5, 10)]
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert "offset=10" in rels["next"] and "limit=5" in rels["next"]
    assert "offset" not in rels["prev"] and "limit=5" in rels["prev"]  # back to the first page
    last = client.get(rels["next"].replace("http://testserver", "")).json()
    assert codes(last) == ["S0010", "S0011"] and last["numberMatched"] == 12
    assert "next" not in {link["rel"] for link in last["links"]}
    # Past the end: nothing returned, still the exact count.
    beyond = client.get("/ogc/collections/problems/items", params={"offset": 50}).json()
    assert beyond["numberReturned"] == 0 and beyond["numberMatched"] == 12
    # A limit above the maximum is capped, not refused.
    monkeypatch.setenv("RIVERGIS_MAX_LIMIT", "4")
    clear_caches()
    capped = client.get("/ogc/collections/problems/items", params={"limit": 1000})
    assert capped.status_code == 200 and capped.json()["numberReturned"] == 4
    clear_caches()


def test_unknown_and_bad_parameters_are_refused_by_name(client, engine):
    store_sites(engine, 2)
    for path in ("/ogc/collections/problems/items", "/ogc/collections", "/ogc/"):
        response = client.get(path, params={"colour": "red"})
        assert response.status_code == 400, path
        assert response.json()["error"]["code"] == "unknown_parameter"
        assert "colour" in response.json()["error"]["message"]
    assert client.get("/ogc/collections/problems/items", params={"limit": 0}).status_code == 400
    assert client.get("/ogc/collections/problems/items", params={"crs": "EPSG:3857"}).json()["error"]["code"] == (
        "unsupported_crs"
    )
    # A queryable given as name=value is a filter, not an unknown parameter, read as its field's type.
    assert codes(client.get("/ogc/collections/problems/items", params={"town": "南桐镇"}).json()) == ["S0001"]
    by_day = client.get("/ogc/collections/problems/items", params={"found_date": "2022-01-02"}).json()
    assert codes(by_day) == ["S0001"]
    assert codes(client.get("/ogc/collections/problems/items", params={"inside_range": "true"}).json()) == []
    bad = client.get("/ogc/collections/problems/items", params={"found_date": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_property_value"


def test_datetime_filters_dated_layers_and_is_refused_on_undated_ones(client, engine):
    store_sites(engine)
    one_day = client.get("/ogc/collections/problems/items", params={"datetime": "2022-01-03"}).json()
    assert codes(one_day) == ["S0002"]
    span = client.get("/ogc/collections/problems/items", params={"datetime": "../2022-01-02"}).json()
    assert codes(span) == ["S0000", "S0001"]
    moment = client.get("/ogc/collections/problems/items", params={"datetime": "2022-01-11T08:00:00Z/.."}).json()
    assert codes(moment) == ["S0010", "S0011"]
    described = client.get("/ogc/collections/problems").json()
    assert described["extent"]["temporal"]["interval"] == [["2022-01-01", "2022-01-12"]]
    refused = client.get("/ogc/collections/rivers/items", params={"datetime": "2022-01-03"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_datetime"
    assert client.get("/ogc/collections/problems/items", params={"datetime": "yesterday"}).status_code == 400


def _zone_versions(engine) -> dict[str, int]:
    """Three versions of WS001's zones: approved (v1, superseded by nothing), rejected (v2), submitted (v3)."""
    zones = bundled_catalogue()["zones"]
    made = {}
    with transaction(engine) as session:
        for version, status in ((1, "approved"), (2, "rejected"), (3, "submitted")):
            delivery = Delivery(river_code="WS001", layer="zones", version=version, status=status, feature_count=1)
            if status == "approved":
                delivery.decided_at = dt.datetime(2023, 5, 1, 2, 0, tzinfo=dt.UTC)
            session.add(delivery)
            session.flush()
            made[status] = delivery.id
            gdf = gpd.GeoDataFrame(
                {"code": [f"V{version}"], "river_code": ["WS001"], "bank": ["left"], "zone_type": ["protected"]},
                geometry=[LineString([(106.8, 28.8), (106.81, 28.81)])],
                crs="EPSG:4490",
            )
            insert_features(session, zones, gdf, {"delivery_id": delivery.id})
    return made


def test_item_by_id_serves_only_current_features_unless_a_version_is_asked(client, engine):
    made = _zone_versions(engine)
    listing = client.get("/ogc/collections/zones/items").json()
    assert codes(listing) == ["V1"]
    # A full page asks for the count: one current feature (v1), not the three stored.
    assert client.get("/ogc/collections/zones/items", params={"limit": 1}).json()["numberMatched"] == 1
    beyond = client.get("/ogc/collections/zones/items", params={"offset": 5, "delivery": made["submitted"]}).json()
    assert beyond["numberMatched"] == 1 and beyond["numberReturned"] == 0
    every = client.get("/ogc/collections/zones/items", params={"delivery": made["rejected"]}).json()
    assert codes(every) == ["V2"]
    rejected_id = every["features"][0]["id"]
    missing = client.get(f"/ogc/collections/zones/items/{rejected_id}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "feature_not_found"
    asked = client.get(f"/ogc/collections/zones/items/{rejected_id}", params={"delivery": made["rejected"]})
    assert asked.status_code == 200 and asked.json()["properties"]["code"] == "V2"
    # Versioned layers are dated by their approval.
    assert codes(client.get("/ogc/collections/zones/items", params={"datetime": "2023-05-01"}).json()) == ["V1"]
    assert codes(client.get("/ogc/collections/zones/items", params={"datetime": "2023-05-02/.."}).json()) == []


def test_links_follow_a_trusted_proxy_and_never_carry_the_token(client, engine, tokens, monkeypatch):
    store_sites(engine, 3)
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gis.example.org", "X-Forwarded-Prefix": "/hzz"}
    params = {"limit": 1, "access_token": tokens["viewer"]}
    untrusted = client.get("/ogc/collections/problems/items", params=params, headers=headers).json()
    assert all(link["href"].startswith("http://testserver/ogc/") for link in untrusted["links"])
    monkeypatch.setenv("RIVERGIS_TRUSTED_PROXIES", "testclient")  # the test client's address
    clear_caches()
    body = client.get("/ogc/collections/problems/items", params=params, headers=headers).json()
    clear_caches()
    hrefs = {link["rel"]: link["href"] for link in body["links"]}
    assert hrefs["collection"] == "https://gis.example.org/hzz/ogc/collections/problems"
    assert hrefs["next"].startswith("https://gis.example.org/hzz/ogc/collections/problems/items?")
    assert all(tokens["viewer"] not in link["href"] for link in [*body["links"], *untrusted["links"]])


def test_conformance_and_openapi_agree(client):
    landing = client.get("/ogc/").json()
    desc = next(link for link in landing["links"] if link["rel"] == "service-desc")
    document = client.get(desc["href"].replace("http://testserver", ""))
    assert document.headers["content-type"] == desc["type"] == "application/vnd.oai.openapi+json;version=3.0"
    openapi = document.json()
    assert openapi["openapi"].startswith("3.0.")
    conformance = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30" in conformance
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conformance
    assert openapi["servers"] == [{"url": "http://testserver/ogc"}]
    # Every collection's items path lists the parameters the route reads, queryables included.
    items = openapi["paths"]["/collections/problems/items"]["get"]["parameters"]
    names = {p.get("name") or p["$ref"].rsplit("/", 1)[-1] for p in items}
    assert {"bbox", "bbox-crs", "crs", "limit", "offset", "datetime", "filter", "filter-lang", "sortby"} <= names
    assert {"town", "category", "found_date"} <= names
    tile_path = "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"
    assert tile_path in openapi["paths"]
    # The whole service's own document stays OpenAPI 3.1, at its own address.
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_crs_output_axis_order_and_bbox_crs(client, engine):
    gdf = gpd.GeoDataFrame(
        {"code": ["CM"], "category": ["dumping"], "status": ["reported"]},
        geometry=[Point(108.0, 29.0)],
        crs="EPSG:4490",
    )
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["problems"], gdf)
    url = "/ogc/collections/problems/items"
    lat_lon = client.get(url, params={"crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})
    assert lat_lon.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4326>"
    assert lat_lon.json()["features"][0]["geometry"]["coordinates"] == pytest.approx([29.0, 108.0])
    # 108°E is the central meridian of 3° zone 36: easting 500 000 m (36 500 000 with the zone prefix);
    # EPSG's axis order for these CRSs is northing first.
    for code, easting in ((4545, 500000.0), (4524, 36500000.0)):
        body = client.get(url, params={"crs": f"EPSG:{code}"}).json()
        northing, east = body["features"][0]["geometry"]["coordinates"]
        assert east == pytest.approx(easting, abs=1e-6) and 3_200_000 < northing < 3_220_000
    assert client.get(url).headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    # A bbox in EPSG:4326 is lat/lon: 28.9–29.1 N by 107.9–108.1 E holds the site.
    boxed = client.get(url, params={"bbox": "28.9,107.9,29.1,108.1", "bbox-crs": "EPSG:4326"}).json()
    assert codes(boxed) == ["CM"]
    # The same box read as CRS84 (lon/lat) lies wholly beyond the pole (latitudes 107.9–108.1): a 400
    # naming the axis order, as does a lon-first box in EPSG:4326.
    for params in ({"bbox": "28.9,107.9,29.1,108.1"}, {"bbox": "107.9,28.9,108.1,29.1", "bbox-crs": "EPSG:4326"}):
        refused = client.get(url, params=params)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_bbox"
        assert "纬度" in refused.json()["error"]["message"]
    # A box past the poles that still holds the earth (a client zoomed far out) gets its features.
    assert codes(client.get(url, params={"bbox": "-200,-100,200,100"}).json()) == ["CM"]
    described = client.get("/ogc/collections/problems").json()
    assert described["storageCrs"] == "http://www.opengis.net/def/crs/EPSG/0/4490"
    assert "http://www.opengis.net/def/crs/EPSG/0/4545" in described["crs"]


def test_cql2_filters_sortby_and_properties(client, engine):
    store_sites(engine)
    url = "/ogc/collections/problems/items"
    text = client.get(url, params={"filter": "town = '青年镇' AND found_date >= DATE('2022-01-07')"}).json()
    assert codes(text) == ["S0006", "S0008", "S0010"] and text["numberMatched"] == 3
    as_json = {
        "op": "and",
        "args": [
            {"op": "=", "args": [{"property": "town"}, "南桐镇"]},
            {"op": "<", "args": [{"property": "code"}, "S0004"]},
        ],
    }
    body = client.get(url, params={"filter": json.dumps(as_json), "filter-lang": "cql2-json"}).json()
    assert codes(body) == ["S0001", "S0003"]
    # Sites 2, 3 and 4 lie in 106.8015–106.8045.
    spatial = client.get(url, params={"filter": "S_INTERSECTS(geometry, BBOX(106.8015, 28.8, 106.8045, 29.0))"})
    assert codes(spatial.json()) == ["S0002", "S0003", "S0004"]
    sorted_desc = client.get(url, params={"sortby": "-code", "limit": 3}).json()
    assert codes(sorted_desc) == ["S0011", "S0010", "S0009"]
    by_town = client.get(url, params={"sortby": "town,-code", "limit": 2}).json()
    assert codes(by_town) == ["S0011", "S0009"]  # 南桐镇 sorts before 青年镇 by code point
    slim = client.get(url, params={"properties": "code,town", "limit": 1}).json()["features"][0]["properties"]
    assert set(slim) - {"id", "lock_version"} == {"code", "town"}
    # Sorted by a property left out of the answer: site i was found on 2022-01-(i+1).
    latest = client.get(url, params={"properties": "code", "sortby": "-found_date", "limit": 2}).json()
    assert codes(latest) == ["S0011", "S0010"] and "found_date" not in latest["features"][0]["properties"]
    latest_mining = {"properties": "code", "sortby": "-found_date", "filter": "category = 'mining'"}
    assert codes(client.get(url, params=latest_mining).json()) == ["S0009", "S0006", "S0003", "S0000"]
    bad = client.get(url, params={"filter": "town = "})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_filter"
    assert "Unexpected" in bad.json()["error"]["message"]  # the parser's own words
    unknown = client.get(url, params={"filter": "colour = 'red'"})
    assert unknown.status_code == 400 and "colour" in unknown.json()["error"]["message"]
    assert client.get(url, params={"sortby": "colour"}).status_code == 400


def _two_rivers_zones(engine) -> int:
    """Zones: A's approved version (one stretch, Z1), B's (Z2), and A's submitted second (Z3, Z4); return its id."""
    from gis_service.store.deliveries import approve_delivery, submit_delivery

    zones = bundled_catalogue()["zones"]

    def stretches(river: str, codes: list[str], banks: list[str]) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(
            {"code": codes, "river_code": [river] * len(codes), "bank": banks, "zone_type": ["protected"] * len(codes)},
            geometry=[LineString([(106.80, 28.80), (106.81, 28.81)])] * len(codes),
            crs="EPSG:4490",
        )

    with transaction(engine) as session:
        for river, code in (("A", "Z1"), ("B", "Z2")):
            approve_delivery(
                session,
                submit_delivery(session, zones, river, stretches(river, [code], ["left"]), actor="t").id,
                actor="t",
            )
        return submit_delivery(session, zones, "A", stretches("A", ["Z3", "Z4"], ["left", "right"]), actor="t").id


def test_a_filter_fixing_a_river_reads_as_the_river_parameter_does(client, engine):
    """A filter's ``river_code = '…'`` narrows a versioned layer's deliveries like ``?river_code=`` (same features)."""
    second = _two_rivers_zones(engine)
    url = "/ogc/collections/zones/items"

    def found(**params: str) -> list[str]:
        body = client.get(url, params=params).json()
        assert body["numberMatched"] == body["numberReturned"], body
        return sorted(codes(body))

    assert found(filter="river_code = 'A'") == found(river_code="A") == ["Z1"]
    assert found(filter="'A' = river_code AND bank = 'left' AND zone_type = 'protected'") == ["Z1"]
    assert found(filter="river_code = 'A' OR river_code = 'B'") == ["Z1", "Z2"]
    assert found(filter="(river_code = 'B' OR river_code = 'C') AND bank = 'left'") == ["Z2"]
    assert found(filter="NOT (river_code = 'A')") == ["Z2"]
    # CQL2 binds AND before OR, and NOT takes any parenthesised condition (pygeofilter 0.4.0 did neither).
    assert found(filter="river_code = 'B' OR river_code = 'A' AND bank = 'right'") == ["Z2"]
    assert found(filter="NOT (river_code = 'A' OR river_code = 'C')") == ["Z2"]
    assert found(filter="NOT (river_code = 'A' OR bank = 'left')") == []
    assert found(filter="river_code = 'A' AND river_code = 'B'") == []
    assert found(filter="river_code = 'A'", river_code="B") == []
    assert found(filter="river_code = 'A' AND bank = 'right'", delivery=str(second)) == ["Z4"]
    as_json = {"op": "=", "args": [{"property": "river_code"}, "B"]}
    assert found(filter=json.dumps(as_json), **{"filter-lang": "cql2-json"}) == ["Z2"]
    # A list of rivers narrows the deliveries to theirs: the same features as the filter alone keeps.
    assert found(filter="river_code IN ('A', 'B')") == ["Z1", "Z2"]
    assert found(filter="river_code IN ('B', 'C') AND bank = 'left'") == ["Z2"]
    assert found(filter="river_code NOT IN ('A')") == ["Z2"]
    assert found(filter="river_code IN ('B')", river_code="A") == []
    assert found(filter="river_code IN ('A', 'B') AND bank = 'right'", delivery=str(second)) == ["Z4"]
    as_json = {"op": "in", "args": [{"property": "river_code"}, ["A", "C"]]}
    assert found(filter=json.dumps(as_json), **{"filter-lang": "cql2-json"}) == ["Z1"]
    # The read the route builds: the river fixed by the filter is an equality filter of its own.
    from urllib.parse import urlencode

    from starlette.requests import Request

    from gis_service.api.routers.ogc import ITEMS_PARAMS
    from gis_service.ogc.request import feature_read

    query = urlencode({"filter": "river_code = 'A' AND bank = 'left'", "zone_type": "protected"}).encode()
    request = Request({"type": "http", "method": "GET", "path": url, "query_string": query, "app": client.app})
    read, _ = feature_read(request, bundled_catalogue()["zones"], ITEMS_PARAMS)
    assert read.where == {"river_code": "A", "bank": "left", "zone_type": "protected"} and read.clause is not None
    query = urlencode({"filter": "river_code IN ('A', 'B', 'A') AND bank = 'left'"}).encode()
    request = Request({"type": "http", "method": "GET", "path": url, "query_string": query, "app": client.app})
    read, _ = feature_read(request, bundled_catalogue()["zones"], ITEMS_PARAMS)
    assert read.rivers == ("A", "B") and read.where == {"bank": "left"}
    query = urlencode({"filter": "river_code = 'B' OR river_code = 'C'"}).encode()
    request = Request({"type": "http", "method": "GET", "path": url, "query_string": query, "app": client.app})
    assert feature_read(request, bundled_catalogue()["zones"], ITEMS_PARAMS)[0].rivers == ("B", "C")


def test_cql2_text_binds_and_before_or_and_negates_any_condition():
    """The standard's ``booleanValueExpression``: OR of AND-terms of NOT-able factors; left to right within a level."""
    from pygeofilter import ast

    from gis_service.ogc.cql2_text import parse

    a, b, c = (ast.Equal(ast.Attribute(name), "x") for name in ("river_code", "bank", "zone_type"))
    assert parse("river_code = 'x' OR bank = 'x' AND zone_type = 'x'") == ast.Or(a, ast.And(b, c))
    assert parse("river_code = 'x' AND bank = 'x' OR zone_type = 'x'") == ast.Or(ast.And(a, b), c)
    assert parse("(river_code = 'x' OR bank = 'x') AND zone_type = 'x'") == ast.And(ast.Or(a, b), c)
    assert parse("river_code = 'x' or bank = 'x' or zone_type = 'x'") == ast.Or(ast.Or(a, b), c)
    assert parse("NOT (river_code = 'x' OR bank = 'x')") == ast.Not(ast.Or(a, b))
    assert parse("NOT river_code = 'x' AND bank = 'x'") == ast.And(ast.Not(a), b)
    assert parse("not not (river_code = 'x')") == ast.Not(ast.Not(a))
    # An arithmetic parenthesis after NOT is still read as one.
    sum_ = ast.Add(ast.Attribute("level"), 1)
    assert parse("NOT (level + 1) > 3") == ast.Not(ast.GreaterThan(sum_, 3))
    assert parse("NOT ((level + 1) > 3 OR bank = 'x')") == ast.Not(ast.Or(ast.GreaterThan(sum_, 3), b))
    # What pygeofilter's own grammar reads right reads the same.
    from pygeofilter.parsers.cql2_text import parse as theirs

    for text in (
        "town = '青年镇' AND found_date >= DATE('2022-01-07')",
        "S_INTERSECTS(geometry, BBOX(106.8015, 28.8, 106.8045, 29.0))",
        "river_code NOT IN ('A') AND level IN (1, 2)",
        "code LIKE 'S%' AND NOT (code = 'S0001')",
    ):
        assert parse(text) == theirs(text)


def test_boolean_literals_are_conditions_and_keywords_and_names_read_as_cql2_has_them(client, engine):
    """Basic CQL2's ``booleanPrimary`` holds a boolean literal; its keywords are of any case; a property name is one
    character or more, of most of Unicode (pygeofilter 0.4.0 read none of these)."""
    from pygeofilter import ast

    from gis_service.ogc.cql2_text import parse

    store_sites(engine)
    url = "/ogc/collections/problems/items"

    def found(text: str, language: str = "cql2-text") -> list[str]:
        answer = client.get(url, params={"filter": text, "filter-lang": language, "limit": 100})
        assert answer.status_code == 200, answer.text
        return sorted(codes(answer.json()))

    every = found("code >= 'S'")
    youth = found("town = '青年镇'")
    assert len(every) == 12 and 0 < len(youth) < 12
    assert found("TRUE") == found("true") == found("NOT FALSE") == found("(TRUE)") == every
    assert found("FALSE") == found("NOT TRUE") == found("town = '青年镇' AND false") == []
    assert found("town = '青年镇' AND TRUE") == found("FALSE OR town = '青年镇'") == youth
    assert found("TRUE OR town = '青年镇' AND FALSE") == every  # AND binds first
    assert found("true", "cql2-json") == every and found("false", "cql2-json") == []
    as_json = {"op": "and", "args": [True, {"op": "=", "args": [{"property": "town"}, "青年镇"]}]}
    assert found(json.dumps(as_json), "cql2-json") == youth
    assert found(json.dumps({"op": "not", "args": [False]}), "cql2-json") == every
    # Keywords of any case: the same features as upper case.
    assert found("found_date >= date('2022-01-07')") == found("found_date >= DATE('2022-01-07')") != []
    # A value alone is no condition: a 400 that says what to write.
    for text in ("town", "'青年镇'", "3", "town AND TRUE"):
        refused = client.get(url, params={"filter": text})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_filter", text
        assert "TRUE" in refused.json()["error"]["message"] and "x = 'a'" in refused.json()["error"]["message"]
    # Names of one character, in Chinese, or starting as a keyword does are property names.
    d = ast.Attribute("d")
    assert parse("d = DATE('2020-01-02')") == ast.Equal(d, dt.date(2020, 1, 2))
    x = ast.Attribute("x")
    assert parse("d IS NOT NULL AND x > -1.5") == ast.And(ast.IsNull(d, True), ast.GreaterThan(x, -1.5))
    assert parse("河流编码 = 'A' AND 岸别 <> 'L'") == ast.And(
        ast.Equal(ast.Attribute("河流编码"), "A"), ast.NotEqual(ast.Attribute("岸别"), "L")
    )
    assert parse("false_alarm = TRUE AND truex = false") == ast.And(
        ast.Equal(ast.Attribute("false_alarm"), True), ast.Equal(ast.Attribute("truex"), False)
    )
    assert parse("notes LIKE 'a%' OR order_no IN (1, 2)") == parse('"notes" LIKE \'a%\' OR "order_no" IN (1, 2)')


def test_fixed_texts_are_the_equalities_every_kept_feature_holds():
    from gis_service.ogc.cql2_text import parse
    from gis_service.ogc.filters import fixed_texts

    assert fixed_texts(parse("river_code = 'A'")) == {"river_code": "A"}
    assert fixed_texts(parse("'A' = river_code AND (bank = 'left' AND zone_type = 'x')")) == {
        "river_code": "A",
        "bank": "left",
        "zone_type": "x",
    }
    # Only what holds whatever the rest says: not under OR or NOT, not a number, not another operator.
    assert fixed_texts(parse("river_code = 'A' OR bank = 'left'")) == {}
    assert fixed_texts(parse("NOT (river_code = 'A')")) == {}
    assert fixed_texts(parse("river_code <> 'A' AND code > 'B' AND river_code IN ('C')")) == {}
    assert fixed_texts(parse("level = 3 AND town = '青年镇'")) == {"town": "青年镇"}
    assert fixed_texts(parse("river_code = 'A' AND river_code = 'B'")) == {"river_code": "A"}


def test_fixed_sets_are_the_lists_every_kept_feature_is_in():
    from pygeofilter.parsers.cql2_json import parse as parse_json

    from gis_service.ogc.cql2_text import parse
    from gis_service.ogc.filters import fixed_sets

    assert fixed_sets(parse("river_code IN ('A', 'B')")) == {"river_code": ("A", "B")}
    assert fixed_sets(parse("bank = 'left' AND (river_code IN ('B', 'A', 'B') AND zone_type IN ('x'))")) == {
        "river_code": ("B", "A"),
        "zone_type": ("x",),
    }
    # Equalities of one field joined by OR are such a list too, under the outer AND.
    assert fixed_sets(parse("river_code = 'A' OR 'B' = river_code OR river_code = 'A'")) == {"river_code": ("A", "B")}
    assert fixed_sets(parse("bank = 'left' AND (river_code = 'B' OR (river_code = 'C'))")) == {"river_code": ("B", "C")}
    # Only what holds whatever the rest says: not under OR or NOT, not NOT IN, not numbers, not two fields.
    assert fixed_sets(parse("river_code IN ('A') OR bank = 'left'")) == {}
    assert fixed_sets(parse("river_code = 'A' OR bank = 'left'")) == {}
    assert fixed_sets(parse("river_code = 'A' OR river_code <> 'B'")) == {}
    assert fixed_sets(parse("level = 1 OR level = 2")) == {}
    assert fixed_sets(parse("NOT (river_code IN ('A'))")) == {}
    either = {"op": "or", "args": [{"op": "=", "args": [{"property": "river_code"}, v]} for v in "AB"]}
    assert fixed_sets(parse_json(either)) == {"river_code": ("A", "B")}
    assert fixed_sets(parse_json({"op": "not", "args": [either]})) == {}
    assert fixed_sets(parse("NOT (river_code = 'A' OR river_code = 'B')")) == {}
    assert fixed_sets(parse("river_code = 'A' OR river_code = 'B' AND bank = 'left'")) == {}  # A, or B on the left
    assert fixed_sets(parse("river_code NOT IN ('A') AND level IN (1, 2) AND river_code = 'C'")) == {}


def test_queryables_come_from_the_catalogue(client):
    schema = client.get("/ogc/collections/problems/queryables")
    assert schema.headers["content-type"].startswith("application/schema+json")
    body = schema.json()
    assert body["properties"]["town"] == {"title": "镇街", "type": "string"}
    assert body["properties"]["found_date"]["format"] == "date"
    assert set(body["properties"]["category"]["enum"]) == set(bundled_catalogue()["problems"].field("category").values)
    assert body["properties"]["geometry"]["x-ogc-role"] == "primary-geometry"


def test_html_for_a_browser_with_an_offline_map_and_escaped_text(client, engine):
    store_sites(engine, 3)
    page = client.get("/ogc/collections/problems/items", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.headers["content-type"].startswith("text/html")
    assert "/static/vendor/leaflet/dist/leaflet.js" in page.text and "unpkg" not in page.text
    assert "<script>alert" not in page.text  # stored markup shown as text
    assert client.get("/ogc/collections/problems/items").headers["content-type"].startswith("application/geo+json")
    for path in ("/ogc/", "/ogc/collections", "/ogc/collections/problems"):
        assert client.get(path, params={"f": "html"}).headers["content-type"].startswith("text/html"), path
    fid = client.get("/ogc/collections/problems/items").json()["features"][0]["id"]
    one = client.get(f"/ogc/collections/problems/items/{fid}", params={"f": "html"})
    assert one.status_code == 200 and "S0000" in one.text and "<script>alert" not in one.text
    leaflet = client.get("/static/vendor/leaflet/dist/leaflet.js")
    assert leaflet.status_code == 200


class Cells(HTMLParser):
    """The text of each table row's cells, as a browser shows it (entities decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_rows(page: str) -> list[list[str]]:
    parser = Cells()
    parser.feed(page)
    return parser.rows


def test_html_shows_values_in_words_and_numbers_without_noise_json_as_stored(client, engine):
    gdf = gpd.GeoDataFrame(
        {
            "code": ["A", "B"],
            "name": ["<b>甲河</b>", "乙河"],
            "level": ["town", None],
            "important": [True, False],
            "basin_area_km2": [58.39199999, None],
            "extra": [{"备注": "<i>演示</i>", "已核实": True, "长度": 1204.3000000001}, None],
        },
        geometry=[LineString([(106.80, 28.80), (106.90, 28.90)]), LineString([(106.85, 28.82), (106.95, 28.82)])],
        crs="EPSG:4490",
    )
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["rivers"], gdf)
    page = client.get("/ogc/collections/rivers/items", params={"f": "html", "sortby": "code"}).text
    header, *rows = table_rows(page)
    assert header == ["序号", "河流编码", "河流名称", "河长级别", "重要河道", "流域面积(km²)", "所在镇街"]
    # 是/否 as the workbench says them, a number as measured, nothing as an empty cell; markup shown as text.
    assert [r[1:] for r in rows] == [["A", "<b>甲河</b>", "镇级", "是", "58.392", ""], ["B", "乙河", "", "否", "", ""]]
    assert "<b>甲河" not in page and "&lt;b&gt;甲河&lt;/b&gt;" in page
    fid = rows[0][0]
    one = client.get(f"/ogc/collections/rivers/items/{fid}", params={"f": "html"}).text
    shown = dict(table_rows(one)[1:])
    assert shown["重要河道"] == "是" and shown["流域面积(km²)"] == "58.392" and shown["所在镇街"] == ""
    assert shown["其他字段"] == "备注：<i>演示</i>；已核实：是；长度：1204.3"  # the JSON column in words, not a dict
    assert "<i>演示" not in one and "<b>甲河" not in one
    for text in (page, one):
        cells = [c for row in table_rows(text) for c in row]
        assert not {"True", "False", "None", "null"} & set(cells), cells
    # The API's answers stay as stored: booleans true/false, the number and the JSON object unrounded.
    body = client.get("/ogc/collections/rivers/items", params={"sortby": "code"}).json()
    a, b = (f["properties"] for f in body["features"])
    assert a["important"] is True and b["important"] is False and b["basin_area_km2"] is None
    assert a["basin_area_km2"] == 58.39199999 and a["extra"]["长度"] == 1204.3000000001 and a["extra"]["已核实"] is True
    item = client.get(f"/ogc/collections/rivers/items/{fid}").json()["properties"]
    assert item["important"] is True and item["extra"]["备注"] == "<i>演示</i>"


def test_html_item_page_names_the_system_columns_and_leaves_the_locking_counter_to_the_api(client, engine):
    store_sites(engine, 2)
    fid = client.get("/ogc/collections/problems/items", params={"sortby": "code"}).json()["features"][0]["id"]
    item = client.get(f"/ogc/collections/problems/items/{fid}").json()["properties"]
    assert "lock_version" in item  # the API's JSON keeps it (a client's If-Match)
    shown = dict(table_rows(client.get(f"/ogc/collections/problems/items/{fid}", params={"f": "html"}).text)[1:])
    assert shown["序号"] == str(fid) and shown["编号"] == "S0000"
    labels = set(shown)
    assert not {"id", "lock_version"} & labels, labels  # no raw column name, no locking counter


def test_html_cell_text_of_each_kind_of_value():
    values = [True, False, None, "", 13, 2040.0, 0.6118516968381431, 0.00052, -0.0, float("nan"), [1, "<a>", None]]
    assert [cell(v) for v in values] == ["是", "否", "", "", "13", "2040", "0.612", "0.00052", "0", "", "1、<a>、"]
    assert cell({}) == "" and cell("2022-03-01") == "2022-03-01" and cell({"a": {"b": 1.5}}) == "a：b：1.5"


def test_vector_tiles_hold_the_current_features_and_answer_etags(client, engine):
    store_sites(engine)
    # Zoom 10 tile holding 106.80–106.811 E, 28.90 N: column floor((106.8+180)/360·1024) = 815,
    # row floor((1 − ln(tan φ + sec φ)/π)/2·1024) = floor(426.07) for φ = 28.9°.
    response = client.get("/ogc/collections/problems/tiles/WebMercatorQuad/10/426/815")
    assert response.status_code == 200 and response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(response.content)
    features = decoded["problems"]["features"]
    assert sorted(f["properties"]["code"] for f in features) == [f"S{i:04d}" for i in range(12)]
    filtered = client.get("/ogc/collections/problems/tiles/WebMercatorQuad/10/426/815", params={"town": "青年镇"})
    assert len(mapbox_vector_tile.decode(filtered.content)["problems"]["features"]) == 6
    again = client.get(
        "/ogc/collections/problems/tiles/WebMercatorQuad/10/426/815",
        headers={"If-None-Match": response.headers["etag"]},
    )
    assert again.status_code == 304
    assert "max-age" in response.headers["cache-control"]
    empty = client.get("/ogc/collections/problems/tiles/WebMercatorQuad/10/0/0")
    assert empty.status_code == 200 and empty.content == b""
    assert client.get("/ogc/collections/problems/tiles/WebMercatorQuad/3/8/0").status_code == 404
    assert client.get("/ogc/collections/problems/tiles/WorldCRS84Quad/3/0/0").status_code == 404
    tilejson = client.get("/ogc/collections/problems/tiles/WebMercatorQuad/tilejson.json").json()
    assert tilejson["tiles"][0].endswith("/ogc/collections/problems/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert tilejson["vector_layers"][0]["id"] == "problems"
    tileset = client.get("/ogc/collections/problems/tiles/WebMercatorQuad").json()
    item = next(link for link in tileset["links"] if link["rel"] == "item")
    assert item["templated"] and item["href"].endswith("/{tileMatrix}/{tileRow}/{tileCol}")
    assert client.get("/ogc/tileMatrixSets/WebMercatorQuad").json()["id"] == "WebMercatorQuad"


def test_links_honour_the_apps_root_path(engine):
    store_sites(engine, 3)
    # Served under /gis by an ASGI server started with --root-path /gis.
    with TestClient(create_app(engine), root_path="/gis") as client:
        body = client.get("/ogc/collections/problems/items", params={"limit": 1}).json()
    hrefs = {link["rel"]: link["href"] for link in body["links"]}
    assert hrefs["collection"] == "http://testserver/gis/ogc/collections/problems"
    assert hrefs["next"].startswith("http://testserver/gis/ogc/collections/problems/items?")


@pytest.mark.parametrize(
    "path, params",
    [
        ("/ogc/collections/problems/items", {"sortby": "-"}),
        ("/ogc/collections/problems/items", {"sortby": ","}),
        ("/ogc/collections/problems/items", {"offset": str(10**20)}),
        ("/ogc/collections/problems/items", {"limit": str(10**20)}),
        ("/ogc/collections/problems/items/" + str(10**20), {}),
        ("/ogc/collections/problems/items", {"datetime": "2022-13-01"}),
        ("/ogc/collections/problems/items", {"bbox": "nan,nan,nan,nan"}),
        ("/ogc/collections/problems/items", {"bbox": "0,0,1,1", "bbox-crs": "EPSG:4545"}),
        ("/ogc/collections/problems/items", {"filter": "S_INTERSECTS(geometry, POINT(1e300 1e300))"}),
        ("/ogc/collections/problems/items", {"filter": "town = 3"}),
        ("/ogc/collections/problems/items", {"filter": "{", "filter-lang": "cql2-json"}),
        ("/ogc/collections/problems/items", {"filter": "found_date > 'soon'"}),
        ("/ogc/collections/problems/items", {"properties": "code,,"}),
        ("/ogc/collections/problems/items", {"f": "xml"}),
        ("/ogc/collections/problems/tiles/WebMercatorQuad/30/0/0", {}),
        ("/ogc/collections/problems/tiles/WebMercatorQuad/2/1/3", {"filter": "town = 3"}),
        ("/ogc/collections/problems/tiles/WebMercatorQuad/2/-1/0", {}),
    ],
)
def test_odd_input_is_a_clear_4xx_never_a_500(client, engine, path, params):
    store_sites(engine, 2)
    response = client.get(path, params=params)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["code"] and response.json()["error"]["message"]
