"""Writers of the shoreline ratio check: terminal table, CSV (UTF-8 BOM), JSON, XLSX workbook, GeoJSON.

The workbook is what a city river-chief office files: 岸线功能区汇总表 (one row a zone stretch),
镇街统计 (per town) and 合规检查 (per river, with verdict, gaps and overlaps), plus the list of
gaps and overlaps behind the verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from rich.markup import escape
from rich.table import Table

from gis_service.analysis.shoreline.ratio_report import FLAG_LABELS, ZONE_TYPES, RatioReport, each_row
from gis_service.catalogue import Catalogue
from gis_service.errors import BadRequest
from gis_service.export import geojson
from gis_service.export.sheets import PERCENT, Sheet, csv_bytes, frame_sheet, workbook_bytes, write_workbook

FORMATS = ("table", "json", "csv", "xlsx", "geojson")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
}
BANK_LABELS = {"left": "左岸", "right": "右岸"}
GAP_KIND_LABELS = {"head": "河段起点", "between": "功能区之间", "tail": "河段终点", "unzoned": "整岸未分区"}


def zone_labels(catalogue: Catalogue) -> dict[str, str]:
    """Return the Chinese label of each zone type (岸线保护区 …), from the catalogue's zones layer."""
    return {v.code: v.label for v in catalogue["zones"].field("zone_type").values.values()}


def check_format(fmt: str) -> str:
    """Return ``fmt`` if it is a known output format, else raise a clear error."""
    if fmt not in FORMATS:
        raise BadRequest(f"不支持的输出格式 {fmt!r}；可选：{', '.join(FORMATS)}", code="unknown_ratio_format")
    return fmt


def verdict(compliant: bool) -> str:
    """Return 达标 / 不达标."""
    return "达标" if compliant else "不达标"


def _reasons(report: RatioReport, row: Any, gaps: list[Any], overlaps: list[Any]) -> str:
    """Return why a river is not compliant, in words an office can act on."""
    out = []
    if pd.isna(row.ratio):
        out.append("无岸线功能分区")
    elif row.ratio < report.threshold:
        out.append(f"保护区+保留区占比低于{report.threshold:.0%}")
    for g in gaps:
        out.append(f"{BANK_LABELS[g.bank]}{g.from_chainage}–{g.to_chainage}空缺{g.length_m:.0f}m")
    for o in overlaps:
        out.append(f"{BANK_LABELS[o.bank]}{o.zone}与{o.other_zone}重叠{o.length_m:.0f}m")
    return "；".join(out)


def compliance_table(report: RatioReport, labels: Mapping[str, str], important_only: bool = False) -> pd.DataFrame:
    """Return the per-river compliance table (合规检查) with Chinese headers, lengths in km."""
    rivers = report.selected(important_only)
    by_river = report.banks.groupby(level=0)[list(ZONE_TYPES)].sum()
    # unstack, not xs: a database with no river yet has no "left" level to select (a KeyError, a 500).
    lengths = report.banks["length_m"].unstack(level=1) if len(report.banks) else pd.DataFrame()
    left = lengths.get("left", pd.Series(dtype=float))
    right = lengths.get("right", pd.Series(dtype=float))
    gap_n = report.gaps.groupby("river_code").size()
    over_n = report.overlaps.groupby("river_code").size()
    per_type = {t: by_river[t].astype(float).to_dict() for t in ZONE_TYPES}
    gaps = {code: list(each_row(g)) for code, g in report.gaps.groupby("river_code")}
    overlaps = {code: list(each_row(o)) for code, o in report.overlaps.groupby("river_code")}
    rows = []
    for i, r in enumerate(each_row(rivers, index=False), start=1):
        rows.append(
            {
                "序号": i,
                "河流编码": r.code,
                "河流名称": r.name,
                "重要河道": "是" if r.important else "否",
                "左岸长度(km)": float(left.get(r.code, 0.0)) / 1000,
                "右岸长度(km)": float(right.get(r.code, 0.0)) / 1000,
                "岸线总长(km)": r.length_m / 1000,
                **{f"{labels.get(t, t)}(km)": per_type[t][r.code] / 1000 for t in ZONE_TYPES},
                "保护区+保留区占比": None if pd.isna(r.ratio) else float(r.ratio),
                "结论": verdict(bool(r.compliant)),
                "空缺(处)": int(gap_n.get(r.code, 0)),
                "空缺长度(m)": float(r.gaps_m),
                "重叠(处)": int(over_n.get(r.code, 0)),
                "重叠长度(m)": float(r.overlaps_m),
                "说明": _reasons(report, r, gaps.get(r.code, []), overlaps.get(r.code, [])),
            }
        )
    return pd.DataFrame(rows)


