"""Reading the Excel roster (河长名录): one row a chief's reach, checked cell by cell against the rivers.

Columns: 河流编码 (or 河流名称), 起点桩号, 终点桩号 (``K0+000`` or metres), 河长姓名, 职务, 级别,
联系电话, 任职日期, and optionally 单位. A bad row is named with its column and the fix; the
whole roster is then refused and nothing is stored, as for a delivery.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from gis_service.catalogue import fold
from gis_service.chiefs.levels import Level, parse_chainage, parse_level
from gis_service.errors import BadRequest, ServiceError

COLUMNS = {
    "river_code": ("河流编码", "河流代码", "编码"),
    "river_name": ("河流名称", "河流", "河名"),
    "start": ("起点桩号", "起始桩号", "起点"),
    "end": ("终点桩号", "终止桩号", "终点"),
    "name": ("河长姓名", "河长", "姓名"),
    "post": ("职务",),
    "level": ("级别", "河长级别"),
    "phone": ("联系电话", "电话", "手机"),
    "start_date": ("任职日期", "任职时间", "上任日期"),
    "unit": ("单位", "工作单位", "所在单位"),
}
REQUIRED = ("name", "level")
HEADER_SCAN_ROWS = 10


class RosterRejected(ServiceError):
    """A roster with bad rows; details carry the report (every problem with its row and column)."""

    code = "roster_rejected"
    http_status = 422


@dataclass(frozen=True)
class RiverFacts:
    """What the roster check needs of a river: its code, name and centerline length."""

    code: str
    name: str
    length_m: float


@dataclass(frozen=True)
class RosterRow:
    """One checked roster row: a chief and the reach of a river they answer for from a date."""

    row: int
    river_code: str
    start_m: float
    end_m: float
    name: str
    post: str | None
    level: Level
    phone: str | None
    unit: str | None
    start_date: dt.date


def _text(value: Any) -> str | None:
    """Return a cell as trimmed text (a phone typed as a number keeps its digits), None when blank."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def read_sheet(path: Path) -> tuple[dict[str, int], list[tuple[int, tuple[Any, ...]]]]:
    """Return the roster's column positions (by field) and its data rows with their Excel row numbers."""
    if not path.is_file():
        raise BadRequest(f"找不到名录文件 {path}", code="file_not_found")
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise BadRequest(
            f"名录文件 {path.name} 不是可读的 Excel（.xlsx）文件：{str(exc)[:120]}；请用 Excel 另存为 .xlsx 后重试",
            code="bad_roster_file",
        ) from None
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    book.close()
    wanted = {fold(alias): field for field, aliases in COLUMNS.items() for alias in aliases}
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        found = {wanted[fold(str(c))]: j for j, c in enumerate(row) if c is not None and fold(str(c)) in wanted}
        if "name" in found:
            data = [(i + j + 2, r) for j, r in enumerate(rows[i + 1 :]) if any(c not in (None, "") for c in r)]
            return found, data
    raise BadRequest(
        f"名录 {path.name} 的前 {HEADER_SCAN_ROWS} 行中没有表头“河长姓名”；"
        "请使用列：河流编码（或河流名称）、起点桩号、终点桩号、河长姓名、职务、级别、联系电话、任职日期",
        code="roster_header_missing",
    )


