"""Excel workbooks of the chiefs' work: the roster with its history, the boards to update with their texts.

A small local writer (bold frozen header with filters, fitted widths); the shared sheet writer
of :mod:`gis_service.export` can take its place once it exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gis_service.chiefs.assignments import assignment_record
from gis_service.chiefs.signboards import list_boards
from gis_service.db.models_chiefs import Chief, ChiefAssignment
from gis_service.export.sheets import Column, Sheet, workbook_bytes
from gis_service.settings import Settings


def table_sheet(title: str, columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]]) -> Sheet:
    """Return a sheet of ``rows`` under Chinese headers, for the service's one Excel writer (export/sheets.py)."""
    return Sheet(title, [Column(label) for _, label in columns], [[r.get(key) for key, _ in columns] for r in rows])


ROSTER_COLUMNS = [
    ("river_code", "河流编码"),
    ("level_label", "级别"),
    ("chief", "河长姓名"),
    ("post", "职务"),
    ("unit", "单位"),
    ("phone", "联系电话"),
    ("start", "起点桩号"),
    ("end", "终点桩号"),
    ("start_date", "任职日期"),
    ("end_date", "卸任日期"),
]
BOARD_COLUMNS = [
    ("code", "公示牌编号"),
    ("river_code", "河流编码"),
    ("start", "起点桩号"),
    ("end", "终点桩号"),
    ("chiefs", "公示河长"),
    ("status_label", "状态"),
    ("expected_text", "公示内容（按现行名录，用于制作新牌）"),
    ("text", "现牌内容"),
]


def roster_rows(session: Session, today: dt.date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the assignments in force today and all of them (history), as records with phones."""
    rows = session.execute(
        select(ChiefAssignment, Chief)
        .join(Chief, Chief.id == ChiefAssignment.chief_id)
        .order_by(ChiefAssignment.river_code, ChiefAssignment.start_m, ChiefAssignment.start_date)
    ).all()
    history = [assignment_record(a, c, staff=True) for a, c in rows]
    current = [
        r
        for r in history
        if r["start_date"] <= today.isoformat() and (r["end_date"] is None or r["end_date"] > today.isoformat())
    ]
    return current, history


def roster_bytes(session: Session, today: dt.date) -> tuple[bytes, int]:
    """Return the roster workbook (在任河长, and the history 任职记录) and how many records the history holds."""
    current, history = roster_rows(session, today)
    sheets = [table_sheet("在任河长", ROSTER_COLUMNS, current), table_sheet("任职记录", ROSTER_COLUMNS, history)]
    return workbook_bytes(sheets), len(history)


def roster_workbook(session: Session, today: dt.date, output: Path) -> int:
    """Write the roster workbook to ``output``; return how many records its history holds."""
    content, n = roster_bytes(session, today)
    output.write_bytes(content)
    return n


def boards_bytes(
    session: Session, settings: Settings, on: dt.date, status: str | None = "outdated"
) -> tuple[bytes, int]:
    """Return the boards workbook (those to update, or all) and how many boards it lists."""
    boards = list_boards(session, settings, on, status)
    title = "待更新公示牌" if status == "outdated" else "公示牌"
    return workbook_bytes([table_sheet(title, BOARD_COLUMNS, boards)]), len(boards)


def boards_workbook(
    session: Session, settings: Settings, on: dt.date, output: Path, status: str | None = "outdated"
) -> int:
    """Write the boards workbook to ``output``; return how many boards it lists."""
    content, n = boards_bytes(session, settings, on, status)
    output.write_bytes(content)
    return n
