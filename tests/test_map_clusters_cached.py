"""Server-side clusters at scale: every filter counted by hand, answers kept per data version, and any
write (a new site, a status change, a deletion, from any connection) seen by the next answer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import shapely
from alembic import command
from sqlalchemy import Engine, event, inspect, text

from gis_service.catalogue import bundled_catalogue
from gis_service.db.backend import backend_for
from gis_service.db.engine import transaction
from gis_service.db.schema import alembic_config, upgrade
from gis_service.ledger.filters import TABLE
from gis_service.store.bulk import insert_features
from tests.helpers import bearer

# Zoom 8: a cell is 64 * 360 / (256 * 2**8) = 0.3515625°. Cell columns floor(lon / 0.3515625):
# 106.70 → 303.5 → 303, 106.90 → 304.07 → 304; rows floor(lat / 0.3515625): 28.90 → 82.2 → 82.
# Deadlines far in the past (2020) or the future (2099): overdue whatever today is.
SITES = [
    # code, lon, lat, status, category, found, deadline
    ("W1", 106.70, 28.90, "assigned", "dumping", "2023-03-01", "2020-06-30"),  # west cell, overdue
    ("W2", 106.71, 28.91, "rectifying", "mining", "2024-02-01", "2099-01-01"),  # west cell
    ("W3", 106.72, 28.90, "closed", "dumping", "2024-05-01", "2020-01-01"),  # west, closed: never overdue
    ("E1", 106.90, 28.90, "reported", "construction", "2022-12-31", "2020-03-01"),  # east cell, overdue
    ("E2", 106.91, 28.91, "assigned", "mining", "2024-01-01", "2099-01-01"),  # east cell
]
URL = "/maps/data/problems/clusters?zoom=8&counts=1"


def _store(engine: Engine, sites: list[tuple[str, float, float, str, str, str, str]]) -> None:
    """Store ``sites`` in one bulk write."""
    rows = [
        {
            "code": code,
            "category": cat,
            "status": st,
            "found_date": dt.date.fromisoformat(found),
            "deadline": dt.date.fromisoformat(deadline),
            "geometry": shapely.Point(x, y),
        }
        for code, x, y, st, cat, found, deadline in sites
    ]
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4490")
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["problems"], gdf)


def _cells(client: Any, query: str = "") -> tuple[list[int], int]:
    """Return the sorted cell counts and the legend total of the clusters answer for ``query``."""
    r = client.get(f"{URL}&{query}")
    assert r.status_code == 200, r.text
    return sorted(r.json()["count"]), r.json()["total"]


def test_every_filter_counts_as_by_hand(engine, client) -> None:
    _store(engine, SITES)
    assert _cells(client) == ([2, 3], 5)  # west W1–W3, east E1–E2
    assert _cells(client, "status=assigned") == ([1, 1], 2)  # W1, E2
    assert _cells(client, "category=mining") == ([1, 1], 2)  # W2, E2
    assert _cells(client, "overdue=1") == ([1, 1], 2)  # W1, E1 (W3 is closed)
    assert _cells(client, "overdue=0") == ([1, 2], 3)  # W2 + W3, E2
    assert _cells(client, "from=2024-01-01") == ([1, 2], 3)  # W2 + W3, E2
    assert _cells(client, "to=2023-12-31") == ([1, 1], 2)  # W1, E1
    assert _cells(client, "from=2024-01-01&to=2024-03-01&category=mining") == ([1, 1], 2)  # W2, E2
    assert _cells(client, "status=closed&overdue=1") == ([], 0)
    # the view: only the west cell's sites; the legend still counts the whole filter
    west = client.get(f"{URL}&bbox=106.6,28.8,106.8,29.0").json()
    assert west["count"] == [3] and west["n"] == 3 and west["total"] == 5
    assert west["counts"]["status:assigned"] == 2 and west["counts"]["category:dumping"] == 2  # W1 E2; W1 W3
    mean = (round(west["x"][0], 6), round(west["y"][0], 6))
    assert mean == (106.71, round((28.90 + 28.91 + 28.90) / 3, 6))  # (106.70 + 106.71 + 106.72) / 3


def test_the_same_question_on_unchanged_data_is_not_counted_again(engine, client) -> None:
    _store(engine, SITES)
    first = client.get(URL).json()
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        sent.append(sql)

    event.listen(engine, "before_cursor_execute", record)
    try:
        again = client.get(URL).json()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert again == first
    assert sent and not any("GROUP BY" in sql.upper() for sql in sent)  # only the data version was read


def test_a_write_is_in_the_next_answer(engine, client) -> None:
    _store(engine, SITES)
    assert _cells(client) == ([2, 3], 5)
    assert _cells(client, "status=closed") == ([1], 1)
    # a new site in the east cell, stored by another connection (as the CLI would)
    _store(engine, [("E3", 106.92, 28.92, "closed", "dumping", "2024-06-01", "2099-01-01")])
    assert _cells(client) == ([3, 3], 6)
    assert _cells(client, "status=closed") == ([1, 1], 2)  # W3, E3
    # a status change (a ledger transition is an UPDATE of the row)
    with transaction(engine) as session:
        session.execute(text("UPDATE problems SET status = 'closed' WHERE code = 'W1'"))
    assert _cells(client, "status=closed") == ([1, 2], 3)  # W1 + W3, E3
    assert _cells(client, "overdue=1") == ([1], 1)  # E1: W1 is closed now
    # a deletion; and a write rolled back changes nothing
    with transaction(engine) as session:
        session.execute(text("DELETE FROM problems WHERE code = 'E1'"))
    assert _cells(client) == ([2, 3], 5)
    try:
        with transaction(engine) as session:
            session.execute(text("DELETE FROM problems WHERE code = 'W2'"))
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert _cells(client) == ([2, 3], 5)


def test_a_site_reported_over_http_is_on_the_map_at_once(engine, client, tokens) -> None:
    _store(engine, SITES)
    assert _cells(client, "category=mining") == ([1, 1], 2)
    body = {"category": "mining", "lon": 106.90, "lat": 28.92, "description": "新报告"}
    r = client.post("/api/v1/problems", json=body, headers=bearer(tokens["surveyor"]))
    assert r.status_code == 201, r.text
    assert _cells(client, "category=mining") == ([1, 2], 3)  # W2 + the new site, E2


def test_migration_0012_downgrades_and_upgrades_over_sites_already_there(engine, client) -> None:
    _store(engine, SITES[:3])
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0010")
    names = {c["name"] for c in inspect(engine).get_columns("problems")}
    assert "data_versions" not in inspect(engine).get_table_names() and not {"map_x", "map_y"} & names
    _store(engine, SITES[3:])  # written with neither version nor marker columns
    upgrade(engine)
    assert _cells(client) == ([2, 3], 5)  # the two written after the downgrade are counted too
    assert _cells(client, "status=assigned") == ([1, 1], 2)  # W1, E2


def _plain(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Return grid rows as sorted (column, row, count, sum x, sum y), whatever the numbers' types."""
    return sorted((int(gx), int(gy), int(n), round(sx, 9), round(sy, 9)) for gx, gy, n, sx, sy, _ in rows)


