"""Low-zoom vector tiles: points merged per pixel with their count, shapes under a pixel left out."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import mapbox_vector_tile
import morecantile
from shapely.geometry import Point, box

from gis_service.catalogue import bundled_catalogue
from gis_service.db.engine import transaction
from gis_service.store.bulk import insert_features

TMS = morecantile.tms.get("WebMercatorQuad")
# At zoom 6 a pixel (1/256 of a tile) is 360 / 2^6 / 256 = 0.02197265625° of longitude:
# 106.000-106.002 lie in pixel column 4824 (105.996-106.018), 106.300-106.301 in 4837 (106.282-106.304),
# and at 28.90-28.95°N the rows of those sites are the same for each group (Mercator rows 1374 and 1377).
SITES = [
    ("A1", 106.000, 28.90, "reported"),
    ("A2", 106.001, 28.90, "reported"),
    ("A3", 106.002, 28.90, "reported"),
    ("B1", 106.300, 28.90, "reported"),
    ("B2", 106.301, 28.90, "closed"),
    ("C1", 106.500, 28.95, "assigned"),
]
TINY = box(106.600, 29.200, 106.601, 29.201)  # 0.001°: under a pixel at zoom 6, 0.7 pixel at zoom 10
LARGE = box(106.700, 29.100, 106.800, 29.200)  # 0.1°: 4.6 pixels at zoom 6


def _store(engine: Any) -> None:
    """Store the sites and the two occupied areas (one bulk write)."""
    codes = [s[0] for s in SITES] + ["TINY", "LARGE"]
    gdf = gpd.GeoDataFrame(
        {
            "code": codes,
            "category": ["dumping"] * len(codes),
            "status": [s[3] for s in SITES] + ["reported", "reported"],
        },
        geometry=[Point(s[1], s[2]) for s in SITES] + [TINY, LARGE],
        crs="EPSG:4490",
    )
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["problems"], gdf)


def _tile(client: Any, z: int, lon: float, lat: float, **params: str) -> list[dict[str, Any]]:
    """Return the features of the problems tile holding (lon, lat) at zoom ``z``."""
    t = TMS.tile(lon, lat, z)
    r = client.get(f"/ogc/collections/problems/tiles/WebMercatorQuad/{z}/{t.y}/{t.x}", params=params)
    assert r.status_code == 200, r.text
    return mapbox_vector_tile.decode(r.content)["problems"]["features"] if r.content else []


def _ids(client: Any) -> dict[str, int]:
    """Return the stored features' ids by code (read as items)."""
    items = client.get("/ogc/collections/problems/items", params={"limit": 100}).json()["features"]
    return {f["properties"]["code"]: f["id"] for f in items}


def test_a_low_zoom_tile_merges_points_per_pixel_and_leaves_out_shapes_under_a_pixel(client, engine):
    _store(engine)
    ids = _ids(client)
    assert all(TMS.tile(lon, lat, 6) == TMS.tile(106.0, 28.9, 6) for _, lon, lat, _ in SITES)
    features = _tile(client, 6, 106.0, 28.9)
    points = sorted((f for f in features if f["geometry"]["type"] == "Point"), key=lambda f: -f["properties"]["count"])
    # A: three reported sites in one pixel; B: reported and closed in one pixel (no shared colour); C alone.
    assert [f["properties"] for f in points] == [
        {"status": "reported", "count": 3},
        {"count": 2},
        {"status": "assigned", "count": 1},
    ]
    # A merged point has no id: MVT reads an absent id as 0 (ids of stored features start at 1).
    assert [f.get("id") or None for f in points] == [None, None, ids["C1"]]
    shapes = [f for f in features if f["geometry"]["type"] != "Point"]
    assert [(f["id"], f["properties"]) for f in shapes] == [(ids["LARGE"], {"status": "reported"})]


def test_filters_apply_before_merging(client, engine):
    _store(engine)
    features = _tile(client, 6, 106.0, 28.9, status="reported")
    counts = sorted(f["properties"]["count"] for f in features if f["geometry"]["type"] == "Point")
    assert counts == [1, 3]  # B2 (closed) is filtered out, B1 stands alone


def test_from_zoom_10_every_feature_is_its_own_with_its_attributes(client, engine):
    _store(engine)
    ids = _ids(client)
    features = _tile(client, 10, 106.001, 28.9)
    assert sorted(f["id"] for f in features) == sorted(ids[c] for c in ("A1", "A2", "A3"))
    assert {f["properties"]["code"] for f in features} == {"A1", "A2", "A3"}
    # The z10 tile of the tiny area (106.52-106.88°E) holds the large one too.
    tiny = _tile(client, 10, 106.6005, 29.2005)
    assert sorted(f["id"] for f in tiny) == sorted([ids["TINY"], ids["LARGE"]])
