"""Storing big deliveries: one delivery per river with its own report, COPY ≡ executemany, rollback, concurrency."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import weakref
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
import shapely.affinity
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gis_service.catalogue import FieldSpec, bundled_catalogue
from gis_service.clock import BusinessClock
from gis_service.db import backend as backend_module
from gis_service.db.backends import pgbinary, pgcopy, sqlite_rows
from gis_service.db.engine import transaction
from gis_service.db.models import Delivery, DeliveryReport, ProblemEvent, Zone
from gis_service.errors import DeliveryRejected
from gis_service.ingest import batches as ingest_batches
from gis_service.ingest import pipeline, write
from gis_service.ingest.pipeline import ImportOptions
from gis_service.ingest.validation import context as validation_context
from gis_service.ledger.intake import run_import
from gis_service.settings import Settings
from gis_service.store.bulk import PreparedFeatures, feature_rows, insert_features
from gis_service.store.deliveries import DeliveryBatches, submit_delivery
from gis_service.store.features import read_features
from gis_service.store.tables import table_of
from tests.test_import_fixtures import cli, stored_counts, zip_files
from tests.test_import_fixtures import run as run_cli
from tests.test_import_fixtures import write as write_file

DEMO = Path(__file__).resolve().parent.parent / "shapefiles"
DEMO_RIVERS = [f"WS00{i}" for i in range(1, 7)]
# What a write the database refuses raises: SQLAlchemy's error, or psycopg's own from a COPY on its cursor.
REFUSED = (DBAPIError, psycopg.Error)


def demo_zones(tmp_path: Path) -> Path:
    """The demo zone set (six rivers, 141 stretches) as surveyors deliver it: a zipped GBK Shapefile."""
    return zip_files(tmp_path / "zones.zip", sorted(DEMO.glob("zones.*")))


def zones_of(engine: Engine, river: str) -> gpd.GeoDataFrame:
    """The current (approved) zone stretches of ``river`` as a delivery file would carry them."""
    with engine.connect() as conn:
        zones = read_features(conn, "zones", where={"river_code": river})
    return zones.drop(columns=["id", "delivery_id"])


def imported_in_batches(engine: Engine, tmp_path: Path) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Import the six demo rivers' current stretches as one file, read in batches of 16; return them and the report."""
    zones = pd.concat([zones_of(engine, river) for river in DEMO_RIVERS], ignore_index=True)
    path = write_file(zones, tmp_path / "zones.gpkg")
    with transaction(engine) as session:
        report = run_import(
            session,
            path,
            ImportOptions(layer="zones", actor="t"),
            settings=Settings(import_batch_rows=16),
            clock=BusinessClock(),
        )
    return zones, report


def test_the_cli_names_each_stored_delivery_on_a_line_of_its_own(demo_engine: Engine, tmp_path: Path) -> None:
    """Without ``--json`` the import prints one line per river's new delivery, as the database holds it."""
    result = run_cli("import", "zones", str(demo_zones(tmp_path)), "--quiet")
    assert result.exit_code == 0, result.stdout
    with demo_engine.connect() as conn:
        stored = conn.execute(
            select(Delivery.river_code, Delivery.version, Delivery.id)
            .where(Delivery.layer == "zones", Delivery.version == 2)
            .order_by(Delivery.river_code)
        ).all()
    assert [r.river_code for r in stored] == DEMO_RIVERS
    lines = [line for line in result.stdout.splitlines() if line.startswith("河流 ")]
    assert lines == [f"河流 {r.river_code}：第 2 版，交付编号 {r.id}，状态 submitted" for r in stored]


def test_zone_set_is_one_delivery_per_river_each_with_its_own_report(demo_engine: Engine, tmp_path: Path) -> None:
    exit_code, body = cli("import", "zones", str(demo_zones(tmp_path)))
    assert exit_code == 0, body
    deliveries = body["deliveries"]
    # The demo loader stored version 1 of each river's zone set; this is version 2 of all six.
    assert sorted(d["river_code"] for d in deliveries) == DEMO_RIVERS
    assert {(d["version"], d["status"]) for d in deliveries} == {(2, "submitted")}
    assert sum(d["feature_count"] for d in deliveries) == body["stored"] == 141
    split: list[dict[str, Any]] = []
    with demo_engine.connect() as conn:
        for d in deliveries:
            row = conn.execute(
                select(Delivery.version, Delivery.feature_count, Delivery.source_encoding, DeliveryReport.report)
                .join(DeliveryReport)
                .where(Delivery.id == d["id"])
            ).one()
            stored = conn.execute(
                select(Zone.river_code, func.count()).where(Zone.delivery_id == d["id"]).group_by(Zone.river_code)
            ).all()
            assert stored == [(d["river_code"], d["feature_count"])]
            assert (row.version, row.feature_count) == (2, d["feature_count"])
            assert row.source_encoding == body["source"]["encoding"]["encoding"]
            # Its report: this river's ratio figures, and only findings about this river.
            assert [r["code"] for r in row.report["ratios"]["rivers"]] == [d["river_code"]]
            assert {f["value"] for f in row.report["findings"]} <= {d["river_code"]}
            split.extend(row.report["findings"])
    # The demo set has a gap and an overlap: each lands in its own river's report, none is lost.
    assert (
        sorted(f["code"] for f in split) == sorted(f["code"] for f in body["findings"]) == ["zone_gap", "zone_overlap"]
    )

    exit_code, again = cli("import", "zones", str(demo_zones(tmp_path)), "--approve")
    assert exit_code == 0, again
    assert {(d["version"], d["status"]) for d in again["deliveries"]} == {(3, "approved")}
    with demo_engine.connect() as conn:
        statuses = conn.execute(
            select(Delivery.version, Delivery.status, func.count())
            .where(Delivery.layer == "zones")
            .group_by(Delivery.version, Delivery.status)
            .order_by(Delivery.version)
        ).all()
    # Version 3 approved as it is stored: the current version 1 and version 2, older and still waiting, are superseded.
    assert statuses == [(1, "superseded", 6), (2, "superseded", 6), (3, "approved", 6)]


def rivers_with_notes() -> Any:
    """The river layer with two catalogue fields that have no column of their own (kept in ``attrs``)."""
    rivers = bundled_catalogue()["rivers"]
    extra = (
        FieldSpec(name="note", type="str", label="备注"),
        FieldSpec(name="checked_on", type="date", label="核查日期"),
    )
    return dataclasses.replace(rivers, fields=(*rivers.fields, *extra))


