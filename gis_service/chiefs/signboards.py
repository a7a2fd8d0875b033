"""Signboards (公示牌): one a reach, text from the assignments in force, 待更新 when the roster moved on.

A board names every chief (all levels) whose reach shares the board's reach. When a chief
changes, exactly the boards naming the old chief get a different expected text and are flagged
``outdated`` until staff record the new board as put up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import shapely
from geoalchemy2.elements import WKBElement
from sqlalchemy import select
from sqlalchemy.orm import Session

from gis_service.analysis.shoreline.chainage import chainage_text
from gis_service.catalogue import Catalogue, catalogue_for
from gis_service.chiefs.assignments import assignments_on, rivers_frame
from gis_service.chiefs.levels import ORDER, Level
from gis_service.chiefs.reaches import reach_line
from gis_service.clock import BusinessClock
from gis_service.db.models import SRID
from gis_service.db.models_chiefs import Chief, ChiefAssignment, Signboard
from gis_service.errors import NotFound
from gis_service.ledger.common import as_utc
from gis_service.settings import Settings
from gis_service.store.current import river_names

STATUS_LABELS = {"current": "现行", "outdated": "待更新"}
DUTIES = "负责所辖河段的管理保护，组织开展巡河，协调解决河道突出问题，督促落实整改。"
MIN_SHARED_M = 1.0


def board_text(
    river_name: str, start_m: float, end_m: float, chiefs: Sequence[tuple[str, str, str | None]], rules: Settings
) -> str:
    """Return a board's text: river, reach, chiefs by level (name and post), duties, and ``rules``' hotline and unit."""
    lines = [f"{river_name}河长公示牌", f"河段：{chainage_text(start_m)}—{chainage_text(end_m)}"]
    order = {lvl.value: i for i, lvl in enumerate(ORDER)}
    for level, name, post in sorted(chiefs, key=lambda c: (order.get(c[0], 9), c[1])):
        lines.append(f"{Level(level).label}河长：{name}" + (f"（{post}）" if post else ""))
    lines += [f"河长职责：{DUTIES}", f"监督电话：{rules.hotline}", f"监督单位：{rules.supervising_unit}"]
    return "\n".join(lines)


def _chiefs_of(
    held: Sequence[tuple[ChiefAssignment, Chief]], river_code: str, start_m: float, end_m: float
) -> list[tuple[str, str, str | None]]:
    """Return (level, name, post) of the chiefs whose reach shares the board's reach."""
    out = {
        (a.level, c.name, c.post)
        for a, c in held
        if a.river_code == river_code and min(a.end_m, end_m) - max(a.start_m, start_m) >= MIN_SHARED_M
    }
    return sorted(out)


def _expected(
    session: Session, catalogue: Catalogue, on: dt.date
) -> tuple[dict[str, str], list[tuple[ChiefAssignment, Chief]]]:
    """Return the river names and the assignments in force on ``on``."""
    return river_names(session, catalogue), assignments_on(session, on)


def refresh_flags(session: Session, settings: Settings, on: dt.date) -> list[int]:
    """Flag boards whose text no longer matches the roster on ``on`` as 待更新; return their ids."""
    names, held = _expected(session, catalogue_for(settings), on)
    outdated = []
    for board in session.execute(select(Signboard)).scalars():
        chiefs = _chiefs_of(held, board.river_code, board.start_m, board.end_m)
        expected = board_text(
            names.get(board.river_code, board.river_code), board.start_m, board.end_m, chiefs, settings
        )
        board.status = "current" if expected == board.board_text else "outdated"
        if board.status == "outdated":
            outdated.append(board.id)
    session.flush()
    return outdated


def _board_reaches(held: Sequence[tuple[ChiefAssignment, Chief]]) -> dict[str, list[tuple[float, float]]]:
    """Return each river's board reaches: the reaches of its lowest level with chiefs (village first)."""
    by_river: dict[str, dict[str, set[tuple[float, float]]]] = {}
    for a, _c in held:
        by_river.setdefault(a.river_code, {}).setdefault(a.level, set()).add((round(a.start_m, 1), round(a.end_m, 1)))
    out = {}
    for code, levels in by_river.items():
        lowest = next(lvl.value for lvl in reversed(ORDER) if lvl.value in levels)
        out[code] = sorted(levels[lowest])
    return out