def test_cell_counts_the_database_keeps_equal_the_sites_counted(engine) -> None:
    _store(engine, SITES)
    with transaction(engine) as session:  # the kept counts follow an update and a deletion too
        session.execute(text("UPDATE problems SET status = 'closed', category = 'mining' WHERE code = 'W1'"))
        session.execute(text("DELETE FROM problems WHERE code = 'E2'"))
    backend = backend_for(engine)
    tally = ("status", "category")
    with engine.connect() as conn:
        for level in range(11):
            for status, category in (((), ()), (("closed",), ()), (("closed", "assigned"), ("mining",))):
                kept = backend.kept_cells(conn, TABLE, level, {"status": status, "category": category}, tally=tally)
                if kept is None:  # a database that keeps no counts counts the sites
                    continue
                where = [TABLE.c.status.in_(status)] if status else []
                where += [TABLE.c.category.in_(category)] if category else []
                cells, tallies = backend.grid_clusters(conn, TABLE, where, 90 / 2**level, tally=tally)
                assert _plain(kept[0]) == _plain(cells), (level, status, category)
                assert sorted(kept[1]) == sorted(tallies)
                # a one-site cell names its site
                singles = {(int(gx), int(gy)): first for gx, gy, n, *_, first in cells if n == 1}
                assert {(int(gx), int(gy)): si for gx, gy, n, *_, si in kept[0] if n == 1} == singles
