"""Health check: the service answers within 2 s and says what state its database is in."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from gis_service import __version__
from gis_service.api.deps import BackendDep
from gis_service.api.schemas import health as shapes

router = APIRouter(tags=["health"])
# The whole answer within 2 s: the database gets most of it, the rest is the answer's own way out.
DATABASE_WAIT_S = 1.5


@router.get(
    "/healthz", response_model=shapes.Health, responses={503: {"model": shapes.Health, "description": "数据库不可用"}}
)
async def healthz(backend: BackendDep) -> JSONResponse:
    """Tell whether the service and its database answer (200), or what state the database is in (503)."""
    state, detail = "ok", None
    try:
        await asyncio.wait_for(run_in_threadpool(backend.ping, DATABASE_WAIT_S), DATABASE_WAIT_S)
    except TimeoutError:
        state, detail = "timeout", f"数据库 {DATABASE_WAIT_S} 秒内未应答"
    except SQLAlchemyError as exc:
        error = backend.translate(exc)
        state = error.code.removeprefix("database_") if error else "error"
        detail = error.message if error else "数据库出错"
    body: dict[str, Any] = {
        "status": "ok" if state == "ok" else "degraded",
        "version": __version__,
        "database": backend.name,
        "database_state": state,
    }
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=200 if state == "ok" else 503)
