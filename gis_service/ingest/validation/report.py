"""The validation report of a delivery: counts, findings (capped per code), the rejection, per-river copies."""

from __future__ import annotations

from collections import Counter
from typing import Any

import geopandas as gpd

from gis_service.catalogue import LayerSpec
from gis_service.errors import DeliveryRejected
from gis_service.ingest.normalise import Finding
from gis_service.ingest.read import Source
from gis_service.runtime import text_groups

SEVERITIES = ("error", "warning", "info")
MAX_PER_CODE = 200  # findings listed per code; the counts stay exact


def build_report(
    layer: LayerSpec, source: Source | None, findings: list[Finding], count: int, *, dry_run: bool
) -> dict[str, Any]:
    """Return the report: how the file was read, counts by severity, findings (capped per code)."""
    tally = summarise(findings)
    return {
        "layer": layer.name,
        "layer_label": layer.label,
        "source": source.summary() if source else None,
        "feature_count": count,
        "accepted": tally["counts"]["error"] == 0,
        "dry_run": dry_run,
        **tally,
    }


def summarise(findings: list[Finding]) -> dict[str, Any]:
    """Return counts by severity and by code (exact) and the findings listed (at most MAX_PER_CODE a code)."""
    counts = Counter(f.severity for f in findings)
    per_code: Counter[str] = Counter()
    listed = []
    for f in sorted(findings, key=lambda f: SEVERITIES.index(f.severity)):
        per_code[f.code] += 1
        if per_code[f.code] <= MAX_PER_CODE:
            listed.append(f.to_dict())
    omitted = {code: n - MAX_PER_CODE for code, n in per_code.items() if n > MAX_PER_CODE}
    return {
        "counts": {s: counts[s] for s in SEVERITIES},
        "codes": dict(per_code),
        "findings": listed,
        **({"omitted": omitted} if omitted else {}),
    }


def rejection(report: dict[str, Any]) -> DeliveryRejected:
    """Return the error for a rejected delivery: the single error code when all errors share one."""
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    codes = sorted({f["code"] for f in errors})
    first = "；".join(f["message"].rstrip("。") for f in errors[:3])
    more = f" 等共 {report['counts']['error']} 个错误" if report["counts"]["error"] > 3 else ""
    return DeliveryRejected(
        f"交付未通过检查，未保存任何数据：{first}{more}。请按报告逐条修正后重新交付。",
        code=codes[0] if len(codes) == 1 else "delivery_rejected",
        details=report,
    )


# The members of an import's report that each of its deliveries' reports repeats as they are.
IMPORT_WIDE = ("layer", "layer_label", "source", "dry_run")


def reports_per_river(
    report: dict[str, Any], frame: gpd.GeoDataFrame, findings: list[Finding]
) -> dict[str, dict[str, Any]]:
    """Return each river's delivery report: the import's (how the file was read) with that river's own
    feature count, findings (a finding about feature n goes to its river; one naming a river to that
    river; others to every river) and counts, and its ratio figures.

    ``findings`` are all of the import's (placed), not only those the report lists: a river's report
    lists its own, capped per code per river.
    """
    codes, counts, river_of = text_groups(frame["river_code"])
    ratio_of = {r.get("code"): r for r in (report.get("ratios") or {}).get("rivers", [])}
    own: dict[str, list[Finding]] = {code: [] for code in codes}
    for f in findings:
        river = river_of(f.feature - 1) if f.feature is not None and 0 < f.feature <= len(frame) else None
        if river is not None:
            own[river].append(f)
        elif isinstance(f.value, str) and f.value in own:
            own[f.value].append(f)
        else:
            for found in own.values():
                found.append(f)
    # The import's members are shared by reference: the same objects in every river's report.
    base = {k: v for k, v in report.items() if k in IMPORT_WIDE}
    by_river: dict[str, dict[str, Any]] = {}
    # Rivers with the same findings (most have none) share one summary, encoded once when stored.
    tallies: dict[tuple[int, ...], dict[str, Any]] = {}
    for code, n in zip(codes, counts, strict=True):
        mine = own[code]
        key = tuple(map(id, mine))
        if key not in tallies:
            tallies[key] = summarise(mine)
        tally = tallies[key]
        body = {**base, "feature_count": int(n), "accepted": tally["counts"]["error"] == 0, **tally}
        if code in ratio_of:
            body["ratios"] = {"rivers": [ratio_of[code]]}
        by_river[code] = body
    return by_river
