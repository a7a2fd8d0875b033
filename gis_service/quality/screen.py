"""The dispatch room's large screen (大屏): every live figure in one answer, from the existing engines.

Sections and the 3 assessed sections' 优良 (``quality.assessment``), sources against 100% / 93%
and what lies inside their protection zones (``quality.zones``), the ledger this month by town
(the bulletin's ledger table: new, closed, overdue), shoreline ratio compliance
(``store.ratios``), 一河一策 progress (``quality.tasks``) and patrol coverage with overdue
reaches (``chiefs.stats``). The page fetches it again every
``RIVERGIS_SCREEN_REFRESH_S`` seconds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gis_service.analysis.shoreline.ratios import RatioRules
from gis_service.catalogue import Catalogue, LayerSpec, catalogue_for
from gis_service.chiefs.stats import patrol_stats
from gis_service.clock import BusinessClock
from gis_service.ledger.stats import statistics
from gis_service.quality.assessment import latest_period, parse_period, quality_report
from gis_service.quality.bulletin import ledger_table
from gis_service.quality.standard import CLASS_COLORS, CLASS_LABELS
from gis_service.quality.tasks import list_tasks
from gis_service.quality.zones import source_compliance, zone_checks
from gis_service.settings import Settings
from gis_service.store.ratios import current_report, ratio_rules

LEVEL_LABELS = {"national": "国控", "municipal": "市控", "district": "区控"}
NO_DATA_COLOR = "#999999"


def _sections(session: Session, method: str) -> dict[str, Any]:
    """Return the newest period's sections (class, colour, target, verdict) and the summary."""
    report = quality_report(session, latest_period(session), method)
    rows = [
        {
            "code": r["code"],
            "name": r["name"],
            "level": LEVEL_LABELS.get(r["level"], r["level"] or ""),  # unset: "" (the screen shows it blank)
            "class": r["class"],
            "class_label": CLASS_LABELS.get(r["class"] or "", "无数据"),
            "color": CLASS_COLORS.get(r["class"] or "", NO_DATA_COLOR),
            "target": CLASS_LABELS.get(r["target"] or "", ""),
            "compliant": r["compliant"],
        }
        for r in report["sections"]
    ]
    by_class = {label: 0 for label in CLASS_LABELS.values()}
    for r in rows:
        if r["class"]:
            by_class[r["class_label"]] += 1
    return {"period": report["period"], "summary": report["summary"], "rows": rows, "by_class": by_class}


def _ledger(session: Session, problems: LayerSpec, clock: BusinessClock) -> dict[str, Any]:
    """Return this month's new and closed items and today's overdue ones, by town and in total."""
    month = parse_period(clock.today().strftime("%Y-%m"))
    table = ledger_table(session, problems, month, None, clock, "town")
    by_town = [{"town": r[0], "new": r[1], "closed": r[2], "overdue": r[3]} for r in table.rows[:-1]]
    total = table.rows[-1]
    stats = statistics(session, problems=problems, clock=clock)
    return {
        "month": month.label,
        "new": total[1],
        "closed": total[2],
        "overdue": total[3],
        "open": stats["total"] - stats["by_status"].get("closed", 0) - stats["by_status"].get("dismissed", 0),
        "total": stats["total"],
        "closure_rate": stats["closure_rate"],
        "by_town": by_town,
    }


def _ratios(session: Session, catalogue: Catalogue, rules: RatioRules) -> dict[str, Any]:
    """Return the district's protected+reserved share and how many rivers comply."""
    body = current_report(session, catalogue, rules).to_json()
    rivers = body["rivers"]
    return {
        "ratio": body["total"].get("ratio"),
        "threshold": rules.threshold,
        "rivers": len(rivers),
        "compliant": sum(bool(r["compliant"]) for r in rivers),
        "by_river": [{"name": r["name"], "ratio": r["ratio"], "compliant": bool(r["compliant"])} for r in rivers],
    }


def _tasks(session: Session, clock: BusinessClock) -> dict[str, Any]:
    """Return this year's 一河一策 tasks: total, done, overdue, behind and the mean progress."""
    year = clock.today().year
    tasks = list_tasks(session, clock, year=year)
    mean = round(sum(t["progress"] for t in tasks) / len(tasks), 1) if tasks else None
    return {
        "year": year,
        "total": len(tasks),
        "done": sum(t["done"] for t in tasks),
        "overdue": sum(t["overdue"] for t in tasks),
        "behind": sum(t["behind"] for t in tasks),
        "mean_progress": mean,
    }


def screen_figures(session: Session, settings: Settings, *, clock: BusinessClock) -> dict[str, Any]:
    """Return every figure of the large screen as of ``clock``'s now (its layers, checks and method: ``settings``')."""
    catalogue, method, rules = catalogue_for(settings), settings.quality_assessment, ratio_rules(settings)
    period = latest_period(session)
    sources = source_compliance(session, catalogue, period)["by_type"] if period else {}
    patrols = patrol_stats(session, settings, clock.today())
    checks = zone_checks(session, catalogue)
    return {
        "as_of": clock.now().astimezone(clock.zone).isoformat(timespec="seconds"),  # the office's local time
        "refresh_s": settings.screen_refresh_s,
        "sections": _sections(session, method),
        "sources": sources,
        "zone_checks": {"count": checks["count"], "by_severity": checks["by_severity"]},
        "ledger": _ledger(session, catalogue["problems"], clock),
        "ratios": _ratios(session, catalogue, rules),
        "tasks": _tasks(session, clock),
        "patrols": {
            "since": patrols["since"],
            "by_town": patrols["by_town"],
            "total": patrols["total"],
        },
    }
