"""Zone stretches and reports written by binary COPY read back as given, and as the text COPY stores them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.compute
import pytest
import shapely
from sqlalchemy import Engine, select

from gis_service import wkb
from gis_service.catalogue import FieldSpec, bundled_catalogue
from gis_service.db.backends import pgbinary, pgcopy
from gis_service.db.engine import transaction
from gis_service.db.models import Delivery, DeliveryReport
from gis_service.ingest.validation import locate
from gis_service.store import bulk
from gis_service.store.bulk import insert_features
from gis_service.store.features import read_features
from gis_service.store.tables import table_of

TRICKY = '孝子河\t上游\n第二行 \\N 反斜杠\\ "引号" \r'


def zones_with_notes() -> Any:
    """The zone layer with two catalogue fields that have no column of their own (kept in ``attrs``)."""
    zones = bundled_catalogue()["zones"]
    extra = (
        FieldSpec(name="note", type="str", label="备注"),
        FieldSpec(name="checked_on", type="date", label="核查日期"),
    )
    return dataclasses.replace(zones, fields=(*zones.fields, *extra))


def stretches() -> gpd.GeoDataFrame:
    """Three stretches with texts COPY text must escape, missing values, a code given as a number, a multi-line."""
    return gpd.GeoDataFrame(
        {
            "code": ["Z1", 12, None],
            "river_code": ["WS001", "WS001", "WS002"],
            "bank": ["left", "right", "left"],
            "zone_type": ["protected", "reserved", "developed"],
            "start_chainage": ["K0+000", None, ""],
            "basis": [TRICKY, None, "<无>"],
            "note": ['a\\b\t"c"\n', None, "\\N"],
            "checked_on": [dt.date(2022, 5, 1), None, dt.date(2023, 1, 31)],
        },
        geometry=[
            shapely.LineString([(106.9, 28.9, 420.0), (106.91, 28.91, 421.0)]),  # Z dropped
            shapely.MultiLineString([[(106.92, 28.92), (106.93, 28.93)], [(106.94, 28.94), (106.95, 28.95)]]),
            shapely.LineString([(106.96, 28.96), (106.97, 28.97)]),
        ],
        crs=4490,
    )


def stored(engine: Engine, layer: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Insert the stretches under a new delivery, read them back (no ids), then remove them; return rows and WKT."""
    with transaction(engine) as session:
        delivery = Delivery(river_code="WS001", layer="zones", version=1, status="submitted", feature_count=3)
        session.add(delivery)
        session.flush()
        assert insert_features(session, layer, stretches(), {"delivery_id": delivery.id}) == 3
        back = read_features(session.connection(), layer, current_only=False).sort_values("river_code", kind="stable")
        session.rollback()
    rows = back.drop(columns=["id", "delivery_id", "geometry"]).astype(object).where(back.notna(), None)
    return rows.to_dict("records"), [g.wkt for g in back.geometry]


