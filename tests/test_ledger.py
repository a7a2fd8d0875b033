"""The ledger workflow on the service layer: lifecycle, refused steps, conflicts, reopening, overdue, stats."""

from __future__ import annotations

import datetime as dt

import pytest
from shapely import Point
from sqlalchemy import func, select

from gis_service.access import Role
from gis_service.catalogue import bundled_catalogue
from gis_service.clock import BusinessClock
from gis_service.db.engine import transaction
from gis_service.db.models import Problem, ProblemEvent
from gis_service.errors import BadRequest, Conflict, Forbidden, InvalidTransition
from gis_service.ledger import service
from gis_service.ledger.states import ACTIONS, ProblemStatus, allowed_actions
from gis_service.settings import Settings
from tests.test_ledger_world import (
    SITE_BETWEEN,
    SITE_EAST,
    SITE_FAR,
    SITE_IN_R1,
    world_engine,  # noqa: F401 - fixture
)

# The bundled catalogue's problems layer: the ledger's status and category words.
PROBLEMS = bundled_catalogue()["problems"]


def clock_at(day: str) -> BusinessClock:
    """Return a clock stopped at noon China time of ``day``."""
    return BusinessClock.at(dt.datetime.fromisoformat(f"{day}T04:00:00+00:00"))


def report(session, where=SITE_IN_R1, **fields):  # type: ignore[no-untyped-def]
    frame = service.site_frame(bundled_catalogue()["problems"], Point(where), {"category": "dumping", **fields})
    return service.report_new(session, frame, actor="巡河员", settings=Settings(), clock=clock_at("2025-03-01"))[0]


def step(engine, pid, action, version=None, day="2025-03-02", **kw):  # type: ignore[no-untyped-def]
    with transaction(engine) as session:
        return service.transition(
            session,
            pid,
            action,
            actor="staff",
            expected_version=version,
            settings=Settings(),
            clock=clock_at(day),
            **kw,
        ).id


def edit(engine, pid, version, **changes):  # type: ignore[no-untyped-def]
    """Edit site ``pid`` (``fields=`` or ``geometry=``) as of ``version``, in a transaction of its own."""
    with transaction(engine) as session:
        return service.edit_problem(
            session, pid, actor="x", settings=Settings(), expected_version=version, clock=BusinessClock(), **changes
        )


def status(engine, pid):  # type: ignore[no-untyped-def]
    with transaction(engine) as session:
        p = session.get(Problem, pid)
        return p.status, p.lock_version


def test_reported_site_gets_jurisdiction_code_and_first_event(world_engine) -> None:  # noqa: F811
    with transaction(world_engine) as session:
        pid = report(session, description="河滩堆放建筑垃圾")
    with transaction(world_engine) as session:
        data = service.get_problem(session, pid, clock=clock_at("2025-03-01"), problems=PROBLEMS)
        events = service.history(session, pid)
    assert (data["river_code"], data["town"], data["inside_range"], data["zone_type"]) == (
        "R1",
        "万盛街道",
        True,
        "protected",
    )
    assert data["code"] == f"WT20250301-{pid:06d}"
    assert data["status"] == "reported" and data["lock_version"] == 1
    assert data["allowed_actions"] == ["confirm", "dismiss"]
    assert [(e["action"], e["from_status"], e["to_status"], e["actor"]) for e in events] == [
        ("report", None, "reported", "巡河员")
    ]


