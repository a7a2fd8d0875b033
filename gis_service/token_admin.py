"""Token administration: list tokens (never their secrets) and revoke them by name."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gis_service.db.models import Token
from gis_service.errors import NotFound


def token_state(token: Token, now: dt.datetime) -> str:
    """Return ``active``, ``revoked`` or ``expired``."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def _moment(value: dt.datetime | None) -> str | None:
    """Return a moment as ISO text (UTC), or None."""
    return value.isoformat() if value else None


def list_tokens(session: Session, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Return every token's name, role, state and dates, oldest first; the secret and its hash never leave."""
    now = now or dt.datetime.now(dt.UTC)
    return [
        {
            "id": t.id,
            "name": t.name,
            "role": t.role,
            "state": token_state(t, now),
            "created_at": _moment(t.created_at),
            "last_used_at": _moment(t.last_used_at),
            "expires_at": _moment(t.expires_at),
            "revoked_at": _moment(t.revoked_at),
        }
        for t in session.scalars(select(Token).order_by(Token.id))
    ]


def revoke_tokens(session: Session, name: str, now: dt.datetime | None = None) -> int:
    """Revoke every live token named ``name``; return how many; NotFound when there is none."""
    now = now or dt.datetime.now(dt.UTC)
    live = [
        t for t in session.scalars(select(Token).where(Token.name == name.strip())) if token_state(t, now) == "active"
    ]
    if not live:
        raise NotFound(f"没有名为“{name}”的有效令牌；用 rivergis token list 查看现有令牌", code="token_not_found")
    for t in live:
        t.revoked_at = now
    session.flush()
    return len(live)
