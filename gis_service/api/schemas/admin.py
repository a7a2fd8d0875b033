"""Tokens and the audit log."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gis_service.api.schemas.base import Moment, Open


class TokenCreated(BaseModel):
    """A new token: its secret is shown this once."""

    name: str
    role: str
    token: str


class TokenInfo(Open):
    """A stored token (never its secret)."""

    id: int
    name: str
    role: str
    state: str
    created_at: Moment | None
    last_used_at: Moment | None
    expires_at: Moment | None
    revoked_at: Moment | None


class TokenList(BaseModel):
    """Every token."""

    tokens: list[TokenInfo]


class TokenRevoked(BaseModel):
    """How many live tokens of a name were revoked."""

    name: str
    revoked: int


class AuditRecord(BaseModel):
    """One audit log entry: who did what to which object, with details."""

    id: int
    at: Moment
    actor: str
    role: str | None
    action: str
    target_type: str | None
    target_id: str | None
    details: Any


class AuditLog(BaseModel):
    """The newest audit log entries."""

    entries: list[AuditRecord]