def test_whole_lifecycle_through_every_state_and_reopening(world_engine) -> None:  # noqa: F811
    with transaction(world_engine) as session:
        pid = report(session)
    step(world_engine, pid, "confirm", 1, note="现场核实属实")
    step(
        world_engine,
        pid,
        "assign",
        2,
        data={"deadline": "2025-04-30", "responsible_unit": "万盛街道办事处", "measures": "清运垃圾，恢复河滩"},
    )
    step(world_engine, pid, "start", 3)
    step(world_engine, pid, "rectify", 4, day="2025-04-20", data={"evidence": "清运记录 QY-2025-017"})
    step(world_engine, pid, "reject", 5, day="2025-04-21", note="仍有残留")
    step(world_engine, pid, "rectify", 6, day="2025-04-25", data={"evidence": "复清记录"})
    step(world_engine, pid, "close", 7, day="2025-04-28", data={"verifier": "河长办 李工"})
    with transaction(world_engine) as session:
        closed = session.get(Problem, pid)
        assert (closed.status, closed.closed_date, closed.rectified_date) == (
            "closed",
            dt.date(2025, 4, 28),
            dt.date(2025, 4, 25),
        )
    step(world_engine, pid, "reopen", 8, day="2025-07-01", note="回头看发现反弹", data={"deadline": "2025-08-15"})
    step(world_engine, pid, "start", 9, day="2025-07-02")
    step(world_engine, pid, "rectify", 10, day="2025-08-01", data={"evidence": "二次清运"})
    step(world_engine, pid, "close", 11, day="2025-08-02", data={"verifier": "河长办 王工"})
    with transaction(world_engine) as session:
        events = service.history(session, pid)
        p = session.get(Problem, pid)
        assert (p.status, p.lock_version, p.deadline, p.closed_date) == (
            "closed",
            12,
            dt.date(2025, 8, 15),
            dt.date(2025, 8, 2),
        )
    path = [(e["from_status"], e["to_status"]) for e in events]
    assert path == [
        (None, "reported"),
        ("reported", "confirmed"),
        ("confirmed", "assigned"),
        ("assigned", "rectifying"),
        ("rectifying", "rectified"),
        ("rectified", "rectifying"),
        ("rectifying", "rectified"),
        ("rectified", "closed"),
        ("closed", "reopened"),
        ("reopened", "rectifying"),
        ("rectifying", "rectified"),
        ("rectified", "closed"),
    ]
    # The first closure is kept in the history: who verified, and when.
    first_close = events[7]
    assert first_close["data"]["verifier"] == "河长办 李工" and first_close["at"].date() == dt.date(2025, 4, 28)
    assert events[2]["data"]["responsible_unit"] == "万盛街道办事处"


def test_dismissal_needs_reason_and_evidence(world_engine) -> None:  # noqa: F811
    with transaction(world_engine) as session:
        pid = report(session)
    with pytest.raises(BadRequest) as err:
        step(world_engine, pid, "dismiss", 1)
    assert "note" in err.value.message and "evidence" in err.value.message
    with pytest.raises(BadRequest):
        step(world_engine, pid, "dismiss", 1, note="非河道管理范围")
    assert status(world_engine, pid) == ("reported", 1)  # nothing written
    step(world_engine, pid, "dismiss", 1, note="系鱼塘，非河道", data={"evidence": "现场照片见巡查记录"})
    assert status(world_engine, pid) == ("dismissed", 2)
    assert allowed_actions("dismissed") == []


def test_assign_needs_deadline_and_unit_and_close_needs_verifier(world_engine) -> None:  # noqa: F811
    with transaction(world_engine) as session:
        pid = report(session)
    step(world_engine, pid, "confirm", 1)
    with pytest.raises(BadRequest) as err:
        step(world_engine, pid, "assign", 2, data={"deadline": "2025-04-30"})
    assert err.value.code == "missing_fields" and "responsible_unit" in err.value.message
    with pytest.raises(BadRequest) as err:
        step(world_engine, pid, "assign", 2, data={"deadline": "2025-01-01", "responsible_unit": "x"})
    assert err.value.code == "deadline_in_past"
    with pytest.raises(BadRequest) as err:
        step(world_engine, pid, "assign", 2, data={"deadline": "30/04/2025", "responsible_unit": "x"})
    assert err.value.code == "bad_date"
    step(world_engine, pid, "assign", 2, data={"deadline": "2025-04-30", "responsible_unit": "x"})
    step(world_engine, pid, "start", 3)
    with pytest.raises(BadRequest):
        step(world_engine, pid, "rectify", 4)  # no evidence
    step(world_engine, pid, "rectify", 4, data={"evidence": "e"})
    with pytest.raises(BadRequest) as err:
        step(world_engine, pid, "close", 5)
    assert "verifier" in err.value.message


STATES_AND_PATHS = {
    "reported": [],
    "confirmed": [("confirm", {})],
    "dismissed": [("dismiss", {"note": "n", "data": {"evidence": "e"}})],
    "assigned": [("confirm", {}), ("assign", {"data": {"deadline": "2025-05-01", "responsible_unit": "u"}})],
}
STATES_AND_PATHS["rectifying"] = [*STATES_AND_PATHS["assigned"], ("start", {})]
STATES_AND_PATHS["rectified"] = [*STATES_AND_PATHS["rectifying"], ("rectify", {"data": {"evidence": "e"}})]
STATES_AND_PATHS["closed"] = [*STATES_AND_PATHS["rectified"], ("close", {"data": {"verifier": "v"}})]
STATES_AND_PATHS["reopened"] = [*STATES_AND_PATHS["closed"], ("reopen", {"note": "反弹"})]


