"""The validation report of a delivery: counts, findings (capped per code), the rejection, per-river copies."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from gis_service.catalogue import LayerSpec
from gis_service.errors import DeliveryRejected
from gis_service.ingest.normalise import Finding
from gis_service.ingest.read import Source

if TYPE_CHECKING:
    from gis_service.ingest.pipeline import ImportOptions

SEVERITIES = ("error", "warning", "info")
MAX_PER_CODE = 200  # findings listed per code; the counts stay exact


def build_report(layer: LayerSpec, source: Source | None, findings: list[Finding], count: int,
                 options: ImportOptions) -> dict[str, Any]:
    """Return the report: how the file was read, counts by severity, findings (capped per code)."""
    counts = Counter(f.severity for f in findings)
    per_code: Counter[str] = Counter()
    listed = []
    for f in sorted(findings, key=lambda f: SEVERITIES.index(f.severity)):
        per_code[f.code] += 1
        if per_code[f.code] <= MAX_PER_CODE:
            listed.append(f.to_dict())
    omitted = {code: n - MAX_PER_CODE for code, n in per_code.items() if n > MAX_PER_CODE}
    return {
        "layer": layer.name,
        "layer_label": layer.label,
        "source": source.summary() if source else None,
        "feature_count": count,
        "accepted": counts["error"] == 0,
        "dry_run": options.dry_run,
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


def reports_per_river(report: dict[str, Any], frame: gpd.GeoDataFrame) -> dict[str, dict[str, Any]]:
    """Split the report's findings by river (a finding about feature n goes to its river's delivery)."""
    river_of = frame["river_code"].astype(str).to_numpy()
    ratios = report.get("ratios") or {}
    by_river: dict[str, dict[str, Any]] = {}
    base = {k: v for k, v in report.items() if k not in {"findings", "ratios", "deliveries"}}
    ratio_of = {r.get("code"): r for r in ratios.get("rivers", [])}
    for code in sorted(set(river_of)):
        by_river[code] = {**base, "findings": []}
        if code in ratio_of:
            by_river[code]["ratios"] = {"rivers": [ratio_of[code]]}
    for f in report["findings"]:
        feature = f.get("feature")
        value = f.get("value")
        if feature is not None and 0 < feature <= len(river_of):
            by_river[river_of[feature - 1]]["findings"].append(f)
        elif isinstance(value, str) and value in by_river:
            by_river[value]["findings"].append(f)
        else:
            for body in by_river.values():
                body["findings"].append(f)
    return by_river
