"""A read request's database work: its own statement and nothing around it, timeouts still in force."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import psycopg
import pytest
from shapely.geometry import Point
from sqlalchemy import event, text

from gis_service.catalogue import bundled_catalogue
from gis_service.db import pool
from gis_service.db.backend import DatabaseWaits, backend_for
from gis_service.db.engine import make_engine, transaction
from gis_service.settings import Settings
from gis_service.store.bulk import insert_features


def _site(engine: Any) -> int:
    """Store one problem site at (106.80, 28.90); return its id."""
    gdf = gpd.GeoDataFrame({"code": ["RT1"], "category": ["dumping"]}, geometry=[Point(106.80, 28.90)], crs="EPSG:4490")
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["problems"], gdf)
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT id FROM problems WHERE code = 'RT1'")).scalar_one())


def test_a_single_feature_costs_one_select(client, engine, backend, monkeypatch: pytest.MonkeyPatch):
    """Before: PostGIS sent SELECT 1 (pre-ping) and set_config (timeouts) before the feature's own query.

    Seen at the driver: on PostGIS the item's statement runs on psycopg's cursor without SQLAlchemy
    (``store/rows.py``), so every statement of either kind passes through ``psycopg.Cursor.execute``;
    BEGIN and COMMIT, which psycopg sends itself, are ruled out by the connection being in autocommit.
    """
    fid = _site(engine)
    assert client.get(f"/ogc/collections/problems/items/{fid}").status_code == 200  # warm: connection opened
    sent: list[tuple[str, bool]] = []
    if backend.name == "postgis":
        execute = psycopg.Cursor.execute

        def recorded(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append((str(query), cursor.connection.autocommit))
            return execute(cursor, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", recorded)
        r = client.get(f"/ogc/collections/problems/items/{fid}")
        monkeypatch.undo()
    else:

        def record(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
            # An embedded file has no round trips: its PRAGMA and BEGIN cost nothing; one SELECT.
            if sql.lstrip().upper().startswith("SELECT"):
                sent.append((sql, True))

        event.listen(engine, "before_cursor_execute", record)
        try:
            r = client.get(f"/ogc/collections/problems/items/{fid}")
        finally:
            event.remove(engine, "before_cursor_execute", record)
    assert r.status_code == 200 and r.json()["id"] == fid
    assert len(sent) == 1, sent
    sql, autocommit = sent[0]
    assert sql.lstrip().upper().startswith("SELECT") and "problems" in sql
    assert autocommit  # PostGIS: no BEGIN before it, no COMMIT or ROLLBACK after


def test_request_timeouts_hold_without_being_set_each_time(engine, backend):
    backend_ = backend_for(engine)
    limits = backend_.request_timeouts
    with backend_.transaction(write=False) as session:
        if backend.name == "postgis":
            # 15 s by default: PostgreSQL shows whole seconds as "15s".
            got = session.execute(text("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"))
            assert tuple(got.one()) == (f"{limits.statement_ms // 1000}s", f"{limits.lock_ms // 1000}s")
        else:
            assert session.execute(text("PRAGMA busy_timeout")).scalar_one() == limits.lock_ms
    # Other timeouts (an import's) are set for their transaction only, then the defaults are back.
    with backend_.transaction(write=False, timeouts=backend_.import_timeouts) as session:
        if backend.name == "postgis":
            statement = session.execute(text("SELECT current_setting('statement_timeout')")).scalar_one()
            assert statement == f"{backend_.import_timeouts.statement_ms // 60000}min"
    if backend.name == "postgis":
        with backend_.transaction(write=False) as session:
            statement = session.execute(text("SELECT current_setting('statement_timeout')")).scalar_one()
            assert statement == f"{limits.statement_ms // 1000}s"


# PostGIS only: a SQLite file has no server connection to lose.
@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_a_connection_lost_while_idle_is_replaced_before_use(engine, backend, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(pool, "IDLE_PING_S", 0.0)
    own = make_engine(engine.url.render_as_string(hide_password=False), DatabaseWaits.of(Settings()))
    try:
        with own.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:  # the server ends the pooled connection while it is idle
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with own.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        own.dispose()