def test_every_refused_transition_names_the_allowed_ones(world_engine) -> None:  # noqa: F811
    assert set(STATES_AND_PATHS) == {s.value for s in ProblemStatus}
    refused = 0
    for state, path in STATES_AND_PATHS.items():
        with transaction(world_engine) as session:
            pid = report(session)
        for action, kw in path:
            step(world_engine, pid, action, **kw)
        assert status(world_engine, pid)[0] == state
        for action in ACTIONS:
            if action in allowed_actions(state):
                continue
            with pytest.raises(InvalidTransition) as err:
                step(
                    world_engine,
                    pid,
                    action,
                    note="n",
                    data={"evidence": "e", "verifier": "v", "deadline": "2025-06-01", "responsible_unit": "u"},
                )
            assert err.value.http_status == 409
            assert err.value.details["allowed"] == allowed_actions(state)
            for allowed in allowed_actions(state):
                assert allowed in err.value.message
            refused += 1
    # 8 states × 8 actions = 64 pairs; allowed: reported 2, confirmed 1, assigned 1, rectifying 1,
    # rectified 2, closed 1, reopened 2, dismissed 0 = 10 → 54 refused.
    assert refused == 54


def test_two_people_acting_at_once_one_wins_the_other_gets_a_conflict(world_engine) -> None:  # noqa: F811
    with transaction(world_engine) as session:
        pid = report(session)
    step(world_engine, pid, "confirm", 1, note="甲确认")
    with pytest.raises(Conflict) as err:
        step(world_engine, pid, "dismiss", 1, note="乙排除", data={"evidence": "e"})
    assert err.value.code == "version_conflict"
    assert err.value.details == {"expected_version": 1, "current_version": 2, "status": "confirmed"}
    # Same state, stale version: the lock still refuses it.
    with transaction(world_engine) as session:
        pid2 = report(session)
    step(world_engine, pid2, "confirm", 1)
    with pytest.raises(Conflict):
        edit(world_engine, pid2, 1, fields={"description": "晚到的修改"})
    with transaction(world_engine) as session:
        events = session.scalar(select(func.count()).select_from(ProblemEvent).where(ProblemEvent.problem_id == pid))
    assert status(world_engine, pid) == ("confirmed", 2) and events == 2  # report + 甲's confirm, nothing lost


def test_roles_per_action(world_engine) -> None:  # noqa: F811
    with transaction(world_engine) as session:
        pid = report(session)
    with pytest.raises(Forbidden):
        with transaction(world_engine) as session:
            service.transition(
                session,
                pid,
                "confirm",
                actor="v",
                expected_version=1,
                role=Role.VIEWER,
                settings=Settings(),
                clock=BusinessClock(),
            )
    with transaction(world_engine) as session:
        service.transition(
            session,
            pid,
            "confirm",
            actor="s",
            expected_version=1,
            role=Role.SURVEYOR,
            settings=Settings(),
            clock=BusinessClock(),
        )
    with pytest.raises(Forbidden):
        with transaction(world_engine) as session:
            service.transition(
                session,
                pid,
                "assign",
                actor="s",
                expected_version=2,
                role=Role.SURVEYOR,
                settings=Settings(),
                data={"deadline": "2099-01-01", "responsible_unit": "u"},
                clock=BusinessClock(),
            )


def test_moving_a_site_rederives_jurisdiction_and_closed_items_cannot_be_edited(world_engine) -> None:  # noqa: F811
    with transaction(world_engine) as session:
        pid = report(session)
    edit(world_engine, pid, 1, geometry=Point(SITE_EAST))
    with transaction(world_engine) as session:
        p = session.get(Problem, pid)
        assert (p.river_code, p.town, p.inside_range, p.zone_type, p.lock_version) == (
            "R1",
            "东林街道",
            True,
            "developed",
            2,
        )
        events = service.history(session, pid)
    assert events[-1]["action"] == "move" and events[-1]["data"]["changes"]["town"] == {
        "from": "万盛街道",
        "to": "东林街道",
    }
    with transaction(world_engine) as session:
        done = report(session)
    step(world_engine, done, "dismiss", 1, note="n", data={"evidence": "e"})
    with pytest.raises(Conflict) as err:
        edit(world_engine, done, 2, fields={"description": "改"})
    assert err.value.code == "problem_final"


