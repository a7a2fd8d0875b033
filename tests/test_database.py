"""The spatial database on both backends: schema by Alembic, EPSG:4490 geometries, spatial filters."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from gis_service.catalogue import bundled_catalogue
from gis_service.cli.main import app
from gis_service.db.backend import DatabaseWaits, backend_for
from gis_service.db.engine import make_engine, transaction
from gis_service.db.schema import VERSION_TABLE, alembic_config, current_revision, head_revision, upgrade
from gis_service.errors import ConfigurationError
from gis_service.settings import Settings
from gis_service.store.bulk import insert_features
from gis_service.store.features import read_features


def test_init_creates_the_schema_and_is_safe_to_repeat(engine):
    assert current_revision(engine) == head_revision()
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert current_revision(engine) == head_revision()


def test_geometries_are_stored_in_cgcs2000_with_a_spatial_index(engine):
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(text("SELECT f_table_name, srid FROM geometry_columns")).fetchall()
            indexed = {
                r[0] for r in conn.execute(text("SELECT tablename FROM pg_indexes WHERE indexdef ILIKE '%gist%'"))
            }
        else:
            rows = conn.execute(text("SELECT f_table_name, srid FROM geometry_columns")).fetchall()
            indexed = {
                r[0]
                for r in conn.execute(text("SELECT f_table_name FROM geometry_columns WHERE spatial_index_enabled = 1"))
            }
    tables = {"rivers", "towns", "boundaries", "stakes", "zones", "outfalls", "problems", "sections", "source_zones"}
    # Later stages add spatial tables of their own (the chiefs' reaches, boards, patrols, reports): all indexed too.
    assert {r[0] for r in rows} >= tables | {"chief_assignments", "signboards", "patrols", "public_reports"}
    assert {r[1] for r in rows} == {4490}
    assert indexed >= {r[0] for r in rows}


def test_features_round_trip_and_bbox_uses_the_index(engine):
    rivers = bundled_catalogue()["rivers"]
    gdf = gpd.GeoDataFrame(
        {"code": ["A", "B"], "name": ["甲河", "乙河"], "important": [True, False]},
        geometry=[LineString([(106.80, 28.80), (106.81, 28.81)]), LineString([(107.00, 29.00), (107.01, 29.0)])],
        crs="EPSG:4490",
    )
    with transaction(engine) as session:
        assert insert_features(session, rivers, gdf) == 2
    with engine.connect() as conn:
        everything = read_features(conn, rivers)
        west = read_features(conn, rivers, bbox=(106.7, 28.7, 106.9, 28.9))
    assert list(everything["code"]) == ["A", "B"]
    assert everything.crs.to_epsg() == 4490
    assert everything.geometry.iloc[0].geom_type == "MultiLineString"
    assert everything.geometry.iloc[0].equals(gdf.geometry.iloc[0])
    assert list(west["code"]) == ["A"]
    assert list(west["important"]) == [True]


def test_a_failed_transaction_leaves_nothing_behind(engine):
    outfalls = bundled_catalogue()["outfalls"]
    gdf = gpd.GeoDataFrame(
        {"code": ["X"], "name": ["排口"], "outfall_type": ["industrial"]},
        geometry=[Point(106.9, 28.9)],
        crs="EPSG:4490",
    )
    with pytest.raises(RuntimeError), transaction(engine) as session:
        insert_features(session, outfalls, gdf)
        raise RuntimeError("killed mid-import")
    with engine.connect() as conn:
        assert read_features(conn, outfalls).empty


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("mysql://u:p@localhost/db", "bad_database_url"),
        ("not a url", "bad_database_url"),
        ("postgresql+psycopg://nobody:pw@127.0.0.1:1/none", "database_unreachable"),
    ],
)
def test_a_bad_database_url_is_one_clear_sentence(url, code, monkeypatch, tmp_path):
    from tests.helpers import clear_caches

    monkeypatch.setenv("RIVERGIS_DATABASE_URL", url)
    clear_caches()
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 3
    assert code in result.output and "Traceback" not in result.output
    with pytest.raises(ConfigurationError):
        upgrade(make_engine(url, DatabaseWaits.of(Settings())))


def test_a_missing_spatialite_names_the_package_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("SPATIALITE_LIBRARY_PATH", str(tmp_path / "no_such_mod_spatialite"))
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}", DatabaseWaits.of(Settings()))
    with pytest.raises(ConfigurationError) as info:
        with engine.connect():
            pass
    assert info.value.code == "spatialite_missing"
    assert "libsqlite3-mod-spatialite" in info.value.message


def test_sqlite_too_old_or_unable_to_load_extensions_is_one_clear_sentence(monkeypatch):
    """An old SQLite (before 3.35) or one without extension loading falls back to pysqlite3, else says what to do."""
    import sqlite3

    from gis_service.db import engine as engine_module

    real_import = importlib.import_module
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    assert engine_module.sqlite_module().sqlite_version_info >= engine_module.MIN_SQLITE  # pysqlite3 here

    def no_pysqlite3(name, *args, **kwargs):
        if name.startswith("pysqlite3"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", no_pysqlite3)
    if hasattr(sqlite3.connect(":memory:"), "enable_load_extension"):
        with pytest.raises(ConfigurationError) as info:
            engine_module.sqlite_module()
        assert info.value.code == "sqlite_too_old" and "pysqlite3-binary" in info.value.message
    else:
        with pytest.raises(ConfigurationError) as info:
            engine_module.sqlite_module()
        assert info.value.code == "sqlite_extensions_unavailable" and "pysqlite3-binary" in info.value.message


def test_spatialite_file_uses_write_ahead_logging(tmp_path):
    """Readers (maps, lists) are not blocked by an import writing to the SpatiaLite file."""
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.sqlite'}", DatabaseWaits.of(Settings()))
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def _zone(delivery_id: int) -> gpd.GeoDataFrame:
    """One zone stretch naming ``delivery_id``."""
    return gpd.GeoDataFrame(
        {"river_code": ["A"], "bank": ["left"], "zone_type": ["protected"]},
        geometry=[LineString([(106.80, 28.80), (106.81, 28.81)])],
        crs="EPSG:4490",
    )


def test_features_must_name_an_existing_delivery_and_named_deliveries_stay(engine):
    """The delivery reference holds on both backends (a foreign key on SpatiaLite, set-based triggers on PostGIS)."""
    import psycopg
    from sqlalchemy.exc import IntegrityError

    from gis_service.db.models import Delivery

    # A COPY (PostGIS) raises the driver's error, SQLAlchemy statements its wrapper.
    refused = (IntegrityError, psycopg.errors.IntegrityError)
    from gis_service.store.deliveries import submit_delivery

    zones = bundled_catalogue()["zones"]
    with transaction(engine) as session, pytest.raises(refused, match="(?i)foreign|deliver"):
        insert_features(session, zones, _zone(987654), {"delivery_id": 987654})
    with transaction(engine) as session:
        kept = submit_delivery(session, zones, "A", _zone(0), actor="test").id
    with transaction(engine) as session, pytest.raises(refused, match="(?i)foreign|deliver"):
        session.execute(text("DELETE FROM deliveries WHERE id = :id"), {"id": kept})
    with transaction(engine) as session, pytest.raises(refused, match="(?i)foreign|deliver"):
        session.execute(text("UPDATE zones SET delivery_id = :bad"), {"bad": kept + 1000})
    # One statement naming an existing delivery and a missing one is refused whole.
    both = (
        "INSERT INTO zones (delivery_id, river_code, bank, zone_type, attrs, geom) "
        "SELECT named.id, river_code, bank, zone_type, attrs, geom FROM zones, "
        "(SELECT :kept AS id UNION ALL SELECT :bad) AS named"
    )
    with transaction(engine) as session, pytest.raises(refused, match="(?i)foreign|deliver"):
        session.execute(text(both), {"kept": kept, "bad": kept + 1000})
    with transaction(engine) as session:
        assert session.get(Delivery, kept) is not None
        assert session.scalar(text("SELECT count(*) FROM zones WHERE delivery_id = :id"), {"id": kept}) == 1
        assert session.scalar(text("SELECT count(*) FROM zones")) == 1


def test_reports_must_name_an_existing_delivery_and_reported_deliveries_stay(engine):
    """A delivery report's reference holds on both backends (on PostGIS by statement-level triggers, 0016), for a
    COPY of reports as for a statement: none names a missing delivery, and a reported delivery cannot be deleted."""
    import psycopg
    from sqlalchemy.exc import IntegrityError

    from gis_service.store.bulk import write_reports

    refused = (IntegrityError, psycopg.errors.IntegrityError)
    bare = 500  # a delivery with no features (nor report, yet)
    with transaction(engine) as session:
        session.execute(
            text(
                "INSERT INTO deliveries (id, river_code, layer, version, status, feature_count, submitted_at)"
                " VALUES (:id, 'C', 'zones', 1, 'submitted', 0, '2026-11-30 00:00:00+00:00')"
            ),
            {"id": bare},
        )
    # One write naming an existing delivery and a missing one is refused whole (and its transaction rolled back).
    with pytest.raises(refused, match="(?i)foreign|deliver"), transaction(engine) as session:
        write_reports(session, {"C": bare, "X": bare + 1}, {"C": {"accepted": True}, "X": {}})
    with pytest.raises(refused, match="(?i)foreign|deliver"), transaction(engine) as session:
        session.execute(text("INSERT INTO delivery_reports (delivery_id, report) VALUES (:id, '{}')"), {"id": bare + 1})
    with transaction(engine) as session:
        assert session.execute(text("SELECT * FROM delivery_reports")).all() == []
        write_reports(session, {"C": bare}, {"C": {"accepted": False}})
    with pytest.raises(refused, match="(?i)foreign|deliver"), transaction(engine) as session:
        session.execute(text("UPDATE delivery_reports SET delivery_id = :bad"), {"bad": bare + 1})
    with pytest.raises(refused, match="(?i)foreign|deliver"), transaction(engine) as session:
        session.execute(text("DELETE FROM deliveries WHERE id = :id"), {"id": bare})
    with transaction(engine) as session:
        (report,) = session.execute(text("SELECT report FROM delivery_reports WHERE delivery_id = :id"), {"id": bare})
        # Without its report it can go.
        session.execute(text("DELETE FROM delivery_reports WHERE delivery_id = :id"), {"id": bare})
        session.execute(text("DELETE FROM deliveries WHERE id = :id"), {"id": bare})
        assert session.scalar(text("SELECT count(*) FROM deliveries WHERE id = :id"), {"id": bare}) == 0
    assert (json.loads(report[0]) if isinstance(report[0], str) else report[0]) == {"accepted": False}


def test_reports_move_to_their_table_and_back_across_migration_0004(engine):
    """Upgrading a database whose deliveries carry reports moves each report over; downgrading moves it back."""
    from alembic import command

    from gis_service.db.models import Delivery

    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO deliveries (id, river_code, layer, version, status, feature_count, submitted_at,"
                " report) VALUES (7, 'A', 'zones', 1, 'submitted', 0, '2026-11-30 00:00:00+00:00',"
                " :report)"
            ),
            {"report": '{"counts": {"error": 0}, "findings": [{"code": "zone_gap"}]}'},
        )
    upgrade(engine)
    with transaction(engine) as session:
        assert session.get(Delivery, 7).report == {"counts": {"error": 0}, "findings": [{"code": "zone_gap"}]}
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    with engine.connect() as conn:
        back = conn.scalar(text("SELECT report FROM deliveries WHERE id = 7"))
    assert (json.loads(back) if isinstance(back, str) else back)["findings"] == [{"code": "zone_gap"}]
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_zones_are_read_by_box_through_their_spatial_index_across_migration_0014(engine):
    """PostGIS indexes zones with SP-GiST (0014; GiST again after a downgrade), and box reads go through it."""
    from alembic import command

    from gis_service.store.deliveries import submit_delivery

    zones = bundled_catalogue()["zones"]
    with transaction(engine) as session:
        submit_delivery(session, zones, "A", _zone(0), actor="test")
        far = _zone(0).set_geometry([LineString([(107.50, 29.50), (107.51, 29.51)])])
        submit_delivery(session, zones, "B", far.assign(river_code="B"), actor="test")

    def method() -> str | None:
        with engine.connect() as conn:
            if engine.dialect.name != "postgresql":  # SpatiaLite: its R*Tree, whatever the revision
                on = conn.scalar(
                    text("SELECT spatial_index_enabled FROM geometry_columns WHERE f_table_name = 'zones'")
                )
                return "rtree" if on == 1 else None
            found = conn.scalar(
                text(
                    "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                    "WHERE c.relname = 'idx_zones_geom'"
                )
            )
            return str(found) if found else None

    def read_by_box() -> tuple[list[str], str]:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SET enable_seqscan = off"))  # two rows: the plan the index gives a large table
                plan = "\n".join(
                    conn.scalars(
                        text(
                            "EXPLAIN SELECT id FROM zones WHERE geom && ST_MakeEnvelope(106.7, 28.7, 106.9, 28.9, 4490)"
                        )
                    )
                )
            else:
                plan = "idx_zones_geom"
            found = read_features(conn, zones, bbox=(106.7, 28.7, 106.9, 28.9), current_only=False)
        return list(found["river_code"]), plan

    spatial = "spgist" if engine.dialect.name == "postgresql" else "rtree"
    assert method() == spatial
    found, plan = read_by_box()
    assert found == ["A"] and "idx_zones_geom" in plan
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0013")
    assert method() == ("gist" if engine.dialect.name == "postgresql" else "rtree")
    assert read_by_box()[0] == ["A"]
    upgrade(engine)
    assert method() == spatial and read_by_box()[0] == ["A"]
    assert current_revision(engine) == head_revision()


def _plan_of(engine: Engine, read: Any) -> str:
    """Return the database's plan of the ids ``read`` keeps (PostGIS with sequential scans off: a few rows, the
    plan the indexes give a large table; SpatiaLite's ``EXPLAIN QUERY PLAN``)."""
    statement = read.filtered(select(read.table.c.id), backend_for(engine))
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))
            return "\n".join(conn.scalars(text(f"EXPLAIN {compiled}")))
        return "\n".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))


