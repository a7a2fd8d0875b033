"""Stake coordinate tables as survey offices write them: title rows, two-row headers, notes, CASS .dat, text numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from openpyxl import Workbook
from sqlalchemy import Engine

from gis_service.store.features import read_features
from tests.test_import_fixtures import cli
from tests.test_import_formats import _stake_points

FULL_WIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")


def stored_stakes(engine: Engine) -> np.ndarray:
    """Return the stakes of the latest WS001 delivery in EPSG:4524 (x = easting with prefix), by code."""
    with engine.connect() as conn:
        stakes = read_features(conn, "stakes", where={"river_code": "WS001"}, current_only=False)
    stakes = stakes[stakes["code"].str.startswith("T")].sort_values("code").to_crs(4524)
    return shapely.get_coordinates(stakes.geometry.values)


def office_workbook(path: Path, xy: np.ndarray) -> Path:
    """Write the sheet an office sends: title, merged 坐标 over X/Y, text numbers, notes below (openpyxl)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["孝子河界桩坐标成果表"])
    sheet.merge_cells("A1:D1")
    sheet.append(["点号", "坐标", None, "备注"])
    sheet.append([None, "X", "Y", None])
    sheet.merge_cells("B2:C2")
    sheet.merge_cells("A2:A3")
    sheet.merge_cells("D2:D3")
    for i, (east, north) in enumerate(xy):
        if i == 0:  # full-width digits, as an input method types them
            cells = [f"{north:.3f}".translate(FULL_WIDTH), f"{east:.3f}".translate(FULL_WIDTH)]
        elif i == 1:  # thousands separators, as Excel's number format shows them, kept as text
            cells = [f"{north:,.3f}", f"{east:,.3f}"]
        else:
            cells = [round(north, 3), round(east, 3)]
        sheet.append([f"T{i + 1}", *cells, "新埋设"])
    sheet.append([])
    sheet.append(["注：坐标系统采用 CGCS2000，3° 带第 36 带。"])
    sheet.merge_cells(f"A{sheet.max_row}:D{sheet.max_row}")
    sheet.append(["测量单位：万盛测绘院", None, "日期：2024-05-20"])
    book.save(path)
    return path


def test_office_workbook_with_title_merged_header_text_numbers_and_notes(demo_engine: Engine, tmp_path: Path) -> None:
    xy = _stake_points(demo_engine)
    path = office_workbook(tmp_path / "孝子河界桩坐标成果表.xlsx", xy)
    exit_code, body = cli("import", "stakes", str(path), "--river", "WS001")
    assert exit_code == 0, body
    source = body["source"]
    assert source["table"]["title"] == "孝子河界桩坐标成果表"
    assert source["table"]["header_rows"] == [2, 3]
    assert source["table"]["data_rows"] == [4, 7]
    assert source["axes"].startswith("X 列为北坐标（7 位），Y 列为东坐标（8 位，含带号 36）")
    # Row 4 has two full-width numbers, row 5 two with thousands separators: 4 text cells.
    assert "4 个坐标是文本" in source["axes"]
    assert {"column": "X", "read_as": "northing"} in source["columns"]
    assert {"column": "Y", "read_as": "easting"} in source["columns"]
    assert {"column": "点号", "read_as": "field:code"} in source["columns"]
    assert source["extra_fields"] == ["备注"]
    assert body["codes"].get("table_notes") == 1
    assert body["deliveries"][0]["feature_count"] == 4
    # Stored where the sheet says, to the millimetre it was written with.
    np.testing.assert_allclose(stored_stakes(demo_engine), xy.round(3), atol=2e-3)


@pytest.mark.parametrize(
    ("north", "east"),
    [("纵坐标X", "横坐标Y"), ("北坐标", "东坐标"), ("N", "E"), ("X坐标(m)", "Y坐标(m)")],
)
def test_csv_headers_offices_use(demo_engine: Engine, tmp_path: Path, north: str, east: str) -> None:
    xy = _stake_points(demo_engine, 3)
    table = pd.DataFrame({"桩号": ["T1", "T2", "T3"], north: xy[:, 1].round(3), east: xy[:, 0].round(3)})
    csv = tmp_path / "t.csv"
    # A GBK CSV with a title line above the header, as Excel saves one.
    csv.write_bytes(("孝子河界桩坐标成果表,,\n" + table.to_csv(index=False)).encode("gbk"))
    exit_code, body = cli("import", "stakes", str(csv), "--river", "WS001")
    assert exit_code == 0, body
    assert body["source"]["axes"].startswith(f"{north} 列为北坐标（7 位），{east} 列为东坐标")
    np.testing.assert_allclose(stored_stakes(demo_engine), xy.round(3), atol=2e-3)


def test_cass_dat_file(demo_engine: Engine, tmp_path: Path) -> None:
    xy = _stake_points(demo_engine, 3)
    # CASS writes 点名,编码,Y,X,H with Y the easting; the code is often empty.
    lines = [f"T{i + 1},{'JZ' if i else ''},{e:.3f},{n:.3f},{312.5 + i:.2f}" for i, (e, n) in enumerate(xy)]
    dat = tmp_path / "界桩.dat"
    dat.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    exit_code, body = cli("import", "stakes", str(dat), "--river", "WS001")
    assert exit_code == 0, body
    assert body["source"]["format"] == "CASS"
    assert body["source"]["axes"].startswith("X 列为北坐标（7 位），Y 列为东坐标（8 位，含带号 36）")
    assert "CASS" in body["source"]["axes"]
    assert sorted(body["source"]["extra_fields"]) == ["编码", "高程"]
    np.testing.assert_allclose(stored_stakes(demo_engine), xy.round(3), atol=2e-3)
    with demo_engine.connect() as conn:
        stakes = read_features(conn, "stakes", where={"river_code": "WS001"}, current_only=False)
    extra = stakes.set_index("code").loc[["T1", "T2"], "extra"].tolist()
    # Kept as written (text in a text file): nothing the surveyor sent is reformatted.
    assert extra == [{"高程": "312.50"}, {"编码": "JZ", "高程": "313.50"}]


def test_a_point_without_coordinates_inside_the_table_is_an_error_not_a_note(
    demo_engine: Engine, tmp_path: Path
) -> None:
    xy = _stake_points(demo_engine, 2)
    csv = tmp_path / "t.csv"
    csv.write_text(
        f"点号,X,Y\nT1,{xy[0, 1]:.3f},{xy[0, 0]:.3f}\nT2,,\nT3,{xy[1, 1]:.3f},{xy[1, 0]:.3f}\n", encoding="utf-8"
    )
    exit_code, body = cli("import", "stakes", str(csv), "--river", "WS001")
    assert exit_code == 2
    findings = body["error"]["details"]["findings"]
    bad = [f for f in findings if f["code"] == "bad_coordinate"]
    assert len(bad) == 1 and "表格第 3 行" in bad[0]["message"]
    assert "table_notes" not in body["error"]["details"]["codes"]
