"""The layer catalogue: loaded once, validated, and the single definition that reaches import and export."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import Point

from gis_service.catalogue import bundled_catalogue, catalogue_for, load_catalogue
from gis_service.errors import ConfigurationError
from gis_service.ingest.normalise import normalise
from gis_service.resources import data_path
from gis_service.settings import get_settings


def test_value_and_field_aliases_resolve_to_catalogue_codes():
    zones = bundled_catalogue()["zones"]
    bank = zones.field("bank")
    assert [bank.canonical_value(v) for v in ("左岸", "左", "L", " right ", "右岸")] == [
        "left",
        "left",
        "left",
        "right",
        "right",
    ]
    zone_type = zones.field("zone_type")
    assert zone_type.canonical_value("岸线保护区") == "protected"
    assert zone_type.canonical_value("保留区") == "reserved"
    assert zone_type.canonical_value("湿地") is None
    assert bundled_catalogue()["rivers"].source_field_map(["HLBM", "河流名称", "other"]) == {
        "HLBM": "code",
        "河流名称": "name",
    }


def test_every_layer_has_a_chinese_label_and_typed_fields():
    catalogue = bundled_catalogue()
    assert set(catalogue.layers) >= {"rivers", "towns", "boundaries", "stakes", "zones", "outfalls", "problems"}
    for layer in catalogue:
        assert layer.label and all(f.label for f in layer.fields)


def test_a_broken_layer_file_is_refused_with_its_name(tmp_path: Path):
    (tmp_path / "bad.toml").write_text(
        'name = "x"\nlabel = "X"\ntable = "x"\ngeometry_types = ["Blob"]\nfields = []\n', encoding="utf-8"
    )
    with pytest.raises(ConfigurationError, match="bad.toml"):
        load_catalogue(tmp_path)


def test_a_field_added_to_the_catalogue_reaches_the_export(engine, tmp_path, monkeypatch):
    """Add ``inspector`` (巡查人员) to outfalls.toml only: import maps it, storage keeps it, export writes it."""
    from typer.testing import CliRunner

    from gis_service.cli.main import app
    from gis_service.db.engine import transaction
    from gis_service.store.bulk import insert_features
    from tests.helpers import clear_caches

    layers = tmp_path / "layers"
    shutil.copytree(data_path("layers"), layers)
    with (layers / "outfalls.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[[fields]]\nname = "inspector"\ntype = "str"\nlabel = "巡查人员"\naliases = ["XCRY"]\n')
    monkeypatch.setenv("RIVERGIS_LAYERS_DIR", str(layers))
    clear_caches()
    outfalls = catalogue_for(get_settings())["outfalls"]

    source = tmp_path / "outfalls.geojson"
    gdf = gpd.GeoDataFrame(
        {"排污口编码": ["PWK-1"], "名称": ["测试排口"], "类型": ["工业"], "XCRY": ["张三"]},
        geometry=[Point(106.9, 28.9)],
        crs="EPSG:4490",
    )
    pyogrio.write_dataframe(gdf, source)
    normalised = normalise(outfalls, pyogrio.read_dataframe(source))
    assert normalised.frame.loc[0, "inspector"] == "张三"
    with transaction(engine) as session:
        insert_features(session, outfalls, normalised.frame)

    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["export", "outfalls", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8-sig")
    assert "inspector" in text.splitlines()[0] and "张三" in text
    out_zh = tmp_path / "out.geojson"
    assert CliRunner().invoke(app, ["export", "outfalls", "-o", str(out_zh), "--labels", "zh"]).exit_code == 0
    assert pyogrio.read_dataframe(out_zh).loc[0, "巡查人员"] == "张三"