def test_binary_copy_stores_every_value_as_given_and_as_text_copy(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of two rows make both COPYs cross chunk boundaries.
    monkeypatch.setattr(pgbinary, "CHUNK_ROWS", 2)
    monkeypatch.setattr(pgcopy, "CHUNK_ROWS", 2)
    layer = zones_with_notes()
    copies: list[int] = []
    binary = pgbinary.features_copy

    def spied(*args: Any) -> Callable[[], int] | None:
        send = binary(*args)
        if send is None:
            return None

        def sent() -> int:
            copies.append(send())
            return copies[-1]

        return sent

    monkeypatch.setattr(pgbinary, "features_copy", spied)
    rows, wkts = stored(engine, layer)
    if engine.dialect.name == "postgresql":
        assert copies == [3]  # written by the binary COPY
    by_code = {r["code"]: r for r in rows}
    assert set(by_code) == {"Z1", "12", None}
    assert by_code["Z1"]["basis"] == TRICKY and by_code["Z1"]["note"] == 'a\\b\t"c"\n'
    assert by_code["Z1"]["checked_on"] == "2022-05-01"  # attrs keep dates as text
    assert by_code["12"]["basis"] is None and by_code["12"]["note"] is None and by_code["12"]["checked_on"] is None
    assert by_code["12"]["start_chainage"] is None
    assert by_code[None]["start_chainage"] == "" and by_code[None]["note"] == "\\N"
    assert [r["bank"] for r in rows] == ["left", "right", "left"]
    want = [shapely.force_2d(g) for g in stretches().geometry]
    assert all(shapely.equals(shapely.from_wkt(w), g) for w, g in zip(wkts, want, strict=True))
    assert not any(shapely.from_wkt(w).has_z for w in wkts)
    # The text COPY (what the binary one replaces) stores the very same rows.
    monkeypatch.setattr(pgbinary, "features_copy", lambda *args: None)
    assert stored(engine, layer) == (rows, wkts)


def test_a_value_outside_int4_is_left_to_the_text_copy() -> None:
    assert pgbinary.int4_fields(np.array([1, None, 2**31], dtype=object)) is None
    assert pgbinary.int4_fields(np.array(["x"], dtype=object)) is None
    # 7, null, -2: lengths 4, -1, 4 and the values big-endian; a null has no value bytes.
    (fields,) = pgbinary.int4_fields(np.array([7, None, -2], dtype=object)) or []
    assert fields.to_pylist() == [b"\0\0\0\x04\0\0\0\x07", b"\xff\xff\xff\xff", b"\0\0\0\x04\xff\xff\xff\xfe"]


def test_reports_written_by_binary_copy_read_back_as_given(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Three deliveries' reports in chunks of two; texts JSON keeps escaped, and one report missing ({}).
    copies: list[bool] = []
    binary = pgbinary.copy_reports

    def spied(*args: Any) -> bool:
        copies.append(binary(*args))
        return copies[-1]

    monkeypatch.setattr(pgbinary, "copy_reports", spied)
    monkeypatch.setattr(bulk, "REPORT_CHUNK", 2)
    reports = {
        "WS001": {"findings": [{"message": TRICKY, "feature": 3}], "source": {"encoding": "GBK"}},
        "WS002": {"findings": [], "ratios": {"ratio": 0.5087}},
    }
    with transaction(engine) as session:
        ids = {}
        for code in ("WS001", "WS002", "WS003"):
            delivery = Delivery(river_code=code, layer="zones", version=1, status="submitted", feature_count=0)
            session.add(delivery)
            session.flush()
            ids[code] = delivery.id
        bulk.write_reports(session, ids, reports)
        back = dict(session.execute(select(DeliveryReport.delivery_id, DeliveryReport.report)).all())
        session.rollback()
    if engine.dialect.name == "postgresql":
        assert copies == [True]
    assert back == {ids["WS001"]: reports["WS001"], ids["WS002"]: reports["WS002"], ids["WS003"]: {}}


def test_lines_and_points_ewkb_from_their_coordinates_is_what_geos_writes() -> None:
    rng = np.random.default_rng(16)
    vertex_line = np.repeat(np.arange(300), rng.integers(2, 7, 300))
    lines = shapely.linestrings(106 + rng.random((len(vertex_line), 2)), indices=vertex_line)
    lines = np.concatenate([lines, [shapely.LineString()]])
    points = shapely.points(106 + rng.random((50, 2)))
    for geoms in (lines, points):
        fields = pgbinary.simple_ewkb(geoms)
        assert fields is not None
        lengths, *value = fields
        got = pa.compute.binary_join_element_wise(*value, pa.scalar(b"", pa.large_binary())).to_pylist()
        want = shapely.to_wkb(shapely.set_srid(geoms, 4490), byte_order=1, include_srid=True).tolist()
        assert got == want
        assert [int.from_bytes(b, "big", signed=True) for b in lengths.to_pylist()] == [len(w) for w in want]
    # Anything else goes through GEOS: polygons, mixed types, 3D, an empty point.
    others = [
        [shapely.box(0, 0, 1, 1)],
        [shapely.LineString([(0, 0), (1, 1)]), shapely.Point(0, 0)],
        [shapely.LineString([(0, 0, 1), (1, 1, 1)])],
        [shapely.Point()],
    ]
    assert all(pgbinary.simple_ewkb(np.array(g, dtype=object)) is None for g in others)
    # Plain WKB (what an import keeps of a batch's geometries), the same way: GEOS's bytes, or None.
    for geoms in (lines, points):
        plain = wkb.simple_wkb(geoms)
        assert plain is not None and plain.to_pylist() == shapely.to_wkb(geoms).tolist()
    assert all(wkb.simple_wkb(np.array(g, dtype=object)) is None for g in [*others, [shapely.Point(0, 0), None]])
    kept = locate.as_wkb(np.array([*lines[:5], None], dtype=object))  # a missing geometry: GEOS, null
    assert kept.iloc[:5].tolist() == shapely.to_wkb(lines[:5]).tolist() and kept.isna().tolist() == [False] * 5 + [True]


# PostGIS only: SpatiaLite has no COPY.
@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_the_server_column_types_are_read_once_a_connection(
    engine: Engine, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    read = pgbinary._read_server_types

    def counted(conn: Any, table: Any) -> dict[str, str]:
        reads.append(table.name)
        return read(conn, table)

    monkeypatch.setattr(pgbinary, "_read_server_types", counted)
    table = table_of(bundled_catalogue()["zones"])
    with engine.connect() as conn:
        conn.info.pop(pgbinary.SERVER_TYPES, None)
        first = pgbinary.server_types(conn, table)
        assert pgbinary.server_types(conn, table) == first
    assert reads == ["zones"]
    assert first["geom"] == "geometry" and first["delivery_id"] == "int4"
