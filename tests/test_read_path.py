"""One read path (issue 11.2): every door serves the same current features, and only the store builds their query.

Rule ONE_READ_PATH, checked statically below: outside ``gis_service/store/`` and ``gis_service/db/``
no module builds its own query of a layer's features. It may not

1. import the store's low-level or shorthand readers (``read_features``, ``current_filter``,
   ``with_filters``, ``feature_query``, ``read_rows``, ``list_deliveries``);
2. import the one-map layer models (``River``, ``Town``, ``Boundary``, ``Stake``, ``Zone``,
   ``LAYER_MODELS``) to select from them;
3. put a table from ``table_of(...)``, or the ``Delivery`` model, into a ``select(...)``
   (``table_of`` for a table's columns is fine: filters compile against it);
4. compare a ``status`` with ``"approved"`` (the version scope written by hand);
5. write SQL text selecting from a layer table or ``deliveries``.

It asks :class:`gis_service.store.current.CurrentFeatures` (current = approved versions; filters,
bbox, paging, sort, columns) or ``LayerVersions`` for features, and
:class:`gis_service.store.history.DeliveryHistory` for versions. The ledger's own tables
(problems, outfalls, their events) are the ledger's records and outside the rule.

Then, on both backends, a river with a superseded, an approved, a rejected and a submitted version
of its zones and range: every door (layer API, OGC items, GeoJSON/GPKG/Excel export, map data,
the river map, the ratio check, ledger jurisdiction, the CLI, the history) shows the approved one only.
"""

from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path

import geopandas as gpd
import pyogrio
from openpyxl import load_workbook
from shapely.geometry import LineString, box
from typer.testing import CliRunner

from gis_service.catalogue import bundled_catalogue
from gis_service.cli.main import app as cli
from gis_service.db.engine import transaction
from gis_service.store.bulk import insert_features
from gis_service.store.deliveries import approve_delivery, reject_delivery, submit_delivery
from tests.helpers import bearer

PACKAGE = Path(__file__).resolve().parent.parent / "gis_service"
OWNERS = ("store", "db")  # the packages that own the read path and the tables
STORE_READERS = {"read_features", "current_filter", "with_filters", "feature_query", "read_rows", "list_deliveries"}
LAYER_MODELS = {"River", "Town", "Boundary", "Stake", "Zone", "LAYER_MODELS"}
TABLES = ("towns", "rivers", "boundaries", "stakes", "zones", "deliveries")
RAW_SELECT = re.compile(rf"SELECT\b.*\b(FROM|JOIN)\s+({'|'.join(TABLES)})\b", re.DOTALL)


def _is_call(node: ast.AST, name: str) -> bool:
    """Whether ``node`` calls a function (or method) named ``name``."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == name) or (isinstance(func, ast.Attribute) and func.attr == name)


def _mentions(node: ast.AST, names: set[str]) -> bool:
    """Whether ``node`` calls ``table_of`` or names one of ``names`` (tables bound from it, ``Delivery``)."""
    return any(_is_call(n, "table_of") or (isinstance(n, ast.Name) and n.id in names) for n in ast.walk(node))


def _approved_literal(node: ast.Compare) -> bool:
    """Whether ``node`` compares a ``status`` attribute with the literal "approved"."""
    sides = [node.left, *node.comparators]
    status = any(isinstance(s, ast.Attribute) and s.attr == "status" for s in sides)
    return status and any(isinstance(s, ast.Constant) and s.value == "approved" for s in sides)


def read_path_violations(package: Path = PACKAGE) -> list[str]:
    """Return every breach of rule ONE_READ_PATH in ``package`` as ``path:line: what``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] in OWNERS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # Names a table from ``table_of(...)`` is bound to, anywhere in the module.
        tables = {"Delivery"} | {
            t.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign) and _is_call(n.value, "table_of")
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        for node in ast.walk(tree):
            where = f"gis_service/{relative}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {a.name for a in node.names}
                if node.module.startswith("gis_service.store") and names & STORE_READERS:
                    use = "CurrentFeatures / DeliveryHistory"
                    found.append(f"{where}: imports {sorted(names & STORE_READERS)} (use {use})")
                if node.module == "gis_service.db.models" and names & LAYER_MODELS:
                    found.append(f"{where}: imports layer models {sorted(names & LAYER_MODELS)} (use CurrentFeatures)")
            elif _is_call(node, "select") or _is_call(node, "select_from"):
                assert isinstance(node, ast.Call)
                if any(_mentions(arg, tables) for arg in node.args):
                    found.append(f"{where}: selects from a layer table (use CurrentFeatures)")
            elif isinstance(node, ast.Compare) and _approved_literal(node):
                found.append(f"{where}: compares a status with 'approved' (use CurrentFeatures / DeliveryHistory)")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_SELECT.search(node.value):
                found.append(f"{where}: SQL text selecting from a layer table (use CurrentFeatures)")
    return found


