"""Demo stake coordinate tables as survey offices send them: an office workbook and a CASS ``.dat``.

Both list the first left-bank stakes of 孝子河 (WS001) from the demo stakes, so that importing
them checks against the demo's own range lines: the workbook with a title row, a two-row header
(坐标 over X and Y, merged) and a note below; the CASS file headerless, ``点名,编码,Y,X,H``.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

WORKBOOK = "孝子河界桩坐标成果表.xlsx"
CASS = "孝子河界桩.dat"
TITLE = "孝子河界桩坐标成果表（演示数据，虚构）"
NOTE = "注：坐标系统为 CGCS2000，3° 带第 36 带，X 为北坐标，Y 为东坐标（含带号 36）；单位：米。"
COUNT = 10


def sample_stakes(stakes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the first COUNT left-bank stakes of WS001 (EPSG:4524), in code order."""
    chosen = stakes[(stakes["河流编码"] == "WS001") & (stakes["岸别"] == "左岸") & (stakes["类型"] == "界桩")]
    return chosen.sort_values("界桩编号").head(COUNT)


def write_workbook(stakes: gpd.GeoDataFrame, path: Path) -> None:
    """Write the office's sheet: title, merged 坐标/X Y header, one stake a row, the note below (openpyxl)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "界桩坐标"
    sheet.append([TITLE])
    sheet.merge_cells("A1:E1")
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append(["点号", "坐标", None, "类型", "备注"])
    sheet.append([None, "X", "Y", None, None])
    for merged in ("A2:A3", "B2:C2", "D2:D3", "E2:E3"):
        sheet.merge_cells(merged)
    for code, kind, point in zip(stakes["界桩编号"], stakes["类型"], stakes.geometry, strict=True):
        sheet.append([code, round(point.y, 3), round(point.x, 3), kind, "新埋设"])
    sheet.append([])
    sheet.append([NOTE])
    sheet.merge_cells(start_row=sheet.max_row, start_column=1, end_row=sheet.max_row, end_column=5)
    for column, width in zip("ABCDE", (16, 14, 16, 8, 10), strict=True):
        sheet.column_dimensions[column].width = width
    book.save(path)


def write_cass(stakes: gpd.GeoDataFrame, path: Path) -> None:
    """Write a CASS coordinate data file: ``点名,编码,Y,X,H`` a line (Y the easting), GBK, CRLF."""
    lines = [f"{code},JZ,{p.x:.3f},{p.y:.3f}," for code, p in zip(stakes["界桩编号"], stakes.geometry, strict=True)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))


def write_stake_tables(out_dir: Path, stakes: gpd.GeoDataFrame) -> dict[str, int]:
    """Write both tables next to the Shapefiles; return their row counts by file name."""
    sample = sample_stakes(stakes)
    write_workbook(sample, out_dir / WORKBOOK)
    write_cass(sample, out_dir / CASS)
    return {WORKBOOK: len(sample), CASS: len(sample)}
