"""Imports flow downwards: the layer order of ``gis_service`` (also in its package docstring), checked on the source.

Lowest first; a module may import its own layer and the layers below, never one above:

1. base: ``errors``, ``settings``, ``resources``, ``runtime``, ``clock`` and the package itself
2. ``db``: engines, the spatial backend seam, models, migrations
3. records and pure analysis: ``access``, ``roles``, ``accounts``, ``token_admin``, ``catalogue``,
   ``district``, ``analysis``
4. ``store``: reading and writing the layers
5. ``ingest``: read → normalise → validate → store a delivery
6. ``ledger``: problem sites, outfalls, jurisdiction, the ledger's part of taking deliveries
7. ``export``: files and workbooks
8. ``chiefs``, ``quality``: the river chiefs' work, water quality
9. ``webmap``, ``demo``: maps, the demo data
10. ``api``, ``ogc``, ``web``: routes and pages
11. ``api.app``: the application factory
12. ``cli``: the commands

Besides: no import of a ``gis_service`` module inside a function (or under ``if TYPE_CHECKING``), except
in ``gis_service.cli``, whose commands load lazily so that ``rivergis --help`` stays fast; and no
import cycle among module-level imports.
"""

from __future__ import annotations

import ast
import graphlib
import importlib
from pathlib import Path

import pytest

import gis_service

PACKAGE = Path(gis_service.__file__).resolve().parent
LAYERS: list[tuple[str, ...]] = [
    ("gis_service", "errors", "settings", "resources", "runtime", "clock"),
    ("db",),
    ("access", "roles", "accounts", "token_admin", "catalogue", "district", "analysis"),
    ("store",),
    ("ingest",),
    ("ledger",),
    ("export",),
    ("chiefs", "quality"),
    ("webmap", "demo"),
    ("api", "ogc", "web"),
    ("api.app",),
    ("cli",),
]
# Where a process starts: the places that read the settings from the environment themselves. The app
# keeps them on ``app.state`` (routes take ``SettingsDep``), the CLI hands ``cli_settings()`` down.
SETTINGS_READERS = {
    "gis_service.api.app",  # the app factory
    "gis_service.cli.common",  # the CLI's entry (``cli_settings``, the engine of a command)
    "gis_service.settings",  # where ``get_settings()`` builds them
}
# What reads the environment: the settings' getters, and building a settings class afresh.
ENV_READERS = {
    *("get_settings", "get_ogc_settings", "get_chief_settings"),
    *("Settings", "OgcSettings", "ChiefSettings", "AssetSettings"),
}


def module_files() -> dict[str, Path]:
    """Return every module of the package (migrations aside: Alembic loads them by path) by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.relative_to(PACKAGE).parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts).removesuffix(".__init__")] = path
    return found


MODULES = module_files()


def layer_of(module: str) -> int:
    """Return the layer number of a module: its longest prefix named in :data:`LAYERS`."""
    best, depth = -1, -1
    for number, names in enumerate(LAYERS):
        for name in names:
            full = name if name == "gis_service" else f"gis_service.{name}"
            if (module == full or module.startswith(full + ".")) and full.count(".") > depth:
                best, depth = number, full.count(".")
    assert best >= 0, f"{module} belongs to no layer: add it to LAYERS"
    return best


def targets(node: ast.Import | ast.ImportFrom) -> set[str]:
    """Return the project modules an import statement loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        module = node.module or ""
        names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
    return {name for name in names if name in MODULES}


def imports(module: str) -> tuple[set[str], list[tuple[int, str]]]:
    """Return a module's module-level project imports, and the others (line, target) nested anywhere."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    module_level: set[str] = set()
    nested: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found = targets(node)
            if id(node) in top:
                module_level |= found
            else:
                nested += [(node.lineno, target) for target in sorted(found)]
    return module_level, nested


GRAPH = {module: imports(module) for module in MODULES}


def test_every_module_has_a_layer() -> None:
    """Each module is placed in the order, and the order's names are real packages or modules."""
    for module in MODULES:
        layer_of(module)
    for names in LAYERS:
        for name in names:
            full = f"gis_service.{name}"
            assert name == "gis_service" or any(m == full or m.startswith(full + ".") for m in MODULES), name


def test_no_function_level_project_imports() -> None:
    """Project modules are imported at the top of a module; only the CLI loads its commands lazily."""
    hidden = [
        f"{module}:{line} → {target}"
        for module, (_, nested) in GRAPH.items()
        if not module.startswith("gis_service.cli.")
        for line, target in nested
    ]
    assert hidden == []


def test_imports_flow_downwards() -> None:
    """No module imports a layer above its own."""
    upward = [
        f"{module} (layer {layer_of(module) + 1}) → {target} (layer {layer_of(target) + 1})"
        for module, (module_level, _) in GRAPH.items()
        for target in sorted(module_level)
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_no_import_cycles() -> None:
    """The module-level imports form no circle (a module importing its own parent package aside: loaded first)."""
    sorter = graphlib.TopologicalSorter(
        {m: {t for t in module_level if t != m and not m.startswith(t + ".")} for m, (module_level, _) in GRAPH.items()}
    )
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' → '.join(exc.args[1])}")


def test_the_checks_see_what_they_forbid() -> None:
    """The parser finds a nested import, an upward one and a cycle when they are there (a check of the check)."""
    sample = ast.parse("from gis_service.db import models\n\ndef f():\n    from gis_service.store import features\n")
    top = {id(node) for node in sample.body}
    kinds = [(id(n) in top, sorted(targets(n))) for n in ast.walk(sample) if isinstance(n, ast.ImportFrom)]
    assert (True, ["gis_service.db", "gis_service.db.models"]) in kinds
    assert (False, ["gis_service.store", "gis_service.store.features"]) in kinds
    assert layer_of("gis_service.store.features") > layer_of("gis_service.db.models")
    assert layer_of("gis_service.api.app") > layer_of("gis_service.web.site") > layer_of("gis_service.ledger.service")
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter({"a": {"b"}, "b": {"a"}}).prepare()


def settings_calls(module: str) -> int:
    """Return how many times a module reads the environment's settings (see ``ENV_READERS``)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    return sum(
        isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) in ENV_READERS or getattr(node.func, "attr", None) in ENV_READERS)
        for node in ast.walk(tree)
    )


def test_settings_are_read_where_a_process_starts() -> None:
    """The settings are read only by the app factory and the CLI's entry, and handed down from there."""
    readers = {module for module in MODULES if settings_calls(module)}
    assert readers - SETTINGS_READERS == set(), "pass the settings in (SettingsDep, a parameter)"
    assert SETTINGS_READERS - readers == set(), "no longer reads them: strike it from SETTINGS_READERS"


def test_catalogue_and_district_come_from_the_settings_given() -> None:
    """No global catalogue or district: both are worked out from the settings a caller was handed."""
    names = {"get_catalogue", "get_district"}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = {
            getattr(node, "name", None) or getattr(node, "id", None)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.Name)
        }
        assert not names & found, f"{module}: take the catalogue/district as a parameter (CatalogueDep, DistrictDep)"


def test_no_module_level_engine() -> None:
    """No module builds or fetches an engine at import time, and no ``get_engine()`` global remains."""
    builders = {"create_engine", "make_engine", "engine_for", "get_engine"}
    for module in MODULES:
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue  # bodies run when called, not at import
            called = {
                getattr(c.func, "id", getattr(c.func, "attr", "")) for c in ast.walk(node) if isinstance(c, ast.Call)
            }
            assert not called & builders, module
    assert not hasattr(importlib.import_module("gis_service.db.engine"), "get_engine")
