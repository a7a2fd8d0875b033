"""River chiefs, their reaches, signboards, patrols and public reports.

The records are open models: the chiefs work adds fields to them, and a client keeps every one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gis_service.api.schemas.base import Open
from gis_service.api.schemas.problems import Problem


class Assignment(Open):
    """A chief's term on a reach: who, which level, which stretch, from when to when."""

    id: int
    chief_id: int
    chief: str
    level: str
    river_code: str
    start_date: str | None = None
    end_date: str | None = None


class Assignments(BaseModel):
    """The chiefs in office on a date with their reaches."""

    date: str
    assignments: list[Assignment]


class RosterImport(Open):
    """The result of a roster import: what was read and stored."""


class Coverage(Open):
    """Whether every river is covered at every level on a date, with gaps and overlaps."""

    date: str
    rivers: list[dict[str, Any]]
    complete: bool


class ChiefEdited(Open):
    """A chief after a correction, and how many signboards now need updating."""

    id: int
    name: str
    signboards_outdated: int


class AssignmentEnded(Assignment):
    """A term just ended, and how many signboards now need updating."""

    signboards_outdated: int


class PatrolCalendar(Open):
    """A chief's patrol periods: whether each met the required patrols."""

    chief_id: int
    periods: list[dict[str, Any]]
    patrols: list[dict[str, Any]]


class Signboard(Open):
    """A signboard of a reach: its printed and expected text, and whether it is current."""

    id: int
    code: str
    river_code: str
    status: str


class Signboards(BaseModel):
    """The signboards."""

    signboards: list[Signboard]
    numberReturned: int


class SignboardsGenerated(Open):
    """The signboards generated or flagged by a generation run."""


class Patrol(Open):
    """A patrol: who, on which river, how long, how much of the reach, what was found."""

    id: int
    chief_id: int | None = None
    river_code: str | None = None
    patrol_date: str | None = None
    problems: list[Any]


class Patrols(BaseModel):
    """Patrols, newest first."""

    patrols: list[Patrol]
    numberReturned: int


class OverduePatrols(Open):
    """The reaches whose chief is due a patrol, with counts per level."""

    date: str
    overdue: list[dict[str, Any]]
    count: int
    by_level: dict[str, Any]


class PatrolStats(Open):
    """Patrol counts, overdue reaches and mean coverage per town."""

    date: str
    since: str | None = None
    by_town: list[dict[str, Any]]
    total: dict[str, Any]


class PatrolFinding(BaseModel):
    """A problem found on a patrol, and the patrol."""

    patrol: Patrol
    problem: Problem


class PublicReport(Open):
    """A report from the public, as the moderation queue or the reporter sees it."""


class PublicReports(BaseModel):
    """The moderation queue."""

    reports: list[PublicReport]
    numberReturned: int