def test_versioned_features_are_read_by_river_through_their_delivery_across_migration_0015(engine):
    """0015 drops the versioned tables' own river index: a read by river finds the river's delivery first.

    The current version of a river, one of its versions, every version of it and the count answer
    the same before and after the migration; on PostGIS the plan goes through the deliveries' index.
    """
    from alembic import command

    from gis_service.store.current import CurrentFeatures, LayerVersions
    from gis_service.store.deliveries import approve_delivery, submit_delivery

    zones = bundled_catalogue()["zones"]
    with transaction(engine) as session:
        a1 = submit_delivery(session, zones, "A", _zone(0), actor="test").id
        approve_delivery(session, a1, actor="test")
        b1 = submit_delivery(session, zones, "B", _zone(0).assign(river_code="B"), actor="test").id
        approve_delivery(session, b1, actor="test")
        two = pd.concat([_zone(0), _zone(0)], ignore_index=True)
        a2 = submit_delivery(session, zones, "A", two.assign(bank=["left", "right"]), actor="test").id

    def river_indexes() -> set[str]:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                names = conn.scalars(text("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%river_code'"))
            else:
                names = conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            return {n for n in names if n.endswith("_river_code")}

    def reads() -> tuple[list[int], list[int], list[int], int]:
        with transaction(engine) as session:
            current = CurrentFeatures(zones, where={"river_code": "A"})
            every = LayerVersions(zones, where={"river_code": "A"})
            return (
                sorted(current.frame(session)["delivery_id"]),
                sorted(LayerVersions(zones, delivery_id=a2, where={"river_code": "A"}).frame(session)["delivery_id"]),
                sorted(every.frame(session)["delivery_id"]),
                current.count(session),
            )

    expected = ([a1], [a2, a2], [a1, a2, a2], 1)
    versioned = {f"ix_{t}_river_code" for t in ("zones", "boundaries", "stakes")}
    assert not river_indexes() & versioned and "ix_deliveries_river_code" in river_indexes()
    assert reads() == expected
    plan = _plan_of(engine, CurrentFeatures(zones, where={"river_code": "A"}))
    if engine.dialect.name == "postgresql":
        river_found = [line for line in plan.splitlines() if "Index Cond" in line and "river_code" in line]
    else:
        river_found = [line for line in plan.splitlines() if "uq_delivery_one_approved (river_code=?" in line]
    # The river is a condition of the deliveries' index, not a filter of every approved zone.
    assert "uq_delivery_one_approved" in plan and "ix_zones_delivery_id" in plan and river_found, plan
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0014")
    assert river_indexes() >= versioned
    assert reads() == expected
    upgrade(engine)
    assert not river_indexes() & versioned and reads() == expected
    assert current_revision(engine) == head_revision()


