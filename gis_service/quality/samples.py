"""Import monthly monitoring results (断面编码, 采样日期, then indicator columns) and class each sample.

A re-imported (section, date) replaces the earlier result. The whole file is checked first;
one bad cell or unknown section refuses it with the row named, and nothing is stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.orm import Session

from gis_service.db.models_quality import Sample, Section
from gis_service.errors import BadRequest
from gis_service.ingest.archive import ArchiveLimits
from gis_service.quality.sheets import cell, date_cell, find_columns, number_cell, read_sheet
from gis_service.quality.standard import BY_KEY, indicator_key, sample_class

WHAT = "监测结果表"
COLUMNS = {
    "section_code": ("断面编码", "断面代码", "断面编号", "DMBM"),
    "date": ("采样日期", "监测日期", "采样时间", "日期"),
}


def lake_sections(session: Session, codes: list[str]) -> dict[str, bool]:
    """Return section code → whether it is a lake/reservoir section, for the known codes among ``codes``."""
    rows = session.execute(select(Section.code, Section.waterbody).where(Section.code.in_(codes)))
    return {code: waterbody == "lake" for code, waterbody in rows}


def parse_samples(path: Path, limits: ArchiveLimits) -> tuple[list[dict[str, Any]], list[str]]:
    """Read the file into rows of section code, date and indicator values; return them and the ignored columns."""
    table = read_sheet(path, WHAT, limits)
    columns = find_columns(table, COLUMNS, {"section_code", "date"}, WHAT)
    indicators = {c: indicator_key(c) for c in table.columns if c not in columns.values()}
    measured = {c: k for c, k in indicators.items() if k}
    if not measured:
        raise BadRequest(
            f"{WHAT}中没有可识别的监测指标列；请用 pH、溶解氧、高锰酸盐指数、化学需氧量、氨氮、总磷等表头。",
            code="no_indicators",
        )
    rows = []
    for i, record in enumerate(table.to_dict("records")):
        line = i + 2  # the header is sheet row 1
        code = cell(record[columns["section_code"]])
        date = date_cell(record[columns["date"]], line, "采样日期")
        if code is None or date is None:
            raise BadRequest(f"第 {line} 行缺少断面编码或采样日期；请补全后重试。", code="missing_value")
        values = {}
        for column, key in measured.items():
            value = number_cell(record[column], line, column)
            if value is not None:
                values[key] = value
        rows.append({"section_code": code, "date": date, "values": values, "row": line})
    ignored = [c for c, k in indicators.items() if k is None]
    return rows, ignored


def import_samples(session: Session, path: Path, limits: ArchiveLimits) -> dict[str, Any]:
    """Import a results file (an .xlsx unpacked within ``limits``) into ``samples`` with each sample's class."""
    rows, ignored = parse_samples(path, limits)
    codes = sorted({r["section_code"] for r in rows})
    lake = lake_sections(session, codes)
    unknown = [c for c in codes if c not in lake]
    if unknown:
        raise BadRequest(
            f"以下断面编码不在断面图层中：{'、'.join(unknown)}；请先用 `rivergis import sections` 导入断面。",
            code="unknown_section",
            details={"unknown": unknown},
        )
    seen: dict[tuple[str, Any], int] = {}
    for r in rows:
        key = (r["section_code"], r["date"])
        if key in seen:
            raise BadRequest(
                f"第 {seen[key]} 行与第 {r['row']} 行是同一断面同一天（{key[0]}，{key[1]}）；请只保留一行。",
                code="duplicate_sample",
            )
        seen[key] = r["row"]
    keys = list(seen)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        session.execute(delete(Sample).where(tuple_(Sample.section_code, Sample.sampled_on).in_(chunk)))
    records = []
    for r in rows:
        cls, deciding = sample_class(r["values"], lake=lake[r["section_code"]])
        records.append(
            {
                "section_code": r["section_code"],
                "sampled_on": r["date"],
                "values": r["values"],
                "quality_class": cls,
                "deciding": deciding,
            }
        )
    session.execute(insert(Sample), records)
    return {
        "stored": len(records),
        "sections": len(codes),
        "indicators": sorted({BY_KEY[k].name for r in rows for k in r["values"] if k in BY_KEY}),
        "ignored_columns": ignored,
    }
