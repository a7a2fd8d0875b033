"""One place mapping every error to the JSON error model ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gis_service.errors import ServiceError

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
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message, "details": details}})


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into the JSON error model."""

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        response = error_response(exc.http_status, exc.code, exc.message, exc.details)
        if exc.http_status == 401:
            # RFC 6750: a 401 names the scheme it wants; a token that was sent but refused says so.
            refused = ', error="invalid_token"' if exc.code == "invalid_token" else ""
            response.headers["WWW-Authenticate"] = f'Bearer realm="rivergis"{refused}'
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        where = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details)
        return error_response(400, "invalid_request", f"请求参数不正确：{where}", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})  # e.g. the Allow header of a 405 (RFC 9110)
        return response

    @app.exception_handler(IntegrityError)
    async def integrity_error(_request: Request, exc: IntegrityError) -> JSONResponse:
        # A unique key taken by a concurrent write (a code, a delivery version): nothing was stored.
        log.info("integrity error: %s", exc.orig)
        message = "与已有记录冲突（编号重复或同时提交），本次未保存任何内容；请检查编号后重试。"
        return error_response(409, "conflict", message)

    @app.exception_handler(OperationalError)
    async def database_busy(_request: Request, exc: OperationalError) -> JSONResponse:
        if "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower():
            # SQLite allows one writer at a time; the other waited 30 s and gave up. Nothing was stored.
            message = "数据库正忙（另一项写入尚未完成），本次未保存；请稍后重试。"
            response = error_response(503, "database_busy", message)
            response.headers["Retry-After"] = "5"
            return response
        log.exception("database error", exc_info=exc)
        return error_response(503, "database_unavailable", "数据库暂不可用，本次未保存；请稍后重试或联系管理员。")

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal_error", "服务内部错误，已记录日志；请联系管理员。")
