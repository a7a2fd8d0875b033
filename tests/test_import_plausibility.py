"""Ranges out of proportion to their river, a polygon over the whole district, and web-map (GCJ-02) lon/lat."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import prcoords
import pytest
import shapely
from sqlalchemy import Engine

from gis_service.settings import get_settings
from gis_service.store.features import read_features
from tests.test_import_fixtures import cli, shapefile_zip, write


def centerline(engine: Engine, code: str = "WS001") -> gpd.GeoDataFrame:
    """Return a stored river centerline (EPSG:4490)."""
    with engine.connect() as conn:
        return read_features(conn, "rivers", where={"code": code})


def warnings_of(body: dict, code: str) -> list[dict]:
    """Return the report's findings with ``code``."""
    return [f for f in body["findings"] if f["code"] == code]


def test_polygon_covering_the_district_is_a_warning_with_its_share_not_outside(
    demo_engine: Engine, tmp_path: Path
) -> None:
    minx, miny, maxx, maxy = get_settings().district_bbox
    # The district's box grown by 0.01° a side: (0.44 × 0.45) / (0.42 × 0.43) ≈ 1.096 of its area.
    cover = shapely.box(minx - 0.01, miny - 0.01, maxx + 0.01, maxy + 0.01)
    frame = gpd.GeoDataFrame({"河流编码": ["WS001"]}, geometry=[cover], crs=4490)
    exit_code, body = cli("import", "boundaries", str(write(frame, tmp_path / "r.gpkg")), "--dry-run")
    assert exit_code == 0, body
    assert "outside_district" not in body["codes"]
    assert len(warnings_of(body, "beyond_district")) == 1
    [covers] = warnings_of(body, "range_covers_district")
    assert covers["value"] == pytest.approx(1.096, abs=0.01)
    assert "占万盛经开区范围的 110%" in covers["message"]


def test_range_five_km_wide_on_a_stream_is_flagged_with_its_width(demo_engine: Engine, tmp_path: Path) -> None:
    line = centerline(demo_engine).to_crs(4545).geometry.iloc[0]
    wide = shapely.buffer(line, 2500, cap_style="flat")
    # By hand: mean width = area / centerline length inside (all of it).
    width = wide.area / line.length
    assert 4000 < width <= 5000
    frame = gpd.GeoDataFrame({"河流编码": ["WS001"]}, geometry=[wide], crs=4545)
    exit_code, body = cli("import", "boundaries", str(write(frame, tmp_path / "wide.gpkg")), "--dry-run")
    assert exit_code == 0, body
    [too_wide] = warnings_of(body, "range_too_wide")
    assert too_wide["value"] == pytest.approx(width, rel=0.01)
    assert f"平均宽度约 {too_wide['value']:,} m" in too_wide["message"]


def test_the_demo_ranges_raise_no_plausibility_warning(demo_engine: Engine, tmp_path: Path) -> None:
    with demo_engine.connect() as conn:
        ranges = read_features(conn, "boundaries", where={"river_code": "WS001"})
    path = write(ranges.drop(columns=["id", "delivery_id"]), tmp_path / "same.gpkg")
    exit_code, body = cli("import", "boundaries", str(path), "--dry-run")
    assert exit_code == 0, body
    assert not {"range_too_wide", "range_covers_district", "beyond_district"} & set(body["codes"])


def shifted_river(engine: Engine, folder: Path, shift: str | None) -> Path:
    """Write WS001's centerline as a new river without .prj, its lon/lat moved to a web-map datum by prcoords."""
    xy = shapely.get_coordinates(centerline(engine).geometry.values)
    if shift == "gcj":
        xy = np.array([[c.lon, c.lat] for c in (prcoords.wgs_gcj(prcoords.Coords(lat, lon)) for lon, lat in xy)])
    frame = gpd.GeoDataFrame({"HLBM": ["NEW1"], "HLMC": ["描河"]}, geometry=[shapely.LineString(xy)])
    return shapefile_zip(frame, folder, "rivers")


def test_gcj02_lonlat_without_prj_is_named_with_its_offset(demo_engine: Engine, tmp_path: Path) -> None:
    exit_code, body = cli("import", "rivers", str(shifted_river(demo_engine, tmp_path / "g", "gcj")))
    assert exit_code == 2
    assert body["error"]["code"] == "missing_crs"
    found = body["error"]["details"]["web_map"]
    assert found["datum"] == "GCJ-02"
    # GCJ-02 moves points around 106.9°E 29°N by about 0.0033° north and 0.0039° west of WGS-84: ~300–600 m.
    assert 200 < found["offset_m"] < 800 and found["after_m"] < 20
    assert "GCJ-02" in body["error"]["message"] and "--crs 4490" in body["error"]["message"]


def test_plain_lonlat_without_prj_gets_no_web_map_hint(demo_engine: Engine, tmp_path: Path) -> None:
    exit_code, body = cli("import", "rivers", str(shifted_river(demo_engine, tmp_path / "p", None)))
    assert exit_code == 2
    assert body["error"]["code"] == "missing_crs"
    assert "GCJ-02" not in body["error"]["message"]
