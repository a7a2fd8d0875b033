"""一河一策 task lists: import per river and year, progress reports, overdue and behind-schedule, roll-ups.

Overdue: past the deadline (in the business clock's today) and not at 100%. Behind schedule:
not yet due, but the reported progress trails the share of time gone between 1 January of
the task's year and its deadline by more than :data:`BEHIND_MARGIN` percentage points.
Roll-ups by town count a task under its own 镇街 when given, else under each town of its river.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gis_service.catalogue import Catalogue, fold
from gis_service.clock import BusinessClock
from gis_service.db.models_quality import RiverTask, TaskProgress
from gis_service.errors import BadRequest, NotFound
from gis_service.ingest.archive import ArchiveLimits
from gis_service.ledger.common import as_date
from gis_service.quality.sheets import cell, date_cell, find_columns, number_cell, read_sheet
from gis_service.store.current import CurrentFeatures, river_towns

WHAT = "一河一策任务表"
BEHIND_MARGIN = 10.0
UNKNOWN = "未判定"
COLUMNS = {
    "river_code": ("河流编码", "河流代码", "HLBM"),
    "year": ("年度", "年份", "年"),
    "task": ("任务", "任务内容", "任务名称"),
    "measure": ("措施", "主要措施", "工作措施"),
    "responsible_unit": ("责任单位", "责任部门"),
    "deadline": ("时限", "完成时限", "期限"),
    "target_value": ("目标值", "目标"),
    "unit": ("单位", "计量单位"),
    "lead_unit": ("牵头单位",),
    "town": ("镇街", "所在镇街"),
    "progress": ("进度", "完成进度", "进度(%)"),
    "link_layer": ("关联图层",),
    "link_code": ("关联编码", "关联要素编码"),
}
REQUIRED = {"river_code", "year", "task", "responsible_unit", "deadline"}
GROUPS = {"river": "river_code", "unit": "responsible_unit", "town": "town"}


def parse_tasks(catalogue: Catalogue, path: Path, limits: ArchiveLimits) -> list[dict[str, Any]]:
    """Read a task list into rows; refuse the file naming the first bad row."""
    table = read_sheet(path, WHAT, limits)
    columns = find_columns(table, COLUMNS, REQUIRED, WHAT)
    rows = []
    for i, record in enumerate(table.to_dict("records")):
        line = i + 2

        def text(field: str, rec: dict[Any, Any] = record) -> str | None:
            return cell(rec[columns[field]]) if field in columns else None

        missing = [COLUMNS[f][0] for f in ("river_code", "year", "task") if not text(f)]
        if missing:
            raise BadRequest(f"第 {line} 行缺少{'、'.join(missing)}；请补全后重试。", code="missing_value")
        year_text = re.sub(r"年$", "", text("year") or "")
        if not re.fullmatch(r"\d{4}(?:\.0)?", year_text):
            raise BadRequest(f"第 {line} 行的年度 {text('year')!r} 无效；请写成 2024。", code="bad_year")
        progress = number_cell(record[columns["progress"]], line, "进度") if "progress" in columns else None
        link_layer = link_layer_of(catalogue, text("link_layer"), line)
        rows.append(
            {
                "river_code": text("river_code"),
                "year": int(float(year_text)),
                "task": text("task"),
                "measure": text("measure"),
                "responsible_unit": text("responsible_unit"),
                "lead_unit": text("lead_unit"),
                "town": text("town"),
                "deadline": date_cell(record[columns["deadline"]], line, "时限"),
                "target_value": number_cell(record[columns["target_value"]], line, "目标值")
                if "target_value" in columns
                else None,
                "unit": text("unit"),
                "progress": max(0.0, min(100.0, progress)) if progress is not None else None,
                "link_layer": link_layer,
                "link_code": text("link_code") if link_layer else None,
            }
        )
    return rows


def link_layer_of(catalogue: Catalogue, value: str | None, line: int) -> str | None:
    """Return the catalogue layer a task links to (by name or Chinese label), or refuse naming the allowed ones."""
    if value is None:
        return None
    for layer in catalogue:
        if fold(value) in {fold(layer.name), fold(layer.label)}:
            name: str = layer.name
            return name
    allowed = "、".join(f"{layer.label}（{layer.name}）" for layer in catalogue)
    raise BadRequest(f"第 {line} 行的关联图层 {value!r} 无效；可填：{allowed}", code="bad_link_layer")


def import_tasks(session: Session, catalogue: Catalogue, path: Path, limits: ArchiveLimits) -> dict[str, Any]:
    """Store a task list: new (river, year, task) rows are added, known ones updated; rivers must exist.

    An .xlsx is unpacked within ``limits`` (the caller's settings).
    """
    rows = parse_tasks(catalogue, path, limits)
    codes = sorted({r["river_code"] for r in rows})
    rivers = CurrentFeatures(catalogue["rivers"], clause=lambda table, _backend: table.c.code.in_(codes))
    known = {code for (code,) in rivers.values(session, "code")}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise BadRequest(
            f"以下河流编码不在河流图层中：{'、'.join(unknown)}；请改正河流编码，或先导入河流。",
            code="unknown_river",
            details={"unknown": unknown},
        )
    existing = {
        (t.river_code, t.year, t.task): t
        for t in session.scalars(select(RiverTask).where(RiverTask.river_code.in_(codes)))
    }
    added = updated = 0
    for row in rows:
        task = existing.get((row["river_code"], row["year"], row["task"]))
        if task is None:
            session.add(RiverTask(**{**row, "progress": row["progress"] or 0.0}))
            added += 1
        else:
            # A list re-imported without a progress column keeps the progress reported since.
            for name, value in row.items():
                if name != "progress" or value is not None:
                    setattr(task, name, value)
            updated += 1
    session.flush()
    return {"stored": len(rows), "added": added, "updated": updated, "rivers": codes}


def expected_progress(year: int, deadline: dt.date | None, today: dt.date) -> float | None:
    """Return the share of the time from 1 January of ``year`` to the deadline gone by ``today``, in percent."""
    if deadline is None:
        return None
    start = dt.date(year, 1, 1)
    span = (deadline - start).days
    if span <= 0:
        return 100.0
    return round(max(0.0, min(1.0, (today - start).days / span)) * 100, 1)


def task_dict(task: RiverTask, today: dt.date) -> dict[str, Any]:
    """Return a task as JSON with its overdue and behind-schedule flags as of ``today``."""
    deadline = as_date(task.deadline)
    done = task.progress >= 100
    overdue = bool(deadline and deadline < today and not done)
    expected = expected_progress(task.year, deadline, today)
    behind = bool(not overdue and not done and expected is not None and task.progress + BEHIND_MARGIN < expected)
    return {
        "id": task.id,
        "river_code": task.river_code,
        "year": task.year,
        "task": task.task,
        "measure": task.measure,
        "responsible_unit": task.responsible_unit,
        "lead_unit": task.lead_unit,
        "town": task.town,
        "deadline": deadline.isoformat() if deadline else None,
        "target_value": task.target_value,
        "unit": task.unit,
        "link": {"layer": task.link_layer, "code": task.link_code} if task.link_layer else None,
        "progress": round(task.progress, 1),
        "expected_progress": expected,
        "done": done,
        "overdue": overdue,
        "behind": behind,
    }


def list_tasks(
    session: Session,
    clock: BusinessClock,
    *,
    overdue: bool = False,
    river: str | None = None,
    year: int | None = None,
    unit: str | None = None,
) -> list[dict[str, Any]]:
    """Return the tasks (river, year, deadline order), only the overdue ones with ``overdue``."""
    query = select(RiverTask).order_by(RiverTask.river_code, RiverTask.year, RiverTask.deadline, RiverTask.id)
    if river:
        query = query.where(RiverTask.river_code == river)
    if year:
        query = query.where(RiverTask.year == year)
    if unit:
        query = query.where(RiverTask.responsible_unit == unit)
    today = clock.today()
    items = [task_dict(t, today) for t in session.scalars(query)]
    return [t for t in items if t["overdue"]] if overdue else items


def report_progress(
    session: Session,
    task_id: int,
    *,
    reported_on: dt.date,
    percent: float | None = None,
    value: float | None = None,
    note: str | None = None,
    evidence: list[str] | None = None,
    actor: str,
) -> dict[str, Any]:
    """Record a progress report; a value is turned into a percentage of the task's target figure."""
    task = session.get(RiverTask, task_id)
    if task is None:
        raise NotFound(f"没有编号为 {task_id} 的任务；请用 `rivergis tasks list` 查看。", code="task_not_found")
    if percent is None and value is None:
        raise BadRequest("进度报告须填写完成百分比（percent）或完成值（value）。", code="progress_missing")
    if percent is None:
        if not task.target_value:
            raise BadRequest("该任务没有目标值，无法由完成值折算进度；请填写完成百分比。", code="no_target_value")
        percent = (value or 0.0) / task.target_value * 100
    if percent < 0:
        raise BadRequest(f"完成进度 {percent} 无效；不能为负数。", code="bad_percent")
    percent = min(100.0, percent)  # a value beyond the target figure is the task done
    latest = session.scalar(
        select(TaskProgress.reported_on)
        .where(TaskProgress.task_id == task_id)
        .order_by(TaskProgress.reported_on.desc())
        .limit(1)
    )
    report = TaskProgress(
        task_id=task_id,
        reported_on=reported_on,
        percent=percent,
        value=value,
        note=note,
        evidence=evidence or [],
        actor=actor,
    )
    session.add(report)
    # A late-filed older report is kept in the history but does not move the current progress back.
    if latest is None or reported_on >= as_date(latest):  # type: ignore[operator]
        task.progress = percent
        task.done_on = reported_on if percent >= 100 else None
    session.flush()
    return {"id": report.id, "task_id": task_id, "reported_on": reported_on.isoformat(), "percent": round(percent, 1)}


def task_history(session: Session, task_id: int) -> list[dict[str, Any]]:
    """Return a task's progress reports, oldest first."""
    query = (
        select(TaskProgress).where(TaskProgress.task_id == task_id).order_by(TaskProgress.reported_on, TaskProgress.id)
    )
    return [
        {
            "reported_on": as_date(p.reported_on).isoformat(),  # type: ignore[union-attr]
            "percent": p.percent,
            "value": p.value,
            "note": p.note,
            "evidence": p.evidence,
            "actor": p.actor,
        }
        for p in session.scalars(query)
    ]


def rollup(
    session: Session, catalogue: Catalogue, clock: BusinessClock, by: str, *, year: int | None = None
) -> dict[str, Any]:
    """Return task counts per river, responsible unit or town: all, done, overdue, behind, mean progress."""
    if by not in GROUPS:
        raise BadRequest(f"分组 {by!r} 无效；可选：{'、'.join(GROUPS)}", code="bad_group")
    tasks = list_tasks(session, clock, year=year)
    towns = river_towns(session, catalogue) if by == "town" else {}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in tasks:
        if by == "town":
            keys = [t["town"]] if t["town"] else towns.get(t["river_code"]) or [UNKNOWN]
        else:
            keys = [t[GROUPS[by]] or UNKNOWN]
        for key in keys:
            groups[key].append(t)
    rows = [
        {
            "key": key,
            "tasks": len(items),
            "done": sum(t["done"] for t in items),
            "overdue": sum(t["overdue"] for t in items),
            "behind": sum(t["behind"] for t in items),
            "mean_progress": round(sum(t["progress"] for t in items) / len(items), 1),
        }
        for key, items in sorted(groups.items())
    ]
    return {"as_of": clock.today().isoformat(), "by": by, "year": year, "groups": rows}
