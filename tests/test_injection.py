"""Settings, layer catalogue and district are the app's own: two apps in one process each answer by theirs.

Before, the catalogue and the district were process-wide (``get_catalogue()``, ``get_district()``): a second
app with other settings still answered with the first one's layers and district.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis_service.api.app import create_app
from gis_service.resources import data_path
from gis_service.settings import get_settings

SECOND = """
name = "平谷测试区"
bbox = [116.90, 40.00, 117.40, 40.40]
gk_zones = [39]
towns = ["滨河街道"]
center = [40.2, 117.15]
zoom = 12
"""


def test_two_apps_answer_with_their_own_catalogue_and_district(engine: Engine, tmp_path: Path) -> None:
    district = tmp_path / "district.toml"
    district.write_text(SECOND, encoding="utf-8")
    layers = tmp_path / "layers"
    shutil.copytree(data_path("layers"), layers)
    toml = layers / "outfalls.toml"
    # The same layer, its Chinese name changed: what a district's own catalogue may do.
    toml.write_text(toml.read_text(encoding="utf-8").replace('label = "入河排污口"', 'label = "排口名录"', 1))
    base = get_settings()
    other = base.model_copy(update={"district_file": district, "layers_dir": layers})
    wansheng_app, other_app = create_app(engine, settings=base), create_app(engine, settings=other)

    with TestClient(wansheng_app) as wansheng, TestClient(other_app) as pinggu:
        labels = {
            name: {layer["name"]: layer["label"] for layer in c.get("/api/v1/layers").json()["layers"]}
            for name, c in (("wansheng", wansheng), ("pinggu", pinggu))
        }
        crs = {
            name: c.get("/ogc/collections/rivers", params={"f": "json"}).json()["crs"]
            for name, c in (("wansheng", wansheng), ("pinggu", pinggu))
        }
        outside = pinggu.get("/ogc/collections/rivers/items", params={"crs": "EPSG:4545"})

    assert labels["wansheng"]["outfalls"] == "入河排污口" and labels["pinggu"]["outfalls"] == "排口名录"
    # Wansheng reads GK zones 36/35 (EPSG:4524/4545 …), the second district zone 39 (EPSG:4527/4548).
    assert "http://www.opengis.net/def/crs/EPSG/0/4545" in crs["wansheng"]
    assert "http://www.opengis.net/def/crs/EPSG/0/4548" in crs["pinggu"]
    assert "http://www.opengis.net/def/crs/EPSG/0/4545" not in crs["pinggu"]
    assert outside.status_code == 400 and outside.json()["error"]["code"] == "unsupported_crs"
