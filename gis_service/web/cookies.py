"""The session cookie: HttpOnly, SameSite=Lax, Secure when ``RIVERGIS_COOKIE_SECURE`` says so."""

from __future__ import annotations

from fastapi import Response

from gis_service.settings import Settings
from gis_service.web.deps import LOGIN_CSRF_COOKIE, SESSION_COOKIE


def set_session_cookie(response: Response, raw: str, settings: Settings) -> None:
    """Give the browser its session id (never readable by scripts, not sent on cross-site posts)."""
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Remove the session cookie from the browser."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure)


def set_login_csrf_cookie(response: Response, token: str, settings: Settings) -> None:
    """Keep the login form's CSRF token in a cookie (double submit: the form must send the same value)."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="lax", secure=settings.cookie_secure, path="/"
    )
