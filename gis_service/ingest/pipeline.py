"""The import pipeline: read → normalise → validate → store, in the caller's one transaction.

It returns the validation report, or raises :class:`DeliveryRejected` carrying it when any
error was found, before anything is written. Versioned layers (ranges, stakes, zone sets)
become one submitted delivery per river; rivers and outfalls are upserted by key; problem
sites enter the ledger.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec, get_catalogue
from gis_service.errors import BadRequest, DeliveryRejected
from gis_service.ingest.crs import check_district, describe, parse_crs
from gis_service.ingest.normalise import Finding, normalise
from gis_service.ingest.read import Source, read_delivery
from gis_service.ingest.validate import Context, Locator, validate
from gis_service.store.bulk import bulk_insert
from gis_service.store.deliveries import approve_deliveries, submit_deliveries
from gis_service.store.features import feature_query, feature_rows, rows_to_frame, table_of

IMPORTABLE = ("rivers", "boundaries", "stakes", "zones", "outfalls", "problems")
SEVERITIES = ("error", "warning", "info")
MAX_PER_CODE = 200  # findings listed per code; the counts stay exact
Progress = Callable[[str], None]


@dataclass
class ImportOptions:
    """What the user asked for: the target layer and how to read, check and store the file."""

    layer: str
    crs: str | None = None
    encoding: str | None = None
    river: str | None = None
    source_layer: str | None = None
    swap_xy: bool = False
    dry_run: bool = False
    approve: bool = False
    fix: bool = False
    actor: str = "cli"
    filename: str | None = None


def target_layer(name: str) -> LayerSpec:
    """Return the catalogue layer an import may write, or refuse naming the allowed ones."""
    if name not in IMPORTABLE:
        raise BadRequest(f"不能导入图层 {name!r}；可导入：{'、'.join(IMPORTABLE)}", code="unknown_layer",
                         details={"allowed": list(IMPORTABLE)})
    return get_catalogue()[name]


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
    first = "；".join(f["message"] for f in errors[:3])
    more = f" 等共 {report['counts']['error']} 个错误" if report["counts"]["error"] > 3 else ""
    return DeliveryRejected(
        f"交付未通过检查，未保存任何数据：{first}{more}。请按报告逐条修正后重新交付。",
        code=codes[0] if len(codes) == 1 else "delivery_rejected",
        details=report,
    )


def apply_river(layer: LayerSpec, frame: gpd.GeoDataFrame, river: str | None) -> list[Finding]:
    """Fill ``river_code`` from ``--river`` where blank; features naming another river are errors."""
    if not river or "river_code" not in layer.field_names or layer.field("river_code").derived:
        return []
    if "river_code" not in frame:
        frame["river_code"] = river
        return []
    codes = frame["river_code"]
    frame["river_code"] = codes.where(codes.notna(), river)
    other = frame["river_code"].astype(str) != river
    return [Finding(code="river_mismatch", feature=int(i) + 1, field="river_code", value=str(codes.iloc[i]),
                    message=f"第 {i + 1} 个要素的河流编码为 {codes.iloc[i]}，与 --river {river} 不符",
                    fix="去掉 --river，或改正该要素的河流编码")
            for i in np.flatnonzero(other.to_numpy())]


def load_context(session: Session, layer: LayerSpec, frame: gpd.GeoDataFrame, fix: bool) -> Context:
    """Read what validation needs: known river codes, the delivery's rivers and their approved ranges."""
    rivers_table = table_of(get_catalogue()["rivers"])
    known = {str(c) for c in session.scalars(select(rivers_table.c.code))}
    codes = sorted({str(c) for c in frame["river_code"].dropna()}) if "river_code" in frame else []
    empty = gpd.GeoDataFrame({"code": [], "river_code": []}, geometry=[], crs=4490)
    rivers, ranges = empty, empty
    if codes and layer.name in {"boundaries", "zones", "stakes"}:
        rivers = _read_in(session, "rivers", "code", codes)
        if layer.name in {"zones", "stakes"}:
            ranges = _read_in(session, "boundaries", "river_code", codes)
    existing: set[str] = set()
    if layer.name == "problems" and layer.key and layer.key in frame:
        table = table_of(layer)
        keys = [str(k) for k in frame[layer.key].dropna().unique()]
        for start in range(0, len(keys), 5000):
            existing |= {str(k) for k in session.scalars(
                select(table.c[layer.key]).where(table.c[layer.key].in_(keys[start:start + 5000])))}
    return Context(rivers=rivers, ranges=ranges, known_rivers=known, existing_keys=existing, fix=fix)


def _read_in(session: Session, layer: str, column: str, codes: list[str]) -> gpd.GeoDataFrame:
    """Read the current features of ``layer`` whose ``column`` is one of ``codes``."""
    spec = get_catalogue()[layer]
    table = table_of(spec)
    dialect = session.get_bind().dialect.name
    rows: list[dict[str, Any]] = []
    for start in range(0, len(codes), 5000):
        query = feature_query(spec, dialect).where(table.c[column].in_(codes[start:start + 5000]))
        rows.extend(dict(r._mapping) for r in session.execute(query))
    return rows_to_frame(spec, rows)


