"""The signboards page (``/signboards``, 公示牌): each board with its 待更新 flag and its printable .docx.

Admins put a board on every reach without one (generate) and record a board replaced with today's text.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gis_service.access import Role
from gis_service.api.deps import ClockDep, SessionDep, SettingsDep
from gis_service.chiefs import signboards
from gis_service.web.deps import PAGE, CsrfForm, PageAdmin, PageViewer, commit_now
from gis_service.web.templating import render

router = APIRouter(dependencies=PAGE, include_in_schema=False)


@router.get("/signboards")
def boards(request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageViewer) -> Response:
    """Every board (or only those 待更新) with the text it carries and the text the roster now gives it."""
    status = "outdated" if request.query_params.get("status") == "outdated" else None
    rows = signboards.list_boards(session, settings, clock.today(), status)
    context = {"rows": rows, "status": status or "", "can_change": user.may(Role.ADMIN)}
    return render(request, "signboards.html", user, context)


@router.post("/signboards/generate")
def generate(session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageAdmin, _form: CsrfForm) -> Response:
    """Admins: put a board on every reach without one and flag boards whose text no longer matches the roster."""
    result = signboards.generate(session, settings, clock)
    user.caller.audit(session, "signboards.generate", "signboards", None, **result)
    commit_now(session)
    return RedirectResponse(f"/signboards?added={int(result['added'])}", status_code=303)


@router.post("/signboards/{board_id}/updated")
def updated(
    session: SessionDep, settings: SettingsDep, clock: ClockDep, user: PageAdmin, _form: CsrfForm, board_id: int
) -> Response:
    """Admins: record that the board was replaced with the roster's current text (back to 现行)."""
    board = signboards.mark_updated(session, settings, board_id, clock)
    user.caller.audit(session, "signboard.updated", "signboard", board_id, chiefs=board["chiefs"])
    commit_now(session)
    return RedirectResponse(f"/signboards?done={board_id}", status_code=303)
