"""The ASGI edge: the caller checked before a body is read, one body limit while it streams, no token in URLs.

A pure ASGI middleware (nothing is buffered): an API write without a valid token is answered 401
before a byte of its body is read; every body is counted as it arrives (``Content-Length`` and
chunked alike) and answered 413 past its route's limit; ``?access_token=`` is taken out of the
query string into the scope, so no link, log line or page built from the URL can carry it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis_service.access import lookup_token
from gis_service.api.deps import QUERY_TOKEN_KEY, WRITE_METHODS, app_settings, backend_of
from gis_service.api.errors import www_authenticate
from gis_service.errors import DatabaseError
from gis_service.settings import Settings

MB = 1024 * 1024
TOKEN_PARAM = "access_token"
# The API writes anyone may make without a token (a citizen's report, 群众举报); their routes bound them.
ANONYMOUS_WRITES = {("POST", "/api/v1/public-reports")}
# The headers announcing a request body, which the edge counts and bounds.
BODY_HEADERS = (b"content-length", b"transfer-encoding")
# ``access_token=…`` in any text (a logged path, a link): the value up to the next separator.
TOKEN_IN_TEXT = re.compile(r"(access_token=)[^&\s\"'#]*", re.IGNORECASE)


@dataclass(frozen=True)
class Limit:
    """A route's body limit and how to say it was passed."""

    size: int
    code: str
    message: str


class BodyTooLarge(HTTPException):
    """A request body past its route's limit (413), raised while it streams."""

    def __init__(self, limit: Limit) -> None:
        super().__init__(413, limit.message)
        self.limit = limit

    async def answer(self, send: Send) -> None:
        """Send the 413 straight from the edge."""
        await _answer(send, 413, self.limit.code, self.limit.message)


def body_limit(settings: Settings, path: str, content_type: str) -> Limit:
    """Return the limit of a request's body: deliveries, photo forms, or JSON and plain forms."""
    if content_type.startswith("multipart/"):
        if path.startswith("/api/v1/deliveries/"):
            size = int(settings.max_upload_mb * MB)
            return Limit(size, "upload_too_large", f"上传文件超过上限 {size / MB:.0f} MB；请分河流或分图层交付。")
        size = int(settings.max_photos_body_mb * MB)
        return Limit(size, "payload_too_large", f"照片表单超过上限 {size / MB:.0f} MB；请减少照片或分次上传。")
    size = int(settings.max_json_kb * 1024)
    return Limit(size, "payload_too_large", f"请求体超过上限 {size / 1024:.0f} KB；请缩小提交的内容。")


def redact(text: str) -> str:
    """Return ``text`` with every ``access_token=`` value replaced by ``***``."""
    return TOKEN_IN_TEXT.sub(r"\1***", text)


def strip_token(scope: Scope) -> None:
    """Move ``?access_token=`` from the query string into the scope (``deps.query_token`` reads it there)."""
    raw = scope.get("query_string", b"")
    if b"access_token" not in raw.lower():
        return
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() != TOKEN_PARAM]
    tokens = [v for k, v in pairs if k.lower() == TOKEN_PARAM and v]
    if tokens:
        scope[QUERY_TOKEN_KEY] = tokens[-1]
    scope["query_string"] = urlencode(kept).encode("latin-1")


def _header(scope: Scope, name: bytes) -> str:
    """Return one request header (latin-1), or an empty string."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def nothing_to_check(scope: Scope) -> bool:
    """Whether :class:`EdgeMiddleware` would pass a request on as it is: a GET without a body or a token in its URL.

    (The OGC fast path, ``ogc/fast.py``, answers such requests in front of it.)
    """
    if scope.get("method") != "GET" or b"access_token" in scope.get("query_string", b"").lower():
        return False
    return not any(key.lower() in BODY_HEADERS for key, _ in scope.get("headers", []))


async def _answer(send: Send, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
    """Send a JSON error answer straight from the edge."""
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}, ensure_ascii=False).encode()
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": www_authenticate(code)}
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            # The body is not read: the client must not reuse the connection for another request.
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class EdgeMiddleware:
    """Token first, then the body, bounded: see the module's docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the caller and bound the body of one HTTP request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        strip_token(scope)
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        if method in WRITE_METHODS and path.startswith("/api/") and (method, path.rstrip("/")) not in ANONYMOUS_WRITES:
            refusal = await self._caller_refusal(scope)
            if refusal is not None:
                await _answer(send, *refusal)
                return
        settings = app_settings(scope["app"])
        content_type = _header(scope, b"content-type").lower()
        limit = body_limit(settings, path, content_type)
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit.size:
            await BodyTooLarge(limit).answer(send)
            return
        await self._bounded(scope, receive, send, limit)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, limit: Limit) -> None:
        """Run the app with a ``receive`` that counts the body and stops it past ``limit``."""
        received = 0
        started = False

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.size:
                    raise BodyTooLarge(limit)
            return message

        async def watching(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, watching)
        except BodyTooLarge as exc:
            # Raised where nothing turned it into an answer (a body read outside a route): answer here.
            if started:
                raise
            await exc.answer(send)

    async def _caller_refusal(self, scope: Scope) -> tuple[int, str, str] | tuple[int, str, str, dict[str, str]] | None:
        """Return the 401 (or 503) of an API write whose token is missing or unknown, before its body."""
        header = _header(scope, b"authorization")
        scheme, _, secret = header.partition(" ")
        if not header:
            return 401, "token_required", "写操作需要令牌：请在请求头加 `Authorization: Bearer <令牌>`"
        if scheme.lower() != "bearer" or not secret.strip():
            return 401, "bad_authorization", "Authorization 头格式应为 `Bearer <令牌>`"
        backend = backend_of(scope["app"])

        def known() -> bool:
            with backend.transaction(write=False) as session:
                return lookup_token(session, secret.strip()) is not None

        try:
            found = await run_in_threadpool(known)
        except Exception as exc:  # noqa: BLE001 - a database failure answers 503 from the edge too
            error = backend.translate(exc) or DatabaseError("数据库暂不可用，本次未保存任何内容；请稍后重试。")
            return error.http_status, error.code, error.message, {"Retry-After": str(error.retry_after or 5)}
        if not found:
            return 401, "invalid_token", "令牌无效或已吊销；请向管理员申请（rivergis token create）"
        return None


class RedactTokens(logging.Filter):
    """Keep ``access_token`` values out of log lines (uvicorn's access log prints the path with its query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record's message and arguments; always keep the record."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            args: Any = record.args
            if isinstance(args, tuple):
                record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        return True


def install_log_filter() -> None:
    """Add the token filter to uvicorn's access and error loggers (once)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
