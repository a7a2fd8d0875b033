"""Vector tiles on the wire: gzip at level 1 when the client takes it, and points where Web Mercator puts them."""

from __future__ import annotations

import gzip
import math

import geopandas as gpd
import mapbox_vector_tile
import morecantile
from shapely.geometry import Point

from gis_service.catalogue import bundled_catalogue
from gis_service.db.engine import transaction
from gis_service.store.bulk import insert_features

# Zoom 10, column 815 spans 106.523–106.875 E: sites S0000–S0199 (106.8000–106.8597 E, 28.90 N) all lie in it.
STEP = 0.0003
SITES = 200
TILE = "/ogc/collections/problems/tiles/WebMercatorQuad/10/426/815"
EARTH_RADIUS = 6378137.0  # EPSG:3857's sphere


def store_sites(engine, n: int) -> None:
    """Sites S0000… at (106.80 + STEP·i, 28.90)."""
    gdf = gpd.GeoDataFrame(
        {"code": [f"S{i:04d}" for i in range(n)], "category": ["dumping"] * n, "status": ["reported"] * n},
        geometry=[Point(106.80 + STEP * i, 28.90) for i in range(n)],
        crs="EPSG:4490",
    )
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["problems"], gdf)


def test_a_tile_travels_gzipped_at_level_one_and_decodes_to_the_same_tile(client, engine):
    store_sites(engine, SITES)
    with client.stream("GET", TILE, headers={"Accept-Encoding": "gzip"}) as response:
        wire = b"".join(response.iter_raw())
        encoding = response.headers.get("content-encoding")
        vary = response.headers.get("vary")
    plain = client.get(TILE, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert len(plain.content) >= 2048, len(plain.content)
    assert encoding == "gzip" and vary == "Accept-Encoding"
    # RFC 1952: byte 8 (XFL) is 4 when the compressor used its fastest setting (zlib's level 1).
    assert wire[:2] == b"\x1f\x8b" and wire[8] == 4
    assert gzip.decompress(wire) == plain.content and len(wire) < len(plain.content)
    features = mapbox_vector_tile.decode(plain.content)["problems"]["features"]
    assert len(features) == SITES


def test_tile_points_sit_where_web_mercator_puts_them(client, engine):
    store_sites(engine, SITES)
    left, bottom, right, top = morecantile.tms.get("WebMercatorQuad").xy_bounds(815, 426, 10)
    features = mapbox_vector_tile.decode(client.get(TILE).content)["problems"]["features"]
    at = {f["properties"]["code"]: f["geometry"]["coordinates"] for f in features}
    for i in (0, 99, 199):
        lon, lat = 106.80 + STEP * i, 28.90
        # Web Mercator by its formulas: x = R·λ, y = R·ln(tan(π/4 + φ/2)); the tile grid is 4096 a side, y up.
        x = EARTH_RADIUS * math.radians(lon)
        y = EARTH_RADIUS * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
        expected = ((x - left) / (right - left) * 4096, (y - bottom) / (top - bottom) * 4096)
        got = at[f"S{i:04d}"]
        assert abs(got[0] - expected[0]) <= 1 and abs(got[1] - expected[1]) <= 1, (i, got, expected)
