"""The bank side of a stretch from where its ends project onto the centerline, shared with the ratio check.

Rivers and stretches are drawn in metres in EPSG:4545 (as in ``test_ratios_engine``) and checked in
lon/lat, as an import has them after normalising.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiLineString

from gis_service.analysis.shoreline.chainage import CenterlineIndex
from gis_service.analysis.shoreline.ratios import ratio_batches
from gis_service.ingest.validation.river_checks import RiverGeometry, sides
from tests.test_ratios_engine import X0, Y0, ln, poly, river, zones

NO_RANGES = gpd.GeoDataFrame({"river_code": [], "bank": []}, geometry=[], crs=4490)


def sides_of(zs: gpd.GeoDataFrame, rv: gpd.GeoDataFrame) -> tuple[list[Any], RiverGeometry]:
    """Return the side the check finds for each stretch, and the river geometry holding the shared ends."""
    rg = RiverGeometry(zs.to_crs(4490), rv.to_crs(4490), NO_RANGES, None)
    return list(sides(rg)), rg


def u_bend() -> gpd.GeoDataFrame:
    # Flows east along y=0 to x=100, north to y=60, then back west along y=60: the U opens to the west.
    # Looking downstream the inside of the U is on the left of every reach (north of the lower reach,
    # west of the bend, south of the upper reach), the outside on the right.
    return river((0, 0), (100, 0), (100, 60), (0, 60))


def test_a_stretch_is_on_the_side_of_its_two_ends_even_where_it_crosses_a_bend() -> None:
    zs = zones(
        [
            # Ends (50,-10) south of the lower reach and (50,70) north of the upper one: both outside, right.
            # Its midpoint (50,30) lies inside the U: the midpoint alone would say left.
            ("across", "right", "protected", ln((50, -10), (50, 70))),
            # Ends disagree: (50,-10) outside (right), (50,30) inside (left): its midpoint (50,10) decides, left.
            ("half", "right", "protected", ln((50, -10), (50, 30))),
            # Inside along the lower reach: left at both ends.
            ("inside", "left", "reserved", ln((20, 10), (80, 10))),
            # Round the outside of the bend: (50,-10) right, (50,70) right.
            ("round", "right", "developed", ln((50, -10), (110, -10), (110, 70), (50, 70))),
            # Two parts (60 m and 20 m): decided by the point halfway along both, 40 m along the first,
            # (90,-10), south of the lower reach: right.
            (
                "parts",
                "right",
                "controlled",
                MultiLineString(
                    [[(X0 + 50, Y0 - 10), (X0 + 110, Y0 - 10)], [(X0 + 110, Y0 + 50), (X0 + 110, Y0 + 70)]]
                ),
            ),
        ]
    )
    found, rg = sides_of(zs, u_bend())
    assert found == ["right", "left", "left", "right", "right"]
    # The single lines' ends were projected once and kept for the ratio check; the multi-part one was not.
    assert rg.ends is not None
    assert rg.ends.rows.tolist() == [0, 1, 2, 3]
    # "across": its ends project to the lower reach at x=50 (50 m) and the upper one at x=50
    # (100 + 60 + 50 = 210 m along the centerline), within the frame's centimetres.
    assert rg.ends.start[0] == pytest.approx(50, abs=0.5)
    assert rg.ends.end[0] == pytest.approx(210, abs=0.5)


def mixed_case() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Lines drawn both ways, nested and repeated, a polygon and a stretch in two parts, on a bent river."""
    rv = river((0, 0), (1000, 0), (1000, 1000))
    zs = zones(
        [
            ("a", "left", "protected", ln((0, 20), (400, 20))),
            ("b", "left", "reserved", ln((200, 20), (300, 20))),
            ("c", "left", "developed", poly(450, 10, 900, 30)),
            ("d", "right", "controlled", ln((1020, 600), (1020, -20), (500, -20))),
            ("e", "right", "reserved", ln((0, -20), (600, -20))),
            (
                "f",
                "left",
                "protected",
                MultiLineString(
                    [[(X0 + 980, Y0 + 40), (X0 + 980, Y0 + 300)], [(X0 + 980, Y0 + 400), (X0 + 980, Y0 + 990)]]
                ),
            ),
        ]
    )
    return zs.to_crs(4490), rv.to_crs(4490)


