"""The backend seam: no dialect test outside ``gis_service/db/``, and each spatial SQL method of the backend.

Every method runs on SpatiaLite and PostGIS (the ``engine`` fixture). The rows are written with a
plain ``INSERT`` of WKB, not through the bulk paths under test; the expected answers are worked
out by hand from the coordinates below.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest
import shapely
from geoalchemy2.elements import WKBElement
from sqlalchemy import Engine, Table, func, insert, select, text
from sqlalchemy.orm import Session

from gis_service.db.backend import SpatialBackend, backend_for
from gis_service.db.models import SRID, Delivery, River, Town
from gis_service.store.spatial import geom_wkb

PACKAGE = Path(__file__).resolve().parent.parent / "gis_service"
# What a dialect test looks like: reading the dialect or driver, naming a database in a string,
# or picking a backend class by name.
DIALECT_TEST = re.compile(
    r"\.dialect\b|get_backend_name|drivername|[\"'](postgresql|sqlite)[\"']|\b(PostGIS|SpatiaLite)(Backend|SQL)\b"
)
RIVERS: Table = River.__table__  # type: ignore[assignment]
TOWNS: Table = Town.__table__  # type: ignore[assignment]
DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]

# A: the diagonal y = x - 78 from (106.90, 28.90) to (106.92, 28.92); its box is that square.
# B: a short east-west line at 29.00 from 107.00 to 107.01.
# C: a short diagonal from (106.900, 28.920) to (106.905, 28.925), west of 106.91.
LINES = {
    "A": [(106.90, 28.90), (106.92, 28.92)],
    "B": [(107.00, 29.00), (107.01, 29.00)],
    "C": [(106.900, 28.920), (106.905, 28.925)],
}
LEVELS = {"A": "区级", "B": "区级", "C": "镇级"}
IMPORTANT = {"A": True, "B": False, "C": False}


def dialect_tests(root: Path) -> list[str]:
    """Return ``file:line: text`` of every line under ``root`` outside ``db/`` that tests the dialect."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] == "db":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if DIALECT_TEST.search(line):
                found.append(f"{path.relative_to(root.parent)}:{number}: {line.strip()}")
    return found


def test_no_module_outside_the_seam_tests_the_dialect() -> None:
    """Every PostGIS/SpatiaLite difference stays in ``gis_service/db/`` (the backend)."""
    assert dialect_tests(PACKAGE) == []


@pytest.mark.parametrize(
    "line",
    [
        'if session.get_bind().dialect.name == "postgresql":',
        "postgis = conn.dialect.driver == 'psycopg'",
        'query = read.filtered(select(table.c.id), "postgresql")',
        'if parsed.get_backend_name() != "sqlite":',
        "if isinstance(backend, PostGISBackend):",
    ],
)
def test_the_seam_check_recognises_a_dialect_test(tmp_path: Path, line: str) -> None:
    """The check above would fail on each way the old code tested the dialect (and not on ``db/``)."""
    (tmp_path / "ledger").mkdir()
    (tmp_path / "db").mkdir()
    (tmp_path / "ledger" / "stats.py").write_text(f"x = 1\n{line}\n", encoding="utf-8")
    (tmp_path / "db" / "backend.py").write_text(f"{line}\n", encoding="utf-8")
    assert dialect_tests(tmp_path) == [f"{tmp_path.name}/ledger/stats.py:2: {line}"]


def _rivers(session: Session) -> None:
    """Store rivers A, B and C with a plain INSERT."""
    session.execute(
        insert(RIVERS),
        [
            {
                "code": code,
                "name": f"河{code}",
                "level": LEVELS[code],
                "important": IMPORTANT[code],
                "attrs": {},
                "geom": WKBElement(shapely.to_wkb(shapely.MultiLineString([line])), srid=SRID),
            }
            for code, line in LINES.items()
        ],
    )


def _codes(session: Session, *where: object) -> set[str]:
    """Return the codes of the rivers meeting ``where``."""
    return set(session.scalars(select(RIVERS.c.code).where(*where)))  # type: ignore[arg-type]


def _backend(engine: Engine) -> SpatialBackend:
    """Return the engine's backend."""
    return backend_for(engine)


