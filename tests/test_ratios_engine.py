"""The shoreline ratio engine on hand-drawn rivers: every expected number is worked out in a comment.

Fixtures are drawn in metres in EPSG:4545 (CGCS2000 3° GK, CM 108°E) right on the central
meridian (easting 500 000), where the grid scale factor is 1 to within 1e-6 over a few km,
so grid metres are ellipsoid metres and the arithmetic stays plain.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import LineString, MultiLineString, Polygon, box

from gis_service.analysis.shoreline.chainage import chainage_text, geodesic_lengths
from gis_service.analysis.shoreline.ratios import ratio_batches, shoreline_ratios
from gis_service.errors import BadRequest

X0, Y0 = 500_000.0, 3_200_000.0  # 108°E, ≈ 28.9°N
GRS = Geod(a=6378137.0, rf=298.257222101)


def ln(*pts: tuple[float, float]) -> LineString:
    return LineString([(X0 + x, Y0 + y) for x, y in pts])


def poly(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def river(*pts: tuple[float, float], code: str = "R1", important: bool = True, crs: int = 4545) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [code], "name": ["测试河"], "important": [important]}, geometry=[ln(*pts)], crs=crs
    )


def zones(rows: list[tuple[str, str, str, object]], river_code: str = "R1", crs: int = 4545) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "code": [r[0] for r in rows],
            "river_code": river_code,
            "bank": [r[1] for r in rows],
            "zone_type": [r[2] for r in rows],
        },
        geometry=[r[3] for r in rows],
        crs=crs,
    )


def straight_case() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    # River flows east along y=0 for 1000 m; left bank (north) y=+20, right bank (south) y=-20.
    rv = river((0, 0), (1000, 0))
    zs = zones(
        [
            ("a", "left", "protected", ln((0, 20), (400, 20))),  # K0+000–K0+400, 400 m
            ("b", "left", "developed", ln((450, 20), (1000, 20))),  # K0+450–K1+000, 550 m → gap 400–450
            ("c", "right", "reserved", ln((0, -20), (600, -20))),  # K0+000–K0+600, 600 m
            ("d", "right", "controlled", ln((1000, -20), (500, -20))),  # drawn upstream; K0+500–K1+000 → overlap 100
        ]
    )
    return zs, rv


def test_straight_river_both_banks_with_a_gap_and_an_overlap() -> None:
    report = shoreline_ratios(*straight_case())
    body = report.to_json()
    r = body["rivers"][0]
    left, right = r["banks"]["left"], r["banks"]["right"]
    # Left: 400 + 550 = 950 m, protected 400 → 400/950 = 0.42105; gap 450 − 400 = 50 m.
    assert left["length_m"] == pytest.approx(950, rel=1e-4)
    assert left["zones_m"] == pytest.approx(
        {"protected": 400, "reserved": 0, "controlled": 0, "developed": 550}, rel=1e-4, abs=1e-6
    )
    assert left["ratio"] == pytest.approx(0.4211, abs=1e-4)
    assert left["gaps_m"] == pytest.approx(50, rel=1e-3)
    assert left["overlaps_m"] == 0
    # Right: union of [0, 600] and [500, 1000] = 1000 m; overlap 600 − 500 = 100 m, counted once;
    # reserved 600 → 600/1000 = 0.6.
    assert right["length_m"] == pytest.approx(1000, rel=1e-4)
    assert right["zones_m"]["reserved"] == pytest.approx(600, rel=1e-4)
    assert right["zones_m"]["controlled"] == pytest.approx(500, rel=1e-4)
    assert right["ratio"] == pytest.approx(0.6, abs=1e-4)
    assert right["overlaps_m"] == pytest.approx(100, rel=1e-3)
    assert right["gaps_m"] == 0
    # River: (400 + 600) / (950 + 1000) = 1000/1950 = 0.51282 ≥ 0.5, but a gap and an overlap → not compliant.
    assert r["length_m"] == pytest.approx(1950, rel=1e-4)
    assert r["ratio"] == pytest.approx(0.5128, abs=1e-4)
    assert r["compliant"] is False
    assert body["total"] == {"rivers": 1, "length_m": r["length_m"], "ratio": r["ratio"], "compliant": False}

    gap = report.gaps.iloc[0]
    assert (gap.river_code, gap.bank, gap.kind, gap.from_chainage, gap.to_chainage) == (
        "R1",
        "left",
        "between",
        "K0+400",
        "K0+450",
    )
    assert (gap.zone_before, gap.zone_after) == ("a", "b")
    over = report.overlaps.iloc[0]
    assert (over.bank, over.zone, over.other_zone, over.from_chainage, over.to_chainage) == (
        "right",
        "d",
        "c",
        "K0+500",
        "K0+600",
    )
    assert over.geometry.geom_type == "LineString"
    assert report.gaps.crs.to_epsg() == report.overlaps.crs.to_epsg() == report.stretches.crs.to_epsg() == 4490

    s = report.stretches.set_index("code")
    assert list(s.loc["d", ["start_chainage", "end_chainage"]]) == ["K0+500", "K1+000"]
    assert set(s.loc["d", "flags"].split(",")) == {"overlap", "reversed"}
    assert s.loc["a", "flags"] == "gap_after" and s.loc["b", "flags"] == "gap_before"
    # The upstream end of d is its last vertex (x = 500 m east of 108°E), its downstream end x = 1000.
    lon, lat = Transformer.from_crs(4545, 4490, always_xy=True).transform([X0 + 500, X0 + 1000], [Y0 - 20] * 2)
    assert s.loc["d", ["start_lon", "start_lat", "end_lon", "end_lat"]].tolist() == pytest.approx(
        [lon[0], lat[0], lon[1], lat[1]], abs=1e-9
    )


def test_compliant_river_has_no_gaps_no_overlaps_and_reaches_the_threshold() -> None:
    rv = river((0, 0), (1000, 0))
    zs = zones(
        [
            ("a", "left", "protected", ln((0, 20), (500, 20))),
            ("b", "left", "developed", ln((500, 20), (1000, 20))),
            ("c", "right", "reserved", ln((0, -20), (1000, -20))),
        ]
    )
    r = shoreline_ratios(zs, rv).to_json()["rivers"][0]
    # (500 + 1000) / 2000 = 0.75 ≥ 0.5 → compliant; at threshold 0.8 it is not.
    assert r["ratio"] == pytest.approx(0.75, abs=1e-4) and r["compliant"] is True
    assert shoreline_ratios(zs, rv, threshold=0.8).to_json()["rivers"][0]["compliant"] is False


def test_bent_river_inner_and_outer_bank_and_no_false_gap_inside_the_bend() -> None:
    # Flow east 1000 m, then north 1000 m: centerline 2000 m. Left (inner) bank at 20 m, right (outer) at 20 m.
    rv = river((0, 0), (1000, 0), (1000, 1000))
    zs = zones(
        [
            # Inner bank: 975 m east, then a stretch starting 7.8 m away round the corner: (980,26)→(980,1000) = 974 m.
            # Their ends project to K0+975 and K1+026 on the centerline (a 51 m jump) although the bank barely breaks.
            ("a", "left", "protected", ln((0, 20), (975, 20))),
            ("b", "left", "reserved", ln((980, 26), (980, 1000))),
            # Outer bank: 1020 + 1020 = 2040 m in one stretch.
            ("c", "right", "developed", ln((0, -20), (1020, -20), (1020, 1000))),
        ]
    )
    report = shoreline_ratios(zs, rv, gap_tolerance_m=20)
    r = report.to_json()["rivers"][0]
    assert r["banks"]["left"]["gaps_m"] == 0
    assert r["banks"]["left"]["length_m"] == pytest.approx(975 + 974, rel=1e-4)
    assert r["banks"]["right"]["length_m"] == pytest.approx(2040, rel=1e-4)
    # (975 + 974) / (1949 + 2040) = 1949/3989 = 0.48859
    assert r["ratio"] == pytest.approx(0.4886, abs=1e-4)
    assert report.rivers.loc[0, "centerline_m"] == pytest.approx(2000, rel=1e-4)
    # With a tolerance of 5 m the 7.8 m break is a real gap, measured on the centerline (K0+975–K1+026).
    tight = shoreline_ratios(zs, rv, gap_tolerance_m=5)
    assert tight.gaps.iloc[0][["from_chainage", "to_chainage"]].tolist() == ["K0+975", "K1+026"]


def test_lengths_are_geodesic_and_agree_with_pyproj() -> None:
    rv = river((0, 0), (1000, 0), (1000, 1000), (3000, 2500))
    zs = zones([("a", "left", "protected", ln((0, 20), (980, 20), (980, 1000), (2980, 2520)))])
    report = shoreline_ratios(zs, rv)
    stretch = zs.to_crs(4490).geometry.iloc[0]
    assert report.stretches.loc[0, "length_m"] == pytest.approx(GRS.geometry_length(stretch), rel=1e-9)
    centre = rv.to_crs(4490).geometry.iloc[0]
    assert report.rivers.loc[0, "centerline_m"] == pytest.approx(GRS.geometry_length(centre), rel=1e-9)
    # And the Geod figure is the grid length (980 + 980 + 2500·√(0.64+1)… here 2000·… ) to the GK scale:
    # 980 + 980 + √(2000² + 1520²) = 1960 + 2512.01 = 4472.01 m.
    assert report.stretches.loc[0, "length_m"] == pytest.approx(4472.01, rel=1e-3)


def test_polygon_zones_measured_along_the_bank() -> None:
    rv = river((0, 0), (1000, 0))
    # Left bank band 10–30 m from the centerline, cut at x = 600; right bank one band.
    zs = zones(
        [
            ("p", "left", "protected", poly(0, 10, 600, 30)),
            ("d", "left", "developed", poly(600, 10, 1000, 30)),
            ("q", "right", "reserved", poly(0, -30, 1000, -10)),
        ]
    )
    # No range line: the centerline offset through each polygon's centroid (20 m) → 600 m and 400 m.
    r = shoreline_ratios(zs, rv).to_json()["rivers"][0]
    assert r["banks"]["left"]["zones_m"]["protected"] == pytest.approx(600, rel=1e-4)
    assert r["banks"]["left"]["zones_m"]["developed"] == pytest.approx(400, rel=1e-4)
    assert r["banks"]["left"]["ratio"] == pytest.approx(0.6, abs=1e-4)
    assert r["banks"]["right"]["length_m"] == pytest.approx(1000, rel=1e-4)
    # With the left range line (outer edge, y = 30, drawn wavy: 0→500 straight then up 0 … ) the same split.
    lines = gpd.GeoDataFrame({"river_code": ["R1"], "bank": ["left"]}, geometry=[ln((0, 30), (1000, 30))], crs=4545)
    report = shoreline_ratios(zs, rv, bank_lines=lines)
    left = report.to_json()["rivers"][0]["banks"]["left"]
    assert left["zones_m"]["protected"] == pytest.approx(600, abs=0.2)
    assert left["length_m"] == pytest.approx(1000, abs=0.2)
    assert "from_polygon" in report.stretches.set_index("code").loc["p", "flags"]


def test_multipart_stretch_counts_its_parts_and_the_hole_between_them() -> None:
    rv = river((0, 0), (1000, 0))
    two = MultiLineString([ln((0, 20), (300, 20)), ln((400, 20), (1000, 20))])
    zs = zones([("m", "left", "protected", two), ("r", "right", "controlled", ln((0, -20), (1000, -20)))])
    report = shoreline_ratios(zs, rv)
    left = report.to_json()["rivers"][0]["banks"]["left"]
    # 300 + 600 = 900 m protected; the 100 m between the parts (K0+300–K0+400) is a gap.
    assert left["length_m"] == pytest.approx(900, rel=1e-4)
    assert left["gaps_m"] == pytest.approx(100, rel=1e-3)
    m = report.stretches.set_index("code").loc["m"]
    assert (m.parts, m.start_chainage, m.end_chainage) == (2, "K0+000", "K1+000")
    assert m.geometry.geom_type == "MultiLineString"


def test_same_figures_from_4490_4524_and_4545_files(tmp_path: Path) -> None:
    zs, rv = straight_case()
    results = []
    for epsg in (4545, 4524, 4490):
        # Round-trip through GeoPackages written by GDAL, as a delivery would arrive.
        pyogrio.write_dataframe(zs.to_crs(epsg), tmp_path / f"z{epsg}.gpkg")
        pyogrio.write_dataframe(rv.to_crs(epsg), tmp_path / f"r{epsg}.gpkg")
        z = pyogrio.read_dataframe(tmp_path / f"z{epsg}.gpkg")
        r = pyogrio.read_dataframe(tmp_path / f"r{epsg}.gpkg")
        assert z.crs.to_epsg() == epsg
        results.append(shoreline_ratios(z, r).to_json())
    assert results[0]["rivers"][0]["length_m"] == pytest.approx(1950, rel=1e-4)
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("lon0", [107.99, 106.49])
def test_river_across_a_gauss_kruger_zone_boundary(lon0: float) -> None:
    # 108°E (CM of zone 36) and 106.5°E (edge between zones 35 and 36): 0.02° of longitude at 29°N.
    centre = LineString([(lon0, 29.0), (lon0 + 0.02, 29.0)])
    left, right = (LineString([(lon0, 29.0 + d), (lon0 + 0.02, 29.0 + d)]) for d in (0.0002, -0.0002))
    rv = gpd.GeoDataFrame({"code": ["X"], "name": ["跨带河"], "important": [True]}, geometry=[centre], crs=4490)
    zs = gpd.GeoDataFrame(
        {"river_code": "X", "bank": ["left", "right"], "zone_type": ["protected", "developed"]},
        geometry=[left, right],
        crs=4490,
    )
    expected = GRS.geometry_length(left) + GRS.geometry_length(right)
    # 0.02° × 111.32 km × cos 29° ≈ 1947 m a bank.
    assert expected == pytest.approx(2 * 1947.3, rel=2e-3)
    bodies = [shoreline_ratios(zs.to_crs(c), rv.to_crs(c)).to_json() for c in (4490, 4544, 4545, 4523, 4524)]
    for body in bodies:
        r = body["rivers"][0]
        assert r["length_m"] == pytest.approx(expected, rel=1e-5)
        assert r["ratio"] == pytest.approx(0.5, abs=1e-4)
        assert r["banks"]["left"]["gaps_m"] == r["banks"]["right"]["gaps_m"] == 0


def test_empty_river_and_no_zones_at_all() -> None:
    rv = gpd.GeoDataFrame(
        {"code": ["R1", "R2"], "name": ["有分区", "无分区"], "important": [True, False]},
        geometry=[ln((0, 0), (1000, 0)), ln((0, 500), (800, 500))],
        crs=4545,
    )
    zs = zones(
        [("a", "left", "protected", ln((0, 20), (1000, 20))), ("b", "right", "reserved", ln((0, -20), (1000, -20)))]
    )
    report = shoreline_ratios(zs, rv)
    body = report.to_json()
    empty = body["rivers"][1]
    # R2 has no zones: no length, no ratio, and each 800 m bank is one unzoned gap.
    assert (empty["length_m"], empty["ratio"], empty["compliant"]) == (0.0, None, False)
    assert empty["banks"]["left"]["gaps_m"] == pytest.approx(800, rel=1e-4)
    assert set(report.gaps["kind"]) == {"unzoned"} and len(report.gaps) == 2
    # Total: 2000 m, all protected/reserved → ratio 1.0, but R2's gaps keep the district non-compliant;
    # important rivers only (R1): compliant.
    assert body["total"]["ratio"] == 1.0 and body["total"]["compliant"] is False
    assert body["important_total"] == {
        "rivers": 1,
        "length_m": body["rivers"][0]["length_m"],
        "ratio": 1.0,
        "compliant": True,
    }
    assert [r["code"] for r in report.to_json(important_only=True)["rivers"]] == ["R1"]
    none = shoreline_ratios(zs.iloc[:0], rv).to_json()
    assert none["total"] == {"rivers": 2, "length_m": 0.0, "ratio": None, "compliant": False}


def test_river_with_only_one_bank_zoned() -> None:
    rv = river((0, 0), (1000, 0))
    zs = zones([("a", "left", "protected", ln((0, 20), (1000, 20)))])
    report = shoreline_ratios(zs, rv)
    r = report.to_json()["rivers"][0]
    # Left 1000 m all protected (ratio 1.0); the right bank is one 1000 m gap → not compliant.
    assert r["ratio"] == 1.0 and r["compliant"] is False
    assert r["banks"]["right"] == {
        "length_m": 0.0,
        "zones_m": dict.fromkeys(("protected", "reserved", "controlled", "developed"), 0.0),
        "ratio": None,
        "gaps_m": pytest.approx(1000, rel=1e-4),
        "overlaps_m": 0.0,
    }


def test_per_town_totals_split_stretches_at_town_borders() -> None:
    zs, rv = straight_case()
    towns = gpd.GeoDataFrame(
        {"code": ["T1", "T2"], "name": ["西镇", "东镇"]},
        geometry=[poly(-100, -100, 300, 100), poly(300, -100, 1100, 100)],
        crs=4545,
    )
    body = shoreline_ratios(zs, rv, towns).to_json()
    west, east = body["towns"]
    # West of x=300: a 0–300 (protected 300), c 0–300 (reserved 300) → 600 m, ratio 1.0, 2 stretches.
    assert (west["name"], west["count"]) == ("西镇", 2)
    assert west["length_m"] == pytest.approx(600, rel=1e-4) and west["ratio"] == 1.0
    # East: a 100 + b 550 + c 300 + d 500 = 1450 m; protected+reserved 100 + 300 = 400 → 0.27586.
    assert east["count"] == 4
    assert east["length_m"] == pytest.approx(1450, rel=1e-4)
    assert east["ratio"] == pytest.approx(400 / 1450, abs=1e-4)


def test_zones_of_unknown_rivers_are_reported_not_counted() -> None:
    zs, rv = straight_case()
    stray = zones([("x", "left", "protected", ln((0, 20), (10, 20)))], river_code="NOPE")
    body = shoreline_ratios(gpd.GeoDataFrame(pd_concat(zs, stray), crs=4545), rv).to_json()
    assert body["rivers"][0]["length_m"] == pytest.approx(1950, rel=1e-4)
    assert "NOPE" in body["warnings"][0]


def pd_concat(*frames: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def test_missing_fields_are_a_clear_error() -> None:
    zs, rv = straight_case()
    with pytest.raises(BadRequest) as err:
        shoreline_ratios(zs.drop(columns="bank"), rv)
    assert err.value.code == "ratio_input_missing_fields" and "bank" in err.value.message


def test_geodesic_lengths_vectorised_match_geod() -> None:
    rng = np.random.default_rng(4)
    lines = [LineString(np.column_stack((106.8 + rng.random(n) * 0.3, 28.8 + rng.random(n) * 0.3))) for n in (2, 5, 40)]
    multi = MultiLineString(lines[:2])
    got = geodesic_lengths(np.array([*lines, multi, None, shapely.from_wkt("LINESTRING EMPTY")], dtype=object))
    want = [GRS.geometry_length(g) for g in lines] + [
        GRS.geometry_length(lines[0]) + GRS.geometry_length(lines[1]),
        0,
        0,
    ]
    assert got == pytest.approx(want, rel=1e-12)


def test_chainage_text_in_surveyors_form() -> None:
    assert [chainage_text(v) for v in (0, 1250.4, 999.6, 12_005, None)] == ["K0+000", "K1+250", "K1+000", "K12+005", ""]


def test_nested_and_duplicate_stretches_are_overlaps_counted_once() -> None:
    rv = river((0, 0), (1000, 0))
    zs = zones(
        [
            ("a", "left", "protected", ln((0, 20), (500, 20))),
            ("b", "left", "reserved", ln((200, 20), (300, 20))),  # inside a: 100 m overlap
            ("c", "left", "developed", ln((500, 20), (1000, 20))),
            ("d", "right", "controlled", ln((0, -20), (1000, -20))),
            ("e", "right", "controlled", ln((0, -20), (1000, -20))),  # d drawn twice: all 1000 m overlap
        ]
    )
    report = shoreline_ratios(zs, rv)
    r = report.to_json()["rivers"][0]
    left, right = r["banks"]["left"], r["banks"]["right"]
    # Left: union 0–1000 = 1000 m; protected 500, reserved 100 (its own union), developed 500;
    # protected+reserved union 0–500 = 500 → 0.5; the 100 m of b inside a is the overlap.
    assert left["length_m"] == pytest.approx(1000, rel=1e-4)
    assert left["zones_m"] == pytest.approx(
        {"protected": 500, "reserved": 100, "controlled": 0, "developed": 500}, rel=1e-4, abs=1e-6
    )
    assert left["ratio"] == pytest.approx(0.5, abs=1e-4) and left["overlaps_m"] == pytest.approx(100, rel=1e-3)
    # Right: the union of two identical stretches is 1000 m, controlled 1000 m; e repeats d entirely.
    assert right["length_m"] == pytest.approx(1000, rel=1e-4)
    assert right["zones_m"]["controlled"] == pytest.approx(1000, rel=1e-4)
    assert right["overlaps_m"] == pytest.approx(1000, rel=1e-3) and right["gaps_m"] == 0
    # River: (500 + 0) / 2000 = 0.25.
    assert r["ratio"] == pytest.approx(0.25, abs=1e-4)
    found = report.overlaps.set_index("zone")
    assert (found.loc["b", "other_zone"], found.loc["b", "from_chainage"], found.loc["b", "to_chainage"]) == (
        "a",
        "K0+200",
        "K0+300",
    )
    assert (found.loc["e", "other_zone"], found.loc["e", "from_chainage"], found.loc["e", "to_chainage"]) == (
        "d",
        "K0+000",
        "K1+000",
    )
    assert found.loc["e", "geometry"].length == pytest.approx(0.0103, rel=0.02)  # 1000 m in degrees at 29°N
    flags = report.stretches.set_index("code")["flags"]
    assert [flags[c] for c in "abcde"] == ["overlap", "overlap", "", "overlap", "overlap"]


def test_compliant_river_has_empty_gap_and_overlap_tables() -> None:
    rv = river((0, 0), (1000, 0))
    zs = zones(
        [("a", "left", "protected", ln((0, 20), (1000, 20))), ("b", "right", "reserved", ln((0, -20), (1000, -20)))]
    )
    report = shoreline_ratios(zs, rv)
    assert report.to_json()["rivers"][0]["compliant"] is True
    assert report.gaps.empty and report.overlaps.empty
    assert {"river_code", "bank", "from_chainage", "to_chainage", "length_m", "geometry"} <= set(report.gaps.columns)
    assert {"zone", "other_zone", "from_chainage", "length_m", "geometry"} <= set(report.overlaps.columns)
    assert list(report.stretches["flags"]) == ["", ""]


def test_an_import_check_builds_no_stretch_table_or_town_split() -> None:
    # The import pipeline reads only to_json(), gaps and overlaps: the per-zone table and the
    # town split are built when first read, not with every check.
    zs, rv = straight_case()
    report = shoreline_ratios(zs, rv)
    report.to_json()
    assert len(report.gaps) == 1 and len(report.overlaps) == 1
    assert "stretches" not in vars(report) and "_town_split" not in vars(report)
    assert len(report.stretches) == 4 and "stretches" in vars(report)


def test_zones_without_codes_are_named_by_their_row() -> None:
    zs, rv = straight_case()
    report = shoreline_ratios(zs.drop(columns="code"), rv)
    # Rows 1 and 2 (a, b) leave the 50 m gap; row 4 (d) overlaps row 3 (c).
    assert (report.gaps.iloc[0]["zone_before"], report.gaps.iloc[0]["zone_after"]) == ("#1", "#2")
    assert (report.overlaps.iloc[0]["zone"], report.overlaps.iloc[0]["other_zone"]) == ("#4", "#3")
    assert list(report.stretches["id"]) == [1, 2, 3, 4]


def test_centerline_in_two_parts_is_measured_end_to_end() -> None:
    # The centerline breaks between x = 500 and x = 600 (line_merge cannot join it): chainage runs
    # over the parts laid end to end, 500 + 500 = 1000 m.
    centre = MultiLineString([ln((0, 0), (500, 0)), ln((600, 0), (1100, 0))])
    rv = gpd.GeoDataFrame({"code": ["R1"], "name": ["断开河"], "important": [True]}, geometry=[centre], crs=4545)
    zs = zones(
        [("a", "left", "protected", ln((0, 20), (400, 20))), ("b", "left", "reserved", ln((600, 20), (1100, 20)))]
    )
    report = shoreline_ratios(zs, rv)
    r = report.to_json()["rivers"][0]
    # a: K0+000–K0+400; b starts on the second part at K0+500: a 100 m gap; the right bank is unzoned.
    assert report.rivers.loc[0, "centerline_m"] == pytest.approx(1000, rel=1e-4)
    assert r["banks"]["left"]["gaps_m"] == pytest.approx(100, rel=1e-3)
    assert r["banks"]["right"]["gaps_m"] == pytest.approx(1000, rel=1e-4)
    assert list(report.gaps["kind"]) == ["between", "unzoned"]
    assert report.gaps.iloc[0][["from_chainage", "to_chainage"]].tolist() == ["K0+400", "K0+500"]
    assert report.gaps.iloc[1].geometry.geom_type == "MultiLineString"


def test_fast_geodesic_matches_pyproj_at_every_length() -> None:
    from gis_service.analysis.shoreline.chainage import step_lengths

    rng = np.random.default_rng(11)
    n = 20_000
    lon, lat = rng.uniform(-180, 180, n), rng.uniform(-80, 80, n)
    length = 10 ** rng.uniform(-3, 5, n)  # 1 mm to 100 km, past the closed form's 10 km range
    lon2, lat2, _ = GRS.fwd(lon, lat, rng.uniform(0, 360, n), length)
    pairs_lon = np.column_stack((lon, lon2)).ravel()
    pairs_lat = np.column_stack((lat, lat2)).ravel()
    got = step_lengths(pairs_lon, pairs_lat)[::2]
    want = GRS.inv(lon, lat, lon2, lat2)[2]
    # Nanometres: the same as pyproj's own round-off.
    assert np.abs(got - want).max() < 2e-8


def test_polyline_projection_and_interpolation_match_geos() -> None:
    from shapely.ops import substring

    from gis_service.analysis.shoreline.polylines import Polylines, vertex_table

    rng = np.random.default_rng(5)
    lines = [LineString(np.cumsum(rng.normal(0, 100, (k, 2)), axis=0)) for k in (2, 3, 7, 30, 130)]
    lines.append(LineString([(0, 0), (0, 0), (100, 0), (100, 0), (100, 50)]))  # repeated vertices
    lines.append(MultiLineString([[(0, 0), (100, 0)], [(300, 0), (300, 100)]]))
    geoms = np.array(lines, dtype=object)
    coords, owner, first = vertex_table(geoms)
    poly = Polylines.of(coords, owner, first, len(geoms))
    # Single-part lines take a shortcut to the same table.
    singles = vertex_table(geoms[:-1])
    assert all(
        np.array_equal(got, want[owner < len(geoms) - 1])
        for got, want in zip(singles, (coords, owner, first), strict=True)
    )
    which = np.repeat(np.arange(len(geoms)), 200)
    px, py = rng.uniform(-600, 600, (2, len(which)))
    measure, distance = poly.project(px, py, which)
    points = shapely.points(px, py)
    assert measure == pytest.approx(shapely.line_locate_point(geoms[which], points), abs=1e-9)
    assert distance == pytest.approx(shapely.distance(geoms[which], points), abs=1e-9)
    at = rng.uniform(-50, 1.2, len(which)) * shapely.length(geoms[which])
    x, y = poly.point_at(at, which)
    want = shapely.get_coordinates(shapely.line_interpolate_point(geoms[which], np.maximum(at, 0.0)))
    assert np.column_stack((x, y)) == pytest.approx(want, abs=1e-9)
    single = which[which < len(geoms) - 1]
    lo, hi = np.sort(rng.uniform(0, 1, (2, len(single))) * shapely.length(geoms[single]), axis=0)
    got = poly.substrings(single, lo, hi)
    for g, i, a, b in zip(got, single, lo, hi, strict=True):
        assert shapely.equals_exact(g, substring(geoms[i], a, b), tolerance=1e-9)
    assert shapely.equals_exact(poly.linestrings(np.arange(len(geoms))), geoms, tolerance=0).all()


def test_projection_onto_a_few_lines_matches_the_whole_block() -> None:
    # A batch names a few of a province's rivers: their segments alone are laid out for it, not every
    # line's (kept), with the very same figures.
    from gis_service.analysis.shoreline.polylines import Polylines, vertex_table

    rng = np.random.default_rng(8)
    lines = [LineString(np.cumsum(rng.normal(0, 100, (k, 2)), axis=0)) for k in [6, 7, 8, 9] * 10 + [3, 20]]
    geoms = np.array(lines, dtype=object)
    few = np.repeat([2, 17, 33, 41], 50)  # three of the 40 lines of width 8, and the one of width 32
    px, py = rng.uniform(-600, 600, (2, len(few)))

    def projected(which: np.ndarray) -> tuple[np.ndarray, np.ndarray, Polylines]:
        poly = Polylines.of(*vertex_table(geoms), len(geoms))
        return *poly.project(px, py, which), poly

    measure, distance, poly = projected(few)
    assert set(poly.__dict__.get("_blocks", {})) == {32}  # the one line of its width is all of them: kept
    points = shapely.points(px, py)
    assert measure == pytest.approx(shapely.line_locate_point(geoms[few], points), abs=1e-9)
    assert distance == pytest.approx(shapely.distance(geoms[few], points), abs=1e-9)
    # Every line asked once beside them: the whole blocks, kept, and the same bytes for the four points.
    every = np.concatenate((few, np.arange(len(geoms))))
    px, py = np.concatenate((px, rng.uniform(-600, 600, len(geoms)))), np.concatenate((py, np.zeros(len(geoms))))
    whole_measure, whole_distance, poly = projected(every)
    assert 8 in poly.__dict__["_blocks"]
    assert whole_measure[: len(few)].tobytes() == measure.tobytes()
    assert whole_distance[: len(few)].tobytes() == distance.tobytes()


def test_projection_onto_long_lines_window_by_window_is_the_segment_by_segment_one(monkeypatch) -> None:
    # A surveyed centerline has hundreds to thousands of vertices: a point measures the windows of segments whose
    # box may hold its nearest one, with the figures (to the bit) of measuring every segment, and GEOS's.
    from gis_service.analysis.shoreline import polylines
    from gis_service.analysis.shoreline.polylines import WINDOW, Polylines, vertex_table

    rng = np.random.default_rng(12)
    lines = [LineString(np.cumsum(rng.normal(0, 100, (k, 2)), axis=0)) for k in (2, 30, 33, 34, 65, 500, 3000)]
    # Ties across windows: a line that runs out along the x axis and back over itself (the first segment wins),
    # and one with repeated vertices.
    out_and_back = [(10.0 * (i if i < 60 else 119 - i), 0.0) for i in range(120)]
    lines += [LineString(out_and_back), LineString(np.repeat(np.cumsum(rng.normal(0, 50, (40, 2)), axis=0), 2, axis=0))]
    lines.append(MultiLineString([np.cumsum(rng.normal(0, 100, (k, 2)), axis=0) for k in (50, 40, 2)]))
    geoms = np.array(lines, dtype=object)
    assert (shapely.get_num_coordinates(geoms[-4:]) > WINDOW + 1).all()
    which = np.repeat(np.arange(len(geoms)), 400)
    px, py = rng.uniform(-3000, 3000, (2, len(which)))
    tied = which == len(geoms) - 3
    px[tied] = rng.integers(0, 59, int(tied.sum())) * 10.0 + rng.choice([0.0, 5.0], int(tied.sum()))
    py[tied] = rng.choice([0.0, 3.0, -7.0], int(tied.sum()))
    px[7] = np.nan  # no coordinates: NaN either way

    def projected() -> tuple[np.ndarray, np.ndarray]:
        return Polylines.of(*vertex_table(geoms), len(geoms)).project(px, py, which)

    measure, distance = projected()
    with monkeypatch.context() as patched:
        patched.setattr(polylines, "WINDOW", 1 << 30)  # every line measured segment by segment
        every_measure, every_distance = projected()
    assert measure.tobytes() == every_measure.tobytes()
    assert distance.tobytes() == every_distance.tobytes()
    assert np.isnan(measure[7]) and np.isnan(distance[7])
    ok = ~np.isnan(px)
    points = shapely.points(px[ok], py[ok])
    assert measure[ok] == pytest.approx(shapely.line_locate_point(geoms[which[ok]], points), abs=1e-9)
    assert distance[ok] == pytest.approx(shapely.distance(geoms[which[ok]], points), abs=1e-9)
    # On the line that runs out and back, a point measures where the line first passes it.
    on_axis = tied & (py == 0.0)
    assert measure[on_axis] == pytest.approx(px[on_axis])


def test_running_sums_along_lines_are_each_lines_own_in_blocks_of_any_size(monkeypatch) -> None:
    # Each line's running length from zero, whatever lines come before it and however many values a block holds.
    from gis_service.analysis.shoreline import polylines
    from gis_service.analysis.shoreline.polylines import cumulative

    rng = np.random.default_rng(21)
    counts = rng.permutation(np.array([1, 2, 5, 64, 65, 300, 3000, 7, 2, 1000] + [3] * 50 + [70] * 30))
    owner = np.repeat(np.arange(len(counts)), counts)
    steps = rng.exponential(50.0, len(owner)) * 10.0 ** rng.integers(-3, 4, len(owner))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    want = np.concatenate(
        [np.cumsum(np.concatenate(([0.0], steps[lo + 1 : lo + n]))) for lo, n in zip(starts, counts, strict=True)]
    )
    assert cumulative(steps, owner).tobytes() == want.tobytes()
    for values in (1, 16, 300, 4096):
        with monkeypatch.context() as patched:
            patched.setattr(polylines, "BLOCK_VALUES", values)
            assert cumulative(steps, owner).tobytes() == want.tobytes()


def test_the_centerline_index_made_a_chunk_of_rivers_at_a_time_is_the_one_made_at_once(monkeypatch) -> None:
    # The index is made a few centerlines at a time, its columns kept on disk: the same columns to the bit however
    # many a chunk holds (rivers in parts, merged; one missing; one with Z; long ones, measured window by window),
    # read-only, and the same answers after their pages are handed back.
    from typing import Any

    from gis_service import runtime
    from gis_service.analysis.shoreline import chainage
    from gis_service.analysis.shoreline.polylines import Polylines, cumulative, sum_by, vertex_table
    from gis_service.analysis.shoreline.ratios import centerline_index, merged_centerlines

    rng = np.random.default_rng(33)
    start = np.array([106.9, 28.9])
    lines = [LineString(start + np.cumsum(rng.normal(0, 0.001, (k, 2)), axis=0)) for k in (2, 5, 40, 300, 2, 9)]
    lines.append(None)
    lines.append(LineString([(106.9, 28.9, 500.0), (106.91, 28.91, 480.0), (106.93, 28.9, 470.0)]))
    a = start + np.cumsum(rng.normal(0, 0.001, (20, 2)), axis=0)
    lines.append(MultiLineString([a[:8], a[7:]]))  # two parts that meet: merged into one line
    lines.append(MultiLineString([a[:5], a[10:]]))  # two that do not: measured end to end
    rivers = gpd.GeoDataFrame({"code": [f"R{i}" for i in range(len(lines))]}, geometry=lines, crs=4490)

    def columns(chunk: int, stored: bool = False) -> tuple[dict[str, bytes], chainage.CenterlineIndex]:
        # ``stored``: made of the rivers' WKB kept on disk, a chunk made geometries at a time (an import's).
        with monkeypatch.context() as patched:
            patched.setattr(chainage, "INDEX_CHUNK", chunk)
            patched.setattr(runtime, "SPILL_BYTES", 64)
            given: Any = rivers
            if stored:
                given = runtime.SpilledBinary()
                for lo in range(0, len(rivers), 3):
                    given.append(shapely.to_wkb(rivers.geometry.values[lo : lo + 3]))
            index = centerline_index(given)
        assert index.bounds.tobytes() == rivers.total_bounds.tobytes()  # the rivers' extent, to the bit
        lines = index.lines
        made = {
            "x": lines.x, "y": lines.y, "line": lines.line, "first": lines.first, "step": lines.step,
            "measure": lines.measure, "length": lines.length, "segments": np.concatenate(lines._segments),
            "windows": np.concatenate([np.ravel(w) for w in lines._windows]),
            "mx": index._mx, "gx": index._gx, "mbase": index._mbase, "gbase": index._gbase,
            "geodesic": index.geodesic_length, "frames": np.concatenate([index.frames.lon0, index.frames.kx]),
        }  # fmt: skip
        return {name: np.asarray(values).tobytes() for name, values in made.items()}, index

    # The columns as the lines make them of all their vertices at once, and the geodesic running lengths.
    merged = merged_centerlines(np.asarray(rivers.geometry.values, dtype=object))
    frames = chainage.LocalFrames.around(merged)
    coords, owner, first = vertex_table(merged)
    at_once = Polylines(*frames.local_xy(coords, owner), owner, first, len(merged))
    steps = chainage.vertex_steps(coords, first)
    geodesic = sum_by(owner, steps, len(merged))
    gbase = np.concatenate(([0.0], np.cumsum(geodesic + 1.0)[:-1]))
    made = {
        "x": at_once.x, "y": at_once.y, "line": at_once.line, "first": at_once.first, "step": at_once.step,
        "measure": at_once.measure, "length": at_once.length, "segments": np.concatenate(at_once._segments),
        "windows": np.concatenate([np.ravel(w) for w in at_once._windows]),
        "mx": at_once.axis[1], "gx": cumulative(steps, owner) + gbase[owner], "mbase": at_once.axis[0], "gbase": gbase,
        "geodesic": geodesic, "frames": np.concatenate([frames.lon0, frames.kx]),
    }  # fmt: skip
    whole = {name: np.asarray(values).tobytes() for name, values in made.items()}
    for chunk in (1, 3, 4, 1 << 30):
        assert columns(chunk)[0] == whole
        assert columns(chunk, stored=True)[0] == whole
    index = columns(4)[1]
    assert not index.lines.x.flags.writeable and not index._gx.flags.writeable
    river = np.repeat(np.arange(len(lines)), 50)
    px, py = rng.normal(0, 300, (2, len(river)))
    located = index.locate(px, py, river)
    chained = index.geodesic(located, river)
    index.release()
    assert index.locate(px, py, river).tobytes() == located.tobytes()
    assert index.geodesic(located, river).tobytes() == chained.tobytes()
    assert index.geodesic_length[6] == 0.0  # the missing one: an empty line
    assert index.geodesic_length[-2] == pytest.approx(geodesic_lengths(np.array([LineString(a)]))[0], abs=1e-9)


def test_json_rounding_is_pythons_round() -> None:
    from gis_service.analysis.shoreline.ratio_report import rounded

    rng = np.random.default_rng(3)
    values = np.concatenate(
        (
            rng.uniform(-1e5, 1e5, 50_000),
            np.round(rng.uniform(0, 1e4, 20_000), 3),
            [0.125, 0.375, 2.675, 1.005, -0.005, -0.0, 0.0, 1e-10, 2.5e15, 1e300],
            np.arange(0, 100, 0.005),
        )
    )
    for digits in (2, 4):
        assert rounded(values, digits) == [round(float(v), digits) for v in values]
    assert rounded([np.nan, np.inf, 1.0]) == [None, None, 1.0]


def test_chainage_texts_vectorised() -> None:
    from gis_service.analysis.shoreline.chainage import chainage_texts

    values = [0.0, 1250.4, 999.5, 1000.5, 12_005, -3.0, np.nan, 1_234_567.49]
    assert chainage_texts(np.array(values)) == [chainage_text(v) for v in values]
    assert chainage_texts(np.zeros(0)) == []


@pytest.mark.parametrize("size", [1, 2, 3])
def test_zones_given_in_batches_give_the_report_of_one_batch(size: int) -> None:
    # Lines and polygons, nested, repeated, drawn upstream, and one of an unknown river, over both banks.
    rv = river((0, 0), (1000, 0))
    zs = zones(
        [
            ("a", "left", "protected", ln((0, 20), (400, 20))),
            ("b", "left", "reserved", ln((200, 20), (300, 20))),
            ("c", "left", "developed", poly(450, 10, 1000, 30)),
            ("d", "right", "controlled", ln((1000, -20), (500, -20))),
            ("e", "right", "reserved", ln((0, -20), (600, -20))),
            ("f", "right", "controlled", ln((1000, -20), (500, -20))),
        ]
    )
    zs.loc[5, "river_code"] = "R9"
    whole = shoreline_ratios(zs, rv)
    batches = ratio_batches(rv, keep_geometries=False)
    given = pd_concat(*(batches.add(zs.iloc[i : i + size]) for i in range(0, len(zs), size)))
    report = batches.finish(given)
    assert report.to_json() == whole.to_json()
    # The drawn gaps and overlaps, and the stretch table, from the parts' vertices as from the zones'.
    for name in ("gaps", "overlaps", "stretches"):
        got, want = getattr(report, name), getattr(whole, name)
        assert list(got.drop(columns="geometry").itertuples()) == list(want.drop(columns="geometry").itertuples())
        assert all(shapely.equals_exact(g, w, 1e-9) for g, w in zip(got.geometry, want.geometry, strict=True))
    assert whole.to_json()["rivers"][0]["banks"]["left"]["overlaps_m"] > 0  # the case has what it tests
    assert len(whole.gaps) and len(whole.overlaps)


def test_river_groups_keep_each_river_whole() -> None:
    from gis_service.analysis.shoreline.ratios import river_groups

    # Parts of rivers 2, 0, 1, 0, 2, 2: river 0 has 2 parts (rows 1, 3), river 1 one (row 2), river 2 three.
    groups = river_groups(np.array([2, 0, 1, 0, 2, 2]), 2)
    # The first cut falls after river 0 (2 parts), the next after the river reaching 4 parts: river 2.
    assert [g.tolist() for g in groups] == [[1, 3], [2, 0, 4, 5]]
    assert [g.tolist() for g in river_groups(np.array([0, 1, 1]), 100)] == [[0, 1, 2]]
    assert river_groups(np.zeros(0, dtype=np.int64), 2) == []


@pytest.mark.parametrize("size", [1, 3])
def test_walks_by_groups_of_rivers_give_the_report_of_one_walk(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from gis_service.analysis.shoreline import ratio_issues, ratio_tables, ratios

    # Three rivers 5 km apart, each the straight case (left: 50 m gap at 400–450; right: 100 m overlap at 500–600),
    # their zones given interleaved (R1's first zone, R2's first, R3's first, R1's second, ...).
    rivers, sets = [], []
    for k, code in enumerate(("R1", "R2", "R3")):
        zs, rv = straight_case()
        shift = 5000.0 * k
        rivers.append(rv.assign(code=code, geometry=rv.geometry.translate(0, shift)))
        sets.append(zs.assign(river_code=code, code=zs["code"] + code, geometry=zs.geometry.translate(0, shift)))
    rv = pd_concat(*rivers).set_crs(4545, allow_override=True)
    zs = pd_concat(*(s.iloc[[i]] for i in range(4) for s in sets)).set_crs(4545, allow_override=True)
    whole = shoreline_ratios(zs, rv)
    monkeypatch.setattr(ratios, "PARTS_PER_WALK", size)
    monkeypatch.setattr(ratio_tables, "PARTS_PER_SUM", size)
    monkeypatch.setattr(ratio_issues, "PARTS_PER_SORT", size)
    walked = shoreline_ratios(zs, rv)
    assert walked.to_json() == whole.to_json()
    for name in ("gaps", "overlaps", "stretches"):
        got, want = getattr(walked, name), getattr(whole, name)
        assert list(got.drop(columns="geometry").itertuples()) == list(want.drop(columns="geometry").itertuples())
        assert all(shapely.equals_exact(g, w, 0) for g, w in zip(got.geometry, want.geometry, strict=True))
    for entry in whole.to_json()["rivers"]:
        assert entry["banks"]["left"]["gaps_m"] == pytest.approx(50, abs=0.01)
        assert entry["banks"]["right"]["overlaps_m"] == pytest.approx(100, abs=0.01)
    # Each river's right bank: d (500–1000) runs into c (0–600).
    pairs = sorted(zip(whole.overlaps["zone"], whole.overlaps["other_zone"], strict=True))
    assert pairs == [(f"d{r}", f"c{r}") for r in ("R1", "R2", "R3")]


def test_categorical_fields_as_an_import_keeps_them_give_the_same_check() -> None:
    # An import keeps river, bank and type as categories: the check looks the categories up, not the rows.
    import pandas as pd

    zs, rv = straight_case()
    stray = zones([("x", "left", "protected", ln((0, 20), (10, 20))), ("y", "left", "reserved", ln((0, 20), (5, 20)))])
    stray["river_code"] = ["NOPE", None]  # an unknown river and a missing code: left out, named in the warning
    plain = gpd.GeoDataFrame(pd_concat(zs, stray), crs=4545)
    coded = plain.astype({c: "category" for c in ("river_code", "bank", "zone_type")})
    assert isinstance(coded["river_code"].dtype, pd.CategoricalDtype)
    a, b = shoreline_ratios(plain, rv), shoreline_ratios(coded, rv)
    assert a.to_json() == b.to_json()
    # Left bank 400 + 550 m, right bank 600 + 500 m less the 100 m overlap: 1950 m; the two strays not counted.
    assert b.to_json()["rivers"][0]["length_m"] == pytest.approx(1950, rel=1e-4)
    assert b.warnings == a.warnings and b.warnings[0].startswith("2 个功能区未参与核算")
    assert "NOPE" in b.warnings[0] and "None" in b.warnings[0]
    # Gaps and overlaps name their zones by code, read for those rows only.
    assert (b.gaps.iloc[0]["zone_before"], b.gaps.iloc[0]["zone_after"]) == ("a", "b")
    assert (b.overlaps.iloc[0]["zone"], b.overlaps.iloc[0]["other_zone"]) == ("d", "c")


def test_each_banks_last_part_is_the_furthest_the_first_on_a_tie() -> None:
    from gis_service.analysis.shoreline.ratio_issues import _furthest

    # Banks 3 and 1; bank 1's parts end at 5, 9, 9 (rows 1, 2, 4: row 2 comes first), bank 3's at 2 and NaN.
    key = np.array([3, 1, 1, 3, 1], dtype=np.int64)
    b = np.array([2.0, 5.0, 9.0, np.nan, 9.0])
    assert _furthest(key, b).tolist() == [2, 0]
    # The same parts as a sort by bank, then furthest first, then row order picks (the sort it replaces),
    # with ties, signed zeros and ends that are not numbers.
    rng = np.random.default_rng(16)
    for _ in range(500):
        n = int(rng.integers(0, 30))
        key = rng.integers(0, 5, n).astype(np.int64)
        b = rng.choice(np.array([0.0, -0.0, 1.5, 1.5, 7.0, np.nan]), n)
        order = np.lexsort((np.arange(n), -b, key))
        first = order[np.concatenate(([True], key[order][1:] != key[order][:-1]))] if n else order
        assert _furthest(key, b).tolist() == first.tolist()


def test_the_rivers_json_at_once_is_each_rivers_own() -> None:
    """``rivers_json`` (every river in one vectorised pass, as an import's report takes it) gives each river what
    ``river_json`` gives it alone: a river with a gap and an overlap, one without zones, one zoned on one bank only,
    important or not."""
    zs, _ = straight_case()
    rv = gpd.GeoDataFrame(
        {"code": ["R1", "R2", "R3"], "name": ["一河", "二河", "三河"], "important": [True, False, True]},
        geometry=[ln((0, 0), (1000, 0)), ln((0, 500), (800, 500)), ln((0, 1000), (600, 1000))],
        crs=4545,
    )
    one_bank = zones([("e", "left", "reserved", ln((0, 1020), (300, 1020)))], river_code="R3")
    report = shoreline_ratios(pd_concat(zs, one_bank), rv)
    each = [report.river_json(row) for row in report.rivers.itertuples()]
    assert report.rivers_json() == each
    assert [r["code"] for r in each] == ["R1", "R2", "R3"]
    assert each[2]["banks"]["left"]["zones_m"]["reserved"] == pytest.approx(300, rel=1e-3)
    assert each[1]["ratio"] is None and each[0]["banks"]["left"]["gaps_m"] == pytest.approx(50, rel=1e-3)
    assert report.rivers_json(important_only=True) == [each[0], each[2]]