def bank_rows(report: RatioReport, important_only: bool = False) -> pd.DataFrame:
    """Return one row a river and bank with English field names (the CSV)."""
    rows = []
    for r in each_row(report.selected(important_only), index=False):
        entry = report.river_json(r)
        for bank, b in entry["banks"].items():
            rows.append(
                {
                    "river_code": r.code,
                    "river_name": r.name,
                    "important": bool(r.important),
                    "bank": bank,
                    "length_m": b["length_m"],
                    **{f"{t}_m": b["zones_m"][t] for t in ZONE_TYPES},
                    "ratio": b["ratio"],
                    "gaps_m": b["gaps_m"],
                    "overlaps_m": b["overlaps_m"],
                    "river_ratio": entry["ratio"],
                    "river_compliant": entry["compliant"],
                }
            )
    return pd.DataFrame(rows)


def summary_table(
    report: RatioReport, labels: Mapping[str, str], important_only: bool = False, district: str = ""
) -> pd.DataFrame:
    """Return the zone summary (岸线功能区汇总表): one row a stretch, in river, bank and chainage order."""
    s = report.stretches
    if important_only:
        s = s[s["river_code"].isin(report.selected(True)["code"])]
    return pd.DataFrame(
        {
            "序号": range(1, len(s) + 1),
            "县级": district,
            "河流编码": s["river_code"].to_numpy(),
            "河流名称": s["river_name"].to_numpy(),
            "功能区编号": s["code"].to_numpy(),
            "岸别": s["bank"].map(BANK_LABELS).to_numpy(),
            "功能区类型": s["zone_type"].map(lambda t: labels.get(t, t)).to_numpy(),
            "岸线长度(km)": (s["length_m"] / 1000).to_numpy(),
            "起点桩号": s["start_chainage"].to_numpy(),
            "终点桩号": s["end_chainage"].to_numpy(),
            "起点经度": s["start_lon"].to_numpy(),
            "起点纬度": s["start_lat"].to_numpy(),
            "终点经度": s["end_lon"].to_numpy(),
            "终点纬度": s["end_lat"].to_numpy(),
            "主要划分依据": s["basis"].to_numpy(),
            "检查提示": [",".join(FLAG_LABELS[f] for f in str(v).split(",") if f in FLAG_LABELS) for v in s["flags"]],
        }
    )


def town_sheet(report: RatioReport, labels: Mapping[str, str], important_only: bool = False) -> pd.DataFrame:
    """Return the per-town table (镇街统计): count, length and share of each zone type."""
    t = report.town_table(important_only)
    out: dict[str, Any] = {
        "序号": range(1, len(t) + 1),
        "镇街编码": t["town_code"].to_numpy(),
        "镇街": t["town"].to_numpy(),
        "功能区个数": t["count"].to_numpy(),
        "岸线总长(km)": (t["length_m"] / 1000).to_numpy(),
    }
    for z in ZONE_TYPES:
        label = labels.get(z, z)
        out[f"{label}个数"] = t[f"{z}_count"].to_numpy()
        out[f"{label}长度(km)"] = (t[z] / 1000).to_numpy()
        out[f"{label}占比"] = t[f"{z}_share"].to_numpy()
    out["保护区+保留区占比"] = t["ratio"].to_numpy()
    return pd.DataFrame(out)