def test_bulk_insert_stores_every_kind_of_value_as_given(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # PostGIS writes through COPY text (escaping, NULLs, EWKB, attrs JSON), SpatiaLite through executemany:
    # both must read back the same. Chunks of two rows make the COPY cross chunk boundaries.
    monkeypatch.setattr(pgcopy, "CHUNK_ROWS", 2)
    layer = rivers_with_notes()
    tricky = '孝子河\t上游\n第二行 \\N 反斜杠\\ "引号" \r'
    frame = gpd.GeoDataFrame(
        {
            "code": ["R1", "R2", "R3"],
            "name": [tricky, "清溪河", "藻渡河"],
            "level": [None, "镇级", "区级"],
            "important": [True, False, True],
            "basin_area_km2": [12.5, np.nan, 3.0],
            "note": ['a\\b\t"c"\n', None, "<无>"],
            "checked_on": [dt.date(2022, 5, 1), None, dt.date(2023, 1, 31)],
        },
        geometry=[
            shapely.LineString([(106.9, 28.9, 420.0), (106.91, 28.91, 421.0)]),  # Z dropped, made multi
            shapely.MultiLineString([[(106.92, 28.92), (106.93, 28.93)], [(106.94, 28.94), (106.95, 28.95)]]),
            shapely.LineString([(106.96, 28.96), (106.97, 28.97)]),
        ],
        crs=4490,
    )
    with transaction(engine) as session:
        assert insert_features(session, layer, frame) == 3
    with engine.connect() as conn:
        back = read_features(conn, layer).sort_values("code").reset_index(drop=True)
    assert back["name"].tolist() == [tricky, "清溪河", "藻渡河"]
    assert back["level"].tolist()[1:] == ["镇级", "区级"] and back["level"].isna().iloc[0]
    assert back["important"].tolist() == [True, False, True]
    assert back["basin_area_km2"].iloc[0] == 12.5 and back["basin_area_km2"].isna().iloc[1]
    assert back["note"].iloc[0] == 'a\\b\t"c"\n' and back["note"].isna().iloc[1] and back["note"].iloc[2] == "<无>"
    assert back["checked_on"].iloc[[0, 2]].tolist() == ["2022-05-01", "2023-01-31"]  # attrs keep dates as text
    assert back["checked_on"].isna().iloc[1]
    assert set(back.geom_type) == {"MultiLineString"} and not back.has_z.any()
    expected = [shapely.force_2d(frame.geometry.iloc[0]), frame.geometry.iloc[1], frame.geometry.iloc[2]]
    for got, want in zip(back.geometry, expected, strict=True):
        assert shapely.equals(got, want)


def test_the_bulk_write_stores_what_sqlalchemys_executemany_stores(engine: Engine) -> None:
    """The bulk write (PostGIS: COPY; SpatiaLite: rows made column by column, WKB into ``GeomFromWKB``) against
    SQLAlchemy's own executemany of the same rows (GeoAlchemy2 binding each geometry): every column the same,
    ``attrs`` the same JSON, the geometries the same bytes."""
    layer = rivers_with_notes()
    table = table_of(layer)
    frame = gpd.GeoDataFrame(
        {
            "code": ["R1", "R2", "R3", "R4"],
            "name": ['孝子河\t上游\n "引号" \\N', "清溪河", "藻渡河", "<script>x</script>"],
            "level": [None, "镇级", "区级", "镇级"],
            "important": [True, False, True, np.bool_(False)],
            "basin_area_km2": [12.5, np.nan, 3.0, np.float64(0.1) + np.float64(0.2)],
            "note": ['a\\b\t"c"\n', None, "<无>", "甲"],
            "checked_on": [dt.date(2022, 5, 1), None, dt.date(2023, 1, 31), dt.date(2024, 2, 29)],
        },
        geometry=[
            shapely.LineString([(106.9, 28.9, 420.0), (106.91, 28.91, 421.0)]),
            shapely.MultiLineString([[(106.92, 28.92), (106.93, 28.93)], [(106.94, 28.94), (106.95, 28.95)]]),
            shapely.LineString([(106.123456789012345, 28.987654321098765), (106.97, 28.97)]),
            shapely.MultiLineString([[(106.98, 28.98), (106.99, 28.99)]]),
        ],
        crs=4490,
    )
    by_sqlalchemy = frame.assign(code=[f"{c}-sa" for c in frame["code"]])
    with transaction(engine) as session:
        assert insert_features(session, layer, frame) == 4
        session.connection().execute(insert(table), feature_rows(layer, by_sqlalchemy))
    columns = [c for c in table.c if c.key not in {"id", "geom"}]
    with engine.connect() as conn:
        rows = conn.execute(select(*columns, func.ST_AsBinary(table.c.geom)).order_by(table.c.code)).all()
    stored = {row[0]: tuple(bytes(v) if isinstance(v, bytes | memoryview) else v for v in row[1:]) for row in rows}
    assert len(stored) == 8
    for code in frame["code"]:
        assert stored[code] == stored[f"{code}-sa"], code
    # Not a digit lost (the line made multi for the column).
    assert (shapely.get_coordinates(shapely.from_wkb(stored["R3"][-1])) == frame.geometry.iloc[2].coords).all()


def zone_file(engine: Engine, tmp_path: Path, name: str, *, blank: bool = False, river: str | None = None) -> Path:
    """River WS002's zone set as a delivery file; with ``blank`` one stretch has no zone type,
    with ``river`` the last stretch names that river instead."""
    zones = zones_of(engine, "WS002")
    if blank:
        zones.loc[3, "zone_type"] = None
    if river:
        zones.loc[len(zones) - 1, "river_code"] = river
    return write_file(zones, tmp_path / name)


@pytest.mark.parametrize("batch_rows", [None, 2], ids=["whole", "batches_of_2"])
@pytest.mark.parametrize("problem", ["missing_value", "unknown_river"])
def test_rejected_delivery_leaves_nothing_and_the_transaction_usable(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str, batch_rows: int | None
) -> None:
    # The features are written while being read and checked, inside a savepoint, the writer started before the
    # first batch: a rejection must roll back exactly that, and the caller's transaction must go on (here: a
    # clean delivery after it). An unknown river is found by the whole-layer checks, after its delivery
    # was made; a missing value in the 4th feature is found before any feature is written when the layer is
    # read whole (the writer, started, is abandoned), and after the first batch of two was written when it is
    # read in batches.
    before = stored_counts(demo_engine)
    bad = zone_file(
        demo_engine,
        tmp_path,
        "bad.gpkg",
        blank=problem == "missing_value",
        river="XX999" if problem == "unknown_river" else None,
    )
    good = zone_file(demo_engine, tmp_path, "ok.gpkg")
    early: list[bool] = []
    settings = Settings(import_batch_rows=batch_rows or 65_536)

    class Spy(write.DeliveryWriter):
        def __init__(self, *args: Any, savepoint: bool, **kw: Any) -> None:
            early.append(savepoint)
            super().__init__(*args, savepoint=savepoint, **kw)

    monkeypatch.setattr(pipeline, "DeliveryWriter", Spy)
    with transaction(demo_engine) as session:
        with pytest.raises(DeliveryRejected) as rejected:
            run_import(session, bad, ImportOptions(layer="zones", actor="t"), settings=settings, clock=BusinessClock())
        assert rejected.value.code == problem
        assert session.scalar(select(func.count()).select_from(Delivery)) == before["deliveries"]
        assert session.scalar(select(func.count()).select_from(Zone)) == before["zones"]
        report = run_import(
            session, good, ImportOptions(layer="zones", actor="t"), settings=settings, clock=BusinessClock()
        )
    assert [(d["river_code"], d["version"]) for d in report["deliveries"]] == [("WS002", 2)]
    # Written early (in a savepoint) on both backends, the bad file too, whatever batch has the error.
    assert early == [True, True]
    after = stored_counts(demo_engine)
    assert after["deliveries"] == before["deliveries"] + 1
    assert after["zones"] == before["zones"] + report["stored"]


def test_the_copy_worker_holds_a_batch_as_its_encoded_rows_until_the_server_has_them(
    demo_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # While the server catches up (a million stretches: its indexes grow), the worker must not keep the
    # batch's frame and geometries: only the rows its COPY encoded, which are still being sent.
    from psycopg.copy import LibpqWriter

    zones = zones_of(demo_engine, "WS002")
    n = len(zones)
    expected = sorted(shapely.to_wkb(zones.geometry.values, hex=True))
    frame = weakref.ref(zones)
    geometries = [weakref.ref(g) for g in zones.geometry.values]
    monkeypatch.setattr(pgbinary, "CHUNK_ROWS", 3)  # several chunks a COPY
    at_copy_end: list[tuple[bool, int]] = []
    finish = LibpqWriter.finish  # every COPY's end (a queued writer's too)

    def finishing(self: LibpqWriter, exc: BaseException | None = None) -> None:
        at_copy_end.append((frame() is None, sum(g() is not None for g in geometries)))
        finish(self, exc)

    monkeypatch.setattr(LibpqWriter, "finish", finishing)
    handed = threading.Event()
    prepare = DeliveryBatches.prepare

    def prepared(
        self: DeliveryBatches, session: Session, features: gpd.GeoDataFrame, index: Any = None
    ) -> PreparedFeatures:
        handed.wait(10)  # the main thread has moved on to its next batch and let go of this one
        return prepare(self, session, features, index)

    monkeypatch.setattr(DeliveryBatches, "prepare", prepared)
    with transaction(demo_engine) as session:
        writer = write.DeliveryWriter(
            session, bundled_catalogue()["zones"], {"filename": "z.gpkg"}, "t", savepoint=False
        )
        writer.add(zones)
        del zones
        handed.set()
        (delivery,) = writer.finish()
    assert (delivery.river_code, delivery.feature_count) == ("WS002", n)
    with demo_engine.connect() as conn:
        stored = read_features(conn, "zones", current_only=False, delivery_id=delivery.id)
    assert sorted(shapely.to_wkb(stored.geometry.values, hex=True)) == expected
    if demo_engine.dialect.name == "postgresql":
        # The features' COPY (the worker's last) ended with the frame and every geometry let go.
        assert at_copy_end[-1] == (True, 0)
    else:
        assert at_copy_end == []  # SpatiaLite writes the batch at once, on the caller's thread


def test_a_batch_is_handed_to_the_copy_worker_when_it_takes_it(
    demo_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No batch waits between the reader and the worker: while the worker writes one batch, ``add`` of the next
    # returns only once the worker takes it (a waiting batch held its frame while the reader read the next).
    zones = zones_of(demo_engine, "WS002")
    half = len(zones) // 2
    release = threading.Event()
    writing: list[str] = []
    insert = PreparedFeatures.insert

    def slow(self: PreparedFeatures, *args: Any) -> int:
        writing.append(threading.current_thread().name)
        release.wait(10)
        return insert(self, *args)

    monkeypatch.setattr(PreparedFeatures, "insert", slow)
    with transaction(demo_engine) as session:
        writer = write.DeliveryWriter(
            session, bundled_catalogue()["zones"], {"filename": "z.gpkg"}, "t", savepoint=False
        )
        if demo_engine.dialect.name != "postgresql":
            release.set()  # SpatiaLite writes each batch at once, on the caller's thread
            writer.add(zones.iloc[:half])
            assert writing == [threading.current_thread().name]
        else:
            writer.add(zones.iloc[:half])  # taken at once: the worker was free
            returned = threading.Event()
            second = threading.Thread(target=lambda: (writer.add(zones.iloc[half:]), returned.set()))
            second.start()
            assert not returned.wait(0.5)  # the worker still writes the first: the second is not taken
            assert writing == ["rivergis-copy"]
            release.set()
            assert returned.wait(10)
            second.join()
        if demo_engine.dialect.name != "postgresql":
            writer.add(zones.iloc[half:])
        (delivery,) = writer.finish()
    assert len(writing) == 2 and len(set(writing)) == 1  # both batches written, on one thread
    assert (delivery.river_code, delivery.feature_count) == ("WS002", len(zones))
    with demo_engine.connect() as conn:
        stored = read_features(conn, "zones", current_only=False, delivery_id=delivery.id)
    assert sorted(stored["code"]) == sorted(zones["code"])


def test_a_failed_store_raises_and_stores_nothing(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kw: Any) -> int:
        raise OSError("disk full")

    # Where a batch's features are written, on either backend (made ready, then inserted).
    monkeypatch.setattr(PreparedFeatures, "insert", broken)
    before = stored_counts(demo_engine)
    with pytest.raises(OSError, match="disk full"), transaction(demo_engine) as session:
        run_import(
            session,
            zone_file(demo_engine, tmp_path, "z.gpkg"),
            ImportOptions(layer="zones", actor="t"),
            settings=Settings(),
            clock=BusinessClock(),
        )
    assert stored_counts(demo_engine) == before
    assert not [t for t in threading.enumerate() if t.name == "rivergis-copy"]


def test_an_import_in_batches_makes_its_rivers_deliveries_first_and_sends_every_batch_in_one_copy(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deliveries of the file's rivers are made before its first batch's features (their counts from its river
    column), so that on PostGIS one COPY takes every batch and the server is never without rows in between; each
    delivery holds its river's stretches, counted as they were written."""
    streams: list[str] = []
    opened = pgbinary.CopyStream.__init__

    def opening(self: pgbinary.CopyStream, conn: Any, table: Any, names: list[str], **kw: Any) -> None:
        streams.append(table.name)
        opened(self, conn, table, names, **kw)

    monkeypatch.setattr(pgbinary.CopyStream, "__init__", opening)
    added: list[list[str]] = []
    add = DeliveryBatches._add

    def adding(self: DeliveryBatches, session: Session, counts: Any) -> None:
        added.append(sorted(c for c in counts if c not in self.rivers))
        add(self, session, counts)

    monkeypatch.setattr(DeliveryBatches, "_add", adding)
    zones, report = imported_in_batches(demo_engine, tmp_path)
    assert report["stored"] == len(zones) > 16 * 4
    if demo_engine.dialect.name == "postgresql":
        # The six rivers' deliveries at once, before any feature; then one COPY of the zones.
        assert [d for d in added if d] == [DEMO_RIVERS]
        assert streams.count("zones") == 1, streams
    else:
        assert streams == [] and sum(map(len, added)) == len(DEMO_RIVERS)  # each river with its first batch
    expected = zones.groupby("river_code").size().to_dict()
    assert {d["river_code"]: d["feature_count"] for d in report["deliveries"]} == expected
    with demo_engine.connect() as conn:
        stored = read_features(conn, "zones", current_only=False)
        counts = conn.execute(
            select(Delivery.id, func.count(Zone.id)).join(Zone, Zone.delivery_id == Delivery.id).group_by(Delivery.id)
        ).all()
        recorded = dict(conn.execute(select(Delivery.id, Delivery.feature_count)).all())
    ids = {d["id"] for d in report["deliveries"]}
    stored = stored[stored["delivery_id"].isin(ids)]
    assert sorted(stored["code"]) == sorted(zones["code"])
    assert all(recorded[i] == n for i, n in counts if i in ids)


def test_the_rivers_deliveries_are_made_while_the_first_batch_is_read(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer starts once the validation context is read, before the first batch: its worker makes the file's
    rivers' deliveries while the main thread reads and checks that batch, instead of the batch waiting for them."""
    postgis = demo_engine.dialect.name == "postgresql"
    expecting = threading.Event()
    waited: list[bool] = []
    expect, normalise = DeliveryBatches.expect, ingest_batches.normalise

    def expected(self: DeliveryBatches, *args: Any) -> None:
        expecting.set()
        expect(self, *args)

    def normalised(*args: Any) -> Any:
        if postgis and not waited:  # the first batch is normalised only once the worker is making the deliveries
            waited.append(expecting.wait(5))
        return normalise(*args)

    monkeypatch.setattr(DeliveryBatches, "expect", expected)
    monkeypatch.setattr(ingest_batches, "normalise", normalised)
    zones, report = imported_in_batches(demo_engine, tmp_path)
    # SpatiaLite makes each river's delivery with its first batch, on the caller's thread.
    assert waited == ([True] if postgis else []) and expecting.is_set() == postgis
    assert report["stored"] == len(zones)
    assert {d["river_code"]: d["feature_count"] for d in report["deliveries"]} == (
        zones.groupby("river_code").size().to_dict()
    )


def test_the_centerline_index_is_built_while_the_ranges_are_read(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zone set's centerline index is built on a thread of its own once the rivers are read, while the main thread
    reads their ranges, then the first batch, checking it feature by feature; the checks against the rivers and the
    ratio check then use that index."""
    building, normalised = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []
    waited: list[bool] = []
    first_batch: list[bool] = []
    index, read, normalise = (
        validation_context.centerline_index,
        validation_context.read_current,
        ingest_batches.normalise,
    )

    def built(rivers: Any) -> Any:
        threads.append(threading.current_thread())
        building.set()
        first_batch.append(normalised.wait(5))  # the main thread reads the first batch meanwhile: it needs no index
        return index(rivers)

    def normalising(*args: Any, **kw: Any) -> Any:
        out = normalise(*args, **kw)
        normalised.set()
        return out

    def reading(session: Session, layer: Any, *args: Any) -> Any:
        if layer.name == "boundaries":  # the ranges are read only once the index is being built
            waited.append(building.wait(5))
        return read(session, layer, *args)

    monkeypatch.setattr(validation_context, "centerline_index", built)
    monkeypatch.setattr(validation_context, "read_current", reading)
    monkeypatch.setattr(ingest_batches, "normalise", normalising)
    zones, report = imported_in_batches(demo_engine, tmp_path)
    assert waited == [True] and first_batch == [True]
    assert len(threads) == 1 and threads[0] is not threading.main_thread()
    assert report["stored"] == len(zones)
    # The index served the ratio check: each river measured, its banks' lengths from that index.
    measured = {r["code"]: r for r in report["ratios"]["rivers"]}
    assert sorted(measured) == sorted(set(zones["river_code"]))
    assert all(r["length_m"] > 0 for r in measured.values())


@pytest.mark.parametrize("block", [1, 2, 1024])
def test_rivers_read_as_wkb_are_the_rivers_read_whole(
    demo_engine: Engine, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """A zone set's rivers are read a block of rows at a time, their WKB kept on disk: the same columns, and the same
    geometries in the same order, as read whole (a code named twice or unknown read once, or not at all)."""
    import shapely

    from gis_service import runtime
    from gis_service.catalogue import catalogue_for
    from gis_service.settings import Settings

    monkeypatch.setattr(validation_context, "WKB_BLOCK", block)
    monkeypatch.setattr(runtime, "SPILL_BYTES", 64)
    rivers = catalogue_for(Settings())["rivers"]
    names = ["code", "name", "important"]
    with Session(demo_engine) as session:
        codes = sorted(str(c) for c in session.execute(text("SELECT code FROM rivers")).scalars())
        asked = [*codes, codes[0], "NOT-A-RIVER"]
        whole = validation_context.read_current(session, rivers, "code", asked, names)
        plain, wkb = validation_context.read_current_wkb(session, rivers, "code", asked, names)
    assert len(whole) == len(codes) >= 3 and len(wkb) == len(plain) == len(whole)
    assert plain.equals(pd.DataFrame(whole.drop(columns="geometry")))
    assert plain["important"].map(type).isin([bool]).all()  # SQLite's 0/1 as booleans, as read whole
    got = shapely.from_wkb(wkb[0 : len(wkb)])
    assert all(shapely.equals_exact(got, whole.geometry.values, tolerance=0))


def test_the_copy_ends_while_the_whole_layer_checks_run(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the last batch is in the worker's hands the worker ends the COPY (and the server its statement) while the
    main thread runs the whole-layer checks and the ratio check, not only when the import asks for its deliveries."""
    postgis = demo_engine.dialect.name == "postgresql"
    ended = threading.Event()
    waited: list[bool] = []
    close, validate = pgbinary.CopyStream.close, pipeline.validate

    def closing(self: pgbinary.CopyStream) -> None:
        close(self)
        ended.set()

    def validating(*args: Any, **kw: Any) -> Any:
        # Before the import's end asks for the deliveries. SpatiaLite writes each batch on the caller's thread: no COPY.
        waited.append(ended.wait(5) if postgis else ended.is_set())
        return validate(*args, **kw)

    monkeypatch.setattr(pgbinary.CopyStream, "close", closing)
    monkeypatch.setattr(pipeline, "validate", validating)
    zones, report = imported_in_batches(demo_engine, tmp_path)
    assert waited == [postgis]
    assert report["stored"] == len(zones)
    with demo_engine.connect() as conn:
        stored = read_features(conn, "zones", current_only=False)
    assert sorted(stored[stored["delivery_id"].isin([d["id"] for d in report["deliveries"]])]["code"]) == sorted(
        zones["code"]
    )


def zone_versions(conn: Any) -> dict[str, int]:
    """Each river's latest zone-set version."""
    latest = select(Delivery.river_code, func.max(Delivery.version)).where(Delivery.layer == "zones")
    return {code: int(v) for code, v in conn.execute(latest.group_by(Delivery.river_code)).all()}


def test_deliveries_expected_before_their_features_keep_what_was_written(demo_engine: Engine) -> None:
    """A delivery made before its features is counted as they are written; one that gets none is dropped, leaving
    its river's next version as it was."""
    zones = bundled_catalogue()["zones"]
    a, b = zones_of(demo_engine, "WS001"), zones_of(demo_engine, "WS002")
    with demo_engine.connect() as conn:
        before = zone_versions(conn)
        count = conn.scalar(select(func.count()).select_from(Delivery))
    with transaction(demo_engine) as session:
        batches = DeliveryBatches(zones, actor="t", meta={"filename": "z.gpkg"}, whole_layer=True)
        batches.expect(session, {"WS001": len(a) + 5, "WS002": len(b), "WS003": 7})
        assert batches.delivered(a) and batches.delivered(b)
        assert not batches.delivered(zones_of(demo_engine, "WS004"))
        written = batches.add(session, a.iloc[:3]) + batches.add(session, a.iloc[3:])
        assert written == len(a)
        submitted = batches.finish(session)
    assert [(s.river_code, s.version, s.feature_count) for s in submitted] == [("WS001", before["WS001"] + 1, len(a))]
    with demo_engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Delivery)) == count + 1
        assert conn.scalar(select(Delivery.feature_count).where(Delivery.id == submitted[0].id)) == len(a)
        after = zone_versions(conn)
    assert {k: v for k, v in after.items() if k != "WS001"} == {k: v for k, v in before.items() if k != "WS001"}


def test_a_failure_after_the_first_batch_is_in_the_copy_stores_nothing_and_keeps_the_transaction(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write of a later batch fails while the COPY holding the first ones is open: the import raises that
    error, nothing of it is kept, and the caller's transaction goes on."""
    calls: list[int] = []
    insert = PreparedFeatures.insert

    def failing_third(self: PreparedFeatures, *args: Any) -> int:
        calls.append(len(calls))
        if len(calls) == 3:
            raise OSError("disk full")
        return insert(self, *args)

    monkeypatch.setattr(PreparedFeatures, "insert", failing_third)
    zones = pd.concat([zones_of(demo_engine, river) for river in DEMO_RIVERS], ignore_index=True)
    path = write_file(zones, tmp_path / "zones.gpkg")
    settings = Settings(import_batch_rows=16)
    before = stored_counts(demo_engine)
    with transaction(demo_engine) as session:
        with pytest.raises(OSError, match="disk full"):
            run_import(session, path, ImportOptions(layer="zones", actor="t"), settings=settings, clock=BusinessClock())
        assert session.scalar(select(func.count()).select_from(Zone)) == before["zones"]
        assert session.scalar(select(func.count()).select_from(Delivery)) == before["deliveries"]
        monkeypatch.undo()
        report = run_import(
            session, path, ImportOptions(layer="zones", actor="t"), settings=settings, clock=BusinessClock()
        )
    assert len(calls) == 3
    assert stored_counts(demo_engine)["zones"] == before["zones"] + report["stored"] == before["zones"] + len(zones)
    assert not [t for t in threading.enumerate() if t.name == "rivergis-copy"]


def test_an_import_in_batches_indexes_every_stretch_and_leaves_the_index_upkeep_as_it_was(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SpatiaLite sets its spatial index's upkeep aside for an import written batch by batch and brings the index up
    to date on a worker while the next batch is read: every stretch stored is found by a read of its own box, the
    triggers are back as they were, and each batch's upkeep ran off the caller's thread. (PostGIS keeps its index
    as rows come: the same reads find the same stretches.)"""
    with demo_engine.connect() as conn:
        triggers = spatialite_triggers(conn)
    settled: list[str] = []
    settle = sqlite_rows.InsertTriggers.settle

    def watched(self: sqlite_rows.InsertTriggers, *, check: bool = True) -> None:
        settled.append(threading.current_thread().name)
        settle(self, check=check)

    monkeypatch.setattr(sqlite_rows.InsertTriggers, "settle", watched)
    zones = pd.concat([zones_of(demo_engine, river) for river in DEMO_RIVERS], ignore_index=True)
    path = write_file(zones, tmp_path / "zones.gpkg")
    settings = Settings(import_batch_rows=16)
    with transaction(demo_engine) as session:
        report = run_import(
            session, path, ImportOptions(layer="zones", actor="t"), settings=settings, clock=BusinessClock()
        )
        assert spatialite_triggers(session.connection()) == triggers
    batches = -(-len(zones) // 16)
    if demo_engine.dialect.name == "sqlite":
        # One upkeep a batch on the worker, then the writer's last one (nothing left) as it puts the triggers back.
        assert settled == ["rivergis-index"] * batches + [threading.current_thread().name]
    else:
        assert settled == []
    ids = [d["id"] for d in report["deliveries"]]
    with demo_engine.connect() as conn:
        assert spatialite_triggers(conn) == triggers
        assert spatial_index_whole(conn, "zones")
        stored = read_features(conn, "zones", current_only=False)
        stored = stored[stored["delivery_id"].isin(ids)]
        assert len(stored) == len(zones) == report["stored"]
        for stretch in stored.itertuples():
            by_box = read_features(conn, "zones", bbox=stretch.geometry.bounds, current_only=False)
            assert stretch.id in set(by_box["id"]), stretch.code


def test_a_failure_of_the_writers_background_work_stores_nothing_and_keeps_the_transaction(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's work off the caller's thread fails (PostGIS: a batch's COPY; SpatiaLite: a batch's index
    upkeep): the import raises that error, nothing of it is kept, the index upkeep is back, and the caller's
    transaction goes on."""
    with demo_engine.connect() as conn:
        triggers = spatialite_triggers(conn)
    calls: list[str] = []

    def broken(*_args: Any, **_kw: Any) -> None:
        calls.append(threading.current_thread().name)
        raise OSError("disk full")

    if demo_engine.dialect.name == "sqlite":
        monkeypatch.setattr(sqlite_rows.InsertTriggers, "settle", broken)
    else:
        monkeypatch.setattr(DeliveryBatches, "prepare", broken)
    before = stored_counts(demo_engine)
    bad = zone_file(demo_engine, tmp_path, "z.gpkg")
    settings = Settings(import_batch_rows=4)
    with transaction(demo_engine) as session:
        with pytest.raises(OSError, match="disk full"):
            run_import(session, bad, ImportOptions(layer="zones", actor="t"), settings=settings, clock=BusinessClock())
        assert calls and set(calls) == {"rivergis-index" if demo_engine.dialect.name == "sqlite" else "rivergis-copy"}
        assert spatialite_triggers(session.connection()) == triggers
        assert session.scalar(select(func.count()).select_from(Zone)) == before["zones"]
        monkeypatch.undo()
        report = run_import(
            session, bad, ImportOptions(layer="zones", actor="t"), settings=settings, clock=BusinessClock()
        )
    assert stored_counts(demo_engine)["zones"] == before["zones"] + report["stored"]
    assert not [t for t in threading.enumerate() if t.name in {"rivergis-copy", "rivergis-index"}]
    with demo_engine.connect() as conn:
        assert spatialite_triggers(conn) == triggers


@pytest.mark.parametrize("layer_lock_from", [backend_module.LOCK_LAYER_RIVERS, 0], ids=["river-locks", "layer-lock"])
def test_concurrent_deliveries_of_one_river_never_share_or_lose_a_version(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layer_lock_from: int
) -> None:
    # Deliveries of many rivers lock the whole layer instead of each river: both ways serialise.
    monkeypatch.setattr(backend_module, "LOCK_LAYER_RIVERS", layer_lock_from)
    path = zone_file(demo_engine, tmp_path, "z.gpkg")
    outcomes: list[Any] = []

    def deliver() -> None:
        try:
            with transaction(demo_engine) as session:
                outcomes.append(
                    run_import(
                        session,
                        path,
                        ImportOptions(layer="zones", actor="t"),
                        settings=Settings(),
                        clock=BusinessClock(),
                    )
                )
        except Exception as exc:  # noqa: BLE001 - kept to show in the assertion
            outcomes.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = [o for o in outcomes if isinstance(o, dict)]
    # PostGIS serialises them per river, SpatiaLite queues them behind its write lock: all three are stored.
    assert len(stored) == 3, outcomes
    with demo_engine.connect() as conn:
        versions = sorted(
            conn.scalars(select(Delivery.version).where(Delivery.river_code == "WS002", Delivery.layer == "zones"))
        )
    # Version 1 is the demo's; each stored delivery took the next number, none twice.
    assert versions == list(range(1, len(stored) + 2))
    assert sorted(o["deliveries"][0]["version"] for o in stored) == versions[1:]


def test_zones_off_the_range_by_less_than_the_tolerance_are_accepted(demo_engine: Engine, tmp_path: Path) -> None:
    # Stretches inside the range are decided in lon/lat; one shifted 2 m (tolerance 5 m) is measured in
    # metres and passes, one shifted 200 m is reported with how far it reaches out.
    frame = zones_of(demo_engine, "WS002").to_crs(4545)
    frame.loc[1, "geometry"] = shapely.affinity.translate(frame.geometry.iloc[1], xoff=2.0)
    exit_code, body = cli("import", "zones", str(write_file(frame, tmp_path / "near.gpkg")), "--dry-run")
    assert exit_code == 0, body
    far = frame.copy()
    far.loc[1, "geometry"] = shapely.affinity.translate(frame.geometry.iloc[1], xoff=200.0, yoff=200.0)
    exit_code, body = cli("import", "zones", str(write_file(far, tmp_path / "far.gpkg")), "--dry-run")
    assert exit_code == 2
    outside = [f for f in body["error"]["details"]["findings"] if f["code"] == "zone_outside_range"]
    assert [f["feature"] for f in outside] == [2] and "超出部分" in outside[0]["message"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("drop_river_field", "missing_field"),
        ("blank_river_code", "missing_value"),
        ("unknown_river_code", "unknown_river"),
    ],
)
def test_zone_sets_without_a_known_river_are_reported_not_stored(
    demo_engine: Engine, tmp_path: Path, change: str, code: str
) -> None:
    # Deliveries are made per river: a stretch without a (known) river must come back as a finding.
    zones = zones_of(demo_engine, "WS002")
    if change == "drop_river_field":
        zones = zones.drop(columns=["river_code"])
    elif change == "blank_river_code":
        zones.loc[2, "river_code"] = None
    else:
        zones.loc[2, "river_code"] = "WS999"
    before = stored_counts(demo_engine)
    exit_code, body = cli("import", "zones", str(write_file(zones, tmp_path / "z.gpkg")))
    assert exit_code == 2, body
    assert code in body["error"]["details"]["codes"]
    assert stored_counts(demo_engine) == before


def test_an_import_holds_one_connection_of_the_pool(demo_engine: Engine, tmp_path: Path) -> None:
    """While its connection writes, the import reads on one of its own: a full pool never stalls it."""
    from sqlalchemy import create_engine

    url = demo_engine.url.render_as_string(hide_password=False)
    tight = (
        create_engine(url, pool_size=1, max_overflow=0, pool_timeout=3)
        if demo_engine.dialect.name == "postgresql"
        else demo_engine
    )
    before = stored_counts(demo_engine)
    path = zone_file(demo_engine, tmp_path, "z.gpkg")
    with transaction(tight) as session:
        report = run_import(
            session, path, ImportOptions(layer="zones", actor="t"), settings=Settings(), clock=BusinessClock()
        )
    assert [(d["river_code"], d["version"]) for d in report["deliveries"]] == [("WS002", 2)]
    assert stored_counts(demo_engine)["zones"] == before["zones"] + report["stored"]


def spatialite_triggers(conn: Any, table: str = "zones") -> list[tuple[str, str]]:
    """The triggers SpatiaLite keeps on ``table`` (name and text); none on PostGIS."""
    if conn.dialect.name != "sqlite":
        return []
    query = text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t").bindparams(t=table)
    rows = conn.execute(query)
    return sorted((str(name), str(sql)) for name, sql in rows)


def spatial_index_whole(conn: Any, table: str) -> bool:
    """SpatiaLite's own check that ``table``'s R*Tree holds each row's box and no other (PostGIS: nothing to check)."""
    if conn.dialect.name != "sqlite":
        return True
    return bool(conn.execute(text("SELECT CheckSpatialIndex(:t, 'geom')").bindparams(t=table)).scalar() == 1)


def index_boxes(conn: Any, ids: list[int]) -> list[tuple[float, ...]]:
    """The R*Tree's boxes of the rows ``ids`` of ``zones``, in that order (SpatiaLite; none on PostGIS)."""
    if conn.dialect.name != "sqlite":
        return []
    found = dict(
        (row[0], tuple(row[1:]))
        for row in conn.execute(text("SELECT pkid, xmin, xmax, ymin, ymax FROM idx_zones_geom")).all()
    )
    return [found[i] for i in ids]


def some_zones(n: int, seed: int, river: str = "A") -> gpd.GeoDataFrame:
    """``n`` random zone stretches of two or three vertices around the demo district (coordinates to 15 digits)."""
    rng = np.random.default_rng(seed)
    starts = rng.uniform([106.5, 28.5], [107.5, 29.5], size=(n, 2))
    lines = [
        shapely.LineString(np.cumsum(np.vstack([s, rng.normal(0, 0.003, size=(1 + i % 2, 2))]), axis=0))
        for i, s in enumerate(starts)
    ]
    return gpd.GeoDataFrame(
        {
            "river_code": [river] * n,
            "bank": ["left"] * n,
            "zone_type": ["protected"] * n,
            "code": [f"Z{i}" for i in range(n)],
        },
        geometry=lines,
        crs=4490,
    )


def test_a_bulk_write_leaves_the_spatial_index_and_its_checks_as_row_by_row_writes_do(engine: Engine) -> None:
    """The bulk write (SpatiaLite: its row triggers set aside, their work done once after) against SQLAlchemy's
    executemany (every trigger firing): box reads find exactly the rows a scan finds, the R*Tree holds the same
    boxes for the same geometries, the triggers come back as they were, and a geometry of the wrong type is still
    refused with nothing kept."""
    zones = bundled_catalogue()["zones"]
    table = table_of(zones)
    with engine.connect() as conn:
        triggers = spatialite_triggers(conn)
    assert len(triggers) == (8 if engine.dialect.name == "sqlite" else 0)
    frame = some_zones(600, seed=7)
    with transaction(engine) as session:
        delivery = submit_delivery(session, zones, "A", frame.iloc[:1], actor="t")
        conn = session.connection()
        assert insert_features(session, zones, frame, {"delivery_id": delivery.id}) == 600
        rows = feature_rows(zones, frame.assign(code=[f"{c}-sa" for c in frame["code"]]), {"delivery_id": delivery.id})
        conn.execute(insert(table), rows)
        assert spatialite_triggers(conn) == triggers  # back inside the transaction, before its commit
    with engine.connect() as conn:
        assert spatialite_triggers(conn) == triggers
        assert spatial_index_whole(conn, "zones")
        ids = dict(conn.execute(select(table.c.code, table.c.id)).all())
        bulk = [ids[c] for c in frame["code"]]
        row_by_row = [ids[f"{c}-sa"] for c in frame["code"]]
        assert index_boxes(conn, bulk) == index_boxes(conn, row_by_row)
        stored = read_features(conn, zones, current_only=False)
        rng = np.random.default_rng(11)
        for x, y in rng.uniform([106.5, 28.5], [107.5, 29.5], size=(25, 2)):
            box = (x, y, x + 0.05, y + 0.05)
            by_box = read_features(conn, zones, bbox=box, current_only=False)
            scanned = stored[stored.intersects(shapely.box(*box))]
            assert sorted(by_box["code"]) == sorted(scanned["code"]), box
            assert len(by_box) > 0 or len(scanned) == 0
    # A point where the column takes lines only (rivers: MultiLineString): refused, the triggers back, nothing kept.
    with engine.connect() as conn:
        river_triggers = spatialite_triggers(conn, "rivers")
    assert len(river_triggers) == (8 if engine.dialect.name == "sqlite" else 0)
    before = stored_counts(engine)
    rivers = gpd.GeoDataFrame(
        {"code": ["P1", "P2"], "name": ["甲", "乙"]},
        geometry=[shapely.LineString([(106.9, 28.9), (106.91, 28.91)]), shapely.Point(106.9, 28.9)],
        crs=4490,
    )
    with pytest.raises(REFUSED) as refused:
        with transaction(engine) as session:
            conn = session.connection()
            try:
                insert_features(session, bundled_catalogue()["rivers"], rivers)
            finally:
                assert spatialite_triggers(conn, "rivers") == river_triggers
    if engine.dialect.name == "sqlite":
        assert "rivers.geom violates Geometry constraint" in str(refused.value)
    assert stored_counts(engine) == before
    with engine.connect() as conn:
        assert spatialite_triggers(conn, "rivers") == river_triggers


def test_a_bulk_write_that_fails_midway_puts_the_triggers_back_before_the_rollback(engine: Engine) -> None:
    """A row the table refuses in the middle of a bulk write (no river): the error reaches the caller, the
    SpatiaLite triggers are back in its transaction at once, and its rollback keeps none of the write."""
    zones = bundled_catalogue()["zones"]
    with engine.connect() as conn:
        triggers = spatialite_triggers(conn)
    frame = some_zones(50, seed=3)
    frame.loc[25, "river_code"] = None
    with transaction(engine) as session:
        delivery_id = submit_delivery(session, zones, "A", frame.iloc[:1], actor="t").id
    before = stored_counts(engine)
    with engine.connect() as conn:
        conn.begin()
        with pytest.raises(REFUSED):
            insert_features(conn, zones, frame, {"delivery_id": delivery_id})
        assert spatialite_triggers(conn) == triggers
        conn.rollback()
    assert stored_counts(engine) == before
    with engine.connect() as conn:
        assert spatialite_triggers(conn) == triggers


def test_a_bulk_write_moves_the_layers_row_count_and_data_version_as_row_by_row_writes_do(engine: Engine) -> None:
    """Problem sites written in bulk (SpatiaLite: the counting triggers set aside, then one update adding the rows)
    against SQLAlchemy's executemany (every trigger firing): the row count equals COUNT(*) after both, the data
    version moves by as much (SpatiaLite's triggers add one a row; PostGIS's, one a statement), the triggers are
    back as they were."""
    problems = bundled_catalogue()["problems"]
    table = table_of(problems)

    def counters() -> tuple[int, int, int]:
        with engine.connect() as conn:
            n = conn.execute(text("SELECT n FROM feature_counts WHERE layer_table = 'problems'")).scalar_one()
            version = conn.execute(
                text("SELECT version FROM data_versions WHERE layer_table = 'problems'")
            ).scalar_one()
            return int(n), int(version), int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def sites(prefix: str) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(
            {"code": [f"{prefix}{i}" for i in range(30)], "category": ["dumping"] * 30},
            geometry=[shapely.Point(106.8 + 0.001 * i, 28.9) for i in range(30)],
            crs=4490,
        )

    with engine.connect() as conn:
        triggers = spatialite_triggers(conn, "problems")
    n0, v0, _ = counters()
    with transaction(engine) as session:
        assert insert_features(session, problems, sites("B")) == 30
    n1, v1, counted = counters()
    assert n1 == counted == n0 + 30
    with transaction(engine) as session:
        session.connection().execute(insert(table), feature_rows(problems, sites("R")))
    n2, v2, counted = counters()
    assert n2 == counted == n0 + 60
    if engine.dialect.name == "sqlite":
        assert v1 - v0 == v2 - v1 == 30
    else:
        assert v1 > v0 and v2 > v1
    with engine.connect() as conn:
        assert spatialite_triggers(conn, "problems") == triggers
        assert spatial_index_whole(conn, "problems")


def test_bulk_writes_store_dates_and_moments_as_sqlalchemys_own_writes_do(engine: Engine) -> None:
    """Problem sites (dates, moments in UTC) and their events written in bulk against SQLAlchemy's executemany of
    the same values: the database holds the same thing, compared as the database's own text (SpatiaLite keeps
    dates and moments as text: an aware moment left to the driver gained a "+00:00" the ORM's writes lack)."""
    problems = bundled_catalogue()["problems"]
    table = table_of(problems)
    at = dt.datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=dt.UTC)
    sites = gpd.GeoDataFrame(
        {
            "code": ["D1", "D2"],
            "category": ["dumping", "dumping"],
            "found_date": [dt.date(2023, 6, 1), None],
            "deadline": [dt.date(2024, 2, 29), dt.date(2023, 7, 1)],
        },
        geometry=[shapely.Point(106.8, 28.9), shapely.Point(106.81, 28.9)],
        crs=4490,
    )
    moments = {"created_at": at, "updated_at": at}
    with transaction(engine) as session:
        insert_features(session, problems, sites, moments)
        session.connection().execute(insert(table), feature_rows(problems, sites.assign(code=["S1", "S2"]), moments))
    as_text = "CAST({} AS TEXT)"
    columns = ["found_date", "deadline", "created_at", "updated_at"]
    query = f"SELECT code, {', '.join(as_text.format(c) for c in columns)} FROM problems ORDER BY code"
    with engine.connect() as conn:
        stored = {row[0]: tuple(row[1:]) for row in conn.execute(text(query))}
    assert stored["D1"] == stored["S1"] and stored["D2"] == stored["S2"]
    assert stored["D2"][0] is None
    events = {
        "problem_id": np.array([1, 2], dtype=object),
        "action": np.array(["report", "report"], dtype=object),
        "from_status": np.array([None, None], dtype=object),
        "to_status": np.array(["reported", "reported"], dtype=object),
        "actor": np.array(["t", "t"], dtype=object),
        "at": np.array([at, at], dtype=object),
        "note": np.array([None, "甲"], dtype=object),
        "data": np.array([{"source": "patrol"}, {}], dtype=object),
    }
    event_table = ProblemEvent.__table__
    with transaction(engine) as session:
        ids = dict(session.execute(select(table.c.code, table.c.id)).all())
        events["problem_id"] = np.array([ids["D1"], ids["D2"]], dtype=object)
        backend_module.backend_for(session.connection()).insert_columns(session.connection(), event_table, events)
        by_orm = [dict(zip(events, row, strict=True)) for row in zip(*events.values(), strict=True)]
        for row in by_orm:
            row["problem_id"] = ids["S1"] if row["problem_id"] == ids["D1"] else ids["S2"]
        session.connection().execute(insert(event_table), by_orm)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.code, CAST(e.at AS TEXT), e.note, CAST(e.data AS TEXT) FROM problem_events e"
                " JOIN problems p ON p.id = e.problem_id ORDER BY p.code"
            )
        ).all()
    got = {row[0]: tuple(row[1:]) for row in rows}
    assert got["D1"] == got["S1"] and got["D2"] == got["S2"]
