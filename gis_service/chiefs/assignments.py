"""The roster in the store: chiefs, their reach assignments with start and end dates (交接), and coverage checks.

An assignment is in force on day ``d`` when ``start_date <= d`` and (no ``end_date`` or
``d < end_date``). Importing a roster row for a reach and level another chief held before ends
that chief's assignment the day the new one starts, so who answered for any reach on any date is
kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import shapely
from geoalchemy2.elements import WKBElement
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gis_service.analysis.shoreline.chainage import chainage_text
from gis_service.catalogue import Catalogue
from gis_service.chiefs.levels import Level, levels_from
from gis_service.chiefs.reaches import centerline_length, gaps, overlaps, reach_line
from gis_service.chiefs.roster import RiverFacts, RosterRow
from gis_service.db.models import SRID
from gis_service.db.models_chiefs import Chief, ChiefAssignment
from gis_service.errors import BadRequest, Conflict, NotFound
from gis_service.ledger.common import as_date
from gis_service.store.current import CurrentFeatures

SAME_REACH_M = 1.0


def rivers_frame(session: Session, catalogue: Catalogue) -> gpd.GeoDataFrame:
    """Return the rivers (code, name, level, important, centerline) with their geodesic length."""
    frame = CurrentFeatures(catalogue["rivers"]).columns_frame(session, ["code", "name", "level", "important"])
    return frame.assign(length_m=[centerline_length(g) for g in frame.geometry])


def river_facts(rivers: gpd.GeoDataFrame) -> dict[str, RiverFacts]:
    """Return the roster check's view of the rivers, by code."""
    return {
        str(r.code): RiverFacts(str(r.code), str(r.name), float(r.length_m))
        for r in rivers[["code", "name", "length_m"]].itertuples()
    }


def in_force(on: dt.date) -> Any:
    """Return the clause of the assignments in force on ``on``."""
    table = ChiefAssignment
    return (table.start_date <= on) & or_(table.end_date.is_(None), table.end_date > on)


