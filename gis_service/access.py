"""Access: API tokens with roles (viewer < surveyor < admin), stored hashed, and the audit log."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gis_service.db.models import AuditEntry, Token
from gis_service.errors import BadRequest

log = logging.getLogger("gis_service")

# A token's last use is kept to this precision: a read does not become a write on every request.
LAST_USE_STEP = dt.timedelta(minutes=5)
AUDIT_TARGET_CHARS = 64  # audit_log.target_id is VARCHAR(64)


class Role(StrEnum):
    """Token roles, each allowed what the ones before it are."""

    VIEWER = "viewer"
    SURVEYOR = "surveyor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Return the role's rank (higher is allowed more)."""
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """Tell whether this role may do what ``needed`` may."""
        return self.rank >= needed.rank


def hash_token(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, *, name: str, role: str, expires_days: int | None = None) -> str:
    """Create a token for ``name`` with ``role`` (lapsing after ``expires_days``); return the secret, shown once."""
    try:
        role_value = Role(role)
    except ValueError:
        raise BadRequest(f"未知角色 {role!r}；可选：viewer、surveyor、admin", code="unknown_role") from None
    if not name.strip():
        raise BadRequest("令牌名称不能为空", code="missing_name")
    if expires_days is not None and not 1 <= expires_days <= 3650:
        raise BadRequest("有效天数应在 1 到 3650 之间；不填则长期有效", code="bad_expiry")
    expires = None if expires_days is None else dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_days)
    secret = "rg_" + secrets.token_urlsafe(32)
    session.add(Token(name=name.strip(), role=role_value.value, token_hash=hash_token(secret), expires_at=expires))
    session.flush()
    return secret


def lookup_token(session: Session, secret: str, now: dt.datetime | None = None) -> Token | None:
    """Return the live token whose secret is ``secret`` (None when unknown, revoked or expired)."""
    token = session.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
    now = now or dt.datetime.now(dt.UTC)
    if token is None or token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        return None
    return token


def use_is_stale(token: Token, now: dt.datetime) -> bool:
    """Tell whether the token's recorded last use is older than :data:`LAST_USE_STEP`."""
    return token.last_used_at is None or now - token.last_used_at >= LAST_USE_STEP


def record_use(engine: Engine, token_id: int, now: dt.datetime) -> None:
    """Record a token's use in its own short transaction, after the answer was sent.

    Best effort: a database busy with an import must not fail or delay a read for a timestamp.
    """
    try:
        with engine.begin() as conn:
            conn.execute(update(Token).where(Token.id == token_id).values(last_used_at=now))
    except OperationalError as exc:
        log.info("token last use not recorded (database busy): %s", exc.orig)


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    role: str | None = None,
    target_type: str | None = None,
    target_id: Any = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record one write in the audit log (in the caller's transaction)."""
    target = None if target_id is None else str(target_id)
    details = dict(details or {})
    if target is not None and len(target) > AUDIT_TARGET_CHARS:
        # A long file or token name must not fail the write it records: the column keeps its start,
        # the details keep it whole.
        details["target"] = target
        target = target[: AUDIT_TARGET_CHARS - 1] + "…"
    session.add(
        AuditEntry(actor=actor, role=role, action=action, target_type=target_type, target_id=target, details=details)
    )
