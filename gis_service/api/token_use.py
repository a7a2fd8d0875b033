"""Record when a token was last used, after the request is over.

The caller's token is identified inside the request (:func:`gis_service.api.deps.get_caller`), but
writing its last use there would turn every read into a write, and SQLite would hold its single
write lock for the rest of the request. So the request only notes the use, at most once every few
minutes a token, and this middleware records it in its own short transaction once the request's
own transaction is over and the answer has been sent.
"""

from __future__ import annotations

import datetime as dt

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from gis_service.access import record_use
from gis_service.api.deps import backend_of

STATE_KEY = "token_use"


class TokenUseMiddleware:
    """Pure ASGI middleware: after the app answered, store the token use the request noted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request, then record the noted use (if any)."""
        await self.app(scope, receive, send)
        if scope["type"] != "http":
            return
        noted: tuple[int, dt.datetime] | None = scope.get("state", {}).get(STATE_KEY)
        if noted is not None:
            await run_in_threadpool(record_use, backend_of(scope["app"]).engine, *noted)
