"""The one Excel and CSV writer: a sheet from a table spec, every text cell guarded against formula injection.

Every workbook the service writes (ratio check, ledger, outfall register, layer tables, audit log)
goes through :func:`write_workbook`: Chinese headers in a bold frozen row with filters, numbers as
numbers, percentages as percent-formatted numbers, dates as dates, fitted widths.

Text from users or files that starts with ``=``, ``+``, ``-``, ``@``, tab or CR would be taken by
Excel or LibreOffice as a formula (``=HYPERLINK(…)``, ``=cmd|' /C calc'!A0``). In a workbook such a
cell is written as a string cell with Excel's quote-prefix flag: the stored text stays exactly what
was delivered, and editing the cell in Excel does not turn it into a formula either. A CSV file has
no cell types, so there the text gets OWASP's leading apostrophe (:func:`guard_csv_text`).

A text longer than Excel's 32 767-character cell limit is never cut silently: the cell keeps the
beginning and says so, and the whole text is written in pieces on a sheet named ``超长文本``.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from gis_service.errors import BadRequest

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

CHINA = ZoneInfo("Asia/Shanghai")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
CELL_LIMIT = 32_767
OVERFLOW_SHEET = "超长文本"
PERCENT = "0.0%"
DATE = "yyyy-mm-dd"
DATETIME = "yyyy-mm-dd hh:mm:ss"
WIDTH_SAMPLE = 300


@functools.cache
def _xl() -> SimpleNamespace:
    """Return openpyxl's pieces the writer uses and the workbook styles, imported on the first workbook.

    openpyxl (with Pillow and lxml) takes ~60 ms to import: the commands and routes that import this
    module for its CSV, its table specs or a format check (``rivergis ratios`` printing a table) never
    write a workbook and need not pay it.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

    thin = Side(style="thin", color="999999")
    return SimpleNamespace(
        Workbook=Workbook,
        WriteOnlyCell=WriteOnlyCell,
        WriteOnlyWorksheet=WriteOnlyWorksheet,
        ILLEGAL_CHARACTERS_RE=ILLEGAL_CHARACTERS_RE,
        get_column_letter=get_column_letter,
        HEADER_FONT=Font(bold=True),
        HEADER_FILL=PatternFill("solid", fgColor="DDEBF7"),
        HEADER_ALIGN=Alignment(horizontal="center", vertical="center", wrap_text=True),
        MARK_FONT=Font(color="C00000", bold=True),
        TOTAL_FONT=Font(bold=True),
        BORDER=Border(left=thin, right=thin, top=thin, bottom=thin),
    )


@dataclass(frozen=True)
class Column:
    """One column: its (Chinese) header and the Excel number format of its numbers (None: general)."""

    header: str
    number_format: str | None = None


@dataclass
class Sheet:
    """A table to write: columns, rows of plain values, bold total rows, rows to mark (e.g. overdue)."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Any]]
    totals: Sequence[Sequence[Any]] = ()
    marked: Sequence[bool] | None = None
    borders: bool = False
    header_height: float | None = None


@dataclass
class _Overflow:
    """Texts too long for one cell, kept whole for the ``超长文本`` sheet."""

    pieces: list[list[Any]] = field(default_factory=list)

    def keep(self, sheet: str, ref: str, text: str) -> str:
        """Remember ``text`` in pieces and return what its own cell shows."""
        parts = [text[i : i + CELL_LIMIT] for i in range(0, len(text), CELL_LIMIT)]
        for n, part in enumerate(parts, start=1):
            self.pieces.append([sheet, ref, len(text), f"{n}/{len(parts)}", part])
        note = f"……（全文 {len(text)} 字，超过 Excel 单元格上限，完整内容见“{OVERFLOW_SHEET}”工作表）"
        return text[: CELL_LIMIT - len(note)] + note


def guard_csv_text(value: Any) -> Any:
    """Return ``value`` safe for a CSV cell: text that a spreadsheet would run as a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def plain(value: Any) -> Any:
    """Return a cell value: numbers as Python numbers, missing as None, dates as dates, lists/dicts as JSON text."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        # Excel has no time zones: a moment is written as the office's wall-clock time (China time).
        return value.astimezone(CHINA).replace(tzinfo=None)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bool | int | float | str | dt.date | dt.datetime | dt.time):
        return value
    return str(value)


def _text_width(value: Any) -> int:
    """Return the display width of a value (CJK characters count double)."""
    text = value if isinstance(value, str) else str(value)
    return sum(2 if ord(ch) > 127 else 1 for ch in text[:200])


def _widths(spec: Sheet) -> list[float]:
    """Return column widths fitted to the header and the first rows' texts."""
    widths: list[float] = []
    for i, column in enumerate(spec.columns):
        sample = [r[i] for r in spec.rows[:WIDTH_SAMPLE] if i < len(r) and r[i] is not None]
        numeric = column.number_format is not None
        longest = max([_text_width(column.header), *(_text_width(plain(v)) for v in sample if isinstance(v, str))])
        widths.append(min(50, max(11 if numeric else 8, longest + 2)))
    return widths


