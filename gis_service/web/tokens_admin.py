"""API tokens for the admin page: list (never the secret) and revoke by name.

Stand-in until branch ``trust`` (``gis_service/token_admin.py``: ``list_tokens``, ``revoke_tokens``, expiry,
last use) is merged; the rows have the same keys, so the page switches over by changing its import.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gis_service.db.models import Token
from gis_service.errors import NotFound


def _moment(value: dt.datetime | None) -> str | None:
    """Return a moment as ISO text, or None."""
    return value.isoformat() if value else None


def list_tokens(session: Session) -> list[dict[str, Any]]:
    """Return every token's name, role, state and dates, oldest first; the secret and its hash never leave."""
    return [
        {
            "id": t.id,
            "name": t.name,
            "role": t.role,
            "state": "revoked" if t.revoked_at is not None else "active",
            "created_at": _moment(t.created_at),
            "last_used_at": _moment(getattr(t, "last_used_at", None)),
            "expires_at": _moment(getattr(t, "expires_at", None)),
            "revoked_at": _moment(t.revoked_at),
        }
        for t in session.scalars(select(Token).order_by(Token.id))
    ]


def revoke_token(session: Session, name: str) -> int:
    """Revoke every live token named ``name``; return how many; NotFound when there is none."""
    live = list(session.scalars(select(Token).where(Token.name == name.strip(), Token.revoked_at.is_(None))))
    if not live:
        raise NotFound(f"没有名为“{name}”的有效令牌；请在令牌列表中核对名称", code="token_not_found")
    now = dt.datetime.now(dt.UTC)
    for t in live:
        t.revoked_at = now
    session.flush()
    return len(live)
