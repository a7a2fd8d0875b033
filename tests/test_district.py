"""The district as configuration: a second district, in another Gauss-Krüger zone, runs the same service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import Engine

from gis_service.district import District, district_for, load_district
from gis_service.errors import ConfigurationError
from gis_service.settings import get_settings
from gis_service.webmap.base import MapSetup, make_map
from tests.helpers import clear_caches
from tests.test_import_fixtures import cli, shapefile_zip

SECOND = """
name = "平谷测试区"
bbox = [116.90, 40.00, 117.40, 40.40]
gk_zones = [39]
towns = ["滨河街道", "兴谷街道"]
center = [40.2, 117.15]
zoom = 12
"""
# A river at 117.10–117.14°E, 40.20°N: zone 39 (CM 117°E, EPSG:4548 without prefix, 4527 with).
LONLAT = [(117.10, 40.20), (117.12, 40.201), (117.14, 40.203)]


@pytest.fixture
def second_district(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[District]:
    """Run the service for the second district (its TOML file named by RIVERGIS_DISTRICT_FILE)."""
    path = tmp_path / "district.toml"
    path.write_text(SECOND, encoding="utf-8")
    monkeypatch.setenv("RIVERGIS_DISTRICT_FILE", str(path))
    clear_caches()
    yield district_for(get_settings())
    monkeypatch.delenv("RIVERGIS_DISTRICT_FILE")
    clear_caches()


def river_in(epsg: int) -> gpd.GeoDataFrame:
    """Return the second district's river with coordinates in ``epsg`` (transformed by pyproj, not by the service)."""
    to = Transformer.from_crs(4490, epsg, always_xy=True)
    line = shapely.LineString([to.transform(lon, lat) for lon, lat in LONLAT])
    return gpd.GeoDataFrame({"HLBM": ["PG001"], "HLMC": ["泃河"]}, geometry=[line], crs=epsg)


def test_the_default_is_wansheng() -> None:
    clear_caches()
    district = district_for(get_settings())
    assert district.name == "万盛经开区"
    assert district.crs_candidates == (4490, 4524, 4545, 4523, 4544)
    assert "南桐镇" in district.towns


def test_second_district_reads_its_own_zone(second_district: District, tmp_path: Path) -> None:
    assert second_district.crs_candidates == (4490, 4527, 4548)
    exit_code, body = cli("import", "rivers", str(shapefile_zip(river_in(4548), tmp_path / "a", "rivers")))
    assert exit_code == 0, body
    assert body["source"]["crs"] == "EPSG:4548"


def test_second_district_diagnoses_the_wrong_zone(second_district: District, tmp_path: Path) -> None:
    # Zone-39 coordinates whose .prj says Wansheng's zone (CM 108°E).
    frame = river_in(4548).set_crs(4545, allow_override=True)
    exit_code, body = cli("import", "rivers", str(shapefile_zip(frame, tmp_path / "b", "rivers")))
    assert exit_code == 2 and body["error"]["code"] == "outside_district"
    message = body["error"]["message"]
    assert "平谷测试区（经度 116.9–117.4，纬度 40.0–40.4）" in message
    assert "按 EPSG:4548读取即位于辖区内" in message and "中央经线 117°E（不带带号）" in message


def test_second_district_stake_table_without_prefix_reads_as_its_zone(
    second_district: District, tmp_path: Path
) -> None:
    xy = shapely.get_coordinates(river_in(4548).geometry.values)
    csv = tmp_path / "stakes.csv"
    pd.DataFrame({"点号": ["A", "B"], "X": xy[:2, 1].round(3), "Y": xy[:2, 0].round(3)}).to_csv(csv, index=False)
    exit_code, body = cli("import", "stakes", str(csv), "--river", "PG001", "--dry-run")
    report = body if exit_code == 0 else body["error"]["details"]
    assert "据此按 EPSG:4548 读取" in report["source"]["axes"]


def test_second_district_map_opens_on_its_centre(second_district: District) -> None:
    fmap, _ = make_map("测试", MapSetup.of(get_settings()))
    assert fmap.location == [40.2, 117.15]
    assert fmap.options["zoom"] == 12


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('name = "x"\nbbox = [1, 2, 3]\ngk_zones = [39]\n', "bbox"),
        ('name = "x"\nbbox = [116.9, 40.0, 117.4, 40.4]\ngk_zones = [13]\n', "gk_zones"),
        ('name = "x"\nbbox = [116.9, 40.0, 117.4, 40.4]\n', "gk_zones"),
    ],
)
def test_a_bad_district_file_is_refused_naming_the_key(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=words):
        load_district(path)