def _date(value: Any) -> dt.date:
    """Return a date cell (an Excel date, or ``YYYY-MM-DD`` text), or raise ValueError."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip().replace("/", "-").replace(".", "-"))


class _RowCheck:
    """Checks one roster row, collecting its problems."""

    def __init__(self, number: int, cells: Mapping[str, Any]) -> None:
        self.number = number
        self.cells = cells
        self.problems: list[dict[str, Any]] = []

    def problem(self, column: str, message: str) -> None:
        """Record a problem of ``column`` (named in Chinese) in this row."""
        self.problems.append(
            {
                "row": self.number,
                "column": column,
                "value": _text(self.cells.get(_FIELD_OF[column])),
                "message": message,
            }
        )


_FIELD_OF = {aliases[0]: field for field, aliases in COLUMNS.items()}


def _river(check: _RowCheck, rivers: Mapping[str, RiverFacts]) -> RiverFacts | None:
    """Return the river a row names by code or name, or record why not."""
    code, name = _text(check.cells.get("river_code")), _text(check.cells.get("river_name"))
    if code:
        if code in rivers:
            return rivers[code]
        check.problem("河流编码", f"河流编码 {code} 不在河流图层中；请先导入河流，或改正编码")
        return None
    if name:
        named = [r for r in rivers.values() if r.name == name]
        if len(named) == 1:
            return named[0]
        why = "有重名，请改填河流编码" if named else "不在河流图层中；请改正名称或填河流编码"
        check.problem("河流名称", f"河流名称 {name} {why}")
        return None
    check.problem("河流编码", "缺少河流：请填河流编码或河流名称")
    return None


def _reach(check: _RowCheck, river: RiverFacts, tolerance_m: float) -> tuple[float, float] | None:
    """Return the row's reach in metres (blank: the river's head or mouth), or record why not."""
    bounds = []
    for column, default in (("起点桩号", 0.0), ("终点桩号", river.length_m)):
        try:
            value = parse_chainage(check.cells.get(_FIELD_OF[column]))
        except ValueError:
            check.problem(column, f"{column}无法识别；请写成 K1+250 或米数 1250")
            return None
        bounds.append(default if value is None else value)
    start, end = bounds
    if end <= start:
        check.problem("终点桩号", "终点桩号须大于起点桩号（桩号沿水流方向递增）")
        return None
    if end > river.length_m + tolerance_m:
        check.problem("终点桩号", f"终点桩号超出河流 {river.code} 的长度 {river.length_m:.0f} m；请核对桩号或河流")
        return None
    return start, min(end, river.length_m)


def check_row(
    number: int, cells: Mapping[str, Any], rivers: Mapping[str, RiverFacts], today: dt.date, tolerance_m: float
) -> tuple[RosterRow | None, list[dict[str, Any]]]:
    """Return one row checked (or None) and its problems."""
    check = _RowCheck(number, cells)
    name = _text(cells.get("name"))
    if not name:
        check.problem("河长姓名", "缺少河长姓名")
    level = parse_level(cells.get("level"))
    if level is None:
        check.problem("级别", "级别无法识别；可填：区级、镇街级、村级")
    start_date = today
    if _text(cells.get("start_date")):
        try:
            start_date = _date(cells.get("start_date"))
        except ValueError:
            check.problem("任职日期", "任职日期无法识别；请写成 YYYY-MM-DD，例如 2025-03-01")
    river = _river(check, rivers)
    reach = _reach(check, river, tolerance_m) if river is not None else None
    if check.problems or river is None or reach is None or name is None or level is None:
        return None, check.problems
    row = RosterRow(
        row=number,
        river_code=river.code,
        start_m=reach[0],
        end_m=reach[1],
        name=name,
        post=_text(cells.get("post")),
        level=level,
        phone=_text(cells.get("phone")),
        unit=_text(cells.get("unit")),
        start_date=start_date,
    )
    return row, []


def read_roster(path: Path, rivers: Mapping[str, RiverFacts], today: dt.date, tolerance_m: float) -> list[RosterRow]:
    """Return the checked rows of a roster file, or raise :class:`RosterRejected` naming every bad row."""
    columns, data = read_sheet(path)
    if "river_code" not in columns and "river_name" not in columns:
        raise BadRequest("名录缺少“河流编码”或“河流名称”列", code="roster_header_missing")
    missing = [COLUMNS[f][0] for f in REQUIRED if f not in columns]
    if missing:
        raise BadRequest(f"名录缺少列：{'、'.join(missing)}", code="roster_header_missing")
    rows, problems = [], []
    for number, values in data:
        cells = {field: values[j] if j < len(values) else None for field, j in columns.items()}
        row, found = check_row(number, cells, rivers, today, tolerance_m)
        problems.extend(found)
        if row is not None:
            rows.append(row)
    if not data:
        raise BadRequest(f"名录 {path.name} 没有数据行", code="empty_roster")
    if problems:
        report = {
            "file": path.name,
            "rows": len(data),
            "bad_rows": len({p["row"] for p in problems}),
            "problems": problems,
        }
        raise RosterRejected(
            f"名录中有 {report['bad_rows']} 行有误，未保存任何内容；请按报告改正后重新导入", details=report
        )
    return rows
