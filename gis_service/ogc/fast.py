"""The OGC reads GIS clients send most, answered without FastAPI's routing: items, an item, a tile.

QGIS and MapLibre send these by the hundred while a map pans, each a few tenths of a millisecond
of database work; matching the path against every route of the app and solving the routes'
dependencies cost as much again. For an anonymous GET on a service with public read, this pure
ASGI middleware matches the three paths itself and calls the routes' own bodies
(:func:`~gis_service.api.routers.ogc.items_page`, :func:`~gis_service.api.routers.ogc.one_item`,
:func:`~gis_service.api.routers.ogc_tiles.one_tile`), so the answers are the routes' answers.

It is the app's outermost middleware: the others have nothing to do for such a request (no body
for the edge to bound and no token in its URL, ``limits.nothing_to_check``; no token use to
record), and each costs a few hundredths of a millisecond; its answers are compressed as the
app's ``GZipMiddleware`` compresses (:class:`Compression`).

Everything else goes through the app as before: another method or path, a caller with a token
or a session (the routes decide their role), a request with a body, a closed service, a parameter the route's own
validation would refuse (a ``limit`` of 0, a ``delivery`` that is no id), and any error: the
request is then run again by the app's routes (a GET reads only), which answer it as they always
did, so an error costs its checks twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypedDict

from fastapi import Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from gis_service.access import Role
from gis_service.api.deps import app_backend, app_settings, check_role
from gis_service.api.limits import nothing_to_check
from gis_service.api.params import MAX_ID, MAX_OFFSET
from gis_service.api.routers.ogc import ANONYMOUS, carries_credentials, items_page, one_item
from gis_service.api.routers.ogc_tiles import one_tile

ITEMS = re.compile(r"/ogc/collections/([^/]+)/items")
ITEM = re.compile(r"/ogc/collections/([^/]+)/items/([0-9]+)")
TILE = re.compile(r"/ogc/collections/([^/]+)/tiles/([^/]+)/([0-9]+)/([0-9]+)/([0-9]+)")
# The integer query parameters the routes declare, with their bounds (FastAPI refuses others with a 400).
BOUNDS = {"limit": (1, MAX_OFFSET), "offset": (0, MAX_OFFSET), "delivery": (1, MAX_ID)}

Answer = Callable[[Request], Response]


class Compression(TypedDict):
    """The options of the app's ``GZipMiddleware``, which the fast path's answers are compressed with too."""

    minimum_size: int
    compresslevel: int


def _route_path(scope: Scope) -> str:
    """Return the path the routes match: the request's path without the app's ``root_path``."""
    path, root = str(scope["path"]), str(scope.get("root_path") or "")
    return path[len(root) :] if root and path.startswith(root) else path


def _in_bounds(request: Request) -> bool:
    """Whether every integer parameter present is one the route's validation accepts."""
    for name, (low, high) in BOUNDS.items():
        value = request.query_params.get(name)
        if value is not None and not (value.isascii() and value.isdigit() and low <= int(value) <= high):
            return False
    return True


def _answer(path: str) -> Answer | None:
    """Return the route body answering ``path`` (a request in, a response out), or None."""
    if match := ITEM.fullmatch(path):
        collection, fid = match.group(1), int(match.group(2))
        if not 1 <= fid <= MAX_ID:
            return None
        return lambda request: one_item(request, app_backend(request), collection, fid)
    if match := ITEMS.fullmatch(path):
        collection = match.group(1)
        return lambda request: items_page(request, app_backend(request), collection)
    if match := TILE.fullmatch(path):
        collection, tms_id = match.group(1), match.group(2)
        z, y, x = (int(match.group(i)) for i in (3, 4, 5))
        return lambda request: one_tile(request, app_backend(request), collection, tms_id, (z, y, x))
    return None


class OgcFastPath:
    """Pure ASGI middleware: see the module's docstring."""

    def __init__(self, app: ASGIApp, gzip: Compression) -> None:
        self.app = app
        self.gzip = gzip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer an anonymous GET of items, an item or a tile directly; pass anything else on."""
        if scope["type"] == "http" and nothing_to_check(scope):
            answer = _answer(_route_path(scope))
            if answer is not None:
                request = Request(scope, receive)
                if self._open_to(request):
                    try:
                        response = await run_in_threadpool(answer, request)
                    except Exception:  # noqa: BLE001, S110 - the app's routes answer it, as they always have
                        pass
                    else:
                        await self._send(response, scope, receive, send)
                        return
        await self.app(scope, receive, send)

    async def _send(self, response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        """Send an answer compressed as the app's ``GZipMiddleware`` would: a body under its minimum is sent as is."""
        if len(response.body) < self.gzip["minimum_size"]:
            await response(scope, receive, send)
        else:
            await GZipMiddleware(response, **self.gzip)(scope, receive, send)

    @staticmethod
    def _open_to(request: Request) -> bool:
        """Whether the request may skip the routes: anonymous, on a public service, parameters in bounds."""
        if carries_credentials(request) or not _in_bounds(request):
            return False
        try:
            check_role(ANONYMOUS, Role.VIEWER, app_settings(request.app))
        except Exception:  # noqa: BLE001 - refused: the routes say why
            return False
        return True
