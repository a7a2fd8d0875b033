"""Reaches coloured by water-quality class: the stretch split between sections, and the river map's layer."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString, Point

from gis_service.clock import BusinessClock
from gis_service.webmap.quality_layer import class_stretches
from tests.helpers import bearer
from tests.test_quality import SECTIONS, xlsx
from tests.test_quality_api import upload


def test_a_river_is_cut_half_way_between_its_sections() -> None:
    # A straight west-east line of 0.04° at 29°N; sections a quarter and three quarters along it
    # (A at 106.91, B at 106.93, B first in the table): the cut falls half-way, at 106.92.
    rivers = gpd.GeoDataFrame({"code": ["R"]}, geometry=[LineString([(106.90, 29.0), (106.94, 29.0)])], crs=4490)
    sections = gpd.GeoDataFrame(
        {"code": ["B", "A", "X"], "river_code": ["R", "R", "OTHER"], "q_class": ["IV", "II", "I"]},
        geometry=[Point(106.93, 29.0005), Point(106.91, 28.9995), Point(106.92, 29.0)],
        crs=4490,
    )
    out = class_stretches(rivers, sections).set_index("code")
    assert sorted(out.index) == ["A", "B"]  # X is on no river of the frame
    a, b = out.loc["A"], out.loc["B"]
    assert a.from_m == 0 and a.to_m == b.from_m and b.to_m == pytest.approx(a.to_m * 2, rel=1e-3)
    # 0.04° of longitude at 29°N ≈ 0.04 × 111.32 km × cos 29° ≈ 3 894 m; half of it ≈ 1 947 m.
    assert a.to_m == pytest.approx(1947, abs=10)
    assert a.geometry.coords[0][0] == pytest.approx(106.90, abs=1e-6)
    assert a.geometry.coords[-1][0] == pytest.approx(106.92, abs=1e-4)
    assert b.geometry.coords[-1][0] == pytest.approx(106.94, abs=1e-6)
    assert (a.q_class, b.q_class) == ("II", "IV")


def _overlay(html: str, colour: str) -> list[dict[str, object]]:
    """Return the features styled with ``colour`` embedded in a map page."""
    found = re.findall(r'\{"type": ?"Feature".*?"_s": ?(\{[^}]*\})', html)
    return [json.loads(s) for s in found if colour in s]


@pytest.mark.usefixtures("demo_without_quality")
def test_the_river_map_colours_reaches_by_class(
    demo_client: TestClient, demo_tokens: dict[str, str], tmp_path: Path
) -> None:
    c, t = demo_client, demo_tokens
    c.app.state.clock = BusinessClock.at(dt.datetime(2024, 7, 1, 4, 0))  # type: ignore[attr-defined]
    before = c.get("/maps/rivers/WS001").text
    assert "河段水质类别" not in before  # no section classed yet: no class layer, no legend
    r = upload(c, "/api/v1/deliveries/sections", xlsx(tmp_path / "s.xlsx", SECTIONS), t["surveyor"])
    assert r.status_code == 201  # type: ignore[attr-defined]
    # S1 on WS001: DO 6.5 → II, 氨氮 1.2 → IV: class IV (yellow #ffff00).
    samples = xlsx(tmp_path / "m.xlsx", [["断面编码", "采样日期", "溶解氧", "氨氮"], ["S1", "2024-06-03", 6.5, 1.2]])
    assert upload(c, "/api/v1/quality/samples", samples, t["surveyor"]).status_code == 201  # type: ignore[attr-defined]
    page = c.get("/maps/rivers/WS001", headers=bearer(t["viewer"]))
    assert page.status_code == 200
    assert "河段水质类别（GB 3838-2002）" in page.text and "Ⅳ类" in page.text
    assert _overlay(page.text, "#ffff00"), "no reach drawn in the class IV colour"
    assert "断面 孝子河出境（S1）" in page.text
    # WS002's section S2 has no sample: its map has no class layer.
    assert "河段水质类别" not in c.get("/maps/rivers/WS002").text
