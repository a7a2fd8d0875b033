"""Request dependencies: one transaction a request, the caller's token, role guards, settings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from gis_service.access import Role, audit, lookup_token
from gis_service.clock import BusinessClock
from gis_service.db.engine import get_engine
from gis_service.errors import Forbidden, Unauthorized
from gis_service.settings import Settings, get_settings


async def current_settings() -> Settings:
    """Return the (cached) settings; async so that FastAPI does not hand it to a worker thread."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]


def get_session(request: Request) -> Iterator[Session]:
    """Yield a session inside one transaction: committed when the request succeeds, else rolled back."""
    engine = getattr(request.app.state, "engine", None) or get_engine()
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Caller:
    """Who is calling: a token's name and role, or an anonymous reader."""

    name: str
    role: Role | None

    def audit(self, session: Session, action: str, target_type: str, target_id: Any, **details: Any) -> None:
        """Record a write by this caller in the audit log."""
        audit(
            session,
            actor=self.name,
            role=self.role.value if self.role else None,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details,
        )


TOKEN_COOKIE = "rivergis_token"
READ_METHODS = {"GET", "HEAD"}


def browser_token(request: Request) -> str | None:
    """Return a token a browser page carries (``?access_token=`` or the session cookie), for reads only.

    A map page cannot send an Authorization header, so with ``RIVERGIS_PUBLIC_READ=false`` staff open
    ``/maps/problems?access_token=…`` once and the page's data requests carry the cookie set then.
    Writes never accept these (a cookie would make them forgeable from another site).
    """
    if request.method not in READ_METHODS:
        return None
    return request.query_params.get("access_token") or request.cookies.get(TOKEN_COOKIE)


def get_caller(request: Request, session: SessionDep) -> Caller:
    """Identify the caller from ``Authorization: Bearer TOKEN`` (or a browser token on reads)."""
    header = request.headers.get("authorization", "")
    if not header:
        secret = browser_token(request)
        if not secret:
            return Caller(name="anonymous", role=None)
        header = f"Bearer {secret}"
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Authorization 头格式应为 `Bearer <令牌>`", code="bad_authorization")
    token = lookup_token(session, secret.strip())
    if token is None:
        raise Unauthorized("令牌无效或已吊销；请向管理员申请（rivergis token create）", code="invalid_token")
    return Caller(name=token.name, role=Role(token.role))


CallerDep = Annotated[Caller, Depends(get_caller)]


def require(role: Role) -> Any:
    """Return a dependency that lets through callers whose role allows ``role``."""

    # Async: a pure check, not worth a hop to the thread pool on every read.
    async def guard(caller: CallerDep, settings: SettingsDep) -> Caller:
        if role is Role.VIEWER and settings.public_read:
            return caller
        if caller.role is None:
            raise Unauthorized(
                f"此操作需要 {role.value} 及以上角色的令牌：请在请求头加 `Authorization: Bearer <令牌>`",
                code="token_required",
            )
        if not caller.role.allows(role):
            raise Forbidden(
                f"令牌角色 {caller.role.value} 无权执行此操作，需要 {role.value} 及以上角色",
                code="insufficient_role",
            )
        return caller

    return Depends(guard)


Viewer = Annotated[Caller, require(Role.VIEWER)]
Surveyor = Annotated[Caller, require(Role.SURVEYOR)]
Admin = Annotated[Caller, require(Role.ADMIN)]


async def current_clock(request: Request) -> BusinessClock:
    """Return the app's business clock (``app.state.clock``; tests stop it at a chosen moment)."""
    clock: BusinessClock = request.app.state.clock
    return clock


ClockDep = Annotated[BusinessClock, Depends(current_clock)]
