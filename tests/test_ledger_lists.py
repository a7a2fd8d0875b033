"""The ledger at work on many sites: a file filed in one go, the overdue list sorted and paged, grouped statistics."""

from __future__ import annotations

import datetime as dt

import pytest
from shapely import Point

from gis_service.catalogue import bundled_catalogue
from gis_service.clock import BusinessClock
from gis_service.db.engine import transaction
from gis_service.errors import BadRequest, Conflict
from gis_service.ledger import service
from gis_service.settings import Settings
from tests.test_ledger import clock_at, report, step
from tests.test_ledger_world import (
    SITE_BETWEEN,
    SITE_EAST,
    SITE_FAR,
    SITE_IN_R1,
    world_engine,  # noqa: F401 - fixture
)

# The bundled catalogue's problems layer: the ledger's status and category words.
PROBLEMS = bundled_catalogue()["problems"]


def test_a_file_of_sites_is_filed_in_one_go_with_codes_and_first_events(world_engine) -> None:  # noqa: F811
    import geopandas as gpd

    # Three sites without codes (one an imported closed item) and one with a code of its own.
    frame = gpd.GeoDataFrame(
        {
            "code": [None, "F-9", None, ""],
            "category": ["dumping", "mining", "construction", "occupation"],
            "status": [None, "closed", "reported", None],
            "source": ["patrol", None, "public_report", None],
        },
        geometry=[Point(SITE_IN_R1), Point(SITE_EAST), Point(SITE_FAR), Point(SITE_BETWEEN)],
        crs="EPSG:4490",
    )
    with transaction(world_engine) as session:
        ids = service.report_new(session, frame, actor="导入", settings=Settings(), clock=clock_at("2025-03-01"))
    with transaction(world_engine) as session:
        sites = {
            p["id"]: p
            for p in service.list_problems(
                session, service.ProblemFilter(), sort="id", problems=PROBLEMS, clock=BusinessClock()
            )[0]
        }
        firsts = [service.history(session, pid)[0] for pid in ids]
    assert [sites[i]["code"] for i in ids] == [
        f"WT20250301-{ids[0]:06d}",
        "F-9",
        f"WT20250301-{ids[2]:06d}",
        f"WT20250301-{ids[3]:06d}",
    ]
    assert [sites[i]["status"] for i in ids] == ["reported", "closed", "reported", "reported"]
    assert [(sites[i]["river_code"], sites[i]["town"]) for i in ids] == [
        ("R1", "万盛街道"),
        ("R1", "东林街道"),
        (None, "万盛街道"),
        ("R1", "万盛街道"),
    ]
    assert all(sites[i]["found_date"] in ("2025-03-01", dt.date(2025, 3, 1)) for i in ids)
    assert [(e["action"], e["to_status"], e["actor"]) for e in firsts] == [
        ("report", "reported", "导入"),
        ("import", "closed", "导入"),
        ("report", "reported", "导入"),
        ("report", "reported", "导入"),
    ]
    assert firsts[0]["data"] == {"source": "patrol", "river_code": "R1", "town": "万盛街道", "inside_range": True}
    assert firsts[2]["data"]["river_code"] is None and firsts[2]["data"]["inside_range"] is False
    dupes = frame.iloc[:2].assign(code=["D1", "D1"])
    with pytest.raises(Conflict) as err:
        with transaction(world_engine) as session:
            service.report_new(session, dupes, actor="导入", settings=Settings(), clock=BusinessClock())
    assert err.value.details == {"codes": ["D1"]}


def test_overdue_list_is_sorted_and_paged(world_engine) -> None:  # noqa: F811
    with transaction(world_engine) as session:
        ids = [report(session, where=where) for where in (SITE_IN_R1, SITE_EAST, SITE_IN_R1)]
    for pid, deadline, unit in zip(ids, ("2025-04-10", "2025-04-01", "2025-04-20"), ("乙", "甲", "丙"), strict=True):
        step(world_engine, pid, "confirm")
        step(world_engine, pid, "assign", data={"deadline": deadline, "responsible_unit": unit})
    on = clock_at("2025-05-01")
    with transaction(world_engine) as session:
        first = service.overdue(session, clock=on, limit=2, problems=PROBLEMS)
        second = service.overdue(session, clock=on, limit=2, offset=2, problems=PROBLEMS)
        latest = service.overdue(session, clock=on, sort="river_code,-deadline", problems=PROBLEMS)
        with pytest.raises(BadRequest):
            service.overdue(session, clock=on, sort="geom", problems=PROBLEMS)
    # Most overdue first: 04-01 (30 days), 04-10 (21), 04-20 (11).
    assert [i["id"] for i in first["items"]] == [ids[1], ids[0]] and first["truncated"]
    assert [i["days_overdue"] for i in first["items"]] == [30, 21]
    assert [i["id"] for i in second["items"]] == [ids[2]] and not second["truncated"] and second["offset"] == 2
    # The counts cover every overdue item, whatever the page.
    assert first["count"] == second["count"] == 3
    assert first["by_unit"] == {"丙": 1, "乙": 1, "甲": 1} and first["by_town"] == {"万盛街道": 2, "东林街道": 1}
    assert [i["id"] for i in latest["items"]] == [ids[2], ids[0], ids[1]]  # all on R1: latest deadline first


def test_statistics_group_unjudged_sites_under_no_key(world_engine) -> None:  # noqa: F811
    with transaction(world_engine) as session:
        report(session, where=SITE_FAR)  # no river within reach
        report(session)
        stats = service.statistics(session, by="river", clock=clock_at("2025-03-02"), problems=PROBLEMS)
        filtered_stats = service.statistics(
            session,
            by="river",
            flt=service.ProblemFilter(river_code="R1"),
            clock=clock_at("2025-03-02"),
            problems=PROBLEMS,
        )
        empty = service.statistics(
            session, flt=service.ProblemFilter(town="不存在"), clock=clock_at("2025-03-02"), problems=PROBLEMS
        )
    assert [(g["key"], g["total"]) for g in stats["groups"]] == [(None, 1), ("R1", 1)]
    assert [(g["key"], g["total"]) for g in filtered_stats["groups"]] == [("R1", 1)]
    assert empty["total"] == 0 and empty["closure_rate"] is None and empty["on_time_rate"] is None
    assert set(empty["by_status"].values()) == {0}
