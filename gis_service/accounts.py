"""Accounts of the web workbench: users with Argon2 passwords, server-side sessions, login lockout.

No HTTP here: the web pages and the ``rivergis user`` command call these functions inside their own
transaction. Roles are those of API tokens (:class:`gis_service.access.Role`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from gis_service.access import Role
from gis_service.db.models import User, WebSession, utcnow
from gis_service.errors import BadRequest, NotFound

# The web workbench's session cookie (HttpOnly, SameSite=Lax); the API accepts it on reads only.
SESSION_COOKIE = "rivergis_session"

MAX_FAILED_LOGINS = 5
MIN_PASSWORD_LENGTH = 8
USERNAME_PATTERN = re.compile(r"^[\w.\-]{2,64}$")
_HASHER = PasswordHash((Argon2Hasher(),))
# Verified against when the username is unknown, so that a miss costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """Return the Argon2 hash of ``password``."""
    return _HASHER.hash(password)


def _check_password(password: str) -> str:
    """Return ``password`` if it is long enough, else say what is needed."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符；请换一个更长的密码", code="password_too_short")
    return password


def _role(role: str) -> Role:
    """Return the role named ``role`` or say which roles exist."""
    try:
        return Role(role)
    except ValueError:
        raise BadRequest(f"未知角色 {role!r}；可选：viewer、surveyor、admin", code="unknown_role") from None


def create_user(
    session: Session, *, username: str, role: str, password: str, display_name: str = "", unit: str = ""
) -> User:
    """Create a user with an Argon2-hashed password; the username must be new."""
    username = username.strip()
    if not USERNAME_PATTERN.match(username):
        raise BadRequest("用户名应为 2–64 个字母、数字、汉字、下划线、点或连字符；请换一个用户名", code="bad_username")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise BadRequest(f"用户名 {username} 已存在；请换一个，或用 `rivergis user reset` 重设密码", code="user_exists")
    user = User(
        username=username,
        role=_role(role).value,
        password_hash=hash_password(_check_password(password)),
        display_name=display_name.strip(),
        unit=unit.strip(),
        disabled=False,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> User:
    """Return the user called ``username``."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise NotFound(f"用户 {username} 不存在；`rivergis user list` 列出全部用户", code="user_not_found")
    return user


def list_users(session: Session) -> list[User]:
    """Return every user, by username."""
    return list(session.scalars(select(User).order_by(User.username)))


def disable_user(session: Session, username: str) -> User:
    """Disable a user: they can no longer log in, and their open sessions end."""
    user = get_user(session, username)
    user.disabled = True
    end_user_sessions(session, user.id)
    return user


def reset_password(session: Session, username: str, password: str) -> User:
    """Set a new password (an admin's reset): the lockout is lifted and every session ends."""
    user = get_user(session, username)
    _set_password(session, user, password)
    return user


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """Change one's own password after checking the current one; every session of the user ends."""
    if not _HASHER.verify(current, user.password_hash):
        raise BadRequest("当前密码不正确；请重新输入", code="wrong_password")
    if current == new:
        raise BadRequest("新密码不能与当前密码相同", code="password_unchanged")
    _set_password(session, user, new)


def _set_password(session: Session, user: User, password: str) -> None:
    """Store a new password hash, lift any lockout and end the user's sessions."""
    user.password_hash = hash_password(_check_password(password))
    user.password_changed_at = utcnow()
    user.failed_logins = 0
    user.locked_until = None
    end_user_sessions(session, user.id)


@dataclass(frozen=True)
class LoginOutcome:
    """What a login attempt came to: the user, or how many tries are left, or until when it is locked."""

    user: User | None
    attempts_left: int = 0
    locked_until: dt.datetime | None = None


def authenticate(session: Session, username: str, password: str, *, lockout: dt.timedelta) -> LoginOutcome:
    """Check a username and password; five failures in a row lock the username for ``lockout``.

    Returns an outcome rather than raising, so that the caller's transaction keeps the failure count.
    """
    now = utcnow()
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is not None and user.locked_until is not None and user.locked_until > now:
        return LoginOutcome(None, locked_until=user.locked_until)
    if user is None or user.disabled:
        _HASHER.verify(password, _DUMMY_HASH)
        return LoginOutcome(None, attempts_left=MAX_FAILED_LOGINS)
    valid, new_hash = _HASHER.verify_and_update(password, user.password_hash)
    if valid:
        user.failed_logins = 0
        user.locked_until = None
        if new_hash:
            user.password_hash = new_hash
        return LoginOutcome(user)
    # One statement, so that concurrent guesses each count.
    failed = session.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    if failed >= MAX_FAILED_LOGINS:
        locked_until = now + lockout
        session.execute(
            update(User)
            .where(User.id == user.id)
            .values(failed_logins=0, locked_until=locked_until)
            .execution_options(synchronize_session=False)
        )
        return LoginOutcome(None, locked_until=locked_until)
    return LoginOutcome(None, attempts_left=MAX_FAILED_LOGINS - failed)


def _session_hash(raw: str) -> str:
    """Return the stored form of a session id (the cookie holds the id, the database its hash)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def start_session(session: Session, user: User, *, lifetime: dt.timedelta) -> str:
    """Open a session for ``user``; return its id for the cookie (stored only hashed)."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    # Expired sessions are of no use to anyone: sweep them whenever someone logs in.
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.add(
        WebSession(
            session_hash=_session_hash(raw),
            user_id=user.id,
            csrf_secret=secrets.token_urlsafe(32),
            created_at=now,
            last_seen=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return raw


def _live_session(session: Session, raw: str) -> tuple[WebSession, User] | None:
    """Return the session whose id is ``raw`` and its user while both are live (not expired, disabled or stale)."""
    found = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.session_hash == _session_hash(raw))
    ).first()
    if found is None:
        return None
    web_session, user = found[0], found[1]
    if web_session.expires_at <= utcnow() or user.disabled or web_session.created_at < user.password_changed_at:
        return None
    return web_session, user


def find_session(session: Session, raw: str) -> tuple[WebSession, User] | None:
    """Return the live session whose id is ``raw`` and its (enabled) user, else None; note when it was seen."""
    found = _live_session(session, raw)
    if found is None:
        return None
    web_session, _user = found
    now = utcnow()
    # Write last_seen at most once a minute: a page view should not always be a write.
    if now - web_session.last_seen > dt.timedelta(minutes=1):
        web_session.last_seen = now
    return found


def session_user(session: Session, raw: str) -> User | None:
    """Return the enabled user of the live session ``raw``, reading only (the API's reads from a logged-in browser)."""
    found = _live_session(session, raw)
    return None if found is None else found[1]


def end_session(session: Session, raw: str) -> None:
    """End the session whose id is ``raw`` (logout)."""
    session.execute(delete(WebSession).where(WebSession.session_hash == _session_hash(raw)))


def end_user_sessions(session: Session, user_id: int) -> None:
    """End every session of a user (password changed, account disabled)."""
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))
