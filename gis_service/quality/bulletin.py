"""The figures of a periodic bulletin (定期通报), for the district or one town.

Ledger progress comes from :mod:`gis_service.ledger`: items found in the period (the ledger's
statistics filtered by found date), items closed in the period (by closing date), and overdue
items as of the period's last day (or today, while the period runs) by the ledger's own overdue
rule. Ratio compliance is the one ratio entry point's; section classes and task progress are
this package's; patrol coverage is the chiefs' (``chiefs.stats.patrol_stats``, the 30 days to the
as-of day). Every table is a list of rows so the Word file and the Excel annex show the same.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis_service.catalogue import Catalogue, LayerSpec, catalogue_for
from gis_service.chiefs.stats import RECENT_DAYS, patrol_stats
from gis_service.clock import BusinessClock
from gis_service.db.models import Problem
from gis_service.db.models_quality import Section
from gis_service.district import district_for
from gis_service.ledger.filters import ProblemFilter
from gis_service.ledger.stats import UNKNOWN, overdue, statistics
from gis_service.quality.assessment import Period, quality_report
from gis_service.quality.standard import CLASS_LABELS
from gis_service.quality.tasks import list_tasks, rollup
from gis_service.settings import Settings
from gis_service.store.current import river_towns
from gis_service.store.ratios import current_report, ratio_rules


@dataclass
class Table:
    """One table of the bulletin: a title, headers and rows."""

    title: str
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class Bulletin:
    """A bulletin's heading and tables."""

    title: str
    period: Period
    town: str | None
    as_of: dt.date
    summary: list[str]
    tables: list[Table]


def clock_at(day: dt.date, clock: BusinessClock) -> BusinessClock:
    """Return a clock stopped at noon of ``day`` in the office's zone (so its today() is ``day``)."""
    return BusinessClock(zone=clock.zone, source=lambda: dt.datetime.combine(day, dt.time(12), clock.zone))


def _closed_in(session: Session, period: Period, town: str | None, column: str) -> dict[str, int]:
    """Return how many items were closed (销号) in the period, per town or responsible unit."""
    key = Problem.__table__.c[column]
    query = select(key, func.count()).where(Problem.closed_date >= period.start, Problem.closed_date <= period.end)
    if town:
        query = query.where(Problem.town == town)
    return {(k or UNKNOWN): int(n) for k, n in session.execute(query.group_by(key))}


def ledger_table(
    session: Session, problems: LayerSpec, period: Period, town: str | None, as_of: BusinessClock, by: str
) -> Table:
    """Return new, closed and overdue items per town or unit (``by``), with a total row."""
    column = {"town": "town", "unit": "responsible_unit"}[by]
    found = statistics(
        session,
        problems=problems,
        by=by,
        flt=ProblemFilter(town=town, found_from=period.start, found_to=period.end),
        clock=as_of,
    )
    new = {(g["key"] or UNKNOWN): g["total"] for g in found["groups"]}
    closed = _closed_in(session, period, town, column)
    late = overdue(session, problems=problems, flt=ProblemFilter(town=town), clock=as_of, limit=1)[f"by_{by}"]
    keys = sorted(set(new) | set(closed) | set(late))
    label = {"town": "镇街", "unit": "责任单位"}[by]
    table = Table(f"问题台账进展（按{label}）", [label, "本期新增", "本期销号", "超期未整改"])
    for key in keys:
        table.rows.append([key, new.get(key, 0), closed.get(key, 0), late.get(key, 0)])
    table.rows.append(["合计", sum(new.values()), sum(closed.values()), sum(late.values())])
    return table


def ratio_table(session: Session, rivers: set[str] | None, settings: Settings) -> Table:
    """Return the shoreline protection ratio per river (the one ratio entry point)."""
    report = current_report(session, catalogue_for(settings), ratio_rules(settings))
    table = Table("岸线保护比例核算", ["河流编码", "河流名称", "保护区+保留区占比", "是否达标"])
    for r in report.rivers_json():
        if rivers is not None and r["code"] not in rivers:
            continue
        ratio = f"{r['ratio'] * 100:.1f}%" if r["ratio"] is not None else "—"
        table.rows.append([r["code"], r["name"], ratio, "达标" if r["compliant"] else "未达标"])
    return table


