"""Administration: tokens and the audit log (admin role)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from gis_service.access import Role, create_token
from gis_service.api.deps import Caller, SessionDep, allowed
from gis_service.db.models import AuditEntry

router = APIRouter(prefix="/api/v1", tags=["admin"])


class TokenRequest(BaseModel):
    """A request for a new token."""

    name: str = Field(min_length=1, max_length=128)
    role: Role


@router.post("/tokens", status_code=201)
def new_token(
    body: TokenRequest, session: SessionDep, caller: Annotated[Caller, allowed("token.create")]
) -> dict[str, Any]:
    """Create a token; its secret is returned once and stored only as a hash."""
    secret = create_token(session, name=body.name, role=body.role.value)
    caller.audit(session, "token.create", "token", body.name, role=body.role.value)
    return {"name": body.name, "role": body.role.value, "token": secret}


@router.get("/audit")
def audit_log(
    session: SessionDep,
    _caller: Annotated[Caller, allowed("audit.read")],
    limit: Annotated[int, Query(ge=1, le=1000, description="最多返回的条数（1–1000）")] = 100,
) -> dict[str, Any]:
    """Return the newest audit log entries."""
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
    return {
        "entries": [
            {
                "id": r.id,
                "at": r.at.isoformat(),
                "actor": r.actor,
                "role": r.role,
                "action": r.action,
                "target_type": r.target_type,
                "target_id": r.target_id,
                "details": r.details,
            }
            for r in rows
        ]
    }
