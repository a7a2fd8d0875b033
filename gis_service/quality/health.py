"""River health assessment (河流健康评价): configured indicators, weights and bands; a record per river and year.

Each indicator is scored 0–100 by its bands and weighted; the score is the weighted mean over
the indicators that have a value (the weights of missing ones are left out and named in the
record). Grades follow SL/T 793-2020: ≥ 90 非常健康, ≥ 75 健康, ≥ 60 亚健康, ≥ 40 不健康, else 劣态.
The record keeps every input with its source and the configuration used, so a score can be traced.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyproj
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec, catalogue_for
from gis_service.clock import BusinessClock
from gis_service.db.models import Outfall
from gis_service.db.models_chiefs import Patrol
from gis_service.db.models_quality import HealthAssessment, Section
from gis_service.errors import BadRequest, NotFound
from gis_service.ledger.common import as_utc
from gis_service.ledger.filters import ProblemFilter
from gis_service.ledger.stats import statistics
from gis_service.quality.assessment import parse_period, quality_report
from gis_service.quality.standard import worse
from gis_service.settings import Settings
from gis_service.store.current import CurrentFeatures
from gis_service.store.ratios import current_report, ratio_rules

# Bands: (lower bound, score) from the best down, for "higher is better" indicators; "lower" ones
# give (upper bound, score). The class indicator maps each class to a score.
CONFIG: dict[str, dict[str, Any]] = {
    "water_quality": {
        "label": "水质类别",
        "weight": 0.30,
        "source": "断面年均值（GB 3838）",
        "classes": {"I": 100, "II": 90, "III": 75, "IV": 50, "V": 30, "劣V": 0},
    },
    "shoreline_ratio": {
        "label": "岸线保护比例",
        "weight": 0.20,
        "source": "岸线保护比例核算",
        "higher": [[0.5, 100], [0.4, 80], [0.3, 60], [0.2, 40], [0.0, 20]],
    },
    "outfalls_per_km": {
        "label": "入河排污口密度（个/km）",
        "weight": 0.15,
        "source": "排污口名录（在用）",
        "lower": [[0.0, 100], [0.1, 80], [0.3, 60], [0.5, 40], [1e9, 20]],
    },
    "closure_rate": {
        "label": "清四乱销号率",
        "weight": 0.15,
        "source": "问题台账",
        "higher": [[0.9, 100], [0.8, 80], [0.6, 60], [0.4, 40], [0.0, 20]],
    },
    "ecological_flow": {
        "label": "生态流量满足程度（%）",
        "weight": 0.10,
        "source": "人工填报",
        "manual": True,
        "higher": [[90, 100], [70, 80], [50, 60], [30, 40], [0, 20]],
    },
    "patrol_coverage": {
        "label": "巡河覆盖率（%）",
        "weight": 0.10,
        "source": "巡河记录（年内巡河轨迹对责任河段的平均覆盖率）",
        "manual": True,  # the office may enter it where patrols were kept outside the system
        "higher": [[90, 100], [70, 80], [50, 60], [30, 40], [0, 20]],
    },
}
GRADES = ((90, "非常健康"), (75, "健康"), (60, "亚健康"), (40, "不健康"), (0, "劣态"))
GEOD = pyproj.Geod(ellps="GRS80")


def band_score(spec: dict[str, Any], value: Any) -> float:
    """Return an indicator value's score by its configured bands."""
    if "classes" in spec:
        return float(spec["classes"][value])
    if "higher" in spec:
        return float(next((s for bound, s in spec["higher"] if value >= bound), 0))
    return float(next((s for bound, s in spec["lower"] if value <= bound), 0))


def grade(score: float) -> str:
    """Return the health grade of a score."""
    return next(label for bound, label in GRADES if score >= bound)


def _river_length_km(session: Session, rivers: LayerSpec, code: str) -> float:
    """Return a river's centerline length in km on the ellipsoid."""
    frame = CurrentFeatures(rivers, where={"code": code}).frame(session)
    return sum(GEOD.geometry_length(g) for g in frame.geometry) / 1000