def test_no_module_outside_the_store_builds_its_own_current_features_query():
    assert read_path_violations() == []


def test_the_rule_catches_each_kind_of_breach(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "ok.py").write_text("from gis_service.store.features import read_features\n")
    (tmp_path / "reader.py").write_text(
        "from gis_service.store.features import read_features, table_of\n"
        "from gis_service.db.models import Delivery, Zone\n"
        "def f(layer):\n"
        "    table = table_of(layer)\n"
        "    q = select(table.c.code)\n"
        "    return q.where(Delivery.status == 'approved'), table.c.code\n"
        "versions = select(Delivery.id)\n"
        "raw = text('SELECT code FROM zones WHERE river_code = :c')\n"
        "prose = 'Read from zones the current ones'\n"
    )
    found = read_path_violations(tmp_path)
    lines = sorted(int(line.split(": ", 1)[0].rsplit(":", 1)[1]) for line in found)
    assert lines == [1, 2, 5, 6, 7, 8] and all(line.startswith("gis_service/reader.py:") for line in found)


# ---- every door, both backends ----------------------------------------------------------------------

RIVER = "RP01"
# The centerline runs east along 28.8000°N (flow east: the left bank is north). Each version's
# zones are bank lines at its own offset; the approved one (v2) is the farthest from the centre.
VERSIONS = {  # version: (final status, left bank y, left type, right bank y, right type, range box south-north)
    1: ("superseded", 28.8003, "developed", 28.7997, "developed", (28.8100, 28.8120)),
    2: ("approved", 28.8005, "protected", 28.7995, "developed", (28.7990, 28.8010)),
    3: ("rejected", 28.8004, "reserved", 28.7996, "reserved", (28.7900, 28.7920)),
    4: ("submitted", 28.8002, "reserved", 28.7998, "reserved", (28.7800, 28.7820)),
}
CURRENT_CODES = ["V2-L", "V2-R"]
ALL_CODES = [f"V{v}-{b}" for v in VERSIONS for b in "LR"]


def _zones(version: int) -> gpd.GeoDataFrame:
    _, left_y, left_type, right_y, right_type, _ = VERSIONS[version]
    return gpd.GeoDataFrame(
        {
            "code": [f"V{version}-L", f"V{version}-R"],
            "river_code": [RIVER] * 2,
            "bank": ["left", "right"],
            "zone_type": [left_type, right_type],
        },
        geometry=[LineString([(106.80, left_y), (106.81, left_y)]), LineString([(106.80, right_y), (106.81, right_y)])],
        crs="EPSG:4490",
    )


def _range(version: int) -> gpd.GeoDataFrame:
    south, north = VERSIONS[version][5]
    return gpd.GeoDataFrame(
        {"river_code": [RIVER], "surveyor": [f"第{version}版测绘"]},
        geometry=[box(106.80, south, 106.81, north)],
        crs="EPSG:4490",
    )


