"""The problem ledger: sites, pages, overdue lists, statistics and ledger steps."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gis_service.api.schemas.base import Day, Geometry, Link, Moment, Open


class Problem(Open):
    """A problem site with its derived jurisdiction, overdue flag and allowed actions (and the layer's extra fields)."""

    id: int
    code: str | None
    category: str | None
    description: str | None
    river_code: str | None
    town: str | None
    inside_range: bool | None
    zone_type: str | None
    found_date: Day | None
    source: str | None
    status: str
    deadline: Day | None
    responsible_unit: str | None
    measures: str | None
    closed_date: Day | None
    rectified_date: Day | None
    lock_version: int
    created_at: Moment | None
    updated_at: Moment | None
    extra: dict[str, Any] | None = None
    status_label: str
    overdue: bool
    allowed_actions: list[str]
    lon: float | None
    lat: float | None
    geometry: Geometry | None


class ProblemPage(BaseModel):
    """A page of problems (a ``next`` link when more follow)."""

    items: list[Problem]
    numberReturned: int
    offset: int
    links: list[Link]


class OverdueProblems(BaseModel):
    """The overdue problems (a page) with counts per town, river and responsible unit."""

    as_of: str
    count: int
    items: list[Problem]
    offset: int
    truncated: bool
    by_town: dict[str, int]
    by_river: dict[str, int]
    by_unit: dict[str, int]
    numberReturned: int
    links: list[Link]


class Counts(Open):
    """Counts by status and category, overdue count, closure and on-time rates."""

    total: int
    by_status: dict[str, int]
    by_category: dict[str, int]
    overdue: int
    closure_rate: float | None
    on_time_rate: float | None


class GroupCounts(Counts):
    """The counts of one town, river or responsible unit."""

    key: str | None


class ProblemStats(Counts):
    """The counts overall, and per group when ``by`` is given."""

    as_of: str
    by: str | None = None
    groups: list[GroupCounts] | None = None


class Attachment(Open):
    """An evidence photo of a ledger step (its EXIF position and time when it had them)."""

    id: int
    event_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    lon: float | None
    lat: float | None
    taken_at: Moment | None


class ProblemEvent(Open):
    """One step of a problem's ledger: who, when, what, and the evidence."""

    id: int
    action: str
    action_label: str
    from_status: str | None
    to_status: str | None
    actor: str | None
    at: Moment | None
    note: str | None
    data: dict[str, Any] | None
    attachments: list[Attachment]


class ProblemHistory(BaseModel):
    """Every step of a problem's ledger."""

    problem_id: int
    events: list[ProblemEvent]


class TransitionResult(BaseModel):
    """The step just taken and the problem after it."""

    event: ProblemEvent
    problem: Problem


class Attachments(BaseModel):
    """The photos just attached."""

    attachments: list[Attachment]
