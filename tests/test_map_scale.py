"""The issue map at scale: server-side clusters counted by hand, the data route's ETag/304 and encodings,
the switch past the threshold, and the standalone file's site limit."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import brotli
import geopandas as gpd
import pytest
import shapely
from sqlalchemy import Engine
from typer.testing import CliRunner

from gis_service.api.compressed import MIN_SIZE
from gis_service.catalogue import bundled_catalogue
from gis_service.cli.main import app as cli
from gis_service.db.engine import transaction
from gis_service.demo.generator import main as generator_main
from gis_service.settings import get_settings
from gis_service.store.bulk import insert_features

# Zoom 10: a cell is 64 px of a 256-px tile of 360 / 2**10 degrees = 64 * 360 / 262144 = 0.087890625°.
# Zoom 5: 2.8125°. Cell indexes below are floor(coordinate / cell), worked out by hand.
SITES = [
    # code, lon, lat, status, category
    ("A1", 106.80, 28.90, "reported", "dumping"),  # z10: x 1215.14 → 1215, y 328.82 → 328
    ("A2", 106.81, 28.91, "assigned", "dumping"),  # z10: 1215.25 → 1215, 328.93 → 328
    ("A3", 106.82, 28.905, "reported", "mining"),  # z10: 1215.37 → 1215, 328.88 → 328
    ("B1", 106.95, 29.05, "rectifying", "construction"),  # z10: 1216.85 → 1216, 330.52 → 330
    ("C1", 107.10, 29.10, "closed", "dumping"),  # z10: 1218.57 → 1218, 331.09 → 331
    ("C2", 107.101, 29.101, "closed", "mining"),  # z10: 1218.58 → 1218, 331.10 → 331
]
# A polygon site, drawn at a point inside it: the square 106.60–106.61 × 28.70–28.71.
# z10: x 1212.9 → 1212, y 326.6 → 326 (one site); z5: x 37.9 → 37, y 10.2 → 10.
SQUARE = shapely.box(106.60, 28.70, 106.61, 28.71)


@pytest.fixture
def seven_sites(engine: Engine) -> Engine:
    """Six point sites and one polygon site, whose clusters are counted by hand above."""
    rows = [
        {"code": c, "category": cat, "status": st, "town": "青年镇", "geometry": shapely.Point(x, y)}
        for c, x, y, st, cat in SITES
    ]
    rows.append({"code": "D1", "category": "occupation", "status": "reported", "town": "万盛街道", "geometry": SQUARE})
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4490")
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["problems"], gdf)
    return engine


def _cells(body: dict) -> dict[tuple[float, float], int]:
    """Return {(lon, lat) rounded to 1e-4: count} of a clusters answer."""
    return {(round(x, 4), round(y, 4)): n for x, y, n in zip(body["x"], body["y"], body["count"], strict=True)}


def test_clusters_count_each_cell_as_counted_by_hand(seven_sites, client) -> None:
    r = client.get("/maps/data/problems/clusters?zoom=10&counts=1")
    assert r.status_code == 200, r.text
    body = r.json()
    # Cells at zoom 10 (see SITES): A1–A3 together, B1 alone, C1–C2 together, the square alone.
    cells = _cells(body)
    assert sorted(cells.values()) == [1, 1, 2, 3]
    assert cells[(106.81, 28.905)] == 3  # mean of A1–A3: (106.80+106.81+106.82)/3, (28.90+28.91+28.905)/3
    assert cells[(107.1005, 29.1005)] == 2  # mean of C1, C2
    assert cells[(106.95, 29.05)] == 1
    square = [(x, y) for (x, y), n in cells.items() if n == 1 and x < 106.7]
    assert len(square) == 1 and SQUARE.contains(shapely.Point(square[0]))  # a point inside the polygon
    assert body["n"] == 7 and body["total"] == 7
    # legend counts: reported A1, A3, D1; closed C1, C2; dumping A1, A2, C1
    assert body["counts"]["status:reported"] == 3 and body["counts"]["status:closed"] == 2
    assert body["counts"]["category:dumping"] == 3
    # A one-site cell carries its site: id, and status * categories + category for its icon.
    statuses, categories = body["status"], body["category"]
    single = body["x"].index(106.95)
    assert body["id"][single] is not None and body["count"][single] == 1
    code = body["sc"][single]
    assert (statuses[code // len(categories)], categories[code % len(categories)]) == ("rectifying", "construction")
    record = client.get(f"/maps/data/problems/{body['id'][single]}").json()
    assert record["code"] == "B1"
    several = body["count"].index(3)
    assert body["id"][several] is None and body["sc"][several] is None

    # Zoom 5 (2.8125°): x < 106.875 → column 37 (A1–A3, the square), else 38 (B1, C1, C2); one row, 10.
    assert sorted(_cells(client.get("/maps/data/problems/clusters?zoom=5").json()).values()) == [3, 4]


def test_clusters_apply_the_filters_and_the_view(seven_sites, client) -> None:
    def counts(query: str) -> list[int]:
        r = client.get(f"/maps/data/problems/clusters?zoom=10&{query}")
        assert r.status_code == 200, r.text
        return sorted(r.json()["count"])

    assert counts("status=closed") == [2]  # C1, C2
    assert counts("status=reported") == [1, 2]  # A1 + A3 in one cell, D1
    assert counts("category=mining") == [1, 1]  # A3, C2
    assert counts("town=万盛街道") == [1]  # D1
    assert counts("bbox=106.7,28.8,107.0,29.1") == [1, 3]  # A1–A3, B1
    assert counts("bbox=106.7,28.8,107.0,29.1&status=assigned") == [1]  # A2
    # with the legend counts: cells of the view, counts of the whole filter (the view left out)
    both = client.get("/maps/data/problems/clusters?zoom=10&bbox=106.7,28.8,107.0,29.1&counts=1").json()
    assert sorted(both["count"]) == [1, 3] and both["n"] == 4 and both["total"] == 7
    assert both["counts"]["status:closed"] == 2  # C1, C2, outside the view
    closed = client.get("/maps/data/problems/clusters?zoom=10&bbox=106.7,28.8,107.0,29.1&counts=1&status=closed")
    assert closed.json()["count"] == [] and closed.json()["total"] == 2
    bad = client.get("/maps/data/problems/clusters?zoom=25")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_zoom"
    assert "0 到 19" in bad.json()["error"]["message"]
    assert client.get("/maps/data/problems/clusters?zoom=3&status=gone").json()["error"]["code"] == "bad_status"


def test_data_route_negotiates_encoding_and_answers_304_when_unchanged(seven_sites, client) -> None:
    url = "/maps/data/problems"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    text = plain.content
    assert json.loads(text)["n"] == 7 and len(text) > MIN_SIZE
    for coding, undo in (("br", brotli.decompress), ("gzip", gzip.decompress)):
        with client.stream("GET", url, headers={"Accept-Encoding": f"{coding}, identity;q=0.5"}) as r:
            raw = b"".join(r.iter_raw())
            assert r.headers["content-encoding"] == coding
        assert undo(raw) == text  # the same body, compressed on the wire
    etag = plain.headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    # another filter is another body, another tag
    assert client.get(f"{url}?status=closed", headers={"If-None-Match": etag}).status_code == 200
    # the ledger changed: the tag no longer matches
    gdf = gpd.GeoDataFrame(
        [{"code": "E1", "category": "dumping", "status": "reported", "geometry": shapely.Point(106.9, 28.95)}],
        geometry="geometry",
        crs="EPSG:4490",
    )
    with transaction(seven_sites) as session:
        insert_features(session, bundled_catalogue()["problems"], gdf)
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["n"] == 8 and changed.headers["etag"] != etag


def test_past_the_threshold_the_page_and_data_route_switch_to_clusters(
    seven_sites, client, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert '"mode":"sites"' in client.get("/maps/problems").text
    monkeypatch.setenv("RIVERGIS_MAP_CLUSTER_THRESHOLD", "6")
    get_settings.cache_clear()
    assert '"mode":"clusters"' in client.get("/maps/problems").text  # 7 sites > 6
    body = client.get("/maps/data/problems").json()
    assert body["mode"] == "clusters" and "x" not in body  # no site is sent
    # a filter under the threshold still gets the sites: C1, C2
    closed = client.get("/maps/data/problems?status=closed").json()
    assert closed["mode"] == "sites" and closed["n"] == 2
    assert '"mode":"sites"' in client.get("/maps/problems?status=closed").text


def test_standalone_map_refuses_more_sites_than_its_limit_naming_the_fix(
    seven_sites, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIVERGIS_MAP_STANDALONE_LIMIT", "6")
    get_settings.cache_clear()
    out = tmp_path / "map.html"
    refused = CliRunner().invoke(cli, ["map", "problems", "-o", str(out)])
    assert refused.exit_code == 2 and "standalone_map_too_large" in refused.output
    assert "--town" in refused.output and not out.exists()
    kept = CliRunner().invoke(cli, ["map", "problems", "-o", str(out), "--status", "closed"])
    assert kept.exit_code == 0, kept.output
    assert '"n":2,' in out.read_text(encoding="utf-8")


def test_generator_sites_option_is_for_the_province_set_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        generator_main(["--scale", "demo", "--sites", "10", "-o", "unused"])
    assert exit_info.value.code == 2 and "--sites" in capsys.readouterr().err
