"""OGC items with their parameters two at a time: every pair answers 200 with what each alone implies.

A GIS client combines parameters freely (QGIS: a box, a filter and a page; a script: a filter, a
sort and a property list). Each parameter value below carries what it means for the twelve test
sites (``store_sites``: site i at 106.80 + 0.001 i, found on 2022-01-(i+1), 青年镇 for even i,
mining for i divisible by 3), worked out by hand: the sites it keeps, the order it sorts them in,
what it does to the answer's shape. Every pair of them must give the intersection of what each
keeps, in the order asked, shaped as asked, on both backends. A sort by a property left out of
``properties`` answered 500 on PostGIS before this test existed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from tests.test_ogc_standard import store_sites

ALL = frozenset(range(12))
URL = "/ogc/collections/problems/items"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


@dataclass(frozen=True)
class Value:
    """One parameter value and what it implies for the twelve sites."""

    label: str
    params: dict[str, str]
    keeps: frozenset[int] = ALL
    order: Callable[[int], tuple[int, ...]] | None = None  # the sort key of site i (None: by id)
    page: tuple[int, int] | None = None  # (offset, limit)
    check: Callable[[httpx.Response], None] = field(default=lambda response: None)


def _only_code(response: httpx.Response) -> None:
    for feature in response.json()["features"]:
        assert set(feature["properties"]) - {"id", "lock_version"} == {"code"}


def _code_and_town(response: httpx.Response) -> None:
    for feature in response.json()["features"]:
        assert set(feature["properties"]) - {"id", "lock_version"} == {"code", "town"}


def _crs(code: int) -> Callable[[httpx.Response], None]:
    def check(response: httpx.Response) -> None:
        assert response.headers["content-crs"] == f"<{EPSG}{code}>"

    return check


PARAMETERS: dict[str, list[Value]] = {
    "filter": [
        Value("mining", {"filter": "category = 'mining'"}, frozenset({0, 3, 6, 9})),
        # x of site i is 106.80 + 0.001 i: 106.8035–106.8085 holds sites 4 to 8.
        Value(
            "spatial",
            {"filter": "S_INTERSECTS(geometry, BBOX(106.8035, 28.8, 106.8085, 29.0))"},
            frozenset(range(4, 9)),
        ),
    ],
    "bbox": [
        Value("lon/lat", {"bbox": "106.8015,28.8,106.8065,29.0"}, frozenset(range(2, 7))),
        # EPSG:4326 is latitude first.
        Value("4326", {"bbox": "28.8,106.8015,29.0,106.8065", "bbox-crs": f"{EPSG}4326"}, frozenset(range(2, 7))),
    ],
    "datetime": [Value("3rd-8th", {"datetime": "2022-01-03/2022-01-08"}, frozenset(range(2, 8)))],
    "town": [Value("青年镇", {"town": "青年镇"}, frozenset(range(0, 12, 2)))],
    "sortby": [
        Value("latest", {"sortby": "-found_date"}, order=lambda i: (-i,)),
        # 南桐镇 (odd sites) sorts before 青年镇 by code point; then code descending.
        Value("town,-code", {"sortby": "town,-code"}, order=lambda i: (i % 2 == 0, -i)),
    ],
    "properties": [
        Value("code", {"properties": "code"}, check=_only_code),
        Value("code,town", {"properties": "code,town"}, check=_code_and_town),
    ],
    "crs": [
        Value("4545", {"crs": f"{EPSG}4545"}, check=_crs(4545)),
        Value("4326", {"crs": f"{EPSG}4326"}, check=_crs(4326)),
    ],
    "page": [Value("2 after 1", {"offset": "1", "limit": "2"}, page=(1, 2))],
    "html": [Value("html", {"f": "html"})],
}

PAIRS = [
    pytest.param(a, b, id=f"{a.label}+{b.label}")
    for first, second in itertools.combinations(PARAMETERS, 2)
    for a, b in itertools.product(PARAMETERS[first], PARAMETERS[second])
]


def expected_sites(values: tuple[Value, ...]) -> list[int]:
    """The sites the values keep together, in the order asked, cut to the page asked."""
    kept = set(ALL)
    for value in values:
        kept &= value.keeps
    order = next((v.order for v in values if v.order is not None), lambda i: (i,))
    sites = sorted(kept, key=order)
    page = next((v.page for v in values if v.page is not None), None)
    return sites[page[0] : page[0] + page[1]] if page else sites


@pytest.fixture
def sites_client(client, engine):
    store_sites(engine)
    return client


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_two_parameters_give_what_each_implies(sites_client, a: Value, b: Value) -> None:
    params = {"limit": "100", **a.params, **b.params}
    response = sites_client.get(URL, params=params)
    assert response.status_code == 200, response.text
    wanted = [f"S{i:04d}" for i in expected_sites((a, b))]
    if params.get("f") == "html":
        assert response.headers["content-type"].startswith("text/html")
        shown = [f"S{i:04d}" for i in range(12) if f"S{i:04d}" in response.text]
        assert shown == sorted(wanted)
        return
    body = response.json()
    assert [f["properties"]["code"] for f in body["features"]] == wanted
    assert body["numberReturned"] == len(wanted)
    a.check(response)
    b.check(response)
