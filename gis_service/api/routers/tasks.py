"""一河一策 tasks over HTTP: list (overdue), roll-ups, import, progress reports."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from gis_service.api.deps import Admin, CatalogueDep, ClockDep, SessionDep, SettingsDep, Surveyor, Viewer, app_catalogue
from gis_service.api.params import IdPath
from gis_service.api.routers.quality import uploaded_table
from gis_service.api.schemas import quality as shapes
from gis_service.ingest.archive import ArchiveLimits
from gis_service.quality.tasks import import_tasks, list_tasks, report_progress, rollup, task_history

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


@router.get("", response_model=shapes.Tasks, response_model_exclude_unset=True)
def tasks(
    session: SessionDep,
    _caller: Viewer,
    clock: ClockDep,
    overdue: Annotated[bool, Query(description="只列超期任务")] = False,
    river: str | None = None,
    year: Annotated[int | None, Query(ge=1900, le=2200, description="年度")] = None,
    unit: str | None = None,
) -> dict[str, Any]:
    """Return the tasks with progress, overdue and behind-schedule flags (``rivergis tasks list --json``)."""
    return {"tasks": list_tasks(session, clock, overdue=overdue, river=river, year=year, unit=unit)}


@router.get("/rollup", response_model=shapes.TaskRollup, response_model_exclude_unset=True)
def tasks_rollup(
    session: SessionDep,
    catalogue: CatalogueDep,
    _caller: Viewer,
    clock: ClockDep,
    by: Annotated[str, Query(description="river | unit | town")] = "river",
    year: Annotated[int | None, Query(ge=1900, le=2200, description="年度")] = None,
) -> dict[str, Any]:
    """Return task counts per river, responsible unit or town."""
    return rollup(session, catalogue, clock, by, year=year)


@router.post("/import", status_code=201, response_model=shapes.TasksImport, response_model_exclude_unset=True)
async def upload_tasks(request: Request, session: SessionDep, caller: Admin, settings: SettingsDep) -> dict[str, Any]:
    """Import a task list (河流编码, 年度, 任务, 措施, 责任单位, 时限, 目标值, 单位) from .xlsx or .csv."""
    async with uploaded_table(request) as path:
        result = import_tasks(session, app_catalogue(request.app), path, ArchiveLimits.of(settings))
    caller.audit(session, "tasks.import", "tasks", path.name, stored=result["stored"])
    return result


class ProgressInput(BaseModel):
    """A progress report: a percentage or a value (turned into a share of the target figure)."""

    reported_on: dt.date | None = Field(default=None, description="填报日期，默认今天")
    percent: float | None = Field(default=None, ge=0, le=100)
    value: float | None = Field(default=None, ge=0)
    note: str | None = Field(default=None, max_length=4000)
    evidence: list[str] = Field(default_factory=list, max_length=20, description="佐证材料（文件名或链接）")


@router.post(
    "/{task_id}/progress", status_code=201, response_model=shapes.ProgressReport, response_model_exclude_unset=True
)
def progress(
    session: SessionDep, caller: Surveyor, clock: ClockDep, task_id: IdPath, body: ProgressInput
) -> dict[str, Any]:
    """Record a task's progress report."""
    result = report_progress(
        session,
        task_id,
        reported_on=body.reported_on or clock.today(),
        percent=body.percent,
        value=body.value,
        note=body.note,
        evidence=body.evidence,
        actor=caller.name,
    )
    caller.audit(session, "task.progress", "task", task_id, percent=result["percent"])
    return result


@router.get("/{task_id}/progress", response_model=shapes.ProgressHistory, response_model_exclude_unset=True)
def progress_history(session: SessionDep, _caller: Viewer, task_id: IdPath) -> dict[str, Any]:
    """Return a task's progress reports, oldest first."""
    return {"task_id": task_id, "reports": task_history(session, task_id)}
