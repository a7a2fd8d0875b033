"""The layout of a coordinate table as survey offices write it: where the header is and where the data ends.

Offices put a title row above the header (孝子河界桩坐标成果表), write two-row headers with merged
cells (坐标 over X and Y), add notes below the table (注：坐标系统采用 CGCS2000 …), and CASS writes
``.dat`` files with no header at all (``点名,编码,Y,X,H`` a line, CASS's Y being the easting). The
grid of cells is read as it is (merged cells filled from their top-left cell) and the header row
is the first one naming a pair of coordinate axes.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gis_service.errors import BadRequest
from gis_service.ingest.archive import ArchiveLimits, check_archive
from gis_service.ingest.encoding import EncodingChoice, decode_text

Grid = list[list[Any]]

# Header words of each axis once units, "坐标", "值" and spaces are taken away (纵坐标X → 纵x).
AXIS_WORDS = {
    "north": {"x", "n", "北", "纵", "northing", "north", "纵x", "北x", "x纵", "x北", "北n", "n北", "xn"},
    "east": {"y", "e", "东", "横", "easting", "east", "横y", "东y", "y横", "y东", "东e", "e东", "ye"},
    "lon": {"经度", "lon", "lng", "long", "longitude", "东经", "经度l"},
    "lat": {"纬度", "lat", "latitude", "北纬", "纬度b"},
}
AXIS_PAIRS = (("north", "east"), ("lon", "lat"))
UNITS = re.compile(r"[(（\[【][^)）\]】]*[)）\]】]")
NOTE_START = re.compile(
    r"^(注|说明|备注[:：]|附注|测量单位|施测单位|作业单位|测绘单位[:：]|日期|制表|审核|校核|检查|坐标系|高程系|平面坐标系)"
)
# CASS coordinate data file: point name, feature code, easting (CASS's Y), northing (CASS's X), height.
CASS_COLUMNS = ["点名", "编码", "Y", "X", "高程"]
MAX_HEADER_SEARCH = 30
THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def axis_of(header: Any) -> str | None:
    """Return the axis a column header names (north, east, lon, lat), or None."""
    if header is None:
        return None
    text = unicodedata.normalize("NFKC", str(header)).casefold()
    text = UNITS.sub("", "".join(text.split()))
    for word in ("坐标", "值", "向", "(m)", "米"):
        text = text.replace(word, "")
    return next((axis for axis, words in AXIS_WORDS.items() if text in words), None)


@dataclass
class Layout:
    """A table found in a grid: header names, data rows (with their row numbers in the file), the rest."""

    table: pd.DataFrame
    rows: list[int]
    header_rows: list[int] = field(default_factory=list)
    title: str | None = None
    notes: list[str] = field(default_factory=list)
    cass: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the layout for the report."""
        return {
            "title": self.title,
            "header_rows": self.header_rows,
            "data_rows": [self.rows[0], self.rows[-1]] if self.rows else [],
            "notes": self.notes,
            "cass": self.cass,
        }


def _blank(value: Any) -> bool:
    """Tell whether a cell is empty."""
    if isinstance(value, float):
        return value != value  # NaN
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    """Return a cell as trimmed text."""
    return "" if _blank(value) else str(value).strip()