def test_rederive_after_a_new_range_version(world_engine) -> None:  # noqa: F811
    import geopandas as gpd
    from shapely import box

    from gis_service.catalogue import bundled_catalogue
    from gis_service.ledger.intake import approve_delivery
    from gis_service.store.deliveries import submit_delivery
    from tests.test_ledger_world import CRS

    with transaction(world_engine) as session:
        between = report(session, where=SITE_BETWEEN)
        far = report(session, where=SITE_FAR)
    with transaction(world_engine) as session:
        assert session.get(Problem, between).inside_range is False
        # R1's new range version is wider (lat 28.897–28.903): the between site now lies inside it.
        wider = gpd.GeoDataFrame({"river_code": ["R1"]}, geometry=[box(106.82, 28.897, 106.98, 28.903)], crs=CRS)
        delivery = submit_delivery(session, bundled_catalogue()["boundaries"], "R1", wider, actor="t")
        # Approval itself re-derives the open sites of R1; running it again changes nothing.
        approve_delivery(session, delivery.id, actor="t", settings=Settings(), clock=BusinessClock())
        assert session.get(Problem, between).inside_range is True
        changed = service.rederive_jurisdiction(session, "R1", settings=Settings(), actor="t", clock=BusinessClock())
    assert changed == 0
    with transaction(world_engine) as session:
        assert session.get(Problem, between).inside_range is True
        assert session.get(Problem, far).river_code is None
        assert service.history(session, between)[-1]["action"] == "rederive"


def test_overdue_and_statistics_on_a_fixed_clock(world_engine) -> None:  # noqa: F811
    with transaction(world_engine) as session:
        ids = [report(session) for _ in range(5)]
        east = report(session, where=SITE_EAST)
    # ids[0]: assigned, deadline 04-30 → overdue on 05-10; ids[1]: rectified 04-20 (on time);
    # ids[2]: closed, rectified 05-05 after its 04-30 deadline (late); ids[3]: dismissed;
    # ids[4]: reported (no deadline); east: rectifying, deadline 06-30 → not overdue on 05-10.
    assign = {"deadline": "2025-04-30", "responsible_unit": "万盛街道办事处"}
    for pid in ids[:3]:
        step(world_engine, pid, "confirm")
        step(world_engine, pid, "assign", data=assign)
    step(world_engine, ids[1], "start")
    step(world_engine, ids[1], "rectify", day="2025-04-20", data={"evidence": "e"})
    step(world_engine, ids[2], "start")
    step(world_engine, ids[2], "rectify", day="2025-05-05", data={"evidence": "e"})
    step(world_engine, ids[2], "close", day="2025-05-06", data={"verifier": "v"})
    step(world_engine, ids[3], "dismiss", note="n", data={"evidence": "e"})
    step(world_engine, east, "confirm")
    step(world_engine, east, "assign", data={"deadline": "2025-06-30", "responsible_unit": "东林街道办事处"})
    step(world_engine, east, "start")
    with transaction(world_engine) as session:
        late = service.overdue(session, clock=clock_at("2025-05-10"), problems=PROBLEMS)
        stats = service.statistics(session, by="town", clock=clock_at("2025-05-10"), problems=PROBLEMS)
        on_deadline_day = service.overdue(session, clock=clock_at("2025-04-30"), problems=PROBLEMS)
    assert [i["id"] for i in late["items"]] == [ids[0]]
    assert late["items"][0]["days_overdue"] == 10  # 05-10 − 04-30
    assert late["by_town"] == {"万盛街道": 1} and late["by_unit"] == {"万盛街道办事处": 1}
    assert on_deadline_day["count"] == 0  # due today is not yet overdue
    assert stats["total"] == 6 and stats["overdue"] == 1
    assert stats["by_status"]["closed"] == 1 and stats["by_status"]["dismissed"] == 1
    assert stats["by_category"]["dumping"] == 6
    # closure rate = closed / (total − dismissed) = 1 / 5 = 0.2
    assert stats["closure_rate"] == 0.2
    # on-time rate: due = rectified ids[1] + closed ids[2] + overdue ids[0] = 3; on time = ids[1] → 1/3
    assert stats["on_time_rate"] == round(1 / 3, 4)
    groups = {g["key"]: g for g in stats["groups"]}
    assert groups["东林街道"]["total"] == 1 and groups["万盛街道"]["total"] == 5
    assert groups["东林街道"]["on_time_rate"] is None  # nothing due yet


