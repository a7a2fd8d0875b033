"""One place mapping every error to the JSON error model ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gis_service.api.tempfiles import scrub
from gis_service.db.backend import SpatialBackend, translate_error
from gis_service.errors import DatabaseError, ServiceError

log = logging.getLogger("gis_service")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
}


def error_response(status: int, code: str, message: str, details: object = None) -> JSONResponse:
    """Return the JSON error body with ``status``."""
    # No server temp path in an answer (a file name from inside an upload folder keeps only its name).
    content = {"error": {"code": code, "message": scrub(message), "details": scrub(details)}}
    return JSONResponse(status_code=status, content=content)


def www_authenticate(code: str) -> str:
    """Return the ``WWW-Authenticate`` of a 401 (RFC 6750): the scheme wanted; a refused token says so."""
    refused = ', error="invalid_token"' if code == "invalid_token" else ""
    return f'Bearer realm="rivergis"{refused}'


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into the JSON error model."""

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        response = error_response(exc.http_status, exc.code, exc.message, exc.details)
        if isinstance(exc, DatabaseError) and exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        if exc.http_status == 401:
            response.headers["WWW-Authenticate"] = www_authenticate(exc.code)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        where = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details)
        return error_response(400, "invalid_request", f"请求参数不正确：{where}", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        limit = getattr(exc, "limit", None)  # a body stopped at the edge names its route's code
        code = getattr(limit, "code", None) or HTTP_CODES.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})  # e.g. the Allow header of a 405 (RFC 9110)
        return response

    @app.exception_handler(IntegrityError)
    async def integrity_error(_request: Request, exc: IntegrityError) -> JSONResponse:
        # A unique key taken by a concurrent write (a code, a delivery version): nothing was stored.
        log.info("integrity error: %s", exc.orig)
        message = "与已有记录冲突（编号重复或同时提交），本次未保存任何内容；请检查编号后重试。"
        return error_response(409, "conflict", message)

    @app.exception_handler(SQLAlchemyError)
    async def database_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # The backend knows its database's words for down, busy (lock or statement timeout), read-only, full.
        backend = getattr(request.app.state, "backend", None)
        error = backend.translate(exc) if isinstance(backend, SpatialBackend) else translate_error(exc)
        if error is None:
            log.exception("database error", exc_info=exc)
            error = DatabaseError(
                "数据库未能完成本次请求，本次未保存任何内容；请稍后重试或联系管理员。", code="database_error"
            )
        else:
            log.warning("database: %s (%s)", error.code, exc.__class__.__name__)
        return await service_error(request, error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A driver's own error (COPY on the raw connection) is still a database state, not a bug.
        backend = getattr(request.app.state, "backend", None)
        error = backend.translate(exc) if isinstance(backend, SpatialBackend) else translate_error(exc)
        if error is not None:
            log.warning("database: %s (%s)", error.code, exc.__class__.__name__)
            return await service_error(request, error)
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal_error", "服务内部错误，已记录日志；请联系管理员。")
