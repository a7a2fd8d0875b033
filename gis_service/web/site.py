"""The workbench wired into the app: its page routers, its own static files, and its error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse

from gis_service.errors import NotFound
from gis_service.web.errors import install_page_errors
from gis_service.web.routers import (
    admin,
    auth,
    bulletins,
    dashboard,
    deliveries,
    outfalls,
    problems,
    quality,
    ratios,
    sources,
    tasks,
)
from gis_service.web.routers import chiefs as chief_pages
from gis_service.web.routers import moderation as moderation_pages
from gis_service.web.routers import patrols as patrol_pages
from gis_service.web.routers import screen as screen_page
from gis_service.web.routers import signboards as signboard_pages

STATIC = Path(__file__).resolve().parent / "static"
ROUTERS = [auth.router, dashboard.router, deliveries.router]
ROUTERS += [ratios.router, problems.router, outfalls.router, admin.router]
ROUTERS += [chief_pages.router, signboard_pages.router, moderation_pages.router, patrol_pages.router]
ROUTERS += [quality.router, sources.router, tasks.router, bulletins.router]
ROUTERS += [screen_page.router]
static_router = APIRouter(include_in_schema=False)


@static_router.get("/web/static/{path:path}")
def web_static(path: str) -> FileResponse:
    """The pages' own scripts and styles (``web/static/``), never a file outside it."""
    target = (STATIC / path).resolve()
    if STATIC not in target.parents or not target.is_file():
        raise NotFound(f"静态资源 {path!r} 不存在", code="static_not_found")
    return FileResponse(target, headers={"Cache-Control": "public, max-age=3600"})


def install_web(app: FastAPI) -> None:
    """Add the workbench's pages to ``app`` (after the API's routers and error handlers)."""
    app.include_router(static_router)
    for router in ROUTERS:
        app.include_router(router)
    install_page_errors(app)