def test_a_list_of_rivers_reads_their_deliveries_first(engine):
    """A filter's ``river_code IN (…)`` (``CurrentFeatures.rivers``) narrows the deliveries, as one river does:
    the features of those rivers' current (or every) version, and the deliveries' index finds them."""
    from gis_service.store.current import CurrentFeatures, LayerVersions
    from gis_service.store.deliveries import approve_delivery, submit_delivery

    zones = bundled_catalogue()["zones"]
    ids = {}
    with transaction(engine) as session:
        for river in ("A", "B", "C"):
            ids[river] = submit_delivery(session, zones, river, _zone(0).assign(river_code=river), actor="test").id
            approve_delivery(session, ids[river], actor="test")
        two = pd.concat([_zone(0), _zone(0)], ignore_index=True).assign(bank=["left", "right"])
        later = submit_delivery(session, zones, "A", two, actor="test").id
    with transaction(engine) as session:
        assert sorted(CurrentFeatures(zones, rivers=("A", "C")).frame(session)["delivery_id"]) == [ids["A"], ids["C"]]
        assert CurrentFeatures(zones, rivers=("A", "C")).count(session) == 2
        assert CurrentFeatures(zones, rivers=("A", "C"), where={"river_code": "B"}).count(session) == 0
        every = LayerVersions(zones, rivers=("A", "B")).frame(session)["delivery_id"]
        assert sorted(every) == sorted([ids["A"], ids["B"], later, later])
    plan = _plan_of(engine, CurrentFeatures(zones, rivers=("A", "C")))
    if engine.dialect.name == "postgresql":
        # On a few rows PostgreSQL may take the deliveries by their status and test the rivers there; over a
        # million zone rows (versions of 10 000 rivers) it looks three rivers up in uq_delivery_one_approved:
        # 0.2 ms, against 187 ms testing every zone (benchmarks/README.md).
        lines = plan.splitlines()
        scans = [i for i, line in enumerate(lines) if "Scan" in line and " on deliveries" in line]
        river_found = [line for i in scans for line in lines[i + 1 : i + 3] if "river_code" in line and "ANY" in line]
    else:
        river_found = [line for line in plan.splitlines() if "uq_delivery_one_approved (river_code=?" in line]
    # The rivers are a condition of the deliveries, not a filter of every approved zone.
    assert "ix_zones_delivery_id" in plan and river_found, plan


