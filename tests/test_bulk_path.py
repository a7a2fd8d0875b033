"""One bulk-write path: features reach their tables only through ``store.bulk.insert_features`` (or the same
write made ready by ``prepare_features``).

A static check reads every module of the service and the benchmarks for other bulk inserts into
the feature tables; then the demo, an import and a slice of the province set (cut by ``ogr2ogr``)
are written on each backend, every INSERT/COPY into a feature table is traced to the bulk path,
and what reads back equals what the files hold, feature by feature.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import subprocess
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from sqlalchemy import Engine, event, select

from benchmarks.common import store_layers
from gis_service.catalogue import LayerSpec, bundled_catalogue
from gis_service.clock import BusinessClock
from gis_service.db.backends import pgbinary, pgcopy
from gis_service.db.engine import transaction
from gis_service.db.models import LAYER_MODELS, Delivery
from gis_service.demo.generator import generate
from gis_service.demo.load import load_demo, read_demo
from gis_service.ingest.normalise import normalise
from gis_service.ingest.pipeline import IMPORTABLE, ImportOptions, run_import
from gis_service.settings import Settings
from gis_service.store.features import read_features

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "shapefiles"
BULK = ROOT / "gis_service" / "store" / "bulk.py"
# Where the seam itself spells the bulk load (COPY text, executemany), and schema migrations.
ALLOWED = {BULK, *(ROOT / "gis_service" / "db" / "backends").glob("*.py")}
FEATURE_MODELS = {model.__name__ for model in LAYER_MODELS.values()}
# The tables deliveries, the demo and the province loader fill (the chiefs' workflows add their rows one by one).
FEATURE_TABLES = {bundled_catalogue()[name].table for name in ("towns", *IMPORTABLE)}
BULK_CALLS = {"copy_features", "copy_values", "copy_rows", "to_postgis", "to_sql"}
# The bulk path's entry points: an insert now, or features made ready (``prepare_features``) and inserted later.
BULK_ENTRIES = {"insert_features", "insert"}
PROVINCE_SLICE = {"towns": 100, "rivers": 300, "zones": 600, "problems": 400}


# -- static check ---------------------------------------------------------------------------------


def _mentions_feature_table(node: ast.AST, aliases: set[str]) -> bool:
    """Tell whether an expression names a feature model, a name bound to one's table, or ``table_of``."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    return bool(names & (FEATURE_MODELS | aliases | {"table_of", "LAYER_MODELS"}))


def bulk_writes(source: str) -> list[str]:
    """Return the bulk inserts into feature tables that ``source`` makes itself, as ``line: code``."""
    tree = ast.parse(source)
    # Module-level names bound to a feature table (``TABLE = Outfall.__table__``).
    aliases = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and _mentions_feature_table(node.value, set())
    }
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        targets = [*node.args, *(k.value for k in node.keywords)]
        names_table = any(_mentions_feature_table(a, aliases) for a in targets)
        if (
            name in BULK_CALLS
            or (name in {"insert", "insert_columns", "add_all"} and names_table)
            or (isinstance(func, ast.Attribute) and name == "insert" and _mentions_feature_table(func.value, aliases))
        ):
            found.append((node.lineno, f"{node.lineno}: {ast.unparse(node)[:80]}"))
    return [text for _, text in sorted(found)]


def project_modules() -> Iterator[Path]:
    """Every Python module of the service and the benchmarks, but the bulk path, the seam and migrations."""
    for folder in ("gis_service", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path not in ALLOWED and "migrations" not in path.parts:
                yield path


def test_the_checker_sees_the_usual_ways_of_inserting_features() -> None:
    # Each of these once lived somewhere in the project (an ORM insert, a table alias, a COPY).
    planted = """
TABLE = Outfall.__table__
session.execute(insert(Zone), rows)
session.execute(insert(TABLE).returning(TABLE.c.id), rows)
backend.insert_columns(conn, table_of(layer), columns)
pgcopy.copy_features(conn, table, values, attrs, geoms)
frame.to_postgis("zones", conn)
session.execute(insert(EVENTS), events)
"""
    found = bulk_writes(planted)
    assert [line.split(":")[0] for line in found] == ["3", "4", "5", "6", "7"], found  # not line 8: events


def test_no_module_but_the_bulk_path_inserts_features() -> None:
    offenders = {str(p.relative_to(ROOT)): hits for p in project_modules() if (hits := bulk_writes(p.read_text()))}
    assert offenders == {}


# -- writes traced at run time ----------------------------------------------------------------------


def _from_bulk_path() -> bool:
    """Tell whether the current call stack passes through ``store.bulk``'s entry points (``BULK_ENTRIES``)."""
    return any(frame.filename == str(BULK) and frame.name in BULK_ENTRIES for frame in traceback.extract_stack())


@pytest.fixture
def traced(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bool]]]:
    """Record each INSERT or COPY into a feature table, with whether it came through the bulk path."""
    seen: list[tuple[str, bool]] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.split(None, 3)
        if len(words) > 2 and words[0].upper() == "INSERT" and words[2].strip('"') in FEATURE_TABLES:
            seen.append((words[2].strip('"'), _from_bulk_path()))

    def traced_copy(copy: Any) -> Any:
        def traced(conn: Any, table: Any, *args: Any) -> int:
            if table.name in FEATURE_TABLES:
                seen.append((table.name, _from_bulk_path()))
            return copy(conn, table, *args)

        return traced

    # COPY text, and binary COPY where a table's types allow it.
    monkeypatch.setattr(pgcopy, "copy_rows", traced_copy(pgcopy.copy_rows))
    monkeypatch.setattr(pgbinary, "copy_columns", traced_copy(pgbinary.copy_columns))
    event.listen(engine, "before_cursor_execute", on_execute)
    yield seen
    event.remove(engine, "before_cursor_execute", on_execute)


