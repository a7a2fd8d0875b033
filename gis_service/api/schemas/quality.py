"""Water quality, source zones, river health, 一河一策 tasks.

The records are open models: the quality work adds fields to them, and a client keeps every one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gis_service.api.schemas.base import Open


class QualityReport(Open):
    """The sections' classes for a period, the samples read and the summary."""

    period: Any
    method: str | None = None
    samples: list[Any]
    sections: list[Any]
    summary: dict[str, Any]


class SectionsMap(Open):
    """The monitoring sections as GeoJSON, each with its class."""

    type: str
    features: list[dict[str, Any]]


class QualityDashboard(Open):
    """Sections, sources, zone checks, tasks and river health at a glance."""

    as_of: str
    period: Any
    sections: dict[str, Any]
    sources: Any
    zone_checks: dict[str, Any]
    tasks: dict[str, Any]
    health: dict[str, Any]


class SamplesImport(Open):
    """The result of a samples upload: what was read and stored."""


class SourceCompliance(Open):
    """The drinking-water sources' compliance for a period."""


class ZoneChecks(Open):
    """What lies inside the source protection zones, by severity."""

    count: int
    by_severity: dict[str, int]
    flags: list[Any]


class HealthRecords(BaseModel):
    """River health assessments."""

    records: list[dict[str, Any]]


class HealthRecord(Open):
    """One river health assessment just recorded."""


class Tasks(BaseModel):
    """一河一策 tasks."""

    tasks: list[dict[str, Any]]


class TaskRollup(Open):
    """Tasks done, overdue and behind, per river, town or unit."""

    as_of: str
    by: str
    groups: list[Any]


class TasksImport(Open):
    """The result of a task table upload."""


class ProgressReport(Open):
    """A task's progress just reported."""


class ProgressHistory(BaseModel):
    """A task's progress reports."""

    task_id: int
    reports: list[dict[str, Any]]


class ScreenSections(Open):
    """The newest period's sections: each with its class and colour, the summary and counts per class."""

    period: str | None
    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    by_class: dict[str, int]


class ScreenLedger(Open):
    """This month's new and closed problem sites and today's overdue ones, in total and by town."""

    month: str
    new: int
    closed: int
    overdue: int
    open: int
    total: int
    closure_rate: float | None
    by_town: list[dict[str, Any]]


class ScreenRatios(Open):
    """The district's protected+reserved share and the rivers that comply."""

    ratio: float | None
    threshold: float
    rivers: int
    compliant: int
    by_river: list[dict[str, Any]]


class ScreenTasks(Open):
    """This year's 一河一策 tasks: total, done, overdue, behind and mean progress."""

    year: int
    total: int
    done: int
    overdue: int
    behind: int
    mean_progress: float | None


class ScreenPatrols(Open):
    """Patrols of the last 30 days by town: reaches, overdue reaches, patrols and mean coverage."""

    since: str
    by_town: list[dict[str, Any]]
    total: dict[str, int]


class ScreenFigures(BaseModel):
    """Every figure of the dispatch room's large screen (大屏), fetched again every ``refresh_s`` seconds."""

    as_of: str
    refresh_s: int
    sections: ScreenSections
    sources: dict[str, Any]
    zone_checks: dict[str, Any]
    ledger: ScreenLedger
    ratios: ScreenRatios
    tasks: ScreenTasks
    patrols: ScreenPatrols


class ScreenLayers(BaseModel):
    """The large screen's map layers that change with the data (display GeoJSON, popups escaped)."""

    reaches: dict[str, Any]
    sections: dict[str, Any]
    legend: list[dict[str, Any]]