def test_the_revision_check_answers_as_alembic_does(engine):
    """The version table and the migration files read without Alembic give Alembic's answers: at the head, after
    a downgrade, with the table empty and without it."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    def alembics() -> str | None:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    assert head_revision() == ScriptDirectory.from_config(alembic_config(None)).get_current_head() is not None
    assert current_revision(engine) == alembics() == head_revision()
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0010")
    assert current_revision(engine) == alembics() == "0010"
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {VERSION_TABLE}"))
    assert current_revision(engine) is None and alembics() is None
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {VERSION_TABLE}"))
    assert current_revision(engine) is None and alembics() is None


def test_report_texts_are_each_reports_json() -> None:
    from gis_service.store.bulk import ReportTexts

    reports = {
        "A": {
            "layer": "zones",
            "counts": {"error": 0},
            "findings": [{"code": "zone_gap", "value": "A"}],
            "ratios": {"rivers": [{"code": "A", "ratio": 0.5}]},
        },
        "B": {"layer": "zones", "counts": {"error": 0}, "findings": []},
        "C": {"findings": [{"message": '中文\t"引号"'}]},
        # Beyond orjson (an integer past 64 bits), numpy values and dates: written as the standard library writes them.
        "D": {"findings": [{"value": 2**70}], "counts": {"error": np.int64(3)}, "on": dt.date(2026, 12, 5)},
    }
    texts = ReportTexts(reports)
    assert {code: json.loads(texts.text(code)) for code in reports} == {
        **reports,
        "D": {"findings": [{"value": 2**70}], "counts": {"error": 3}, "on": "2026-12-05"},
    }
    assert texts.text("none such") == b"{}"


def test_report_texts_encode_a_member_shared_with_the_report_before_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from gis_service.store import bulk

    encoded: list[object] = []
    encode = bulk._report_json
    monkeypatch.setattr(bulk, "_report_json", lambda value: encoded.append(value) or encode(value))
    shared, own = {"filename": "z.gpkg", "encoding": "GBK"}, {"filename": "z.gpkg", "encoding": "GBK"}
    reports = {
        "A": {"source": shared, "n": 1},
        "B": {"source": shared, "n": 2},
        "C": {"source": own, "n": 3},  # equal, another object: encoded
        "D": {"source": shared, "n": 4},  # shared with A and B, not with C: encoded again
        "E": {"source": shared, "n": 5},
    }
    made = bulk.ReportTexts(reports)
    texts = {code: made.text(code) for code in reports}  # in the reports' order, as the COPY asks
    assert {code: json.loads(t) for code, t in texts.items()} == reports
    assert [value for value in encoded if isinstance(value, dict)] == [shared, own, shared]
    assert len(encoded) == 3 + len(reports)