def _river_with_versions(engine) -> dict[str, dict[int, int]]:
    """Store the river and four versions of its zones and range; return delivery ids by layer and version."""
    catalogue = bundled_catalogue()
    ids: dict[str, dict[int, int]] = {"zones": {}, "boundaries": {}}
    with transaction(engine) as session:
        river = gpd.GeoDataFrame(
            {"code": [RIVER], "name": ["读路河"], "important": [True]},
            geometry=[LineString([(106.80, 28.80), (106.81, 28.80)])],
            crs="EPSG:4490",
        )
        insert_features(session, catalogue["rivers"], river)
        for version, (status, *_) in VERSIONS.items():
            for layer, frame in (("zones", _zones(version)), ("boundaries", _range(version))):
                delivery = submit_delivery(session, catalogue[layer], RIVER, frame, actor="测绘院")
                ids[layer][version] = delivery.id
                if status in {"approved", "superseded"}:
                    approve_delivery(session, delivery.id, actor="河长办")  # v2's approval supersedes v1
                elif status == "rejected":
                    reject_delivery(session, delivery.id, actor="河长办", reason="范围线错位")
    return ids


def _codes_in(text: str) -> list[str]:
    """Return which version codes a page or document mentions, in order."""
    return [code for code in ALL_CODES if re.search(rf"\b{code}\b", text)]


def test_every_door_serves_the_approved_version_only(client, engine, tokens, tmp_path):
    ids = _river_with_versions(engine)
    params = {"river_code": RIVER}

    layer_api = client.get("/api/v1/layers/zones/features", params=params).json()
    assert sorted(f["properties"]["code"] for f in layer_api["features"]) == CURRENT_CODES

    ogc = client.get("/ogc/collections/zones/items", params=params | {"f": "json"}).json()
    assert sorted(f["properties"]["code"] for f in ogc["features"]) == CURRENT_CODES
    assert ogc["numberMatched"] == 2
    # One by id: a superseded feature is not current; asked as its version, it is served.
    old = client.get("/ogc/collections/zones/items", params={"delivery": ids["zones"][1], "f": "json"}).json()
    old_id = old["features"][0]["id"]
    assert client.get(f"/ogc/collections/zones/items/{old_id}", params={"f": "json"}).status_code == 404
    asked = client.get(f"/ogc/collections/zones/items/{old_id}", params={"delivery": ids["zones"][1], "f": "json"})
    assert asked.status_code == 200 and asked.json()["properties"]["code"].startswith("V1-")

    for fmt in ("geojson", "gpkg", "xlsx"):
        got = client.get("/api/v1/layers/zones/export", params=params | {"format": fmt})
        assert got.status_code == 200, got.text
        if fmt == "xlsx":
            sheet = load_workbook(io.BytesIO(got.content)).worksheets[0]
            rows = list(sheet.iter_rows(values_only=True))
            column = rows[0].index("code")
            codes = sorted(str(row[column]) for row in rows[1:])
        else:
            path = tmp_path / f"zones.{fmt}"
            path.write_bytes(got.content)
            codes = sorted(pyogrio.read_dataframe(path)["code"])
        assert codes == CURRENT_CODES, fmt

    map_data = client.get("/maps/data/layers/zones", params={"river": RIVER})
    assert map_data.status_code == 200
    assert _codes_in(json.dumps([f["properties"]["_p"] for f in map_data.json()["features"]])) == CURRENT_CODES
    river_map = client.get(f"/maps/rivers/{RIVER}")
    assert river_map.status_code == 200
    assert _codes_in(river_map.text) == CURRENT_CODES

    # Ratio check of v2 by hand: each bank is 0.01° of longitude at 28.80°N on the GRS80 ellipsoid,
    # N·cos φ·Δλ = 6 383 090 m × 0.87631 × 1.74533e-4 ≈ 976.26 m; the left one protected, the right one
    # developed, so protected + reserved is half. Any other version mixed in would add overlaps.
    ratios = client.get("/api/v1/ratios", params={"river": RIVER}).json()
    (river,) = [r for r in ratios["rivers"] if r["code"] == RIVER]
    assert river["ratio"] == 0.5 and abs(river["length_m"] - 2 * 976.26) < 0.1
    left, right = river["banks"]["left"], river["banks"]["right"]
    assert abs(left["zones_m"]["protected"] - 976.26) < 0.05 and abs(right["zones_m"]["developed"] - 976.26) < 0.05
    assert left["overlaps_m"] == right["overlaps_m"] == left["gaps_m"] == right["gaps_m"] == 0

    # Ledger jurisdiction: a site inside v2's range lies on v2's left bank stretch (22 m north of it is
    # v1's line, 11 m v3's and v4's: only v2 counts); sites inside the superseded (v1) or rejected (v3)
    # range only are inside no range, and more than 500 m from the centerline, so of no river.
    sites = {"v2": (106.805, 28.8003), "v1": (106.805, 28.8110), "v3": (106.805, 28.7910)}
    derived = {}
    for name, (lon, lat) in sites.items():
        made = client.post(
            "/api/v1/problems",
            json={"category": "dumping", "lon": lon, "lat": lat},
            headers=bearer(tokens["surveyor"]),
        )
        assert made.status_code == 201, made.text
        body = made.json()
        derived[name] = (body["river_code"], body["inside_range"], body["zone_type"])
    assert derived == {"v2": (RIVER, True, "protected"), "v1": (None, False, None), "v3": (None, False, None)}

    # The CLI: an export of the whole layer (only this river is stored), and the river's history.
    exported = CliRunner().invoke(cli, ["export", "zones", "-o", str(tmp_path / "cli.geojson")])
    assert exported.exit_code == 0, exported.output
    assert sorted(pyogrio.read_dataframe(tmp_path / "cli.geojson")["code"]) == CURRENT_CODES
    listed = CliRunner().invoke(cli, ["deliveries", "list", "--river", RIVER, "--layer", "zones", "--json"])
    assert listed.exit_code == 0, listed.output
    cli_statuses = {d["version"]: d["status"] for d in json.loads(listed.output)["deliveries"]}
    assert cli_statuses == {v: status for v, (status, *_) in VERSIONS.items()}

    history = client.get(f"/api/v1/deliveries/rivers/{RIVER}").json()
    assert history["current"] == {"boundaries": 2, "zones": 2}
    statuses = {(d["layer"], d["version"]): d["status"] for d in history["deliveries"]}
    assert statuses == {(layer, v): VERSIONS[v][0] for layer in ("boundaries", "zones") for v in VERSIONS}


