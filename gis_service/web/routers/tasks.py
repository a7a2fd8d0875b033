"""一河一策 task pages (``/tasks``): each river's tasks of a year with progress, overdue and behind-schedule tags.

Surveyors report a task's progress (date, value or percentage, note) on the task's page; admins import the
task list from Excel. The rules (value → share of the target, late reports kept) are ``quality.tasks``'s.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from gis_service.access import Role
from gis_service.api.deps import CatalogueDep, ClockDep, SessionDep
from gis_service.clock import BusinessClock
from gis_service.errors import BadRequest, NotFound, ServiceError
from gis_service.quality.tasks import import_tasks, list_tasks, report_progress, task_history
from gis_service.web.deps import (
    PAGE,
    CsrfForm,
    PageAdmin,
    PageSurveyor,
    PageViewer,
    WebUser,
    commit_now,
)
from gis_service.web.file_upload import import_form_file
from gis_service.web.templating import render
from gis_service.web.uploads import text

router = APIRouter(dependencies=PAGE, include_in_schema=False)


def _year(raw: str) -> int | None:
    """Return the year filter (None: every year), refusing anything but four digits."""
    if not raw:
        return None
    if not (raw.isdigit() and len(raw) == 4):
        raise BadRequest(f"年度 {raw!r} 无效；请写四位年份，如 2024。", code="bad_year")
    return int(raw)


def _list_page(
    request: Request,
    session: Session,
    clock: BusinessClock,
    user: WebUser,
    *,
    error: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """Render the task list with its filters (river, year, unit, overdue) and, for admins, the import form."""
    q = request.query_params
    where = {k: (q.get(k) or "").strip() for k in ("river", "year", "unit")}
    overdue = q.get("overdue") == "1"
    tasks = list_tasks(
        session, clock, overdue=overdue, river=where["river"] or None, year=_year(where["year"]),
        unit=where["unit"] or None,
    )  # fmt: skip
    context = {
        "tasks": tasks,
        "where": where,
        "overdue": overdue,
        "counts": {
            "total": len(tasks),
            "overdue": sum(t["overdue"] for t in tasks),
            "behind": sum(t["behind"] for t in tasks),
            "done": sum(t["done"] for t in tasks),
        },
        "can_import": user.may(Role.ADMIN),
        "imported": q.get("imported"),
        "error": error,
    }
    return render(request, "tasks_list.html", user, context, status=status)


@router.get("/tasks")
def tasks_page(request: Request, session: SessionDep, clock: ClockDep, user: PageViewer) -> Response:
    """The tasks with progress bars and tags, filtered by river, year, responsible unit or overdue."""
    return _list_page(request, session, clock, user)


@router.post("/tasks/import")
async def import_page(
    request: Request, session: SessionDep, catalogue: CatalogueDep, clock: ClockDep, user: PageAdmin
) -> Response:
    """Admins: import a task list (河流编码, 年度, 任务, 措施, 责任单位, 时限, 目标值, 单位) from Excel."""
    try:
        result, name = await import_form_file(
            request, user, session, "一河一策任务表", lambda s, path, limits: import_tasks(s, catalogue, path, limits)
        )
    except ServiceError as exc:
        if exc.http_status >= 500:
            raise
        error = {"message": exc.message, "code": exc.code}
        return _list_page(request, session, clock, user, error=error, status=exc.http_status)
    user.caller.audit(session, "tasks.import", "tasks", name, stored=result["stored"])
    commit_now(session)
    return RedirectResponse(f"/tasks?imported={int(result['stored'])}", status_code=303)


def _task_page(
    request: Request,
    session: Session,
    clock: BusinessClock,
    user: WebUser,
    task_id: int,
    *,
    error: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """Render a task: its record, progress, tags, report history and (surveyors) the progress form."""
    found = [t for t in list_tasks(session, clock) if t["id"] == task_id]
    if not found:
        raise NotFound(f"没有编号为 {task_id} 的任务", code="task_not_found")
    context = {
        "t": found[0],
        "reports": list(reversed(task_history(session, task_id))),
        "can_report": user.may(Role.SURVEYOR),
        "today": clock.today().isoformat(),
        "values": values or {},
        "error": error,
        "done": request.query_params.get("reported") == "1",
    }
    return render(request, "task.html", user, context, status=status)


@router.get("/tasks/{task_id}")
def task_page(request: Request, session: SessionDep, clock: ClockDep, user: PageViewer, task_id: int) -> Response:
    """One task: progress, tags and its progress reports."""
    return _task_page(request, session, clock, user, task_id)


def _number(raw: str, label: str) -> float | None:
    """Return a typed number (None when empty), refusing what is not one."""
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise BadRequest(f"{label} {raw!r} 不是数字；请填写数字，如 40。", code="bad_number") from None


@router.post("/tasks/{task_id}/progress")
def progress(
    request: Request, session: SessionDep, clock: ClockDep, user: PageSurveyor, form: CsrfForm, task_id: int
) -> Response:
    """Surveyors: report a task's progress as a percentage or a value of the target figure, with a note."""
    values = {k: text(form, k) for k in ("reported_on", "percent", "value", "note")}
    try:
        try:
            day = dt.date.fromisoformat(values["reported_on"]) if values["reported_on"] else clock.today()
        except ValueError:
            raise BadRequest(f"填报日期 {values['reported_on']!r} 无效；请写成 2024-06-30。", code="bad_date") from None
        percent, value = _number(values["percent"], "完成百分比"), _number(values["value"], "完成值")
        if percent is not None and not 0 <= percent <= 100:
            raise BadRequest(f"完成百分比 {percent:g} 无效；应在 0 到 100 之间。", code="bad_percent")
        if value is not None and value < 0:
            raise BadRequest(f"完成值 {value:g} 无效；不能为负数。", code="bad_value")
        with session.begin_nested():
            result = report_progress(
                session, task_id, reported_on=day, percent=percent, value=value, note=values["note"] or None,
                actor=user.username,
            )  # fmt: skip
    except ServiceError as exc:
        if exc.http_status >= 500 or exc.http_status == 404:
            raise
        error = {"message": exc.message, "code": exc.code}
        return _task_page(request, session, clock, user, task_id, error=error, values=values, status=exc.http_status)
    user.caller.audit(session, "task.progress", "task", task_id, percent=result["percent"])
    commit_now(session)
    return RedirectResponse(f"/tasks/{task_id}?reported=1", status_code=303)