def test_list_filters_sorting_and_paging(world_engine) -> None:  # noqa: F811
    with transaction(world_engine) as session:
        a = report(session, found_date="2025-02-01")
        b = report(session, where=SITE_EAST, category="mining", found_date="2025-02-15")
        c = report(session, where=SITE_FAR, category="construction", found_date="2025-03-01")
    with transaction(world_engine) as session:

        def ids(**kw):  # type: ignore[no-untyped-def]
            sort = kw.pop("sort", "id")
            rows, _ = service.list_problems(
                session, service.ProblemFilter(**kw), sort=sort, problems=PROBLEMS, clock=BusinessClock()
            )
            return [r["id"] for r in rows]

        assert ids() == [a, b, c]
        assert ids(category=["mining"]) == [b]
        assert ids(town="东林街道") == [b]
        assert ids(river_code="R1") == [a, b]
        assert ids(found_from=dt.date(2025, 2, 10), found_to=dt.date(2025, 2, 28)) == [b]
        assert ids(bbox=(106.94, 28.89, 106.96, 28.91)) == [b]
        assert ids(sort="-found_date") == [c, b, a]
        page, more = service.list_problems(
            session, service.ProblemFilter(), sort="id", limit=2, offset=0, problems=PROBLEMS, clock=BusinessClock()
        )
        assert [r["id"] for r in page] == [a, b] and more
        page, more = service.list_problems(
            session, service.ProblemFilter(), sort="id", limit=2, offset=2, problems=PROBLEMS, clock=BusinessClock()
        )
        assert [r["id"] for r in page] == [c] and not more
        with pytest.raises(BadRequest, match="nonsense"):
            service.ProblemFilter(status=("nonsense",)).checked(PROBLEMS)
        with pytest.raises(BadRequest, match="nonsense"):
            service.ProblemFilter.parse({"category": "nonsense"}, PROBLEMS)
        with pytest.raises(BadRequest):
            ids(sort="geom")


def test_report_sites_refuses_duplicate_codes_and_bad_categories(world_engine) -> None:  # noqa: F811
    import geopandas as gpd

    frame = gpd.GeoDataFrame(
        {"code": ["A1", "A2"], "category": ["dumping", "mining"], "status": ["reported", "closed"]},
        geometry=[Point(SITE_IN_R1), Point(SITE_EAST)],
        crs="EPSG:4490",
    )
    with transaction(world_engine) as session:
        assert service.report_sites(session, frame, actor="import", settings=Settings(), clock=BusinessClock()) == 2
    with transaction(world_engine) as session:
        events = [
            e["action"]
            for e in service.history(session, session.scalar(select(Problem.id).where(Problem.code == "A2")))
        ]
        assert events == ["import"]  # an imported historical ledger item keeps its status
    with pytest.raises(Conflict):
        with transaction(world_engine) as session:
            service.report_sites(session, frame.iloc[:1], actor="import", settings=Settings(), clock=BusinessClock())
    bad = frame.assign(code=["B1", "B2"], category=["dumping", None])
    with pytest.raises(BadRequest):
        with transaction(world_engine) as session:
            service.report_sites(session, bad, actor="import", settings=Settings(), clock=BusinessClock())


def test_interleaved_writers_on_one_site_one_wins(world_engine) -> None:  # noqa: F811
    from sqlalchemy.orm import Session

    with transaction(world_engine) as session:
        pid = report(session)
    slow = Session(world_engine)
    slow.begin()
    seen = slow.get(Problem, pid)  # the slow writer has read version 1 (a form, in a request of its own) ...
    assert seen is not None and seen.lock_version == 1
    # ... and sends its step in another: on SQLite a read transaction kept open could never become a
    # write after another writer committed (the service's writes take the write lock first).
    slow.commit()
    step(world_engine, pid, "confirm", 1, note="fast")  # ... the fast one commits version 2 meanwhile
    with pytest.raises(Conflict) as err:
        service.transition(
            slow,
            pid,
            "confirm",
            actor="slow",
            expected_version=1,
            note="slow",
            settings=Settings(),
            clock=BusinessClock(),
        )
    slow.rollback()
    slow.close()
    assert err.value.code == "version_conflict"
    with transaction(world_engine) as session:
        notes = [e["note"] for e in service.history(session, pid)]
    assert status(world_engine, pid) == ("confirmed", 2) and notes == [None, "fast"]
