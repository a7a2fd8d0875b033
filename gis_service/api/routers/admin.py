"""Administration: tokens and the audit log (admin role)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from gis_service.access import Role, create_token
from gis_service.api.deps import Caller, SessionDep, allowed
from gis_service.api.responses import file_responses
from gis_service.api.schemas import admin as shapes
from gis_service.db.models import AuditEntry
from gis_service.export.audit import audit_export
from gis_service.export.sheets import MEDIA_TYPES
from gis_service.token_admin import list_tokens, revoke_tokens

router = APIRouter(prefix="/api/v1", tags=["admin"])


class TokenRequest(BaseModel):
    """A request for a new token."""

    name: str = Field(min_length=1, max_length=128)
    role: Role
    expires_days: int | None = Field(default=None, ge=1, le=3650, description="有效天数；不填则长期有效")


@router.post("/tokens", status_code=201, response_model=shapes.TokenCreated)
def new_token(
    body: TokenRequest, session: SessionDep, caller: Annotated[Caller, allowed("token.create")]
) -> dict[str, Any]:
    """Create a token; its secret is returned once and stored only as a hash."""
    secret = create_token(session, name=body.name, role=body.role.value, expires_days=body.expires_days)
    caller.audit(session, "token.create", "token", body.name, role=body.role.value, expires_days=body.expires_days)
    return {"name": body.name, "role": body.role.value, "token": secret}


@router.get("/tokens", response_model=shapes.TokenList)
def tokens(session: SessionDep, _caller: Annotated[Caller, allowed("token.list")]) -> dict[str, Any]:
    """List the tokens: name, role, state, created, last used, expiry (never a secret)."""
    return {"tokens": list_tokens(session)}


@router.delete("/tokens/{name}", response_model=shapes.TokenRevoked)
def revoke(
    session: SessionDep,
    caller: Annotated[Caller, allowed("token.revoke")],
    name: Annotated[str, Path(min_length=1, max_length=128)],
) -> dict[str, Any]:
    """Revoke every live token named ``name``: it is refused from the next request on."""
    count = revoke_tokens(session, name)
    caller.audit(session, "token.revoke", "token", name, count=count)
    return {"name": name, "revoked": count}


@router.get("/audit", response_model=shapes.AuditLog)
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


@router.get("/audit/export.{fmt}", response_class=Response, responses=file_responses(*MEDIA_TYPES.values()))
def audit_file(
    session: SessionDep,
    _caller: Annotated[Caller, allowed("audit.read")],
    fmt: Annotated[Literal["xlsx", "csv"], Path(description="xlsx | csv")],
    limit: Annotated[int, Query(ge=1, le=1_000_000, description="最近的条数")] = 100_000,
) -> Response:
    """The audit log as an Excel workbook or CSV (newest first), every text written as text."""
    headers = {"Content-Disposition": f'attachment; filename="audit.{fmt}"'}
    return Response(audit_export(session, fmt, limit), media_type=MEDIA_TYPES[fmt], headers=headers)