def issues_sheet(report: RatioReport, labels: Mapping[str, str], important_only: bool = False) -> pd.DataFrame:
    """Return the gaps and overlaps (空缺与重叠) with chainage and the zones on either side."""
    keep = set(report.selected(important_only)["code"])
    rows = []
    for g in each_row(report.gaps):
        if g.river_code in keep:
            rows.append(
                {
                    "河流编码": g.river_code,
                    "岸别": BANK_LABELS[g.bank],
                    "问题": "空缺",
                    "位置": GAP_KIND_LABELS[g.kind],
                    "起点桩号": g.from_chainage,
                    "终点桩号": g.to_chainage,
                    "长度(m)": g.length_m,
                    "相关功能区": "、".join(z for z in (g.zone_before, g.zone_after) if z),
                }
            )
    for o in each_row(report.overlaps):
        if o.river_code in keep:
            rows.append(
                {
                    "河流编码": o.river_code,
                    "岸别": BANK_LABELS[o.bank],
                    "问题": "重叠",
                    "位置": "与".join(labels.get(t, t) for t in (o.zone_type, o.other_zone_type)),
                    "起点桩号": o.from_chainage,
                    "终点桩号": o.to_chainage,
                    "长度(m)": o.length_m,
                    "相关功能区": f"{o.zone}、{o.other_zone}",
                }
            )
    columns = ["河流编码", "岸别", "问题", "位置", "起点桩号", "终点桩号", "长度(m)", "相关功能区"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "序号", range(1, len(frame) + 1))
    return frame


# Number formats by header suffix; the first match wins.
NUMBER_FORMATS = (("(km)", "0.000"), ("(m)", "0.0"), ("占比", PERCENT), ("经度", "0.000000"), ("纬度", "0.000000"))


def _sheet(title: str, table: pd.DataFrame, totals: list[dict[str, Any]] | None = None) -> Sheet:
    """Return a sheet of ``table`` (number formats by header), with bold total rows."""
    found = {str(c): next((f for suffix, f in NUMBER_FORMATS if suffix in str(c)), None) for c in table.columns}
    formats = {c: f for c, f in found.items() if f}
    sheet = frame_sheet(title, table, formats, header_height=30)
    sheet.totals = [tuple(t.get(c) for c in table.columns) for t in totals or []]
    return sheet


def workbook_sheets(
    report: RatioReport, labels: Mapping[str, str], important_only: bool = False, district: str = ""
) -> list[Sheet]:
    """Return the ratio-check workbook's sheets (汇总表, 镇街统计, 合规检查, 空缺与重叠)."""
    summary = summary_table(report, labels, important_only, district)
    km = summary["岸线长度(km)"].sum()
    compliance = compliance_table(report, labels, important_only)
    totals = []
    for label, only in (("合计", important_only), ("重要河道合计", True)):
        t = report.total(only)
        totals.append(
            {
                "序号": label,
                "岸线总长(km)": (t["length_m"] or 0) / 1000,
                "保护区+保留区占比": t["ratio"],
                "结论": verdict(t["compliant"]),
                "河流名称": f"{t['rivers']} 条河流",
            }
        )
        if only:
            break
    return [
        _sheet("岸线功能区汇总表", summary, [{"序号": "合计", "岸线长度(km)": km}]),
        _sheet("镇街统计", town_sheet(report, labels, important_only)),
        _sheet("合规检查", compliance, totals),
        _sheet("空缺与重叠", issues_sheet(report, labels, important_only)),
    ]


def write_xlsx(
    report: RatioReport, labels: Mapping[str, str], path: Path, important_only: bool = False, district: str = ""
) -> Path:
    """Write the ratio-check workbook (汇总表, 镇街统计, 合规检查, 空缺与重叠) to ``path``."""
    return write_workbook(path, workbook_sheets(report, labels, important_only, district))


