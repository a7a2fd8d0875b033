"""Patrols (巡河) in the store: add a track with its length, duration and coverage; lists, calendar, overdue reaches."""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import shapely
from geoalchemy2.elements import WKBElement
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis_service.analysis.shoreline.chainage import chainage_text
from gis_service.catalogue import catalogue_for
from gis_service.chiefs.assignments import assignments_on, chief_named, rivers_frame
from gis_service.chiefs.coverage import coverage, track_length
from gis_service.chiefs.frequency import due_date, is_overdue, periods
from gis_service.chiefs.levels import Level
from gis_service.chiefs.reaches import reach_line
from gis_service.chiefs.rules import PatrolRules
from gis_service.chiefs.tracks import Track
from gis_service.clock import BusinessClock
from gis_service.db.models import SRID
from gis_service.db.models_chiefs import Chief, Patrol
from gis_service.errors import BadRequest, NotFound
from gis_service.ledger.common import as_date, as_utc
from gis_service.ledger.reporting import report_new, site_frame
from gis_service.settings import Settings

CALENDAR_DAYS = 90


def _river_line(rivers: gpd.GeoDataFrame, code: str) -> shapely.Geometry:
    """Return a river's centerline, or say the code is unknown."""
    found = rivers.loc[rivers["code"].astype(str) == code]
    if found.empty:
        raise NotFound(f"河流编码 {code} 不在河流图层中", code="river_not_found")
    return found.geometry.iloc[0]


def _nearest_river(rivers: gpd.GeoDataFrame, codes: set[str] | None, track: Track, tolerance: float) -> str:
    """Return the river (of ``codes``, or any) whose centerline the track covers most."""
    candidates = rivers if codes is None else rivers.loc[rivers["code"].astype(str).isin(codes)]
    # The covered metres decide: a track along a long river beats a brush past a short one.
    best = max(
        (
            (coverage([g], track.geometry, tolerance) * float(length), str(code))
            for code, g, length in zip(candidates["code"], candidates.geometry, candidates["length_m"], strict=True)
        ),
        default=(0.0, ""),
    )
    if best[0] <= 0:
        raise BadRequest("轨迹不沿任何河流（容差内没有河道中心线）；请用 --river 指明河流", code="no_river_near_track")
    return best[1]


def add_patrol(
    session: Session,
    track: Track,
    *,
    settings: Settings,
    chief_name: str | None,
    river_code: str | None,
    actor: str,
    clock: BusinessClock,
    notes: str | None = None,
    joint_units: str | None = None,
) -> dict[str, Any]:
    """Store a patrol: the chief's reach on the river, the track's length, duration and coverage of that reach."""
    tolerance = PatrolRules.of(settings).tolerance_m
    rivers = rivers_frame(session, catalogue_for(settings))
    day = clock.local_date(track.started_at) if track.started_at else clock.today()
    chief: Chief | None = chief_named(session, chief_name) if chief_name else None
    held = assignments_on(session, day, chief_id=chief.id) if chief else []
    if river_code is None:
        codes = {a.river_code for a, _ in held} if chief else None
        if chief and not codes:
            raise BadRequest(f"河长 {chief.name} 在 {day} 没有负责的河段", code="no_reach")
        river_code = _nearest_river(rivers, codes, track, tolerance)
    line = _river_line(rivers, river_code)
    if chief:
        mine = [a for a, _ in held if a.river_code == river_code]
        if not mine:
            raise BadRequest(
                f"河长 {chief.name} 在 {day} 没有负责河流 {river_code} 的河段；请核对河长或河流", code="no_reach"
            )
        reaches = [reach_line(line, a.start_m, a.end_m) for a in mine]
    else:
        reaches = [line]
    patrol = Patrol(
        chief_id=chief.id if chief else None,
        chief_name=chief.name if chief else None,
        river_code=river_code,
        patrol_date=day,
        started_at=track.started_at,
        ended_at=track.ended_at,
        length_m=track_length(track.geometry),
        duration_s=track.duration_s,
        coverage=coverage(reaches, track.geometry, tolerance),
        joint_units=joint_units,
        notes=notes,
        uploaded_by=actor,
        created_at=clock.now(),
        attrs={"tolerance_m": tolerance},
        geom=WKBElement(shapely.to_wkb(track.geometry), srid=SRID),
    )
    session.add(patrol)
    session.flush()
    return patrol_record(patrol)


def patrol_record(p: Patrol) -> dict[str, Any]:
    """Return a patrol as the contract's JSON (id, chief, river_code, length_m, duration_s, coverage) and more."""
    started, ended = as_utc(p.started_at), as_utc(p.ended_at)
    return {
        "id": p.id,
        "chief": p.chief_name,
        "chief_id": p.chief_id,
        "river_code": p.river_code,
        "length_m": round(p.length_m, 1),
        "duration_s": None if p.duration_s is None else round(p.duration_s, 1),
        "coverage": round(p.coverage, 4),
        "patrol_date": (as_date(p.patrol_date) or dt.date.min).isoformat(),
        "started_at": started.isoformat() if started else None,
        "ended_at": ended.isoformat() if ended else None,
        "joint_units": p.joint_units,
        "notes": p.notes,
        "problems": list((p.attrs or {}).get("problems", [])),
    }


