"""Page dependencies: the logged-in user from the session cookie, role guards and the CSRF check of forms."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from gis_service.access import Role
from gis_service.accounts import find_session
from gis_service.api.deps import Caller, SessionDep, SettingsDep

SESSION_COOKIE = "rivergis_session"
# Before login there is no session to keep a CSRF secret in: the login form's token is also set as a cookie.
LOGIN_CSRF_COOKIE = "rivergis_login_csrf"
ROLE_LABELS = {Role.VIEWER: "查看", Role.SURVEYOR: "测绘单位（提交成果）", Role.ADMIN: "管理员"}


@dataclass(frozen=True)
class WebUser:
    """Who is looking at a page: a logged-in user, or an anonymous reader (``role`` None)."""

    username: str
    display_name: str
    unit: str
    role: Role | None
    csrf: str
    public_read: bool
    user_id: int | None = None

    @property
    def logged_in(self) -> bool:
        """Tell whether the user is logged in."""
        return self.user_id is not None

    def may(self, needed: Role) -> bool:
        """Tell whether this user may do what ``needed`` may (anonymous readers read when reading is public)."""
        if self.role is None:
            return needed is Role.VIEWER and self.public_read
        return self.role.allows(needed)

    @property
    def caller(self) -> Caller:
        """Return the user as the API's caller, so that page writes are audited exactly like API writes."""
        return Caller(name=self.username, role=self.role)

    @property
    def role_label(self) -> str:
        """Return the role's Chinese name."""
        return ROLE_LABELS[self.role] if self.role else "访客"


class LoginRequired(Exception):
    """A page that needs a logged-in user was opened without one."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class RoleRequired(Exception):
    """A page or action that needs a higher role than the user's."""

    def __init__(self, needed: Role) -> None:
        super().__init__(needed.value)
        self.needed = needed


class CsrfRejected(Exception):
    """A form that changes something came without the right CSRF token."""


async def mark_page(request: Request) -> None:
    """Mark the request as a page, so that its errors answer as HTML pages rather than JSON."""
    request.state.web_page = True


PAGE = [Depends(mark_page)]


def current_user(request: Request, session: SessionDep, settings: SettingsDep) -> WebUser:
    """Return the user of the session cookie, or an anonymous reader."""
    raw = request.cookies.get(SESSION_COOKIE)
    found = find_session(session, raw) if raw else None
    if found is None:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
        anonymous = WebUser("anonymous", "", "", None, token, settings.public_read)
        request.state.web_user = anonymous
        return anonymous
    web_session, user = found
    found_user = WebUser(
        user.username, user.display_name, user.unit, Role(user.role), web_session.csrf_secret,
        settings.public_read, user.id,
    )  # fmt: skip
    request.state.web_user = found_user
    return found_user


CurrentUser = Annotated[WebUser, Depends(current_user)]


def require(role: Role) -> Any:
    """Return a dependency letting through users whose role allows ``role`` (else login or the 403 page)."""

    async def guard(request: Request, user: CurrentUser) -> WebUser:
        if user.may(role):
            return user
        if not user.logged_in:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        raise RoleRequired(role)

    return Depends(guard)


PageViewer = Annotated[WebUser, require(Role.VIEWER)]
PageSurveyor = Annotated[WebUser, require(Role.SURVEYOR)]
PageAdmin = Annotated[WebUser, require(Role.ADMIN)]


def csrf_matches(expected: str, sent: object) -> bool:
    """Compare a form's token with the expected one in constant time (an empty expectation never matches)."""
    return bool(expected) and isinstance(sent, str) and hmac.compare_digest(expected.encode(), sent.encode())


async def csrf_form(request: Request, user: CurrentUser) -> FormData:
    """Read a small URL-encoded or multipart form and refuse it (403) unless it carries the user's CSRF token."""
    form = await request.form(max_files=0, max_fields=50)
    if not csrf_matches(user.csrf, form.get("csrf_token")):
        raise CsrfRejected
    return form


CsrfForm = Annotated[FormData, Depends(csrf_form)]


def commit_now(session: Session) -> None:
    """Commit a page's writes before it answers, so that the page the browser opens next sees them.

    The request's transaction (``api.deps.get_session``) otherwise ends after the answer has been sent,
    and a browser following a redirect at once could read the state from before the write.
    """
    session.commit()


def new_csrf_token() -> str:
    """Return a fresh random token for the login form's cookie."""
    return secrets.token_urlsafe(32)


def login_redirect(next_path: str) -> str:
    """Return the login URL that comes back to ``next_path``."""
    return "/login?next=" + quote(next_path, safe="/")
