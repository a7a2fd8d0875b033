"""Errors of pages as pages: login redirect, the 403 page naming the role, 404 in Chinese, CSRF refusal.

``/api/`` and ``/ogc/`` keep their JSON error model: a handler here answers HTML only for routes marked
as pages, or for a browser (``Accept: text/html``) asking for an unknown address outside those prefixes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gis_service.api.deps import app_settings, backend_of
from gis_service.errors import ServiceError
from gis_service.web.deps import (
    ROLE_LABELS,
    SESSION_COOKIE,
    CsrfRejected,
    LoginRequired,
    RoleRequired,
    WebUser,
    current_user,
    login_redirect,
)
from gis_service.web.templating import render

Handler = Callable[[Request, Any], Awaitable[Response]]
MACHINE_PREFIXES = ("/api/", "/ogc", "/maps/data/", "/static/", "/docs", "/openapi.json", "/healthz")


def wants_page(request: Request) -> bool:
    """Tell whether an error should answer as an HTML page: a page route, or a browser off the API."""
    if getattr(request.state, "web_page", False):
        return True
    if request.url.path.startswith(MACHINE_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def _viewer(request: Request) -> WebUser:
    """Return the user for an error page: the one the page's dependencies found, else the session cookie's."""
    found = getattr(request.state, "web_user", None)
    if isinstance(found, WebUser):
        return found
    settings = app_settings(request.app)
    anonymous = WebUser("anonymous", "", "", None, "", settings.public_read)
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return anonymous
    # An unknown address matched no route, so no dependency looked the user up: do it here, so that a
    # logged-in user's 404 page keeps their navigation. A database that fails here only costs that.
    try:
        with backend_of(request.app).transaction(write=False) as session:
            return current_user(request, session, settings)
    except SQLAlchemyError:
        return anonymous


def error_page(request: Request, status: int, title: str, message: str, code: str) -> Response:
    """Render the error page: what happened, what to do next, and the code for support."""
    context = {"status": status, "title": title, "message": message, "code": code}
    return render(request, "error.html", _viewer(request), context, status=status)


def install_page_errors(app: FastAPI) -> None:
    """Register the page error handlers, each handing non-page requests to the handler installed before it."""
    json_http: Handler | None = app.exception_handlers.get(StarletteHTTPException)  # type: ignore[assignment]
    json_service: Handler | None = app.exception_handlers.get(ServiceError)  # type: ignore[assignment]
    json_invalid: Handler | None = app.exception_handlers.get(RequestValidationError)  # type: ignore[assignment]

    @app.exception_handler(LoginRequired)
    async def login_required(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_redirect(exc.next_path), status_code=303)

    @app.exception_handler(RoleRequired)
    async def role_required(request: Request, exc: RoleRequired) -> Response:
        label = ROLE_LABELS[exc.needed]
        message = (
            f"此页面或操作需要「{label}」（{exc.needed.value}）及以上角色；"
            "请用有此角色的账号登录，或请管理员调整您的角色。"
        )
        return error_page(request, 403, "没有权限", message, "insufficient_role")

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, _exc: CsrfRejected) -> Response:
        message = "表单已过期或来源不明（缺少安全令牌），未作任何更改；请刷新页面后重新提交。"
        return error_page(request, 403, "请求被拒绝", message, "csrf_failed")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and wants_page(request):
            message = f"找不到页面 {request.url.path}：地址可能有误，或该页面已移除。请从左侧导航进入。"
            return error_page(request, 404, "页面不存在", message, "not_found")
        if json_http is None:
            raise exc
        return await json_http(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if getattr(request.state, "web_page", False):
            # A page address with a malformed part (/deliveries/abc) is a page that does not exist.
            message = f"找不到页面 {request.url.path}：地址中的编号或参数不正确。请从列表页进入。"
            return error_page(request, 404, "页面不存在", message, "not_found")
        if json_invalid is None:
            raise exc
        return await json_invalid(request, exc)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        if getattr(request.state, "web_page", False):
            title = "页面不存在" if exc.http_status == 404 else "无法完成"
            return error_page(request, exc.http_status, title, exc.message, exc.code)
        if json_service is None:
            raise exc
        return await json_service(request, exc)