def test_the_ratio_check_takes_the_shared_ends_and_measures_what_it_measures_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    zs, rv = mixed_case()
    found, rg = sides_of(zs, rv)
    assert found == ["left", "left", "left", "right", "right", "left"]
    alone = ratio_batches(rv, centerlines=rg.centerlines)
    alone.add(zs)
    want = alone.finish(zs)
    located: list[int] = []
    locate = CenterlineIndex.locate

    def counted(self: CenterlineIndex, x: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
        located.append(len(x))
        return locate(self, x, y, r)

    monkeypatch.setattr(CenterlineIndex, "locate", counted)
    shared = ratio_batches(rv, centerlines=rg.centerlines)
    shared.add(zs, ends=rg.ends)
    got = shared.finish(zs)
    # Only the polygon's bank line and the two parts of "f" are projected again: 3 parts, 2 ends each.
    assert sum(located) == 6
    assert got.to_json() == want.to_json()
    for name in ("gaps", "overlaps", "stretches"):
        a, b = getattr(got, name), getattr(want, name)
        assert list(a.drop(columns="geometry").itertuples()) == list(b.drop(columns="geometry").itertuples())
        assert all(shapely.equals_exact(g, w, 0) for g, w in zip(a.geometry, b.geometry, strict=True))
    assert len(want.overlaps)  # the case has what it compares


def test_ends_projected_a_chunk_of_rivers_at_a_time_are_those_projected_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The ends are projected river after river, a chunk at a time, the index's pages handed back after each: the
    # same positions and sides, in the stretches' order, whatever the chunk.
    from gis_service.analysis.shoreline import line_ends

    zs, rv = mixed_case()
    zs = pd.concat([zs.iloc[::-1], zs, zs.iloc[::2]], ignore_index=True)  # rivers out of order, ends repeated
    _, rg = sides_of(zs, rv)
    whole = rg.ends
    assert whole is not None and len(whole.rows) >= 10
    released: list[int] = []
    release = CenterlineIndex.release
    monkeypatch.setattr(CenterlineIndex, "release", lambda self: (released.append(1), release(self))[1])
    for chunk in (1, 3, 7):
        monkeypatch.setattr(line_ends, "ENDS_CHUNK", chunk)
        released.clear()
        ends = line_ends.LineEnds.of(rg.lonlat, whole.rows, whole.river, rg.centerlines, whole.count)
        assert len(released) == -(-2 * len(whole.rows) // chunk)
        for name in ("rows", "river", "start", "end", "side"):
            np.testing.assert_array_equal(getattr(ends, name), getattr(whole, name))


def test_ends_projected_on_another_index_are_not_taken() -> None:
    zs, rv = mixed_case()
    _, rg = sides_of(zs, rv)
    assert rg.ends is not None
    moved = dataclasses.replace(rg.ends, start=rg.ends.start + 100)  # positions the figures would show
    want = ratio_batches(rv, centerlines=rg.centerlines)
    want.add(zs)
    expected = want.finish(zs).to_json()
    other = ratio_batches(rv)  # its own index: the moved positions are ignored
    other.add(zs, ends=moved)
    assert other.finish(zs).to_json() == expected
    same = ratio_batches(rv, centerlines=rg.centerlines)  # the side check's index: they are taken
    same.add(zs, ends=moved)
    assert same.finish(zs).to_json() != expected


def test_ends_shared_by_stretches_are_projected_once_with_the_figures_of_each_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stretches laid end to end share their ends: each distinct point is projected once. The figures must be
    # those of projecting every point, repeats, lone points and a forced hash collision alike.
    import pandas as pd

    from gis_service.analysis.shoreline import line_ends

    _, rg = sides_of(*mixed_case())
    index = rg.centerlines  # the side check's index: points in each river's local metres
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-200, 4000, 40), rng.uniform(-600, 600, 40)
    river = rng.integers(0, len(index.geodesic_length), 40)
    x, y, river = np.concatenate((x, x[:25])), np.concatenate((y, y[:25])), np.concatenate((river, river[:25]))
    x[-1] = np.nan  # a point without coordinates stays alone
    expected_m = index.locate(x, y, river)
    expected_sign = np.sign(line_ends.crossing(index, expected_m, x, y, river))
    for collide in (False, True):
        if collide:  # every point one hash: only the first of each is a repeat of itself, the rest alone
            monkeypatch.setattr(pd.util, "hash_array", lambda values: np.zeros(len(values), dtype=np.uint64))
        m, sign = line_ends._located(index, x, y, river)
        np.testing.assert_array_equal(m, expected_m)
        np.testing.assert_array_equal(sign, expected_sign)
