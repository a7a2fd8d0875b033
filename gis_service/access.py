"""Access: API tokens with roles (viewer < surveyor < admin), stored hashed, and the audit log."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gis_service.db.models import AuditEntry, Token
from gis_service.errors import BadRequest


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


def create_token(session: Session, *, name: str, role: str) -> str:
    """Create a token for ``name`` with ``role``; return the secret (shown once, stored hashed)."""
    try:
        role_value = Role(role)
    except ValueError:
        raise BadRequest(f"未知角色 {role!r}；可选：viewer、surveyor、admin", code="unknown_role") from None
    if not name.strip():
        raise BadRequest("令牌名称不能为空", code="missing_name")
    secret = "rg_" + secrets.token_urlsafe(32)
    session.add(Token(name=name.strip(), role=role_value.value, token_hash=hash_token(secret)))
    session.flush()
    return secret


def lookup_token(session: Session, secret: str) -> Token | None:
    """Return the live token whose secret is ``secret``."""
    token = session.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
    if token is None or token.revoked_at is not None:
        return None
    return token


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
    session.add(
        AuditEntry(
            actor=actor,
            role=role,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            details=details or {},
        )
    )
