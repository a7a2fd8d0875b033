"""The service skeleton over HTTP: health, OpenAPI, layers as GeoJSON with bbox and paging, errors, auth."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import Point

from gis_service.catalogue import bundled_catalogue
from gis_service.db.engine import transaction
from gis_service.store.bulk import insert_features
from tests.helpers import bearer


def _outfalls(engine, n: int) -> None:
    # n outfalls on a diagonal: outfall i at (106.80 + 0.01 i, 28.80 + 0.01 i).
    gdf = gpd.GeoDataFrame(
        {
            "code": [f"P{i:03d}" for i in range(n)],
            "name": [f"排口{i}" for i in range(n)],
            "outfall_type": ["industrial"] * n,
        },
        geometry=[Point(106.80 + 0.01 * i, 28.80 + 0.01 * i) for i in range(n)],
        crs="EPSG:4490",
    )
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["outfalls"], gdf)


def test_health_and_openapi(client):
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    docs = client.get("/docs")
    assert docs.status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/api/v1/layers/{layer}/features" in schema["paths"]


def test_layer_features_page_with_next_links_and_bbox(client, engine):
    _outfalls(engine, 25)
    first = client.get("/api/v1/layers/outfalls/features", params={"limit": 10})
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/geo+json")
    body = first.json()
    assert [f["properties"]["code"] for f in body["features"]] == [f"P{i:03d}" for i in range(10)]
    nxt = [link for link in body["links"] if link["rel"] == "next"][0]["href"]
    last = client.get(nxt.replace("http://testserver", "")).json()
    assert last["features"][0]["properties"]["code"] == "P010"
    third = client.get("/api/v1/layers/outfalls/features", params={"limit": 10, "offset": 20}).json()
    assert third["numberReturned"] == 5 and third["links"] == []
    # The box 106.845–106.875 holds outfalls 5, 6 and 7 (106.85, 106.86, 106.87).
    boxed = client.get("/api/v1/layers/outfalls/features", params={"bbox": "106.845,28.0,106.875,30"}).json()
    assert [f["properties"]["code"] for f in boxed["features"]] == ["P005", "P006", "P007"]
    one = client.get(f"/api/v1/layers/outfalls/features/{boxed['features'][0]['id']}").json()
    assert one["geometry"]["coordinates"] == [106.85, 28.85]


def test_layer_features_filter_by_river_and_serve_one_feature_as_on_the_page(client, engine):
    # Two rivers' outfalls; WS002's second one has no responsible party recorded.
    gdf = gpd.GeoDataFrame(
        {
            "code": ["K1", "K2", "K3"],
            "name": ["万盛污水处理厂排口", "青年镇排口", "关坝镇雨污混排口"],
            "river_code": ["WS001", "WS002", "WS002"],
            "outfall_type": ["municipal", "other", "other"],
            "responsible": ["区水务局", "青年镇人民政府", None],
        },
        geometry=[Point(106.91, 28.95), Point(106.95, 28.97), Point(106.97, 28.99)],
        crs="EPSG:4490",
    )
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["outfalls"], gdf)
    page = client.get("/api/v1/layers/outfalls/features", params={"river_code": "WS002", "limit": 1})
    assert "青年镇排口" in page.text
    body = page.json()
    assert list(body) == ["type", "features", "numberReturned", "links"]
    assert [f["properties"]["code"] for f in body["features"]] == ["K2"]
    rest = client.get(body["links"][0]["href"].replace("http://testserver", "")).json()
    assert [f["properties"]["code"] for f in rest["features"]] == ["K3"] and rest["links"] == []
    assert rest["features"][0]["properties"]["responsible"] is None
    assert rest["features"][0]["properties"]["name"] == "关坝镇雨污混排口"
    fid = body["features"][0]["id"]
    assert client.get(f"/api/v1/layers/outfalls/features/{fid}").json() == body["features"][0]


def test_bad_requests_get_the_json_error_model(client):
    unknown = client.get("/api/v1/layers/bridges/features")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_layer"
    bad_bbox = client.get("/api/v1/layers/rivers/features", params={"bbox": "1,2,3"})
    assert bad_bbox.status_code == 400 and bad_bbox.json()["error"]["code"] == "bad_bbox"
    bad_limit = client.get("/api/v1/layers/rivers/features", params={"limit": "many"})
    assert bad_limit.status_code == 400 and bad_limit.json()["error"]["code"] == "invalid_request"
    missing = client.get("/api/v1/layers/rivers/features/999999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "feature_not_found"


def test_write_routes_need_a_token_of_the_right_role_and_are_audited(client, tokens):
    body = {"name": "张工", "role": "surveyor"}
    assert client.post("/api/v1/tokens", json=body).json()["error"]["code"] == "token_required"
    assert client.post("/api/v1/tokens", json=body, headers=bearer("rg_wrong")).status_code == 401
    refused = client.post("/api/v1/tokens", json=body, headers=bearer(tokens["surveyor"]))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_role"
    made = client.post("/api/v1/tokens", json=body, headers=bearer(tokens["admin"]))
    assert made.status_code == 201
    new_token = made.json()["token"]
    assert client.get("/api/v1/audit", headers=bearer(new_token)).status_code == 403
    entries = client.get("/api/v1/audit", headers=bearer(tokens["admin"])).json()["entries"]
    assert entries[0]["action"] == "token.create" and entries[0]["actor"] == "test-admin"
    assert entries[0]["target_id"] == "张工"


def test_tokens_are_stored_hashed(engine, tokens):
    from sqlalchemy import text

    with engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT token_hash FROM tokens"))]
    assert len(stored) == 3 and not set(stored) & set(tokens.values())


def test_private_read_needs_a_viewer_token(client, tokens, monkeypatch):
    from tests.helpers import clear_caches

    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "false")
    clear_caches()
    assert client.get("/api/v1/layers").status_code == 401
    assert client.get("/api/v1/layers", headers=bearer(tokens["viewer"])).status_code == 200


def test_api_docs_work_offline(client):
    import re

    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]|url: ?['"]([^'"]+)['"]""", page.text)
    loaded = [u for pair in urls for u in pair if u]
    assert loaded and not [u for u in loaded if u.startswith(("http://", "https://", "//"))]
    for url in loaded:
        assert client.get(url).status_code == 200, url
