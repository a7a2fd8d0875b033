"""Deadlines and statistics (按期销号): overdue lists and counts per town, river and unit; closure and on-time rates.

The counting runs in SQL (one grouped query, a few thousand rows at most), so a dashboard over
100 000 sites never pulls the ledger into Python.

closure rate = closed / (all − dismissed); on-time rate = items rectified on or before their
deadline / items with a deadline that are rectified, closed or already overdue. Items recorded
before the ledger kept rectified dates (imported history) fall back to their closing date; done
items with neither date cannot be judged and are left out of the rate.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Table, and_, case, func, select
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec
from gis_service.db.backend import session_backend
from gis_service.db.models import Problem
from gis_service.errors import BadRequest
from gis_service.ledger.common import Clock, as_date, frame_of
from gis_service.ledger.filters import ProblemFilter, filtered, overdue_clause
from gis_service.ledger.queries import list_problems
from gis_service.ledger.states import ProblemStatus

TABLE: Table = Problem.__table__  # type: ignore[assignment]
GROUPS = {"town": "town", "river": "river_code", "unit": "responsible_unit"}
UNKNOWN = "未判定"


def _count(condition: ColumnElement[bool]) -> Any:
    """Return ``SUM(CASE WHEN condition THEN 1 ELSE 0 END)``: a count both backends spell alike."""
    return func.sum(case((condition, 1), else_=0))


def _counts(session: Session, flt: ProblemFilter | None, today: dt.date, column: str | None) -> pd.DataFrame:
    """Return counts per (group, status, category): all, overdue, done (judgeable), on time."""
    finished = func.coalesce(TABLE.c.rectified_date, TABLE.c.closed_date)
    done = and_(
        TABLE.c.status.in_([ProblemStatus.RECTIFIED.value, ProblemStatus.CLOSED.value]),
        TABLE.c.deadline.is_not(None),
        finished.is_not(None),
    )
    keys = [TABLE.c[column]] if column else []
    query = select(
        *keys,
        TABLE.c.status,
        TABLE.c.category,
        func.count(),
        _count(overdue_clause(today)),
        _count(done),
        _count(and_(done, finished <= TABLE.c.deadline)),
    )
    if flt is not None:
        query = filtered(query, flt, session_backend(session), today)
    query = query.group_by(*keys, TABLE.c.status, TABLE.c.category)
    names = ["status", "category", "n", "overdue", "done", "on_time"]
    frame = frame_of(session.execute(query), ["key", *names] if column else names)
    if not column:
        frame["key"] = None
    for name in ("n", "overdue", "done", "on_time"):
        frame[name] = frame[name].fillna(0).astype(int)
    frame["key"] = frame["key"].fillna("")
    return frame


def _summary(counts: pd.DataFrame, categories_known: list[str]) -> dict[str, Any]:
    """Return totals by status and category, overdue, closure rate and on-time rate of grouped counts."""
    statuses = counts.groupby("status")["n"].sum()
    categories = counts.groupby("category")["n"].sum()
    total = int(counts["n"].sum())
    by_status = {s.value: int(statuses.get(s.value, 0)) for s in ProblemStatus}
    by_category = {c: int(categories.get(c, 0)) for c in categories_known}
    overdue = int(counts["overdue"].sum())
    # Done and overdue exclude each other (done items are never overdue): due is their sum.
    due = int(counts["done"].sum()) + overdue
    counted = total - by_status["dismissed"]
    return {
        "total": total,
        "by_status": by_status,
        "by_category": by_category,
        "overdue": overdue,
        "closure_rate": round(by_status["closed"] / counted, 4) if counted else None,
        "on_time_rate": round(int(counts["on_time"].sum()) / due, 4) if due else None,
    }


def statistics(
    session: Session,
    *,
    problems: LayerSpec,
    by: str | None = None,
    flt: ProblemFilter | None = None,
    clock: Clock,
) -> dict[str, Any]:
    """Return ledger statistics overall and, with ``by`` = town | river | unit, per group."""
    if by is not None and by not in GROUPS:
        raise BadRequest(f"分组 {by!r} 无效；可选：{', '.join(GROUPS)}", code="bad_group")
    today = clock.today()
    counts = _counts(session, flt, today, GROUPS[by] if by else None)
    categories = list(problems.field("category").values)
    out: dict[str, Any] = {"as_of": today.isoformat(), **_summary(counts, categories)}
    if by is not None:
        out["by"] = by
        out["groups"] = [
            {"key": None if key == "" else key, **_summary(group, categories)}
            for key, group in counts.groupby("key", sort=True)
        ]
    return out


def _overdue_counts(session: Session, flt: ProblemFilter, today: dt.date) -> tuple[int, dict[str, dict[str, int]]]:
    """Return how many items are overdue, and how many per town, river and responsible unit."""
    columns = [TABLE.c[c] for c in GROUPS.values()]
    backend = session_backend(session)
    query = filtered(select(*columns, func.count()), flt, backend, today)
    # The three lists in one pass where the database can (PostGIS: GROUPING SETS).
    each = backend.counts_by_each(session.connection(), query, columns)
    per: dict[str, dict[str, int]] = {}
    for (by, column), found in zip(GROUPS.items(), each, strict=True):
        rows = pd.DataFrame(found, columns=[*GROUPS.values(), "n"])
        sums = rows.groupby(rows[column].fillna("").to_numpy(dtype=object), sort=True)["n"].sum()
        per[by] = dict(zip([str(k) or UNKNOWN for k in sums.index.tolist()], sums.tolist(), strict=True))
    return int(sum(per["town"].values())), per


def overdue(
    session: Session,
    *,
    problems: LayerSpec,
    flt: ProblemFilter | None = None,
    clock: Clock,
    sort: str = "deadline",
    limit: int = 1000,
    offset: int = 0,
) -> dict[str, Any]:
    """Return a page of the overdue items (most overdue first by default) and counts per town, river and unit."""
    today = clock.today()
    chosen = (flt or ProblemFilter()).only_overdue()
    items, more = list_problems(session, chosen, sort=sort, limit=limit, offset=offset, problems=problems, clock=clock)
    for item in items:
        item["days_overdue"] = (today - as_date(item["deadline"])).days  # type: ignore[operator]
    count, per = _overdue_counts(session, chosen, today)
    return {
        "as_of": today.isoformat(),
        "count": count,
        "items": items,
        "offset": offset,
        "truncated": more,
        "by_town": per["town"],
        "by_river": per["river"],
        "by_unit": per["unit"],
    }
