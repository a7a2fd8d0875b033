"""The shoreline ratio check of a zone-set delivery, for its report: ratios, and gaps and overlaps as findings."""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd

from gis_service.analysis.shoreline.chainage import CenterlineIndex
from gis_service.analysis.shoreline.ratios import RatioRules, ratio_check
from gis_service.ingest.normalise import Finding

log = logging.getLogger("gis_service")
BANK_LABEL = {"left": "左岸", "right": "右岸"}


def zone_ratios(
    frame: gpd.GeoDataFrame,
    rivers: gpd.GeoDataFrame,
    ranges: gpd.GeoDataFrame,
    rules: RatioRules,
    centerlines: CenterlineIndex | None = None,
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Compute the shoreline ratio check of a clean zone set, and its gaps and overlaps as findings.

    The same check as ``rivergis ratios`` and the river map (:func:`ratio_check`) with the delivered zones in
    place of the current ones: ``rivers`` and ``ranges`` are the delivery's rivers and their approved
    ranges; ``centerlines`` the index of ``rivers``' centerlines if validation built it.
    """
    if rivers.empty:
        return None, []
    try:
        report = ratio_check(frame, rivers, rules, ranges=ranges, centerlines=centerlines)
    except Exception:  # noqa: BLE001 - the ratio check informs the report; it must not block a clean delivery
        log.exception("shoreline ratio check failed during import")
        return None, [
            Finding(
                severity="info",
                code="ratios_failed",
                message="岸线比例核算出错，未计算比例；已记录日志",
                fix="请联系管理员；交付本身不受影响",
            )
        ]
    return report.to_json(), issue_findings(report.gaps, "zone_gap") + issue_findings(report.overlaps, "zone_overlap")


def issue_findings(table: Any, kind: str) -> list[Finding]:
    """Return one warning a gap (``zone_gap``) or overlap (``zone_overlap``) row of the ratio report."""
    findings = []
    what = "缺口（无功能区）" if kind == "zone_gap" else "重叠（两个功能区重复划定）"
    for row in table.itertuples():
        point = row.geometry.interpolate(0.5, normalized=True) if row.geometry is not None else None
        place = {} if point is None or point.is_empty else {"lon": round(point.x, 7), "lat": round(point.y, 7)}
        findings.append(
            Finding(
                severity="warning",
                code=kind,
                value=row.river_code,
                **place,
                message=(
                    f"河流 {row.river_code} {BANK_LABEL.get(row.bank, row.bank)} {row.from_chainage}–"
                    f"{row.to_chainage} 有 {row.length_m:.0f} m {what}"
                ),
                fix="补划缺口处的功能区" if kind == "zone_gap" else "调整相邻功能区的起止点，消除重叠",
            )
        )
    return findings