def test_bbox_filter_keeps_rows_whose_box_meets(engine: Engine) -> None:
    """(106.91, 28.91)-(106.95, 28.95) meets only A's box: C lies west of 106.91, B far east."""
    backend = _backend(engine)
    with backend.transaction() as session:
        _rivers(session)
        assert _codes(session, backend.bbox_filter(RIVERS, (106.91, 28.91, 106.95, 28.95))) == {"A"}
        assert _codes(session, backend.bbox_filter(RIVERS, (106.0, 28.0, 108.0, 30.0))) == {"A", "B", "C"}
        assert _codes(session, backend.bbox_filter(RIVERS, (100.0, 20.0, 100.1, 20.1))) == set()


def test_intersects_is_exact_inside_the_box(engine: Engine) -> None:
    """The square (106.915, 28.900)-(106.920, 28.905) is in A's box but below A's line (there y = x - 78 ≥ 28.915)."""
    backend = _backend(engine)
    square = (106.915, 28.900, 106.920, 28.905)
    with backend.transaction() as session:
        _rivers(session)
        assert _codes(session, backend.bbox_filter(RIVERS, square)) == {"A"}
        assert _codes(session, backend.intersects(RIVERS, shapely.to_wkb(shapely.box(*square)), square)) == set()
        # A square around A's midpoint (106.91, 28.91) is crossed by A.
        around = (106.909, 28.909, 106.911, 28.911)
        assert _codes(session, backend.intersects(RIVERS, shapely.to_wkb(shapely.box(*around)), around)) == {"A"}


def test_spatial_predicate_and_geometry_from_wkb(engine: Engine) -> None:
    """B lies within (106.99, 28.99)-(107.02, 29.01); A and C do not; nothing contains that box."""
    backend = _backend(engine)
    area = backend.geometry_from_wkb(shapely.to_wkb(shapely.box(106.99, 28.99, 107.02, 29.01)))
    with backend.transaction() as session:
        _rivers(session)
        assert _codes(session, backend.spatial_predicate("within", RIVERS.c.geom, area)) == {"B"}
        assert _codes(session, backend.spatial_predicate("contains", RIVERS.c.geom, area)) == set()
        assert _codes(session, backend.spatial_predicate("intersects", RIVERS.c.geom, area)) == {"B"}


def test_member_of_finds_keys_among_many_values(engine: Engine) -> None:
    """12 002 keys (more than one IN list holds on SpatiaLite), two of them stored: A and C, each once."""
    backend = _backend(engine)
    keys = [f"X{i}" for i in range(6000)] + ["A"] + [f"Y{i}" for i in range(6000)] + ["C"]
    with backend.transaction() as session:
        _rivers(session)
        found = [code for clause in backend.member_of(RIVERS.c.code, keys) for code in _codes(session, clause)]
        assert sorted(found) == ["A", "C"]
        assert all(_codes(session, clause) == set() for clause in backend.member_of(RIVERS.c.code, []))


def test_layer_extents(engine: Engine) -> None:
    """Rivers span x 106.90–107.01, y 28.90–29.00 (PostGIS may round outward to float4); no town: None."""
    backend = _backend(engine)
    with backend.transaction() as session:
        _rivers(session)
    with backend.transaction(write=False) as session:
        rivers, towns = backend.layer_extents(session.connection(), [RIVERS, TOWNS])
    assert towns is None
    assert rivers is not None
    expected = (106.90, 28.90, 107.01, 29.00)
    assert rivers[0] <= expected[0] and rivers[1] <= expected[1]
    assert rivers[2] >= expected[2] and rivers[3] >= expected[3]
    assert np.allclose(rivers, expected, atol=1e-4)


def test_driver_cursor_gives_wkb_as_bytes(engine: Engine) -> None:
    """The cursor's rows are plain tuples whose WKB reads back to the stored lines."""
    backend = _backend(engine)
    with backend.transaction() as session:
        _rivers(session)
        query = select(RIVERS.c.code, geom_wkb(RIVERS)).order_by(RIVERS.c.code)
        with backend.driver_cursor(session.connection(), query) as cursor:
            rows = cursor.fetchall()
    assert [row[0] for row in rows] == ["A", "B", "C"]
    for code, wkb in rows:
        assert isinstance(wkb, bytes)
        assert shapely.from_wkb(wkb).equals(shapely.MultiLineString([LINES[code]]))