# -- what reads back --------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Return a cell as comparable Python: None for every null, dates as ISO text, whole floats as ints."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _parts(geom: Any) -> tuple[str, ...]:
    """Return a geometry as the hex WKB of its 2D parts (a column may make single parts multi)."""
    return tuple(shapely.to_wkb(shapely.force_2d(shapely.get_parts(geom)), hex=True))


def rows(layer: LayerSpec, frame: gpd.GeoDataFrame, fields: list[str]) -> list[tuple[Any, ...]]:
    """Return ``frame``'s features as sorted tuples of ``fields`` and geometry parts."""
    cells = [[_plain(v) for v in frame[name]] if name in frame else [None] * len(frame) for name in fields]
    out = [(*row, _parts(g)) for *row, g in zip(*cells, frame.geometry.values, strict=True)]
    return sorted(out, key=repr)


def written(layer: LayerSpec, source: gpd.GeoDataFrame) -> list[str]:
    """Return the fields a writer stores as they come: the source's, less those the ledger derives."""
    return [f.name for f in layer.fields if f.name in source and not f.derived]


def assert_round_trip(engine: Engine, layer_name: str, source: gpd.GeoDataFrame, **filters: Any) -> None:
    """Assert the stored features of ``layer_name`` equal ``source``'s, field by field and vertex by vertex."""
    layer = bundled_catalogue()[layer_name]
    with engine.connect() as conn:
        stored = read_features(conn, layer, current_only=False, **filters)
    fields = written(layer, source)
    assert len(stored) == len(source)
    assert rows(layer, stored, fields) == rows(layer, source, fields), layer_name


def test_demo_and_an_import_round_trip_through_the_bulk_path(
    engine: Engine, traced: list[tuple[str, bool]], tmp_path: Path
) -> None:
    catalogue = bundled_catalogue()
    with transaction(engine) as session:
        counts = load_demo(session, Settings(), BusinessClock())
    # The demo's files, read and normalised on their own: towns, rivers, ranges, stakes, zones, outfalls, sites.
    sources = read_demo(DEMO, catalogue)
    assert {layer: counts[layer] for layer in sources} == {layer: len(frame) for layer, frame in sources.items()}
    for layer, frame in sources.items():
        assert_round_trip(engine, layer, frame)
    # A surveyor's new zone set of river WS001, imported: the new version holds the file's stretches.
    zones = pyogrio.read_dataframe(DEMO / "zones.shp")
    mine = zones[zones["河流编码"] == "WS001"]
    path = tmp_path / "ws001.gpkg"
    pyogrio.write_dataframe(mine, path)
    with transaction(engine) as session:
        report = run_import(session, path, ImportOptions(layer="zones", actor="test"), settings=Settings())
    (delivery,) = report["deliveries"]
    normalised = normalise(catalogue["zones"], mine.to_crs(4490)).frame
    assert_round_trip(engine, "zones", normalised, delivery_id=delivery["id"])
    # Every feature table was written, and only through the bulk path.
    assert {table for table, _ in traced} >= set(sources)
    assert [table for table, bulk in traced if not bulk] == []


@pytest.fixture(scope="session")
def province_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first features of each province layer, cut from the generated set by ``ogr2ogr``."""
    full = tmp_path_factory.mktemp("province")
    generate(full, scale="province", seed=2022)
    folder = tmp_path_factory.mktemp("province_slice")
    for layer, n in PROVINCE_SLICE.items():
        argv = ["ogr2ogr", "-f", "GPKG", "-limit", str(n), "-nln", layer, str(folder / f"{layer}.gpkg")]
        subprocess.run([*argv, str(full / f"{layer}.gpkg")], check=True, capture_output=True)
    return folder


def test_province_loader_round_trips_through_the_bulk_path(
    engine: Engine, traced: list[tuple[str, bool]], province_slice: Path
) -> None:
    catalogue = bundled_catalogue()
    layers = tuple(PROVINCE_SLICE)
    store_layers(engine, province_slice, layers)
    for layer in layers:
        source = normalise(catalogue[layer], pyogrio.read_dataframe(province_slice / f"{layer}.gpkg")).frame
        assert len(source) == PROVINCE_SLICE[layer]
        assert_round_trip(engine, layer, source)
    with engine.connect() as conn:
        assert conn.scalar(select(Delivery.feature_count).where(Delivery.layer == "zones")) == PROVINCE_SLICE["zones"]
    assert sorted({table for table, _ in traced}) == sorted(layers)
    assert all(bulk for _, bulk in traced)
