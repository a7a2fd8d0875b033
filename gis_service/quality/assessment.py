"""Section classes and target compliance over a period (a month or a year), per the assessment setting.

``annual_mean``: the period's class is the class of each indicator's mean over the period's
samples, compliant when it meets the section's target. ``monthly``: each month is classed
from that month's means; the period is compliant when every month with samples meets the
target, and the share of compliant months is given. For a one-month period both agree.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis_service.db.models_quality import Sample, Section
from gis_service.errors import BadRequest, ConfigurationError
from gis_service.ledger.common import as_date
from gis_service.quality.standard import GOOD, meets, sample_class

METHODS = ("annual_mean", "monthly")
# Sections whose results the seed's "all 优良" figure counts: national and municipal assessment sections.
ASSESSED_LEVELS = ("national", "municipal")


@dataclass(frozen=True)
class Period:
    """A calendar month or year: its label and first and last days."""

    label: str
    start: dt.date
    end: dt.date


def parse_period(text: str) -> Period:
    """Return the period ``YYYY``, ``YYYY-Qn`` or ``YYYY-MM``, or refuse naming the form."""
    text = text.strip()
    quarter = re.fullmatch(r"(\d{4})-?[Qq]([1-4])", text)
    if quarter:
        year, q = int(quarter.group(1)), int(quarter.group(2))
        last = calendar.monthrange(year, 3 * q)[1]
        return Period(f"{year}-Q{q}", dt.date(year, 3 * q - 2, 1), dt.date(year, 3 * q, last))
    match = re.fullmatch(r"(\d{4})(?:-(\d{1,2}))?", text)
    if not match or not (1 <= int(match.group(2) or 1) <= 12):
        raise BadRequest(
            f"期间 {text!r} 无效；请写成 2024（全年）、2024-Q2（季度）或 2024-06（月份）。", code="bad_period"
        )
    year = int(match.group(1))
    if match.group(2):
        month = int(match.group(2))
        last = calendar.monthrange(year, month)[1]
        return Period(f"{year}-{month:02d}", dt.date(year, month, 1), dt.date(year, month, last))
    return Period(str(year), dt.date(year, 1, 1), dt.date(year, 12, 31))


def check_method(method: str) -> str:
    """Return the assessment method if known (a setting), else say which are."""
    if method not in METHODS:
        raise ConfigurationError(
            f"RIVERGIS_QUALITY_ASSESSMENT={method!r} 无效；可选：{'、'.join(METHODS)}。", code="bad_quality_assessment"
        )
    return method


def latest_period(session: Session) -> Period | None:
    """Return the year of the newest sample (None when there are no samples)."""
    newest = as_date(session.scalar(select(func.max(Sample.sampled_on))))
    return parse_period(str(newest.year)) if newest else None


def mean_values(samples: list[dict[str, Any]]) -> dict[str, float]:
    """Return each indicator's mean over the samples that measured it."""
    sums: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        for key, value in sample["values"].items():
            if value is not None:
                sums[key].append(float(value))
    return {key: sum(v) / len(v) for key, v in sums.items()}


def section_result(section: dict[str, Any], samples: list[dict[str, Any]], method: str) -> dict[str, Any]:
    """Return a section's class, deciding indicators and compliance over its samples of the period."""
    lake = section["waterbody"] == "lake"
    cls, deciding = sample_class(mean_values(samples), lake=lake) if samples else (None, [])
    out: dict[str, Any] = {
        "code": section["code"],
        "name": section["name"],
        "level": section["level"],
        "river_code": section["river_code"],
        "target": section["target"],
        "samples": len(samples),
        "class": cls,
        "deciding": deciding,
        "good": cls in GOOD if cls else None,
        "compliant": meets(cls, section["target"]) if cls else None,
    }
    if method == "monthly" and samples:
        months: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in samples:
            months[s["date"][:7]].append(s)
        monthly = {m: sample_class(mean_values(v), lake=lake)[0] for m, v in sorted(months.items())}
        verdicts = [meets(c, section["target"]) for c in monthly.values() if c]
        out["months"] = monthly
        if section["target"] and verdicts:
            out["compliant"] = all(verdicts)
            out["compliance_rate"] = round(sum(bool(v) for v in verdicts) / len(verdicts), 4)
    return out


def sections_of(session: Session) -> list[dict[str, Any]]:
    """Return every section as a plain dict (code order)."""
    cols = (Section.code, Section.name, Section.level, Section.river_code, Section.target, Section.waterbody)
    names = ("code", "name", "level", "river_code", "target", "waterbody")
    return [dict(zip(names, row, strict=True)) for row in session.execute(select(*cols).order_by(Section.code))]


def samples_in(session: Session, period: Period, codes: list[str] | None = None) -> list[dict[str, Any]]:
    """Return the samples of the period (section and date order) with their class."""
    query = select(Sample.section_code, Sample.sampled_on, Sample.quality_class, Sample.deciding, Sample.values).where(
        Sample.sampled_on >= period.start, Sample.sampled_on <= period.end
    )
    if codes is not None:
        query = query.where(Sample.section_code.in_(codes))
    rows = session.execute(query.order_by(Sample.section_code, Sample.sampled_on))
    return [
        {
            "section_code": code,
            "date": as_date(day).isoformat(),  # type: ignore[union-attr]
            "class": cls,
            "deciding": list(deciding or []),
            "values": values or {},
        }
        for code, day, cls, deciding, values in rows
    ]


def quality_report(session: Session, period: Period | None, method: str) -> dict[str, Any]:
    """Return the samples and section results of a period (default: the newest sample's year) with a summary."""
    check_method(method)
    period = period or latest_period(session)
    sections = sections_of(session)
    if period is None:
        return {"period": None, "method": method, "samples": [], "sections": [], "summary": summary([])}
    samples = samples_in(session, period)
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        per[s["section_code"]].append(s)
    results = [section_result(sec, per.get(sec["code"], []), method) for sec in sections]
    return {
        "period": period.label,
        "method": method,
        "samples": [{k: s[k] for k in ("section_code", "date", "class", "deciding")} for s in samples],
        "sections": results,
        "summary": summary(results),
    }


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the counts of the dashboard: sections classed, 优良, compliant, and the assessed sections' 优良."""
    classed = [r for r in results if r["class"]]
    judged = [r for r in classed if r["compliant"] is not None]
    # A national or municipal section without a result in the period cannot be called 优良.
    assessed = [r for r in results if r["level"] in ASSESSED_LEVELS]
    return {
        "sections": len(results),
        "classed": len(classed),
        "good": sum(bool(r["good"]) for r in classed),
        "good_rate": round(sum(bool(r["good"]) for r in classed) / len(classed), 4) if classed else None,
        "compliant": sum(bool(r["compliant"]) for r in judged),
        "compliance_rate": round(sum(bool(r["compliant"]) for r in judged) / len(judged), 4) if judged else None,
        "assessed_sections": len(assessed),
        "assessed_good": sum(bool(r["good"]) for r in assessed),
        "assessed_all_good": bool(assessed) and all(r["good"] is True for r in assessed),
    }