def _reports_per_river(report: dict[str, Any], frame: gpd.GeoDataFrame) -> dict[str, dict[str, Any]]:
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


def store_keyed(session: Session, layer: LayerSpec, frame: gpd.GeoDataFrame) -> dict[str, int]:
    """Insert new features of a keyed layer (rivers, outfalls) and update those whose key exists."""
    table = table_of(layer)
    key = layer.key or "code"
    keys = frame[key].astype(str)
    existing = {str(k) for k in session.scalars(select(table.c[key]).where(table.c[key].in_(keys.tolist())))}
    new = frame[~keys.isin(existing).to_numpy()]
    inserted = bulk_insert(session, layer, new, {})
    updated = 0
    old = frame[keys.isin(existing).to_numpy()]
    if not old.empty:
        for row in feature_rows(layer, old):
            code = row.pop(key)
            session.execute(update(table).where(table.c[key] == code).values(**row))
            updated += 1
    return {"inserted": inserted, "updated": updated}


def store_problems(session: Session, frame: gpd.GeoDataFrame, actor: str) -> int:
    """Add problem sites to the ledger (jurisdiction derived, first event written)."""
    from gis_service.ledger.service import report_sites

    return report_sites(session, frame, actor=actor)


def store(session: Session, layer: LayerSpec, frame: gpd.GeoDataFrame, report: dict[str, Any],
          options: ImportOptions) -> dict[str, Any]:
    """Write a validated delivery; return what was stored."""
    source = report.get("source") or {}
    encoding = (source.get("encoding") or {}).get("encoding")
    if layer.versioned:
        meta = {"filename": source.get("filename"), "encoding": encoding, "crs": source.get("crs")}
        deliveries = submit_deliveries(session, layer, frame, actor=options.actor, meta=meta,
                                       reports=_reports_per_river(report, frame))
        if options.approve:
            approve_deliveries(session, [d.id for d in deliveries], actor=options.actor)
            for d in deliveries:
                session.refresh(d)
        return {"deliveries": [{"id": d.id, "river_code": d.river_code, "version": d.version,
                                "status": d.status, "feature_count": d.feature_count} for d in deliveries],
                "stored": len(frame)}
    if layer.name == "problems":
        return {"stored": store_problems(session, frame, options.actor)}
    return {"stored": len(frame), **store_keyed(session, layer, frame)}


def place(findings: list[Finding], frame: gpd.GeoDataFrame, layer: LayerSpec) -> None:
    """Give findings about a feature that have no spot yet (e.g. unknown values) the feature's lon/lat and id."""
    loc = Locator(frame, layer.key or ("code" if "code" in frame else None))
    for f in findings:
        if f.feature is not None and f.lon is None and 0 < f.feature <= len(frame):
            spot = loc.finding(f.feature - 1, code=f.code, message=f.message)
            f.lon, f.lat = spot.lon, spot.lat
            f.feature_id = f.feature_id or spot.feature_id


def run_import(session: Session, path: Path, options: ImportOptions, *,
               progress: Progress | None = None) -> dict[str, Any]:
    """Import ``path`` into ``options.layer``; return the report or raise DeliveryRejected (nothing written)."""
    step = progress or (lambda _stage: None)
    layer = target_layer(options.layer)
    crs = parse_crs(options.crs)
    step("read")
    with tempfile.TemporaryDirectory(prefix="rivergis-import-") as tmp:
        source = read_delivery(path, Path(tmp), layer=options.source_layer, encoding=options.encoding,
                               crs=crs, swap=options.swap_xy, filename=options.filename)
    findings = list(source.findings)
    step("crs")
    findings += check_district(source.frame)
    if any(f.code == "outside_district" for f in findings):
        report = build_report(layer, source, findings, len(source.frame), options)
        raise rejection(report)
    step("normalise")
    norm = normalise(layer, source.frame)
    frame = norm.frame
    findings += norm.findings
    if norm.dropped_z:
        findings.append(Finding(severity="warning", code="z_dropped",
                                message=f"{norm.dropped_z} 个要素带有 Z 值（高程），已去除，只保存平面坐标",
                                fix="无需处理；如需高程请另行交付"))
    findings += apply_river(layer, frame, options.river)
    step("validate")
    ctx = load_context(session, layer, frame, options.fix)
    mapped = set(norm.field_map.values()) | ({"river_code"} if options.river else set())
    reported = {(f.feature, f.field) for f in norm.findings if f.feature is not None and f.field}
    checked = validate(layer, frame, ctx, mapped=mapped, reported=reported)
    findings += checked.findings
    place(findings, checked.frame, layer)
    report = build_report(layer, source, findings, len(frame), options)
    report["source"]["crs"] = describe(source.frame.crs)
    if checked.ratios is not None:
        report["ratios"] = checked.ratios
    if not report["accepted"]:
        raise rejection(report)
    if options.dry_run:
        report["stored"] = 0
        return report
    step("store")
    report.update(store(session, layer, checked.frame, report, options))
    return report
