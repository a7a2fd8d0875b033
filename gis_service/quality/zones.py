"""Drinking-water source protection zones: the sources' compliance from their samples, and what lies inside a zone.

A source (水源地) is the set of zones naming the same 水源地名称 (or one zone without it); its
samples are those of the monitoring section its zones name. A sample is compliant when its class
is III or better (GB 3838 Ⅲ类, the drinking-water source requirement). Per source type the rate
is compliant samples / samples (达标率 by sampling frequency), set against the seed's targets
(urban 100%, township ≥ 93%).

Checks: an active outfall inside a 一级 zone is a red flag; inside a 二级 zone it is as unlawful
(水污染防治法 forbids outfalls in both) and flagged orange; the 准保护区 and open problem sites
inside any zone are flagged yellow, a problem site in a 一级 zone orange.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import geopandas as gpd
from sqlalchemy.orm import Session

from gis_service.catalogue import Catalogue
from gis_service.ledger.states import NOT_OVERDUE
from gis_service.quality.assessment import Period, samples_in
from gis_service.quality.standard import meets
from gis_service.store.current import CurrentFeatures

DRINKING_CLASS = "III"
SOURCE_TARGETS = {"urban": 1.0, "township": 0.93}
TYPE_LABELS = {"urban": "城市", "township": "乡镇"}
LEVEL_LABELS = {"first": "一级保护区", "second": "二级保护区", "quasi": "准保护区"}
OUTFALL_SEVERITY = {"first": "red", "second": "orange", "quasi": "yellow"}
PROBLEM_SEVERITY = {"first": "orange", "second": "yellow", "quasi": "yellow"}
SEVERITY_ORDER = ("red", "orange", "yellow")


def _zones(session: Session, catalogue: Catalogue) -> gpd.GeoDataFrame:
    """Return the protection zones."""
    return CurrentFeatures(catalogue["source_zones"]).frame(session)


def source_compliance(session: Session, catalogue: Catalogue, period: Period) -> dict[str, Any]:
    """Return each source's samples and compliance in ``period``, and the rates per source type."""
    zones = _zones(session, catalogue)
    sources: dict[str, dict[str, Any]] = {}
    for z in zones.itertuples():
        key = z.source_name or z.name
        entry = sources.setdefault(key, {"name": key, "source_type": z.source_type, "section_code": None, "zones": []})
        entry["zones"].append(z.code)
        entry["section_code"] = entry["section_code"] or z.section_code
    codes = [s["section_code"] for s in sources.values() if s["section_code"]]
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in samples_in(session, period, codes):
        per[sample["section_code"]].append(sample)
    by_type: dict[str, dict[str, int]] = {
        t: {"sources": 0, "compliant_sources": 0, "samples": 0, "compliant_samples": 0} for t in SOURCE_TARGETS
    }
    rows = []
    for source in sorted(sources.values(), key=lambda s: s["name"]):
        samples = [s for s in per.get(source["section_code"] or "", []) if s["class"]]
        good = sum(bool(meets(s["class"], DRINKING_CLASS)) for s in samples)
        compliant = bool(samples) and good == len(samples)
        rows.append(
            {
                **source,
                "samples": len(samples),
                "compliant_samples": good,
                "rate": round(good / len(samples), 4) if samples else None,
                "compliant": compliant if samples else None,
            }
        )
        counts = by_type.setdefault(
            source["source_type"], {"sources": 0, "compliant_sources": 0, "samples": 0, "compliant_samples": 0}
        )
        counts["sources"] += 1
        counts["compliant_sources"] += int(compliant)
        counts["samples"] += len(samples)
        counts["compliant_samples"] += good
    types = {}
    for kind, c in by_type.items():
        rate = round(c["compliant_samples"] / c["samples"], 4) if c["samples"] else None
        target = SOURCE_TARGETS.get(kind)
        types[kind] = {
            "label": TYPE_LABELS.get(kind, kind),
            **c,
            "rate": rate,
            "target": target,
            "meets_target": None if rate is None or target is None else rate >= target,
        }
    return {"period": period.label, "sources": rows, "by_type": types}


def _inside(points: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return (feature, zone) pairs where the feature lies in or on the zone."""
    if points.empty or zones.empty:
        return gpd.GeoDataFrame()
    left = points[["code", "geometry", *(c for c in ("name", "description", "status") if c in points)]]
    right = zones[["code", "name", "level", "source_type", "geometry"]].rename(
        columns={"code": "zone_code", "name": "zone_name"}
    )
    return gpd.sjoin(left, right, how="inner", predicate="intersects")


def zone_checks(session: Session, catalogue: Catalogue) -> dict[str, Any]:
    """Flag active outfalls and open problem sites inside a protection zone, the gravest first."""
    zones = _zones(session, catalogue)
    outfalls = CurrentFeatures(catalogue["outfalls"]).frame(session)
    outfalls = outfalls[outfalls["status"] != "closed"] if not outfalls.empty else outfalls
    problems = CurrentFeatures(catalogue["problems"]).frame(session)
    finished = {s.value for s in NOT_OVERDUE}
    problems = problems[~problems["status"].isin(finished)] if not problems.empty else problems
    flags = []
    for layer, frame, severity, what in (
        ("outfalls", outfalls, OUTFALL_SEVERITY, "排污口"),
        ("problems", problems, PROBLEM_SEVERITY, "问题点"),
    ):
        for hit in _inside(frame, zones).itertuples():
            level = str(hit.level)
            flags.append(
                {
                    "layer": layer,
                    "code": hit.code,
                    "zone_code": hit.zone_code,
                    "zone_name": hit.zone_name,
                    "level": level,
                    "source_type": hit.source_type,
                    "severity": severity.get(level, "yellow"),
                    "message": f"{what} {hit.code} 位于{hit.zone_name}（{LEVEL_LABELS.get(level, level)}）内",
                }
            )
    flags.sort(key=lambda f: (SEVERITY_ORDER.index(f["severity"]), f["layer"], f["code"]))
    counts = {s: sum(f["severity"] == s for f in flags) for s in SEVERITY_ORDER}
    return {"count": len(flags), "by_severity": counts, "flags": flags}