def section_table(
    session: Session, period: Period, rivers: set[str] | None, assessment: str
) -> tuple[Table, dict[str, Any]]:
    """Return each section's class against its target in the period, and the quality summary."""
    report = quality_report(session, period, assessment)
    table = Table("断面水质", ["断面编码", "断面名称", "水质目标", "水质类别", "定类指标", "是否达标"])
    for r in report["sections"]:
        if rivers is not None and r["river_code"] not in rivers:
            continue
        verdict = {True: "达标", False: "未达标", None: "—"}[r["compliant"]]
        table.rows.append(
            [
                r["code"],
                r["name"],
                CLASS_LABELS.get(r["target"] or "", "—"),
                CLASS_LABELS.get(r["class"] or "", "无监测数据"),
                "、".join(r["deciding"]),
                verdict,
            ]
        )
    return table, report["summary"]


def task_table(session: Session, catalogue: Catalogue, period: Period, town: str | None, as_of: BusinessClock) -> Table:
    """Return the 一河一策 task progress of the period's year per river (or the town's rows)."""
    table = Table("一河一策任务进展", ["河流编码", "任务数", "已完成", "超期", "滞后", "平均进度(%)"])
    if town:
        towns = river_towns(session, catalogue)
        tasks = [
            t
            for t in list_tasks(session, as_of, year=period.start.year)
            if t["town"] == town or (not t["town"] and town in towns.get(t["river_code"], []))
        ]
        per: dict[str, list[dict[str, Any]]] = {}
        for t in tasks:
            per.setdefault(t["river_code"], []).append(t)
        groups = [
            {
                "key": k,
                "tasks": len(v),
                "done": sum(t["done"] for t in v),
                "overdue": sum(t["overdue"] for t in v),
                "behind": sum(t["behind"] for t in v),
                "mean_progress": round(sum(t["progress"] for t in v) / len(v), 1),
            }
            for k, v in sorted(per.items())
        ]
    else:
        groups = rollup(session, catalogue, as_of, "river", year=period.start.year)["groups"]
    for g in groups:
        table.rows.append([g["key"], g["tasks"], g["done"], g["overdue"], g["behind"], g["mean_progress"]])
    return table


def patrol_table(session: Session, settings: Settings, town: str | None, as_of: dt.date) -> Table:
    """Return the patrol figures by town as of ``as_of`` (the chiefs' own statistics), with a total row."""
    stats = patrol_stats(session, settings, as_of)
    table = Table(
        "巡河覆盖（按镇街）",
        ["镇街", "责任河段", "超期未巡河段", f"近{RECENT_DAYS}日巡河次数", "平均覆盖率(%)"],
    )
    rows = [r for r in stats["by_town"] if town is None or r["town"] == town]
    for r in rows:
        coverage = "—" if r["mean_coverage"] is None else round(r["mean_coverage"] * 100, 1)
        table.rows.append([r["town"], r["reaches"], r["overdue"], r["patrols"], coverage])
    if rows:
        table.rows.append(["合计", *(sum(r[k] for r in rows) for k in ("reaches", "overdue", "patrols")), "—"])
    return table


def town_rivers(session: Session, catalogue: Catalogue, town: str | None) -> set[str] | None:
    """Return the rivers of a town (by the rivers' town lists, and the town's sections), None for the district."""
    if not town:
        return None
    return {code for code, towns in river_towns(session, catalogue).items() if town in towns}


def build_bulletin(
    session: Session, period: Period, town: str | None, clock: BusinessClock, settings: Settings
) -> Bulletin:
    """Gather a bulletin's figures for ``period`` (district, or ``town``)."""
    as_of_day = min(clock.today(), period.end)
    as_of = clock_at(as_of_day, clock)
    catalogue = catalogue_for(settings)
    rivers = town_rivers(session, catalogue, town)
    by_town = ledger_table(session, catalogue["problems"], period, town, as_of, "town")
    by_unit = ledger_table(session, catalogue["problems"], period, town, as_of, "unit")
    sections, quality = section_table(session, period, rivers, settings.quality_assessment)
    ratios = ratio_table(session, rivers, settings)
    tables = [by_town, by_unit, ratios, sections, task_table(session, catalogue, period, town, as_of)]
    tables.append(patrol_table(session, settings, town, as_of_day))
    total = by_town.rows[-1]
    lines = [
        f"本期新增问题 {total[1]} 个，销号 {total[2]} 个；截至 {as_of_day.isoformat()} 超期未整改 {total[3]} 个。",
    ]
    if quality["classed"]:
        lines.append(
            f"有监测数据的断面 {quality['classed']} 个，其中优良（Ⅰ–Ⅲ类）{quality['good']} 个，"
            f"达到水质目标 {quality['compliant']} 个。"
        )
    n_sections = session.scalar(select(func.count()).select_from(Section)) or 0
    if not n_sections:
        lines.append("尚未导入水质断面。")
    place = town or district_for(settings).name
    return Bulletin(f"{place}河长制工作通报（{period.label}）", period, town, as_of_day, lines, tables)