def measured(session: Session, code: str, year: int, clock: BusinessClock, settings: Settings) -> dict[str, Any]:
    """Return the indicators the system already holds for a river and year (None where it has no data).

    The shoreline ratio is the ratio check's, patrol coverage the mean of the year's patrols on the river.
    """
    period = parse_period(str(year))
    sections = set(session.scalars(select(Section.code).where(Section.river_code == code)))
    classes = [
        r["class"]
        for r in quality_report(session, period, settings.quality_assessment)["sections"]
        if r["code"] in sections and r["class"]
    ]
    water = None
    for cls in classes:
        water = worse(water or "I", cls)
    ratio = None
    report = current_report(session, catalogue_for(settings), ratio_rules(settings), river=code)
    rows = report.rivers_json()
    if rows and rows[0]["ratio"] is not None:
        ratio = rows[0]["ratio"]
    catalogue = catalogue_for(settings)
    length = _river_length_km(session, catalogue["rivers"], code)
    active = len(
        session.scalars(select(Outfall.id).where(Outfall.river_code == code, Outfall.status != "closed")).all()
    )
    stats = statistics(session, problems=catalogue["problems"], flt=ProblemFilter(river_code=code), clock=clock)
    closure = stats["closure_rate"]
    if stats["total"] == 0:
        closure = 1.0  # no problem site on the river: nothing left to close
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    mean_coverage = session.scalar(
        select(func.avg(Patrol.coverage)).where(
            Patrol.river_code == code, Patrol.patrol_date >= start, Patrol.patrol_date <= end
        )
    )
    return {
        "patrol_coverage": None if mean_coverage is None else round(float(mean_coverage) * 100, 1),
        "water_quality": water,
        "shoreline_ratio": ratio,
        "outfalls_per_km": round(active / length, 4) if length > 0 else None,
        "closure_rate": closure,
    }


def assess(
    session: Session,
    code: str,
    year: int,
    manual: dict[str, float],
    clock: BusinessClock,
    actor: str,
    settings: Settings,
) -> dict[str, Any]:
    """Score a river for a year from the system's data plus ``manual`` indicators; keep and return the record."""
    if not CurrentFeatures(catalogue_for(settings)["rivers"], where={"code": code}, limit=1).values(session, "id"):
        raise NotFound(f"没有河流编码为 {code} 的河流。", code="river_not_found")
    wrong = [k for k in manual if k not in CONFIG or not CONFIG[k].get("manual")]
    if wrong:
        allowed = "、".join(k for k, v in CONFIG.items() if v.get("manual"))
        raise BadRequest(f"人工指标 {'、'.join(wrong)} 无效；可填：{allowed}", code="bad_indicator")
    values = {**measured(session, code, year, clock, settings), **manual}
    inputs, total, weights, missing = {}, 0.0, 0.0, []
    for key, spec in CONFIG.items():
        value = values.get(key)
        if value is None:
            missing.append(key)
            inputs[key] = {"label": spec["label"], "value": None, "score": None, "weight": spec["weight"]}
            continue
        score = band_score(spec, value)
        inputs[key] = {
            "label": spec["label"],
            "value": value,
            "score": score,
            "weight": spec["weight"],
            "source": "人工填报" if key in manual else spec["source"],
        }
        total += spec["weight"] * score
        weights += spec["weight"]
    score_value = round(total / weights, 1) if weights else None
    record = HealthAssessment(
        river_code=code,
        year=year,
        score=score_value,
        grade=grade(score_value) if score_value is not None else None,
        inputs={"indicators": inputs, "missing": missing},
        config=CONFIG,
        actor=actor,
    )
    session.add(record)
    session.flush()
    return health_dict(record)


def health_dict(record: HealthAssessment) -> dict[str, Any]:
    """Return a health record as JSON."""
    at = as_utc(record.computed_at) or dt.datetime.now(dt.UTC)
    return {
        "id": record.id,
        "river_code": record.river_code,
        "year": record.year,
        "score": record.score,
        "grade": record.grade,
        "inputs": record.inputs,
        "computed_at": at.isoformat(),
        "actor": record.actor,
    }


def health_records(session: Session, river: str | None = None, year: int | None = None) -> list[dict[str, Any]]:
    """Return the kept health records (newest first), of one river or year when given."""
    query = select(HealthAssessment).order_by(HealthAssessment.computed_at.desc(), HealthAssessment.id.desc())
    if river:
        query = query.where(HealthAssessment.river_code == river)
    if year:
        query = query.where(HealthAssessment.year == year)
    return [health_dict(r) for r in session.scalars(query)]
