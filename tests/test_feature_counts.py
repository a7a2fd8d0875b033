"""numberMatched of a whole unversioned layer: the database's tally, equal to COUNT(*) after every write."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
from alembic import command
from shapely.geometry import Point
from sqlalchemy import event, func, inspect, select, text

from gis_service.catalogue import bundled_catalogue
from gis_service.db.engine import transaction
from gis_service.db.models import Problem
from gis_service.db.schema import alembic_config, upgrade
from gis_service.store.bulk import insert_features


def _sites(engine: Any, first: int, n: int) -> None:
    """Store problem sites S{first}..S{first+n-1} on a line at 28.90°N (one bulk write)."""
    gdf = gpd.GeoDataFrame(
        {"code": [f"S{i:04d}" for i in range(first, first + n)], "category": ["dumping"] * n},
        geometry=[Point(106.80 + 0.001 * i, 28.90) for i in range(first, first + n)],
        crs="EPSG:4490",
    )
    with transaction(engine) as session:
        insert_features(session, bundled_catalogue()["problems"], gdf)


def _tally(engine: Any) -> tuple[int, int]:
    """Return (the tally of problems, COUNT(*) of problems)."""
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT n FROM feature_counts WHERE layer_table = 'problems'")).scalar_one()
        counted = conn.execute(select(func.count()).select_from(Problem)).scalar_one()
    return int(kept), int(counted)


def test_number_matched_of_a_whole_layer_follows_inserts_and_deletes(client, engine):
    _sites(engine, 0, 7)
    _sites(engine, 7, 5)
    assert _tally(engine) == (12, 12)
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        sent.append(sql)

    event.listen(engine, "before_cursor_execute", record)
    try:
        page = client.get("/ogc/collections/problems/items", params={"limit": 5}).json()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # 7 + 5 stored; a full page of 5 cannot tell the total, the tally does.
    assert (page["numberMatched"], page["numberReturned"]) == (12, 5)
    assert any("feature_counts" in sql for sql in sent)

    with transaction(engine) as session:
        session.execute(text("DELETE FROM problems WHERE code IN ('S0001', 'S0002', 'S0003')"))
    assert _tally(engine) == (9, 9)
    assert client.get("/ogc/collections/problems/items", params={"limit": 2}).json()["numberMatched"] == 9
    # A rolled-back write leaves the tally as it was.
    try:
        with transaction(engine) as session:
            session.execute(text("DELETE FROM problems"))
            raise RuntimeError("abandon")
    except RuntimeError:
        pass
    assert _tally(engine) == (9, 9)
    # A filter is counted, not tallied: of the sites left, S0000, S0004 and S0005 lie west of 106.8055.
    filtered = client.get("/ogc/collections/problems/items", params={"limit": 2, "bbox": "106.79,28.89,106.8055,28.91"})
    assert filtered.json()["numberMatched"] == 3


def test_the_tally_starts_from_the_rows_already_there_and_downgrades(engine):
    _sites(engine, 0, 4)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0009")
    assert "feature_counts" not in inspect(engine).get_table_names()
    _sites(engine, 4, 2)  # written without a tally
    upgrade(engine)
    assert _tally(engine) == (6, 6)