def test_counts_by_each_groups_every_column(engine: Engine) -> None:
    """By level: 区级 2 (A, B), 镇级 1 (C); by importance: important 1 (A), not 2 (B, C)."""
    backend = _backend(engine)
    with backend.transaction() as session:
        _rivers(session)
        query = select(RIVERS.c.level, RIVERS.c.important, func.count())
        by_level, by_importance = backend.counts_by_each(
            session.connection(), query, [RIVERS.c.level, RIVERS.c.important]
        )
    levels: dict[str, int] = {}
    for level, _important, n in by_level:
        levels[level] = levels.get(level, 0) + n
    importance: dict[bool, int] = {}
    for _level, important, n in by_importance:
        importance[bool(important)] = importance.get(bool(important), 0) + n
    assert levels == {"区级": 2, "镇级": 1}
    assert importance == {True: 1, False: 2}


def test_insert_columns_writes_rows_given_column_by_column(engine: Engine) -> None:
    """Two deliveries given as columns read back as two rows, a None as NULL."""
    backend = _backend(engine)
    at = dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
    columns = {
        "river_code": np.array(["A", "B"], dtype=object),
        "layer": np.array(["zones", "zones"], dtype=object),
        "version": np.array([1, 2], dtype=object),
        "status": np.array(["submitted", "submitted"], dtype=object),
        "feature_count": np.array([3, 0], dtype=object),
        "submitted_at": np.array([at, at], dtype=object),
        "filename": np.array([None, "甲.shp"], dtype=object),
    }
    with backend.transaction() as session:
        assert backend.insert_columns(session.connection(), DELIVERIES, columns) == 2
    with backend.transaction(write=False) as session:
        rows = session.execute(
            select(
                DELIVERIES.c.river_code,
                DELIVERIES.c.version,
                DELIVERIES.c.feature_count,
                DELIVERIES.c.filename,
                DELIVERIES.c.submitted_at,
            ).order_by(DELIVERIES.c.river_code)
        ).all()
    assert [tuple(row[:4]) for row in rows] == [("A", 1, 3, None), ("B", 2, 0, "甲.shp")]
    assert all(row[4] == at for row in rows)


def test_refresh_statistics_after_a_load(engine: Engine) -> None:
    """After a load the planner's statistics count the rivers' three rows (sqlite_stat1; pg_class.reltuples)."""
    backend = _backend(engine)
    with backend.transaction() as session:
        _rivers(session)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        backend.refresh_statistics(conn)
        if engine.dialect.name == "postgresql":
            rows = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'rivers'")).scalar()
        else:
            stat = conn.execute(text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'rivers' LIMIT 1")).scalar()
            rows = int(str(stat).split()[0])
    assert rows == 3


def test_serial_ids_are_new_ids_of_the_table(engine: Engine) -> None:
    """Both backends draw distinct ids above every id the table holds; written by the caller, they are the rows'
    ids, and the next insert gets a larger one."""
    backend = _backend(engine)
    row = {"layer": "zones", "status": "submitted", "feature_count": 0}
    with backend.transaction() as session:
        conn = session.connection()
        first = conn.scalar(insert(DELIVERIES).values(river_code="A", version=1, **row).returning(DELIVERIES.c.id))
        ids = backend.serial_ids(conn, DELIVERIES, 3)
        conn.execute(insert(DELIVERIES), [{"id": int(i), "river_code": f"B{i}", "version": 1, **row} for i in ids])
        later = conn.scalar(insert(DELIVERIES).values(river_code="C", version=1, **row).returning(DELIVERIES.c.id))
    assert len(set(ids.tolist())) == 3
    assert first is not None and min(ids.tolist()) > first
    assert later is not None and later > max(ids.tolist())
    with engine.connect() as conn:
        stored = set(conn.scalars(select(DELIVERIES.c.id).where(DELIVERIES.c.river_code.like("B%"))))
    assert stored == set(ids.tolist())
