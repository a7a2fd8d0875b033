"""Patrol figures by town (镇街) for a dashboard: reaches in force, overdue reaches, recent patrols and coverage.

A reach or a track belongs to the town holding the largest share of its length (a district
chief's whole-river reach goes to the town the river runs through longest).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import numpy as np
from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from gis_service.catalogue import catalogue_for
from gis_service.chiefs.assignments import assignments_on
from gis_service.chiefs.patrols import overdue_reaches
from gis_service.chiefs.rules import PatrolRules
from gis_service.db.models_chiefs import Patrol
from gis_service.ledger.jurisdiction import layer_frame
from gis_service.settings import Settings

RECENT_DAYS = 30
NO_TOWN = "（镇街外）"
COVERAGE_GOOD = 0.8  # a patrol walking four fifths of the reach counts as a full one (green on maps and charts)


def town_of(lines: list[Any], towns: gpd.GeoDataFrame) -> list[str]:
    """Return, for each lon/lat line, the town holding the largest share of its length."""
    if not lines:
        return []
    out = []
    for line in lines:
        shares = np.array([line.intersection(t).length for t in towns.geometry]) if len(towns) else np.zeros(0)
        out.append(str(towns["name"].iloc[int(shares.argmax())]) if len(shares) and shares.max() > 0 else NO_TOWN)
    return out


def reach_towns(session: Session, today: dt.date, towns: gpd.GeoDataFrame) -> dict[int, str]:
    """Return the town of each reach in force on ``today`` (by assignment id) among ``towns`` (name, geometry)."""
    held = assignments_on(session, today)
    return dict(zip((a.id for a, _ in held), town_of([to_shape(a.geom) for a, _ in held], towns), strict=True))


def patrol_towns(session: Session, towns: gpd.GeoDataFrame, patrol_ids: list[int]) -> dict[int, str]:
    """Return the town of each of the patrols ``patrol_ids`` (the town its track runs through longest)."""
    if not patrol_ids:
        return {}
    rows = session.execute(select(Patrol.id, Patrol.geom).where(Patrol.id.in_(patrol_ids))).all()
    return dict(zip((int(i) for i, _ in rows), town_of([to_shape(g) for _, g in rows], towns), strict=True))


def patrol_stats(session: Session, settings: Settings, today: dt.date) -> dict[str, Any]:
    """Return per town: reaches in force, overdue reaches, patrols in the last 30 days and their mean coverage."""
    towns = layer_frame(session, catalogue_for(settings)["towns"], ["name"])
    reach_town = reach_towns(session, today, towns)
    since = today - dt.timedelta(days=RECENT_DAYS - 1)
    recent = session.execute(select(Patrol).where(Patrol.patrol_date >= since, Patrol.patrol_date <= today)).scalars()
    patrols = list(recent)
    patrol_town = town_of([to_shape(p.geom) for p in patrols], towns)
    rows: dict[str, dict[str, Any]] = {}

    def row(town: str) -> dict[str, Any]:
        return rows.setdefault(town, {"town": town, "reaches": 0, "overdue": 0, "patrols": 0, "coverage": []})

    for town in reach_town.values():
        row(town)["reaches"] += 1
    for late in overdue_reaches(session, today, PatrolRules.of(settings)):
        row(reach_town.get(late["assignment_id"], NO_TOWN))["overdue"] += 1
    for patrol, town in zip(patrols, patrol_town, strict=True):
        row(town)["patrols"] += 1
        row(town)["coverage"].append(patrol.coverage)
    by_town = []
    for town in sorted(rows):
        r = rows[town]
        shares = r.pop("coverage")
        r["mean_coverage"] = round(float(np.mean(shares)), 4) if shares else None
        by_town.append(r)
    return {
        "date": today.isoformat(),
        "since": since.isoformat(),
        "by_town": by_town,
        "total": {
            "reaches": sum(r["reaches"] for r in by_town),
            "overdue": sum(r["overdue"] for r in by_town),
            "patrols": sum(r["patrols"] for r in by_town),
        },
    }
