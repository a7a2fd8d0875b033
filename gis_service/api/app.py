"""The FastAPI application: routers, error handlers, OpenAPI at ``/docs``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine

from gis_service import __version__
from gis_service.api.errors import install_error_handlers
from gis_service.api.limits import EdgeMiddleware, install_log_filter
from gis_service.api.responses import declare_errors
from gis_service.api.routers import (
    admin,
    bulletins,
    chiefs,
    deliveries,
    exports,
    health,
    layers,
    maps,
    ogc,
    ogc_tiles,
    outfalls,
    patrols,
    problems,
    public_reports,
    quality,
    ratios,
    report_page,
    signboards,
    tasks,
)
from gis_service.api.tempfiles import remove_stale
from gis_service.api.token_use import TokenUseMiddleware
from gis_service.catalogue import catalogue_for
from gis_service.clock import BusinessClock
from gis_service.db.backend import DatabaseWaits, build_backend
from gis_service.ogc.fast import Compression, OgcFastPath
from gis_service.settings import Settings, get_settings
from gis_service.web.site import install_web

# The answers' compression (``GZipMiddleware``'s options), the OGC fast path's too.
GZIP = Compression(minimum_size=2048, compresslevel=6)
ROUTERS = [
    health.router,
    layers.router,
    exports.router,
    admin.router,
    ogc.router,
    ogc_tiles.router,
    maps.router,
    problems.router,
    outfalls.router,
    deliveries.router,
    ratios.router,
    *(chiefs.router, signboards.router, patrols.router, public_reports.router, report_page.router),
    *(quality.router, tasks.router, bulletins.router),
]


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the app; ``engine`` overrides the configured database, ``settings`` the environment's (tests)."""
    # Swagger UI and ReDoc served by the service itself: the docs page works on an intranet too.
    app = FastAPIOffline(
        static_url="/docs-static",
        title="河长制一张图 GIS 服务 (River Chief GIS)",
        version=__version__,
        description="河道管理范围与岸线功能分区成果交付、岸线保护比例核算、清四乱问题台账与地图。",
    )
    # Fail at start-up, not on the first request, when the layer catalogue is broken.
    catalogue_for(settings or get_settings())
    app.state.engine = engine
    # Where routes find the settings (``api.deps.SettingsDep``): the ones given, else the environment's,
    # read once and cached (tests that change the environment clear that cache).
    app.state.settings = (lambda: settings) if settings is not None else get_settings
    app.state.clock = BusinessClock.named((settings or get_settings()).timezone)
    # One backend a process: its transaction, locking and error rules for every request.
    # (Without an engine, each request takes the configured database's: tests change it per test.)
    waits = DatabaseWaits.of(settings or get_settings())
    app.state.backend = build_backend(engine, waits) if engine is not None else None
    # Map data and GeoJSON pages compress 5-10x; staff on slow intranet links feel it.
    app.add_middleware(GZipMiddleware, **GZIP)
    # A token's last use is recorded after the answer, in its own short transaction.
    app.add_middleware(TokenUseMiddleware)
    # The caller and the body's size are checked before anything reads the body.
    app.add_middleware(EdgeMiddleware)
    # Outermost: GIS clients' anonymous item and tile reads skip the rest, the edge having nothing
    # to check in them and no token to record; compressed alike (``ogc/fast.py``).
    app.add_middleware(OgcFastPath, gzip=GZIP)
    install_log_filter()
    # A server killed during an upload left its folder: remove those at start.
    remove_stale()
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    declare_errors(app, ROUTERS)
    install_web(app)  # the web workbench's pages, after the API so that its error pages wrap the JSON ones
    return app
