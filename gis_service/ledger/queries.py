"""Reading the ledger: filters, sorting and paging of problem sites, one site as API data, its history.

Filters and sorting run in SQL on indexed columns (and the spatial index for ``bbox``); only the
page asked for is read, and its geometries are decoded together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import shapely
from sqlalchemy import Select, Table, select
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec
from gis_service.db.backend import session_backend
from gis_service.db.models import Attachment, Problem, ProblemEvent
from gis_service.errors import BadRequest, NotFound
from gis_service.ledger.common import Clock, as_date, as_utc
from gis_service.ledger.filters import ProblemFilter, filtered, is_overdue
from gis_service.ledger.states import ACTIONS, allowed_actions, status_label
from gis_service.store.spatial import geom_wkb

TABLE: Table = Problem.__table__  # type: ignore[assignment]
SORT_KEYS = ("id", "code", "found_date", "deadline", "status", "category", "town", "river_code", "updated_at")


def problem_or_404(session: Session, problem_id: int) -> Problem:
    """Return the problem or raise NotFound."""
    problem = session.get(Problem, problem_id)
    if problem is None:
        raise NotFound(f"问题 {problem_id} 不存在", code="problem_not_found")
    return problem


def order(sort: str) -> list[Any]:
    """Return ORDER BY terms from ``-deadline,code`` style text, or raise naming the sortable keys."""
    terms = []
    for part in [p.strip() for p in sort.split(",") if p.strip()]:
        key = part.lstrip("+-")
        if key not in SORT_KEYS:
            raise BadRequest(f"不能按 {key!r} 排序；可用：{', '.join(SORT_KEYS)}（前加 - 为倒序）", code="bad_sort")
        column = TABLE.c[key]
        terms.append(column.desc() if part.startswith("-") else column.asc())
    return [*terms, TABLE.c.id.asc()]


def records(rows: Sequence[Mapping[Any, Any]], today: dt.date, problems: LayerSpec) -> list[dict[str, Any]]:
    """Return problem rows as API data: fields, derived jurisdiction, overdue, allowed actions, geometry.

    Status labels are those of ``problems``, the catalogue's layer.
    """
    # The same for every row in a status: worked out once per status of the page.
    facts = {s: (status_label(problems, s), allowed_actions(s)) for s in {row["status"] for row in rows}}
    geoms = shapely.from_wkb([row.get("wkb") for row in rows])
    points = shapely.point_on_surface(geoms)
    xs, ys = shapely.get_x(points), shapely.get_y(points)
    out = []
    for row, geom, x, y in zip(rows, geoms, xs.tolist(), ys.tolist(), strict=True):
        attrs = row.get("attrs") or {}
        item = {k: v for k, v in row.items() if k not in {"attrs", "wkb", "geom"}}
        item.update({k: v for k, v in attrs.items() if k not in item})
        label, actions = facts[row["status"]]
        item["status_label"] = label
        item["overdue"] = is_overdue(row["status"], as_date(row.get("deadline")), today)
        item["allowed_actions"] = list(actions)
        present = geom is not None
        item["lon"] = x if present else None
        item["lat"] = y if present else None
        item["geometry"] = shapely.geometry.mapping(geom) if present else None
        out.append(item)
    return out


def record(row: Mapping[Any, Any], today: dt.date, problems: LayerSpec) -> dict[str, Any]:
    """Return one problem row as API data (see :func:`records`)."""
    return records([row], today, problems)[0]


def problem_select() -> Select[Any]:
    """Return the SELECT of every problem column and the geometry as WKB."""
    return select(*[c for c in TABLE.c if c.key != "geom"], geom_wkb(TABLE))


def list_problems(
    session: Session,
    flt: ProblemFilter,
    *,
    sort: str = "-id",
    limit: int = 100,
    offset: int = 0,
    problems: LayerSpec,
    clock: Clock,
) -> tuple[list[dict[str, Any]], bool]:
    """Return a page of problems matching ``flt`` and whether more follow."""
    today = clock.today()
    query = filtered(problem_select(), flt, session_backend(session), today).order_by(*order(sort))
    query = query.limit(limit + 1).offset(offset)
    rows = records([r._mapping for r in session.execute(query)], today, problems)
    return rows[:limit], len(rows) > limit


def get_problem(session: Session, problem_id: int, *, problems: LayerSpec, clock: Clock) -> dict[str, Any]:
    """Return one problem as API data."""
    row = session.execute(problem_select().where(TABLE.c.id == problem_id)).first()
    if row is None:
        raise NotFound(f"问题 {problem_id} 不存在", code="problem_not_found")
    return record(row._mapping, clock.today(), problems)


def attachment_data(a: Attachment) -> dict[str, Any]:
    """Return an attachment as API data (without its storage path)."""
    return {
        "id": a.id,
        "event_id": a.event_id,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "sha256": a.sha256,
        "lon": a.lon,
        "lat": a.lat,
        "taken_at": as_utc(a.taken_at),
    }


def history(session: Session, problem_id: int) -> list[dict[str, Any]]:
    """Return a problem's ledger events, oldest first, each with its attachments."""
    problem_or_404(session, problem_id)
    events = list(
        session.scalars(
            select(ProblemEvent).where(ProblemEvent.problem_id == problem_id).order_by(ProblemEvent.at, ProblemEvent.id)
        )
    )
    files: dict[int, list[dict[str, Any]]] = {}
    if events:
        for a in session.scalars(
            select(Attachment).where(Attachment.event_id.in_([e.id for e in events])).order_by(Attachment.id)
        ):
            files.setdefault(a.event_id, []).append(attachment_data(a))
    return [
        {
            "id": e.id,
            "action": e.action,
            "action_label": ACTIONS[e.action].label if e.action in ACTIONS else e.action,
            "from_status": e.from_status,
            "to_status": e.to_status,
            "actor": e.actor,
            "at": as_utc(e.at),
            "note": e.note,
            "data": e.data,
            "attachments": files.get(e.id, []),
        }
        for e in events
    ]