def stretches_geojson(report: RatioReport, labels: Mapping[str, str], important_only: bool = False) -> dict[str, Any]:
    """Return the zone stretches as a GeoJSON FeatureCollection (type, chainage, length, flags)."""
    s = report.stretches
    if important_only:
        s = s[s["river_code"].isin(report.selected(True)["code"])]
    s = s.assign(zone_label=s["zone_type"].map(lambda t: labels.get(t, t)))
    return {"type": "FeatureCollection", "features": geojson.features(s, precision=7)}


def render(
    report: RatioReport, labels: Mapping[str, str], fmt: str, important_only: bool = False, district: str = ""
) -> bytes:
    """Return the report as the bytes of ``fmt`` (json, csv, geojson, xlsx); ``labels``: :func:`zone_labels`."""
    check_format(fmt)
    if fmt == "json":
        return json.dumps(report.to_json(important_only), ensure_ascii=False, indent=2).encode()
    if fmt == "csv":
        return csv_bytes(bank_rows(report, important_only))
    if fmt == "geojson":
        return geojson.dumps(stretches_geojson(report, labels, important_only)).encode()
    if fmt == "xlsx":
        return workbook_bytes(workbook_sheets(report, labels, important_only, district))
    raise BadRequest("表格格式只能输出到终端；请选择 json、csv、xlsx 或 geojson", code="unknown_ratio_format")


def shortfall(row: Any, threshold: float) -> str:
    """Say why a river fails the check: its share under the threshold, gaps, overlaps."""
    reasons = []
    if row.ratio is None or pd.isna(row.ratio):
        reasons.append("无岸线分区")
    elif row.ratio < threshold - 1e-12:
        reasons.append(f"保护区+保留区 {row.ratio:.1%} < {threshold:.0%}")
    if row.gaps_m > 0:
        reasons.append(f"空缺 {row.gaps_m:.0f} m")
    if row.overlaps_m > 0:
        reasons.append(f"重叠 {row.overlaps_m:.0f} m")
    return "，".join(reasons)


def total_shortfall(total: dict[str, Any], threshold: float) -> str:
    """Say why the district total fails: its share under the threshold, or rivers with gaps or overlaps."""
    ratio = total["ratio"]
    if not total["rivers"] or ratio is None:
        return "无岸线分区"
    if ratio < threshold - 1e-12:
        return f"总占比 {ratio:.1%} < {threshold:.0%}"
    return "有河流存在空缺或重叠"


def rich_table(report: RatioReport, important_only: bool = False) -> Table:
    """Return the check as a terminal table (one row a river, with the verdict)."""
    table = Table(title=f"岸线保护比例核算（保护区+保留区 ≥ {report.threshold:.0%}）", show_lines=False)
    for name, justify in (
        ("河流编码", "left"),
        ("河流名称", "left"),
        ("重要", "center"),
        ("岸线长度(km)", "right"),
        ("左岸占比", "right"),
        ("右岸占比", "right"),
        ("全河占比", "right"),
        ("空缺(m)", "right"),
        ("重叠(m)", "right"),
        ("结论", "center"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.1%}"

    for r in each_row(report.selected(important_only), index=False):
        entry = report.river_json(r)
        mark = "[green]达标[/]" if r.compliant else f"[red]不达标[/]（{shortfall(r, report.threshold)}）"
        table.add_row(
            escape(str(r.code)),
            escape(str(r.name)),
            "是" if r.important else "",
            f"{r.length_m / 1000:.3f}",
            pct(entry["banks"]["left"]["ratio"]),
            pct(entry["banks"]["right"]["ratio"]),
            pct(entry["ratio"]),
            f"{r.gaps_m:.0f}",
            f"{r.overlaps_m:.0f}",
            mark,
        )
    total = report.total(important_only)
    table.add_section()
    table.add_row(
        "合计",
        f"{total['rivers']} 条",
        "",
        f"{(total['length_m'] or 0) / 1000:.3f}",
        "",
        "",
        pct(total["ratio"]),
        "",
        "",
        "[green]达标[/]" if total["compliant"] else f"[red]不达标[/]（{total_shortfall(total, report.threshold)}）",
    )
    return table
