"""Signboards (公示牌) over HTTP: list (待更新), generate from the roster, record a board replaced, export."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response

from gis_service.api.deps import Admin, ClockDep, SessionDep, SettingsDep, Viewer
from gis_service.api.params import IdPath
from gis_service.api.responses import file_responses
from gis_service.api.routers.chiefs import XLSX, xlsx_response
from gis_service.api.schemas import chiefs as shapes
from gis_service.chiefs import sheets, signboards
from gis_service.chiefs.board_docx import board_document

router = APIRouter(prefix="/api/v1/signboards", tags=["signboards"])
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@router.get("", response_model=shapes.Signboards, response_model_exclude_unset=True)
def list_boards(
    session: SessionDep,
    settings: SettingsDep,
    _caller: Viewer,
    clock: ClockDep,
    status: Annotated[str | None, Query(description="current（现行）| outdated（待更新）")] = None,
    river: Annotated[str | None, Query(description="河流编码")] = None,
) -> dict[str, Any]:
    """Return the boards with their texts (or only those to update)."""
    boards = signboards.list_boards(session, settings, clock.today(), status, river)
    return {"signboards": boards, "numberReturned": len(boards)}


@router.post("/generate", response_model=shapes.SignboardsGenerated, response_model_exclude_unset=True)
def generate(session: SessionDep, settings: SettingsDep, caller: Admin, clock: ClockDep) -> dict[str, Any]:
    """Put a board on every reach without one and flag boards whose text no longer matches the roster."""
    result = signboards.generate(session, settings, clock)
    caller.audit(session, "signboards.generate", "signboards", None, **result)
    return result


@router.get("/export.xlsx", response_class=Response, responses=file_responses(XLSX))
def export_boards(
    session: SessionDep,
    settings: SettingsDep,
    _caller: Viewer,
    clock: ClockDep,
    all_boards: Annotated[bool, Query(alias="all", description="全部公示牌（默认只导出待更新的）")] = False,
) -> Response:
    """Download the boards to update (or all) with the text each should carry, as an Excel workbook."""
    content, _ = sheets.boards_bytes(session, settings, clock.today(), None if all_boards else "outdated")
    return xlsx_response(content, "待更新公示牌.xlsx" if not all_boards else "公示牌.xlsx")


@router.get("/{board_id}/board.docx", response_class=Response, responses=file_responses(DOCX))
def printable_board(
    board_id: IdPath, session: SessionDep, settings: SettingsDep, _caller: Viewer, clock: ClockDep
) -> Response:
    """Download the board's printable layout (Word, A4 landscape) with the text today's roster gives it."""
    board = signboards.get_board(session, settings, board_id, clock.today())
    return Response(
        board_document(board),
        media_type=DOCX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(board['code'])}.docx"},
    )


@router.post("/{board_id}/updated", response_model=shapes.Signboard, response_model_exclude_unset=True)
def board_updated(
    board_id: IdPath, session: SessionDep, settings: SettingsDep, caller: Admin, clock: ClockDep
) -> dict[str, Any]:
    """Record that the board was replaced with the roster's current text (back to 现行)."""
    board = signboards.mark_updated(session, settings, board_id, clock)
    caller.audit(session, "signboard.updated", "signboard", board_id, chiefs=board["chiefs"])
    return board