def _cell(
    ws: WriteOnlyWorksheet, value: Any, ref: str, column: Column, font: Font | None, border: bool, overflow: _Overflow
) -> Any:
    """Return what to append for one value: the plain value, or a styled cell when it needs one."""
    xl = _xl()
    value = plain(value)
    number_format = None
    guarded = False
    if isinstance(value, str):
        value = xl.ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)  # control characters a workbook cannot hold
        if len(value) > CELL_LIMIT:
            value = overflow.keep(ws.title, ref, value)
        guarded = value.startswith(FORMULA_STARTS)
    elif isinstance(value, dt.datetime):
        number_format = DATETIME
    elif isinstance(value, dt.date):
        number_format = DATE
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number_format = column.number_format
    if not (guarded or number_format or font or border):
        return value
    cell = xl.WriteOnlyCell(ws, value=value)
    if guarded:
        cell.data_type = "s"
        cell.quotePrefix = True
    if number_format:
        cell.number_format = number_format
    if font:
        cell.font = font
    if border:
        cell.border = xl.BORDER
    return cell


def _write_sheet(book: Workbook, spec: Sheet, overflow: _Overflow) -> None:
    """Write one sheet in streaming mode (layout first, then the rows)."""
    xl = _xl()
    ws = book.create_sheet(spec.title[:31])
    assert isinstance(ws, xl.WriteOnlyWorksheet)  # the book is write-only
    n_rows = len(spec.rows) + len(spec.totals)
    width = len(spec.columns)
    letters = [xl.get_column_letter(i) for i in range(1, width + 1)]
    for letter, w in zip(letters, _widths(spec), strict=True):
        ws.column_dimensions[letter].width = w
    ws.freeze_panes = "A2"
    if n_rows and width:
        ws.auto_filter.ref = f"A1:{letters[-1]}{n_rows + 1}"
    header = []
    for column in spec.columns:
        cell = xl.WriteOnlyCell(ws, value=xl.ILLEGAL_CHARACTERS_RE.sub("\ufffd", column.header))
        if column.header.startswith(FORMULA_STARTS):
            cell.data_type = "s"
            cell.quotePrefix = True
        cell.font, cell.fill, cell.alignment = xl.HEADER_FONT, xl.HEADER_FILL, xl.HEADER_ALIGN
        if spec.borders:
            cell.border = xl.BORDER
        header.append(cell)
    if spec.header_height:
        ws.row_dimensions[1].height = spec.header_height
    ws.append(header)
    marked = spec.marked or ()
    for r, row in enumerate([*spec.rows, *spec.totals], start=2):
        is_total = r - 2 >= len(spec.rows)
        font = xl.TOTAL_FONT if is_total else (xl.MARK_FONT if r - 2 < len(marked) and marked[r - 2] else None)
        ws.append(
            [
                _cell(ws, value, f"{letters[i]}{r}", spec.columns[i], font, spec.borders, overflow)
                for i, value in enumerate(row[:width])
            ]
        )


def build_workbook(sheets: Iterable[Sheet]) -> Workbook:
    """Return a (write-only) workbook of ``sheets``, plus ``超长文本`` when a text was too long for its cell."""
    book = _xl().Workbook(write_only=True)
    overflow = _Overflow()
    for spec in sheets:
        _write_sheet(book, spec, overflow)
    if overflow.pieces:
        columns = [Column("工作表"), Column("单元格"), Column("全文字数", "0"), Column("段"), Column("内容")]
        _write_sheet(book, Sheet(OVERFLOW_SHEET, columns, overflow.pieces), _Overflow())
    if not book.worksheets:
        book.create_sheet("Sheet1")
    return book


def write_workbook(path: Path, sheets: Iterable[Sheet]) -> Path:
    """Write ``sheets`` as one workbook at ``path``; return the path."""
    book = build_workbook(sheets)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def workbook_bytes(sheets: Iterable[Sheet]) -> bytes:
    """Return ``sheets`` as the bytes of one workbook."""
    buffer = io.BytesIO()
    build_workbook(sheets).save(buffer)
    return buffer.getvalue()


def frame_sheet(title: str, frame: pd.DataFrame, formats: Mapping[str, str] | None = None, **kw: Any) -> Sheet:
    """Return a sheet of ``frame``: its columns as headers, ``formats`` giving number formats by header."""
    formats = formats or {}
    columns = [Column(str(c), formats.get(str(c))) for c in frame.columns]
    rows = list(frame.itertuples(index=False, name=None))
    return Sheet(title, columns, rows, **kw)


def csv_text(frame: pd.DataFrame) -> str:
    """Return ``frame`` as CSV text with every formula-like text cell guarded."""
    guarded = frame.copy()
    for name in guarded.columns:
        if guarded[name].dtype == object or isinstance(guarded[name].dtype, pd.StringDtype):
            guarded[name] = guarded[name].map(guard_csv_text)
    return guarded.to_csv(index=False)


def csv_bytes(frame: pd.DataFrame, encoding: str = "utf-8-sig") -> bytes:
    """Return ``frame`` as guarded CSV in ``encoding`` (UTF-8 with BOM by default, so Excel reads Chinese)."""
    text = csv_text(frame)
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise BadRequest(
            f"导出内容含有 {encoding} 无法表示的字符“{bad}”；请改用 UTF-8 导出",
            code="unencodable_text",
        ) from None


def write_csv(frame: pd.DataFrame, path: Path, encoding: str = "utf-8-sig") -> Path:
    """Write ``frame`` as a guarded CSV file in ``encoding``; return the path."""
    data = csv_bytes(frame, encoding)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