def generate(session: Session, settings: Settings, clock: BusinessClock) -> dict[str, Any]:
    """Put a board at the head of every reach that has none (text from today's roster); refresh the flags."""
    today = clock.today()
    catalogue = catalogue_for(settings)
    rivers = rivers_frame(session, catalogue)
    lines = dict(zip(rivers["code"].astype(str), rivers.geometry, strict=True))
    names, held = _expected(session, catalogue, today)
    boards = session.execute(select(Signboard)).scalars().all()
    have = {(b.river_code, round(b.start_m, 1), round(b.end_m, 1)) for b in boards}
    numbers: dict[str, int] = {}
    for b in boards:
        numbers[b.river_code] = max(numbers.get(b.river_code, 0), int(b.code.rsplit("GS", 1)[-1] or 0))
    added = 0
    for code, reaches in _board_reaches(held).items():
        for start, end in reaches:
            if (code, start, end) in have:
                continue
            numbers[code] = numbers.get(code, 0) + 1
            chiefs = _chiefs_of(held, code, start, end)
            head = shapely.Point(reach_line(lines[code], start, end).coords[0])
            session.add(
                Signboard(
                    code=f"{code}-GS{numbers[code]:03d}",
                    river_code=code,
                    start_m=start,
                    end_m=end,
                    board_text=board_text(names.get(code, code), start, end, chiefs, settings),
                    chiefs="、".join(name for _, name, _ in chiefs),
                    status="current",
                    printed_at=clock.now(),
                    attrs={},
                    geom=WKBElement(shapely.to_wkb(head), srid=SRID),
                )
            )
            added += 1
    session.flush()
    outdated = refresh_flags(session, settings, today)
    return {"added": added, "boards": len(boards) + added, "outdated": len(outdated)}


def board_record(board: Signboard) -> dict[str, Any]:
    """Return a board as JSON-ready values."""
    printed = as_utc(board.printed_at)
    return {
        "id": board.id,
        "code": board.code,
        "river_code": board.river_code,
        "start": chainage_text(board.start_m),
        "end": chainage_text(board.end_m),
        "start_m": board.start_m,
        "end_m": board.end_m,
        "chiefs": board.chiefs,
        "status": board.status,
        "status_label": STATUS_LABELS.get(board.status, board.status),
        "text": board.board_text,
        "printed_at": printed.isoformat() if printed else None,
    }


def list_boards(
    session: Session,
    settings: Settings,
    on: dt.date,
    status: str | None = None,
    river_code: str | None = None,
    board_id: int | None = None,
) -> list[dict[str, Any]]:
    """Return the boards (all, or those ``outdated``) by code, each with the text the roster of ``on`` gives it."""
    query = select(Signboard).order_by(Signboard.code)
    if status:
        query = query.where(Signboard.status == status)
    if river_code:
        query = query.where(Signboard.river_code == river_code)
    if board_id is not None:
        query = query.where(Signboard.id == board_id)
    boards = session.execute(query).scalars().all()
    if not boards:
        return []
    names, held = _expected(session, catalogue_for(settings), on)
    out = []
    for board in boards:
        chiefs = _chiefs_of(held, board.river_code, board.start_m, board.end_m)
        expected = board_text(
            names.get(board.river_code, board.river_code), board.start_m, board.end_m, chiefs, settings
        )
        out.append({**board_record(board), "expected_text": expected})
    return out


def get_board(session: Session, settings: Settings, board_id: int, on: dt.date) -> dict[str, Any]:
    """Return one board with the text the roster of ``on`` gives it, or a 404."""
    found = list_boards(session, settings, on, board_id=board_id)
    if not found:
        raise NotFound(f"没有编号为 {board_id} 的公示牌", code="signboard_not_found")
    return found[0]


def mark_updated(session: Session, settings: Settings, board_id: int, clock: BusinessClock) -> dict[str, Any]:
    """Record that the board now carries today's text (a new board put up): status back to 现行."""
    board = session.get(Signboard, board_id)
    if board is None:
        raise NotFound(f"没有编号为 {board_id} 的公示牌", code="signboard_not_found")
    names, held = _expected(session, catalogue_for(settings), clock.today())
    chiefs = _chiefs_of(held, board.river_code, board.start_m, board.end_m)
    board.board_text = board_text(
        names.get(board.river_code, board.river_code), board.start_m, board.end_m, chiefs, settings
    )
    board.chiefs = "、".join(name for _, name, _ in chiefs)
    board.status = "current"
    board.printed_at = clock.now()
    session.flush()
    return board_record(board)
