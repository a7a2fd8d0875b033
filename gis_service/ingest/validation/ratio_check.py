"""The shoreline ratio check of a zone-set delivery, for its report: ratios, and gaps and overlaps as findings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import pandas as pd

from gis_service.analysis.shoreline.chainage import CenterlineIndex
from gis_service.analysis.shoreline.line_ends import LineEnds
from gis_service.analysis.shoreline.ratios import RatioRules, ZoneBatches, bank_range_lines, ratio_batches
from gis_service.ingest.normalise import Finding

log = logging.getLogger("gis_service")
BANK_LABEL = {"left": "左岸", "right": "右岸"}


class ZoneRatios:
    """The shoreline ratio check of a zone-set delivery, its stretches measured batch by batch as they are read.

    The same check as ``rivergis ratios`` and the river map (:func:`ratio_check`) with the delivered
    zones in place of the current ones, against the delivery's rivers and their approved ranges. It
    is due only for a clean delivery: the first batch with an error ends it. It only informs the
    report, so a failure of its own never blocks a clean delivery (``ratios_failed``).
    """

    def __init__(
        self,
        rivers: gpd.GeoDataFrame,
        ranges: gpd.GeoDataFrame,
        rules: RatioRules,
        centerlines: Callable[[], CenterlineIndex | None] | None = None,
    ) -> None:
        """``centerlines``: gives the rivers' centerline index (made on a thread of its own while the first batch
        is read, see ``load_context``), asked for when the first batch is measured; without it the check makes
        its own."""
        self.rules = rules
        self.rivers = rivers
        self.bank_lines = bank_range_lines(ranges)  # the ranges themselves are not kept
        self.centerlines = centerlines
        self.check: ZoneBatches | None = None
        self.due = not rivers.empty
        self.failed = False

    def _started(self) -> ZoneBatches:
        """Return the check, made for the first batch it measures."""
        if self.check is None:
            index = self.centerlines() if self.centerlines is not None else None
            self.check = ratio_batches(
                self.rivers, bank_lines=self.bank_lines, centerlines=index, keep_geometries=False
            )
            self.centerlines = self.bank_lines = None
        return self.check

    def add(self, frame: gpd.GeoDataFrame, clean: bool, ends: LineEnds | None = None) -> None:
        """Measure a batch's stretches; after a batch that is not ``clean`` measure no more (it is not due).

        ``ends``: the batch's stretch ends as the side check projected them (not projected again).
        """
        if not self.due:
            return
        if not clean:
            self.check, self.due = None, False
            return
        try:
            self._started().add(frame, ends=ends)
        except Exception:  # noqa: BLE001 - the ratio check informs the report; it must not block a clean delivery
            log.exception("shoreline ratio check failed during import")
            self.check, self.due, self.failed = None, False, True

    def finish(self, frame: pd.DataFrame) -> tuple[dict[str, Any] | None, list[Finding]]:
        """Return the delivery's figures (``frame``: its zones in order) and its gaps and overlaps as findings."""
        if self.failed:
            return None, [failed()]
        if not self.due:
            return None, []
        try:
            report = self._started().finish(
                frame, threshold=self.rules.threshold, gap_tolerance_m=self.rules.gap_tolerance_m
            )
            findings = issue_findings(report.gaps, "zone_gap") + issue_findings(report.overlaps, "zone_overlap")
            return report.to_json(), findings
        except Exception:  # noqa: BLE001 - as in add
            log.exception("shoreline ratio check failed during import")
            return None, [failed()]


def failed() -> Finding:
    """Return the finding that the ratio check failed (logged) and the report has no figures."""
    return Finding(
        severity="info",
        code="ratios_failed",
        message="岸线比例核算出错，未计算比例；已记录日志",
        fix="请联系管理员；交付本身不受影响",
    )


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