def xlsx_grid(path: Path, limits: ArchiveLimits) -> Grid:
    """Return the first sheet's cells, merged ranges filled with their top-left value."""
    from openpyxl import load_workbook

    check_archive(path, limits, what="Excel 文件")  # an .xlsx is a zip: same bomb limits
    try:
        book = load_workbook(path, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken workbook
        raise BadRequest(
            f"无法读取 Excel 文件 {path.name}：{exc}。请用 Excel 另存为 .xlsx 后重试。", code="unreadable_file"
        ) from exc
    sheet = book.worksheets[0]
    grid = [list(row) for row in sheet.iter_rows(values_only=True)]
    for merged in sheet.merged_cells.ranges:
        top = grid[merged.min_row - 1][merged.min_col - 1]
        for r in range(merged.min_row, merged.max_row + 1):
            for c in range(merged.min_col, merged.max_col + 1):
                grid[r - 1][c - 1] = top
    return grid


def text_grid(text: str, name: str) -> Grid:
    """Return the cells of a delimited text (comma, tab, semicolon or full-width comma)."""
    lines = text.splitlines()
    sample = [line for line in lines if line.strip()][:50]
    counts = {d: sum(line.count(d) for line in sample) for d in (",", "\t", ";", "，")}
    delimiter = max(counts, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        raise BadRequest(
            f"无法解析表格 {name}：找不到分隔符（逗号或制表符）。请另存为 CSV（逗号分隔）。", code="unreadable_file"
        )
    return [list(row) for row in csv.reader(io.StringIO(text), delimiter=delimiter)]


def load_grid(path: Path, encoding: str | None, limits: ArchiveLimits) -> tuple[Grid, EncodingChoice | None]:
    """Read the cells of an XLSX's first sheet (unpacked within ``limits``), a CSV or a CASS ``.dat``."""
    if path.suffix.lower() == ".xlsx":
        return xlsx_grid(path, limits), None
    text, choice = decode_text(path.read_bytes(), encoding)
    return text_grid(text, path.name), choice


def _header_pair(row: list[Any]) -> bool:
    """Tell whether a row names both axes of a coordinate pair."""
    axes = {axis_of(cell) for cell in row}
    return any(a in axes and b in axes for a, b in AXIS_PAIRS)


def number(value: Any) -> tuple[float | None, bool]:
    """Return a cell as a number (None when it is not one) and whether it was text needing care.

    Offices type coordinates as text: full-width digits (３２４５６７８．１２), thousands separators
    (3,245,678.12), spaces. Those read as the number they show; anything else is not a number.
    """
    if isinstance(value, bool) or _blank(value):
        return None, False
    if isinstance(value, int | float):
        return float(value), False
    raw = str(value).strip()
    text = "".join(unicodedata.normalize("NFKC", raw).split())
    if THOUSANDS.match(text):
        text = text.replace(",", "")
    if not PLAIN_NUMBER.match(text):
        return None, False
    return float(text), text != raw


def _is_note(row: list[Any], axes: list[int], later: list[list[Any]]) -> bool:
    """Tell whether a row below the header starts the notes (注：…, or text alone) rather than being a point.

    A row with no coordinates is a point with a mistake, not a note, when points follow it.
    """
    cells = [_text(v) for v in row if not _blank(v)]
    if not cells or any(number(row[j])[0] is not None for j in axes):
        return False
    # A note merged across the sheet fills every cell with the same text; a point has a name and more.
    if not (NOTE_START.match(cells[0]) or len(set(cells)) == 1):
        return False
    return not any(all(number(r[j])[0] is not None for j in axes) for r in later)


def _names(grid: Grid, at: int, width: int) -> tuple[list[str], list[int]]:
    """Return the column names of the header at row ``at`` (with the row above when it is a header too)."""
    row = [_text(v) for v in grid[at]] + [""] * (width - len(grid[at]))
    rows = [at + 1]
    if at > 0:
        above = [_text(v) for v in grid[at - 1]] + [""] * (width - len(grid[at - 1]))
        # A two-row header (坐标 over X, Y): the upper row has several names, a title has one.
        if len({v for v in above if v}) >= 2:
            row = [low or high for low, high in zip(row, above, strict=True)]
            rows = [at, at + 1]
    names, seen = [], set()
    for i, name in enumerate(row):
        name = name or f"列{i + 1}"
        while name in seen:
            name += "_"
        seen.add(name)
        names.append(name)
    return names, rows


def find_layout(grid: Grid, name: str, *, cass: bool = False) -> Layout:
    """Find the table in ``grid``: its header (or CASS's fixed columns), its data rows and the notes below."""
    width = max((len(r) for r in grid), default=0)
    grid = [list(r) + [None] * (width - len(r)) for r in grid]
    header_rows: list[int] = []
    title: str | None = None
    if cass:
        width = max(width, len(CASS_COLUMNS))
        names = CASS_COLUMNS + [f"列{i + 1}" for i in range(len(CASS_COLUMNS), width)]
        grid = [r + [None] * (width - len(r)) for r in grid]
        start = 0
    else:
        at = next((i for i, row in enumerate(grid[:MAX_HEADER_SEARCH]) if _header_pair(row)), None)
        if at is None:
            found = "、".join(_text(v) for v in next((r for r in grid if any(not _blank(v) for v in r)), []) if v)
            raise BadRequest(
                f"坐标表 {name} 中找不到坐标列（前 {MAX_HEADER_SEARCH} 行没有成对的坐标表头；首行：{found or '空'}）。"
                "请用表头 X、Y（或 北坐标、东坐标，纵坐标X、横坐标Y，N、E，或 经度、纬度）。",
                code="missing_coordinates",
            )
        names, header_rows = _names(grid, at, width)
        start = at + 1
        above = [_text(v) for row in grid[: header_rows[0] - 1] for v in row if not _blank(v)]
        title = "".join(dict.fromkeys(above)) or None
    axes = [i for i, n in enumerate(names) if axis_of(n)]
    data: list[list[Any]] = []
    rows: list[int] = []
    notes: list[str] = []
    for i in range(start, len(grid)):
        row = grid[i]
        if all(_blank(v) for v in row):
            continue
        if _is_note(row, axes, grid[i + 1 :]):
            notes = [" ".join(dict.fromkeys(_text(v) for v in r if not _blank(v))) for r in grid[i:]]
            notes = [n for n in notes if n]
            break
        data.append(row)
        rows.append(i + 1)
    table = pd.DataFrame(data, columns=names, dtype=object)
    # Columns with neither a name nor a value (the sheet's empty right margin) are no columns.
    keep = [c for c in names if not (c.startswith("列") and table[c].map(_blank).all())]
    return Layout(table=table[keep], rows=rows, header_rows=header_rows, title=title, notes=notes, cass=cass)