def test_a_bbox_means_the_same_exact_test_at_every_door(client, engine):
    # A diagonal stretch from (106.800, 28.800) to (106.810, 28.810): its bounding box meets the
    # asked box (106.808–106.810, 28.800–28.802) but the line crosses x = 106.808 at y = 28.808,
    # north of it. Before the one read path the map data tested boxes only and served it.
    with transaction(engine) as session:
        frame = gpd.GeoDataFrame(
            {"code": ["DIAG"], "river_code": [RIVER], "bank": ["left"], "zone_type": ["protected"]},
            geometry=[LineString([(106.80, 28.80), (106.81, 28.81)])],
            crs="EPSG:4490",
        )
        delivery = submit_delivery(session, bundled_catalogue()["zones"], RIVER, frame, actor="测绘院")
        approve_delivery(session, delivery.id, actor="河长办")
    asked = "106.808,28.800,106.810,28.802"
    around = "106.804,28.804,106.806,28.806"  # the line passes (106.805, 28.805): inside
    for bbox, expected in ((asked, 0), (around, 1)):
        doors = {
            "layer api": client.get("/api/v1/layers/zones/features", params={"bbox": bbox}).json()["features"],
            "ogc": client.get("/ogc/collections/zones/items", params={"bbox": bbox, "f": "json"}).json()["features"],
            "map data": client.get("/maps/data/layers/zones", params={"bbox": bbox}).json()["features"],
        }
        assert {door: len(found) for door, found in doors.items()} == dict.fromkeys(doors, expected), bbox