def _chief(session: Session, row: RosterRow) -> Chief:
    """Return the roster row's chief (same name and phone, or same name and level), created or updated."""
    query = select(Chief).where(Chief.name == row.name)
    query = query.where(Chief.phone == row.phone) if row.phone else query.where(Chief.level == row.level.value)
    chief = session.execute(query.order_by(Chief.id)).scalars().first()
    if chief is None:
        chief = Chief(name=row.name, level=row.level.value, post=row.post, unit=row.unit, phone=row.phone)
        session.add(chief)
        session.flush()
    else:
        chief.level, chief.post = row.level.value, row.post or chief.post
        chief.unit, chief.phone = row.unit or chief.unit, row.phone or chief.phone
    return chief


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the length two chainage stretches share."""
    return min(a[1], b[1]) - max(a[0], b[0])


def apply_roster(
    session: Session, rows: Sequence[RosterRow], rivers: gpd.GeoDataFrame, tolerance: float
) -> dict[str, int]:
    """Store checked roster rows: new assignments, handovers (the old one ends), unchanged ones kept."""
    lines = dict(zip(rivers["code"].astype(str), rivers.geometry, strict=True))
    counts = {"rows": len(rows), "added": 0, "unchanged": 0, "ended": 0}
    # Rows of one roster never hand over to each other: two villages may share a reach (one a bank),
    # and the coverage check reports such overlaps. Only terms held before this roster can end.
    before = set(session.execute(select(ChiefAssignment.id).where(ChiefAssignment.end_date.is_(None))).scalars())
    for row in rows:
        chief = _chief(session, row)
        reach = (row.start_m, row.end_m)
        holding = session.execute(
            select(ChiefAssignment).where(
                ChiefAssignment.river_code == row.river_code,
                ChiefAssignment.level == row.level.value,
                ChiefAssignment.end_date.is_(None),
            )
        ).scalars()
        same = False
        for held in holding:
            if _overlap(reach, (held.start_m, held.end_m)) <= tolerance:
                continue
            if held.id not in before and held.chief_id != chief.id:
                continue
            if (
                held.chief_id == chief.id
                and abs(held.start_m - row.start_m) < SAME_REACH_M
                and abs(held.end_m - row.end_m) < SAME_REACH_M
            ):
                same = True
                continue
            held.end_date = max(row.start_date, as_date(held.start_date) or row.start_date)
            counts["ended"] += 1
        if same:
            counts["unchanged"] += 1
            continue
        line = reach_line(lines[row.river_code], row.start_m, row.end_m)
        session.add(
            ChiefAssignment(
                chief_id=chief.id,
                chief_name=chief.name,
                level=row.level.value,
                river_code=row.river_code,
                start_m=row.start_m,
                end_m=row.end_m,
                start_date=row.start_date,
                end_date=None,
                attrs={"post": row.post, "unit": row.unit, "roster_row": row.row},
                geom=WKBElement(shapely.to_wkb(line), srid=SRID),
            )
        )
        counts["added"] += 1
    session.flush()
    return counts


def assignment_record(a: ChiefAssignment, chief: Chief | None = None, *, staff: bool = False) -> dict[str, Any]:
    """Return an assignment as JSON-ready values (the phone only for staff)."""
    record: dict[str, Any] = {
        "id": a.id,
        "chief_id": a.chief_id,
        "chief": a.chief_name,
        "level": a.level,
        "level_label": Level(a.level).label,
        "river_code": a.river_code,
        "start_m": round(a.start_m, 1),
        "end_m": round(a.end_m, 1),
        "start": chainage_text(a.start_m),
        "end": chainage_text(a.end_m),
        "start_date": (as_date(a.start_date) or dt.date.min).isoformat(),
        "end_date": d.isoformat() if (d := as_date(a.end_date)) else None,
    }
    if chief is not None:
        record.update(post=chief.post, unit=chief.unit)
        if staff:
            record["phone"] = chief.phone
    return record


def assignments_on(
    session: Session, on: dt.date, *, river_code: str | None = None, chief_id: int | None = None
) -> list[tuple[ChiefAssignment, Chief]]:
    """Return the assignments in force on ``on`` with their chiefs, by river, chainage and level."""
    query = select(ChiefAssignment, Chief).join(Chief, Chief.id == ChiefAssignment.chief_id).where(in_force(on))
    if river_code is not None:
        query = query.where(ChiefAssignment.river_code == river_code)
    if chief_id is not None:
        query = query.where(ChiefAssignment.chief_id == chief_id)
    rows = [(a, c) for a, c in session.execute(query).all()]
    order = {lvl.value: i for i, lvl in enumerate(Level)}
    return sorted(rows, key=lambda r: (r[0].river_code, order.get(r[0].level, 9), r[0].start_m))


def chief_named(session: Session, name: str) -> Chief:
    """Return the one chief called ``name``, or say that none or several are."""
    found = session.execute(select(Chief).where(Chief.name == name.strip())).scalars().all()
    if not found:
        raise NotFound(f"名录中没有河长 {name}；请先导入河长名录（rivergis import chiefs）", code="chief_not_found")
    if len(found) > 1:
        who = "、".join(f"{c.name}（{Level(c.level).label}，{c.post or '职务未填'}）" for c in found)
        raise BadRequest(
            f"名录中有 {len(found)} 位河长叫 {name}：{who}；请用编号（chief_id）指明", code="ambiguous_chief"
        )
    return found[0]


def coverage_check(session: Session, catalogue: Catalogue, on: dt.date, tolerance: float) -> dict[str, Any]:
    """Return, per river, each required level's gaps and overlaps of reaches on ``on`` (like the zone gaps)."""
    rivers = rivers_frame(session, catalogue)
    held: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for a, _chief in assignments_on(session, on):
        held.setdefault((a.river_code, a.level), []).append((a.start_m, a.end_m))
    with_chief = {code for code, _ in held}
    out = []
    for r in rivers.itertuples():
        code = str(r.code)
        if not (bool(r.important) or code in with_chief):
            continue
        levels = []
        for level in levels_from(r.level if isinstance(r.level, str) else None):
            reaches = held.get((code, level.value), [])
            levels.append(
                {
                    "level": level.value,
                    "level_label": level.label,
                    "chiefs": len(reaches),
                    "gaps": [g.as_dict() for g in gaps(reaches, float(r.length_m), tolerance)],
                    "overlaps": [o.as_dict() for o in overlaps(reaches, tolerance)],
                }
            )
        complete = all(not lv["gaps"] and not lv["overlaps"] for lv in levels)
        out.append(
            {
                "code": code,
                "name": r.name,
                "important": bool(r.important),
                "length_m": round(float(r.length_m), 1),
                "complete": complete,
                "levels": levels,
            }
        )
    return {"date": on.isoformat(), "rivers": out, "complete": all(r["complete"] for r in out)}


def edit_chief(session: Session, chief_id: int, changes: dict[str, Any]) -> Chief:
    """Correct a chief's post, unit or phone (the name and level change by a new roster row: a handover)."""
    chief = session.get(Chief, chief_id)
    if chief is None:
        raise NotFound(f"没有编号为 {chief_id} 的河长", code="chief_not_found")
    for key in ("post", "unit", "phone"):
        if key in changes:
            setattr(chief, key, (str(changes[key]).strip() or None) if changes[key] is not None else None)
    session.flush()
    return chief


def end_assignment(session: Session, assignment_id: int, end_date: dt.date) -> ChiefAssignment:
    """End a chief's term on a reach (卸任) from ``end_date`` on; refused before it started or when already ended."""
    held = session.get(ChiefAssignment, assignment_id)
    if held is None:
        raise NotFound(f"没有编号为 {assignment_id} 的任职记录", code="assignment_not_found")
    if held.end_date is not None:
        raise Conflict(f"任职记录 {assignment_id} 已于 {held.end_date} 结束", code="assignment_already_ended")
    started = as_date(held.start_date)
    if started is not None and end_date <= started:
        raise BadRequest(f"卸任日期须晚于任职日期 {started}", code="bad_end_date")
    held.end_date = end_date
    session.flush()
    return held
