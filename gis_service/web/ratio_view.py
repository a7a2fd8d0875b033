"""The ratio page's rows: each river and bank of the check, with why a river falls short in words an office acts on.

A river is 达标 when its protected+reserved share reaches the threshold and it has no gap and no
overlap (``analysis.shoreline.ratio_tables.river_table``). A bank below the threshold is named with the
metres of protected+reserved shoreline it lacks: ``threshold × bank length − protected+reserved``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gis_service.analysis.shoreline.ratio_report import BANKS, RatioReport, each_row
from gis_service.export.ratios import BANK_LABELS, GAP_KIND_LABELS


@dataclass
class BankRow:
    """One bank of a river: its length, protected+reserved length, share and the metres it lacks."""

    bank: str
    label: str
    length_m: float
    pr_m: float
    ratio: float | None
    short_m: float
    gaps_m: float
    overlaps_m: float


@dataclass
class RiverRow:
    """One river of the check: its figures, its banks, its verdict and the reasons behind a 不达标."""

    code: str
    name: str
    important: bool
    towns: list[str]
    length_m: float
    ratio: float | None
    compliant: bool
    banks: list[BankRow] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _number(value: Any) -> float:
    """Return a table cell as a float (missing: 0)."""
    return 0.0 if value is None or pd.isna(value) else float(value)


def _gap_reason(g: Any) -> str:
    """Describe a gap: bank, chainage, length and the zones around it."""
    where = f"{BANK_LABELS[g.bank]} {g.from_chainage}–{g.to_chainage}"
    kind = GAP_KIND_LABELS.get(g.kind, g.kind)
    between = ""
    if g.zone_before and g.zone_after:
        between = f"（{g.zone_before} 与 {g.zone_after} 之间）"
    return f"{where} 空缺 {g.length_m:.0f} m，{kind}{between}"


def _overlap_reason(o: Any, labels: Mapping[str, str]) -> str:
    """Describe an overlap: bank, chainage, the two zones and the overlapping length."""
    return (
        f"{BANK_LABELS[o.bank]} {o.from_chainage}–{o.to_chainage} {o.zone}（{labels.get(o.zone_type, o.zone_type)}）"
        f"与 {o.other_zone}（{labels.get(o.other_zone_type, o.other_zone_type)}）重叠 {o.length_m:.0f} m"
    )


def river_rows(
    report: RatioReport,
    towns: dict[str, list[str]],
    labels: Mapping[str, str],
    *,
    important_only: bool = False,
    town: str | None = None,
) -> list[RiverRow]:
    """Return the rivers of the check (important ones, or those through ``town``, when asked) with reasons."""
    selected = report.selected(important_only)
    gaps: dict[str, list[Any]] = {}
    overlaps: dict[str, list[Any]] = {}
    # The drawn gaps and overlaps are built on first read; a check with none (or no rivers) never builds them.
    if float(selected["gaps_m"].sum()) > 0:
        gaps = {code: list(each_row(g)) for code, g in report.gaps.groupby("river_code")}
    if float(selected["overlaps_m"].sum()) > 0:
        overlaps = {code: list(each_row(o)) for code, o in report.overlaps.groupby("river_code")}
    records = report.banks.to_dict("index")
    out = []
    for r in each_row(selected, index=False):
        river_towns_ = towns.get(str(r.code), [])
        if town and town not in river_towns_:
            continue
        ratio = None if pd.isna(r.ratio) else float(r.ratio)
        row = RiverRow(
            code=str(r.code),
            name=str(r.name),
            important=bool(r.important),
            towns=river_towns_,
            length_m=_number(r.length_m),
            ratio=ratio,
            compliant=bool(r.compliant),
        )
        for bank in BANKS:
            b = records.get((r.code, bank), {})
            length, pr = _number(b.get("length_m")), _number(b.get("pr_m"))
            share = pr / length if length > 0 else None
            short = max(0.0, report.threshold * length - pr)
            row.banks.append(
                BankRow(
                    bank=bank,
                    label=BANK_LABELS[bank],
                    length_m=length,
                    pr_m=pr,
                    ratio=share,
                    short_m=short if math.isfinite(short) else 0.0,
                    gaps_m=_number(b.get("gaps_m")),
                    overlaps_m=_number(b.get("overlaps_m")),
                )
            )
        if not row.compliant:
            row.reasons = reasons(report.threshold, row, gaps.get(r.code, []), overlaps.get(r.code, []), labels)
        out.append(row)
    return out


def reasons(
    threshold: float, row: RiverRow, gaps: list[Any], overlaps: list[Any], labels: Mapping[str, str]
) -> list[str]:
    """Return why a river is 不达标: banks short of the threshold (by how many metres), gaps and overlaps."""
    out = []
    if row.ratio is None:
        out.append("无岸线功能分区：两岸均未划定功能区")
    else:
        if row.ratio < threshold:
            whole = sum(b.length_m for b in row.banks) * threshold - sum(b.pr_m for b in row.banks)
            out.append(f"全河保护区+保留区占比 {row.ratio:.1%}，低于 {threshold:.0%}，尚差 {max(whole, 0):,.0f} m")
        for b in row.banks:
            if b.short_m > 0.5:
                share = f"{b.ratio:.1%}" if b.ratio is not None else "无数据"
                out.append(f"{b.label}保护区+保留区占比 {share}，尚差 {b.short_m:,.0f} m 达到 {threshold:.0%}")
    out.extend(_gap_reason(g) for g in gaps)
    out.extend(_overlap_reason(o, labels) for o in overlaps)
    return out
