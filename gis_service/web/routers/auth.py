"""Login (``/login``), logout (POST ``/logout``) and one's own password (``/account/password``)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gis_service.access import audit
from gis_service.accounts import MAX_FAILED_LOGINS, authenticate, change_password, end_session, get_user, start_session
from gis_service.api.deps import SessionDep, SettingsDep
from gis_service.db.models import utcnow
from gis_service.errors import BadRequest
from gis_service.web.cookies import clear_session_cookie, set_login_csrf_cookie, set_session_cookie
from gis_service.web.deps import PAGE, SESSION_COOKIE, CsrfForm, CurrentUser, WebUser, commit_now, new_csrf_token
from gis_service.web.templating import china_time, render

router = APIRouter(dependencies=PAGE, include_in_schema=False)


def safe_next(value: object) -> str:
    """Return a local path to go to after login (never another site: ``//evil`` or ``https://…`` give ``/``)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


def _login_page(
    request: Request,
    user: WebUser,
    settings: SettingsDep,
    *,
    next_path: str,
    error: str = "",
    status: int = 200,
    username: str = "",
) -> Response:
    """Render the login form with a fresh CSRF token (kept in a cookie until login)."""
    token = new_csrf_token()
    shown = WebUser("anonymous", "", "", None, token, user.public_read)
    context = {"next_path": next_path, "error": error, "username": username}
    response = render(request, "login.html", shown, context, status=status)
    set_login_csrf_cookie(response, token, settings)
    return response


@router.get("/login")
def login_form(request: Request, user: CurrentUser, settings: SettingsDep, next: str = "/") -> Response:  # noqa: A002
    """The login page (用户名, 密码, 登录)."""
    if user.logged_in:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, user, settings, next_path=safe_next(next))


@router.post("/login")
def login(request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser, form: CsrfForm) -> Response:
    """Check the username and password; on success start a new session (the old cookie's one ends)."""
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    next_path = safe_next(form.get("next"))
    outcome = authenticate(session, username, password, lockout=dt.timedelta(minutes=settings.login_lockout_minutes))
    if outcome.locked_until is not None:
        message = (
            f"该账号连续 {MAX_FAILED_LOGINS} 次密码错误，已暂时锁定，"
            f"请于 {china_time(outcome.locked_until, '%H:%M')}（北京时间）后再试，或请管理员重设密码。"
        )
        audit(session, actor="anonymous", action="login.locked", target_type="user", target_id=username[:64])
        commit_now(session)
        page = _login_page(request, user, settings, next_path=next_path, error=message, status=429, username=username)
        wait = max(int((outcome.locked_until - utcnow()).total_seconds()), 1)
        page.headers["Retry-After"] = str(wait)
        return page
    if outcome.user is None:
        commit_now(session)  # the failure counts, even for the very next attempt
        message = (
            f"用户名或密码错误；连续 {MAX_FAILED_LOGINS} 次错误将暂时锁定账号（还可尝试 {outcome.attempts_left} 次）。"
        )
        return _login_page(request, user, settings, next_path=next_path, error=message, status=401, username=username)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        end_session(session, old)
    raw = start_session(session, outcome.user, lifetime=dt.timedelta(hours=settings.session_hours))
    audit(session, actor=outcome.user.username, role=outcome.user.role, action="login", target_type="user",
          target_id=outcome.user.username)  # fmt: skip
    commit_now(session)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, raw, settings)
    return response


@router.post("/logout")
def logout(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser, _form: CsrfForm
) -> Response:
    """End the session on the server and in the browser."""
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        end_session(session, raw)
    if user.logged_in:
        user.caller.audit(session, "logout", "user", user.username)
    commit_now(session)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, settings)
    return response


@router.get("/account/password")
def password_form(request: Request, user: CurrentUser) -> Response:
    """The password change form (logged-in users only)."""
    if not user.logged_in:
        return RedirectResponse("/login?next=/account/password", status_code=303)
    return render(request, "account_password.html", user, {"error": ""})


@router.post("/account/password")
def password_change(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser, form: CsrfForm
) -> Response:
    """Change one's password; every session of the user ends, and they log in again with the new one."""
    if not user.logged_in:
        return RedirectResponse("/login?next=/account/password", status_code=303)
    current = str(form.get("current_password") or "")
    new = str(form.get("new_password") or "")
    if new != str(form.get("confirm_password") or ""):
        context = {"error": "两次输入的新密码不一致；请重新输入"}
        return render(request, "account_password.html", user, context, status=400)
    try:
        change_password(session, get_user(session, user.username), current, new)
    except BadRequest as exc:
        return render(request, "account_password.html", user, {"error": exc.message}, status=400)
    user.caller.audit(session, "user.password", "user", user.username)
    commit_now(session)
    response = RedirectResponse("/login?changed=1", status_code=303)
    clear_session_cookie(response, settings)
    return response
