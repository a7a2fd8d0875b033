"""Reading the office's plain tables (monthly results, task lists): headers by name, cells as text, clear errors."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gis_service.catalogue import fold
from gis_service.errors import BadRequest
from gis_service.ingest.archive import ArchiveLimits
from gis_service.ingest.table_layout import load_grid

SUFFIXES = {".xlsx", ".csv"}


def _cell(value: object) -> str | None:
    """Return a cell as text (None when blank), as a spreadsheet shows it."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _text_table(path: Path, limits: ArchiveLimits) -> pd.DataFrame:
    """Return the first non-blank row as the header and the rows below as text cells (blank rows dropped)."""
    grid, _ = load_grid(path, None, limits)
    rows = [[_cell(v) for v in row] for row in grid]
    rows = [row for row in rows if any(v is not None for v in row)]
    if not rows:
        return pd.DataFrame()
    width = max(len(row) for row in rows)
    header = [(h or f"列{i + 1}") for i, h in enumerate(rows[0] + [None] * (width - len(rows[0])))]
    body = [row + [None] * (width - len(row)) for row in rows[1:]]
    return pd.DataFrame(body, columns=header, dtype=object)


def read_sheet(path: Path, what: str, limits: ArchiveLimits) -> pd.DataFrame:
    """Read the first sheet of an .xlsx (unpacked within ``limits``) or a .csv as text cells, blank rows dropped.

    Other files are refused.
    """
    if not path.is_file():
        raise BadRequest(f"找不到文件 {path}；请检查路径。", code="file_not_found")
    if path.suffix.lower() not in SUFFIXES:
        raise BadRequest(f"{what}应为 .xlsx 或 .csv 文件，收到 {path.name}。", code="unsupported_format")
    table = _text_table(path, limits)
    if table.empty:
        raise BadRequest(f"{what} {path.name} 没有数据行。", code="empty_table")
    return table.reset_index(drop=True)


def find_columns(
    table: pd.DataFrame, wanted: Mapping[str, tuple[str, ...]], required: set[str], what: str
) -> dict[str, str]:
    """Return field → column for the headers found (by any alias); refuse when a required one is missing."""
    by_fold = {fold(c): c for c in table.columns}
    found = {
        field: next((by_fold[fold(a)] for a in aliases if fold(a) in by_fold), None)
        for field, aliases in wanted.items()
    }
    missing = [wanted[f][0] for f in wanted if f in required and found[f] is None]
    if missing:
        raise BadRequest(
            f"{what}缺少列：{'、'.join(missing)}（现有列：{'、'.join(table.columns)}）。请按模板填写表头。",
            code="missing_columns",
            details={"missing": missing},
        )
    return {f: c for f, c in found.items() if c is not None}


def cell(value: Any) -> str | None:
    """Return a text cell trimmed, or None when blank."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def date_cell(value: Any, row: int, label: str) -> dt.date | None:
    """Read a date cell (``2024-06-05``, ``2024/6/5``, ``2024.06.05``, or an Excel date) or refuse naming the row."""
    text = cell(value)
    if text is None:
        return None
    # 2024年6月5日 and 2024.06.05 are written as often as 2024-06-05.
    plain = text.replace(".", "-").replace("/", "-").replace("年", "-").replace("月", "-").replace("日", "").rstrip("-")
    ymd = YMD.match(plain)
    if ymd:  # the usual forms, and Excel dates read as text: no parser guessing a format per cell
        try:
            return dt.date(int(ymd.group(1)), int(ymd.group(2)), int(ymd.group(3)))
        except ValueError:
            pass
    stamp = pd.to_datetime(plain, errors="coerce") if not ymd else pd.NaT
    if pd.isna(stamp):
        raise BadRequest(
            f"第 {row} 行的{label} {text!r} 不是日期；请写成 2024-06-05 的形式。",
            code="bad_date",
            details={"row": row, "value": text},
        )
    day: dt.date = stamp.date()
    return day


YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
BELOW = re.compile(r"^(?:<|＜)\s*([0-9.]+(?:[eE][-+]?\d+)?)$|^([0-9.]+(?:[eE][-+]?\d+)?)\s*[Ll]$")


def number_cell(value: Any, row: int, label: str) -> float | None:
    """Read a measured value; below the detection limit (``<0.01`` or ``0.01L``) counts as half the limit.

    Half the detection limit is how 《地表水环境质量评价办法（试行）》 counts a non-detect in means.
    """
    text = cell(value)
    if text is None or text in {"-", "—", "/"}:
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        pass
    match = BELOW.match(text)
    if match:
        return float(match.group(1) or match.group(2)) / 2
    raise BadRequest(
        f"第 {row} 行「{label}」的值 {text!r} 不是数值；请填写数值，低于检出限写成 0.01L 或 <0.01。",
        code="bad_value",
        details={"row": row, "column": label, "value": text},
    )