def list_patrols(
    session: Session, *, chief_id: int | None = None, river_code: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Return patrols, newest first (of a chief or a river)."""
    query = select(Patrol).order_by(Patrol.patrol_date.desc(), Patrol.id.desc()).limit(limit)
    if chief_id is not None:
        query = query.where(Patrol.chief_id == chief_id)
    if river_code is not None:
        query = query.where(Patrol.river_code == river_code)
    return [patrol_record(p) for p in session.execute(query).scalars()]


def get_patrol(session: Session, patrol_id: int) -> dict[str, Any]:
    """Return one patrol, or a 404."""
    patrol = session.get(Patrol, patrol_id)
    if patrol is None:
        raise NotFound(f"没有编号为 {patrol_id} 的巡河记录", code="patrol_not_found")
    return patrol_record(patrol)


def _last_patrols(session: Session) -> dict[tuple[int, str], dt.date]:
    """Return each chief's last patrol date on each river."""
    rows = session.execute(
        select(Patrol.chief_id, Patrol.river_code, func.max(Patrol.patrol_date))
        .where(Patrol.chief_id.is_not(None))
        .group_by(Patrol.chief_id, Patrol.river_code)
    ).all()
    return {(int(c), str(r)): d for c, r, last in rows if c is not None and (d := as_date(last)) is not None}


def overdue_reaches(
    session: Session, today: dt.date, rules: PatrolRules, *, only_overdue: bool = True
) -> list[dict[str, Any]]:
    """Return the reaches in force today not patrolled by their chief within their level's period (``rules``)."""
    last = _last_patrols(session)
    out = []
    for a, chief in assignments_on(session, today):
        level = Level(a.level)
        days = rules.period_days(level)
        since = as_date(a.start_date) or today
        latest = last.get((chief.id, a.river_code))
        late = is_overdue(latest, since, days, today)
        if only_overdue and not late:
            continue
        due = due_date(latest, since, days)
        out.append(
            {
                "assignment_id": a.id,
                "chief_id": chief.id,
                "chief": chief.name,
                "level": level.value,
                "level_label": level.label,
                "unit": chief.unit,
                "river_code": a.river_code,
                "start": chainage_text(a.start_m),
                "end": chainage_text(a.end_m),
                "period_days": days,
                "last_patrol": latest.isoformat() if latest else None,
                "due": due.isoformat(),
                "overdue": late,
                "days_overdue": max((today - due).days, 0),
            }
        )
    return out


def calendar(
    session: Session, chief_id: int, today: dt.date, rules: PatrolRules, days: int = CALENDAR_DAYS
) -> dict[str, Any]:
    """Return a chief's patrol calendar: the periods of the level over the last ``days``, each met or not."""
    chief = session.get(Chief, chief_id)
    if chief is None:
        raise NotFound(f"没有编号为 {chief_id} 的河长", code="chief_not_found")
    level = Level(chief.level)
    period = rules.period_days(level)
    held = assignments_on(session, today, chief_id=chief_id)
    start_of_office = min((as_date(a.start_date) or today for a, _ in held), default=today)
    since = max(start_of_office, today - dt.timedelta(days=days))
    dates = [
        d
        for (d,) in session.execute(select(Patrol.patrol_date).where(Patrol.chief_id == chief_id)).all()
        if d is not None
    ]
    spans = periods(since, today, period, [as_date(d) or today for d in dates])
    closed = [p for p in spans if p.closed]
    return {
        "chief_id": chief.id,
        "chief": chief.name,
        "level": level.value,
        "level_label": level.label,
        "period_days": period,
        "since": since.isoformat(),
        "periods": [p.as_dict() for p in spans],
        "periods_met": sum(p.met for p in closed),
        "periods_closed": len(closed),
        "patrols": list_patrols(session, chief_id=chief_id, limit=200),
    }


def report_found_problem(
    session: Session,
    patrol_id: int,
    geometry: shapely.Geometry,
    fields: dict[str, Any],
    *,
    actor: str,
    settings: Settings,
    clock: BusinessClock,
) -> int:
    """File a problem found on a patrol (带着问题巡河) in the ledger, linked both ways; return its id."""
    patrol = session.get(Patrol, patrol_id)
    if patrol is None:
        raise NotFound(f"没有编号为 {patrol_id} 的巡河记录", code="patrol_not_found")
    found = {"source": "patrol", "found_date": as_date(patrol.patrol_date), **fields}
    note = f"巡河发现：巡河记录 {patrol.id}（{patrol.chief_name or '未指定河长'}，{found['found_date']}）"
    pid = report_new(
        session,
        site_frame(catalogue_for(settings)["problems"], geometry, found),
        actor=actor,
        settings=settings,
        clock=clock,
        note=note,
    )[0]
    patrol.attrs = {**(patrol.attrs or {}), "problems": [*(patrol.attrs or {}).get("problems", []), pid]}
    session.flush()
    return pid
