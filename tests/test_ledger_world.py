"""A small hand-made district for the ledger and outfall tests, and the pure jurisdiction checks on it.

Two rivers flowing east, their approved ranges and zones, two towns (all EPSG:4490):
- 河一 ``R1``: centerline lat 28.900, lon 106.82–106.98; range lat 28.899–28.901.
  Zones: left bank (north, looking downstream) lat 28.9006: protected lon 106.82–106.86,
  developed lon 106.86–106.98; right bank lat 28.8994: controlled lon 106.82–106.98.
- 河二 ``R2``: centerline lat 28.905, lon 106.84–106.88; range lat 28.9035–28.9065 plus a lobe
  lon 106.86–106.87 reaching down to lat 28.9005 (into R1's range: a confluence).
- 万盛街道 lon 106.80–106.90 and 东林街道 lon 106.90–107.00, lat 28.80–29.00.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely import LineString, Point, box

from gis_service.analysis.jurisdiction import derive_jurisdiction
from gis_service.catalogue import bundled_catalogue
from gis_service.store.bulk import insert_features
from gis_service.store.deliveries import approve_delivery, submit_delivery

CRS = "EPSG:4490"
# Test sites: name → (lon, lat) and the jurisdiction worked out by hand.
SITE_IN_R1 = (106.85, 28.9002)  # inside R1's range only; 44 m from the protected left-bank line
SITE_BETWEEN = (106.85, 28.902)  # in neither range: R1 centerline 0.002° = 222 m away, R2's 0.003° = 334 m
SITE_IN_BOTH = (106.865, 28.9008)  # in both ranges: R1 centerline 89 m, R2's 467 m → R1
SITE_IN_R2 = (106.85, 28.905)  # on R2's centerline, inside its range
SITE_FAR = (106.85, 28.95)  # 5.5 km from any river
SITE_EAST = (106.95, 28.9003)  # in R1's range, in 东林街道, 33 m from the developed stretch


def frames() -> dict[str, gpd.GeoDataFrame]:
    """Return the district's layers as normalised frames."""
    towns = gpd.GeoDataFrame(
        {"code": ["T1", "T2"], "name": ["万盛街道", "东林街道"]},
        geometry=[box(106.80, 28.80, 106.90, 29.00), box(106.90, 28.80, 107.00, 29.00)],
        crs=CRS,
    )
    rivers = gpd.GeoDataFrame(
        {"code": ["R1", "R2"], "name": ["河一", "河二"], "important": [True, False]},
        geometry=[LineString([(106.82, 28.900), (106.98, 28.900)]), LineString([(106.84, 28.905), (106.88, 28.905)])],
        crs=CRS,
    )
    r2_range = box(106.84, 28.9035, 106.88, 28.9065).union(box(106.86, 28.9005, 106.87, 28.9036))
    ranges = gpd.GeoDataFrame(
        {"river_code": ["R1", "R2"]}, geometry=[box(106.82, 28.899, 106.98, 28.901), r2_range], crs=CRS
    )
    zones = gpd.GeoDataFrame(
        {
            "river_code": ["R1", "R1", "R1"],
            "bank": ["left", "left", "right"],
            "zone_type": ["protected", "developed", "controlled"],
        },
        geometry=[
            LineString([(106.82, 28.9006), (106.86, 28.9006)]),
            LineString([(106.86, 28.9006), (106.98, 28.9006)]),
            LineString([(106.82, 28.8994), (106.98, 28.8994)]),
        ],
        crs=CRS,
    )
    return {"towns": towns, "rivers": rivers, "ranges": ranges, "zones": zones}


def build_world(session) -> None:  # type: ignore[no-untyped-def]
    """Store the district: towns and rivers, and approved range and zone deliveries."""
    catalogue = bundled_catalogue()
    data = frames()
    insert_features(session, catalogue["towns"], data["towns"])
    insert_features(session, catalogue["rivers"], data["rivers"])
    for layer, frame in (("boundaries", data["ranges"]), ("zones", data["zones"])):
        for code, group in frame.groupby("river_code"):
            delivery = submit_delivery(session, catalogue[layer], str(code), group, actor="test")
            approve_delivery(session, delivery.id, actor="test")
    session.flush()


def sites(*points: tuple[float, float]) -> gpd.GeoDataFrame:
    """Return point sites at ``points``."""
    return gpd.GeoDataFrame(geometry=[Point(p) for p in points], crs=CRS)


def test_jurisdiction_inside_between_and_in_two_ranges() -> None:
    data = frames()
    got = derive_jurisdiction(
        sites(SITE_IN_R1, SITE_BETWEEN, SITE_IN_BOTH, SITE_IN_R2, SITE_FAR, SITE_EAST),
        data["rivers"],
        data["ranges"],
        data["towns"],
        500.0,
        zones=data["zones"],
    )
    assert got["river_code"].tolist() == ["R1", "R1", "R1", "R2", None, "R1"]
    assert got["inside_range"].tolist() == [True, False, True, True, False, True]
    assert got["town"].tolist() == ["万盛街道", "万盛街道", "万盛街道", "万盛街道", "万盛街道", "东林街道"]
    # Zone of the stretch: R1 site 44 m from protected (left) vs 89 m from controlled (right);
    # the between site (lat 28.902) is 155 m from the left bank line; R2 has no zones.
    assert got["zone_type"].tolist() == ["protected", "protected", "developed", None, None, "developed"]


def test_zone_of_site_ignores_another_rivers_zone_and_far_sites() -> None:
    data = frames()
    # A site on R2's centerline is 0.0044° = 489 m from R1's left bank line: within 500 m, but the
    # zone belongs to another river, so it never counts.
    got = derive_jurisdiction(
        sites(SITE_IN_R2), data["rivers"], data["ranges"], data["towns"], 500.0, zones=data["zones"]
    )
    assert got["zone_type"].tolist() == [None]
    # With a 100 m distance the between site (155 m from the bank line) lies on no stretch.
    got = derive_jurisdiction(
        sites(SITE_BETWEEN), data["rivers"], data["ranges"], data["towns"], 100.0, zones=data["zones"]
    )
    assert got["river_code"].tolist() == [None]
    assert got["zone_type"].tolist() == [None]


def test_jurisdiction_without_zones_keeps_the_old_signature() -> None:
    data = frames()
    got = derive_jurisdiction(sites(SITE_IN_R1), data["rivers"], data["ranges"], data["towns"], 500.0)
    assert got.loc[0, "river_code"] == "R1"
    assert pd.isna(got.loc[0, "zone_type"])


@pytest.fixture
def world_engine(engine):  # type: ignore[no-untyped-def]
    """A fresh database (each backend) holding the hand-made district."""
    from gis_service.db.engine import transaction

    with transaction(engine) as session:
        build_world(session)
    return engine
