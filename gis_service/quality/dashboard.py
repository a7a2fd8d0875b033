"""The live figures of issue 18 for the dashboard (大屏) and the map: sections by class, sources, zone checks, tasks.

The seed's targets appear as figures: all national and municipal sections 优良, urban sources
100% and township sources ≥ 93% compliant, the 一河一策 tasks on time.
"""

from __future__ import annotations

from typing import Any

import shapely
from sqlalchemy.orm import Session

from gis_service.catalogue import Catalogue
from gis_service.clock import BusinessClock
from gis_service.ledger.common import plain
from gis_service.quality.assessment import Period, quality_report
from gis_service.quality.health import health_records
from gis_service.quality.standard import CLASS_COLORS, CLASS_LABELS
from gis_service.quality.tasks import list_tasks
from gis_service.quality.zones import source_compliance, zone_checks
from gis_service.store.current import CurrentFeatures

NO_DATA_COLOR = "#999999"


def sections_geojson(session: Session, catalogue: Catalogue, period: Period | None, method: str) -> dict[str, Any]:
    """Return the sections as GeoJSON points with their class, target, compliance and the class colour."""
    results = {r["code"]: r for r in quality_report(session, period, method)["sections"]}
    frame = CurrentFeatures(catalogue["sections"]).frame(session)
    features = []
    for row in frame.itertuples():
        r = results.get(str(row.code), {})
        cls = r.get("class")
        x, y = shapely.get_coordinates(row.geometry)[0]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(x), float(y)]},
                "properties": {
                    "code": row.code,
                    "name": row.name,
                    # A missing value is the frame's NaN, which JSON (the page, the API) must carry as null.
                    "level": plain(row.level),
                    "river_code": plain(row.river_code),
                    "target": plain(row.target),
                    "class": cls,
                    "class_label": CLASS_LABELS.get(cls or "", "无监测数据"),
                    "deciding": r.get("deciding", []),
                    "compliant": r.get("compliant"),
                    "color": CLASS_COLORS.get(cls or "", NO_DATA_COLOR),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def dashboard(
    session: Session, catalogue: Catalogue, period: Period | None, method: str, clock: BusinessClock
) -> dict[str, Any]:
    """Return the dashboard's figures for ``period`` (default: the newest sample's year)."""
    quality = quality_report(session, period, method)
    year = int(str(quality["period"])[:4]) if quality["period"] else clock.today().year
    tasks = list_tasks(session, clock, year=year)
    checks = zone_checks(session, catalogue)
    sources = source_compliance(session, catalogue, period) if period else None
    latest: dict[str, dict[str, Any]] = {}
    for record in health_records(session, year=year):
        latest.setdefault(record["river_code"], {"score": record["score"], "grade": record["grade"]})
    return {
        "as_of": clock.today().isoformat(),
        "period": quality["period"],
        "sections": quality["summary"],
        "sources": sources["by_type"] if sources else None,
        "zone_checks": {"count": checks["count"], "by_severity": checks["by_severity"]},
        "tasks": {
            "year": year,
            "total": len(tasks),
            "done": sum(t["done"] for t in tasks),
            "overdue": sum(t["overdue"] for t in tasks),
            "behind": sum(t["behind"] for t in tasks),
        },
        "health": latest,
    }
