"""Request dependencies: one transaction a request, the caller's token, role guards, settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from gis_service.access import Role, audit, lookup_token, use_is_stale
from gis_service.accounts import SESSION_COOKIE, session_user
from gis_service.catalogue import Catalogue, catalogue_for
from gis_service.clock import BusinessClock
from gis_service.db.backend import DatabaseWaits, SpatialBackend, Timeouts, backend_for
from gis_service.db.engine import engine_for
from gis_service.district import District, district_for
from gis_service.errors import Conflict, DatabaseError, Forbidden, Unauthorized
from gis_service.roles import role_for
from gis_service.settings import Settings


def app_settings(app: Any) -> Settings:
    """Return the settings of an app: ``app.state.settings``, the source its factory chose (``api.app``)."""
    source: Callable[[], Settings] = app.state.settings
    return source()


async def current_settings(request: Request) -> Settings:
    """Return the app's settings; async so that FastAPI does not hand it to a worker thread."""
    return app_settings(request.app)


SettingsDep = Annotated[Settings, Depends(current_settings)]


def app_catalogue(app: Any) -> Catalogue:
    """Return the layer catalogue of an app's settings (loaded once a folder)."""
    return catalogue_for(app_settings(app))


async def current_catalogue(request: Request) -> Catalogue:
    """Return the app's layer catalogue; async so that FastAPI does not hand it to a worker thread."""
    return app_catalogue(request.app)


CatalogueDep = Annotated[Catalogue, Depends(current_catalogue)]


def app_district(app: Any) -> District:
    """Return the district of an app's settings."""
    return district_for(app_settings(app))


async def current_district(request: Request) -> District:
    """Return the app's district; async so that FastAPI does not hand it to a worker thread."""
    return app_district(request.app)


DistrictDep = Annotated[District, Depends(current_district)]


def backend_of(app: Any) -> SpatialBackend:
    """Return the backend built at start-up (``app.state.backend``), or that of the database the settings name."""
    backend = getattr(app.state, "backend", None)
    if isinstance(backend, SpatialBackend):
        return backend
    settings = app_settings(app)
    return backend_for(engine_for(settings.resolved_database_url(), DatabaseWaits.of(settings)))


def app_backend(request: Request) -> SpatialBackend:
    """Return the app's backend (see :func:`backend_of`)."""
    return backend_of(request.app)


BackendDep = Annotated[SpatialBackend, Depends(app_backend)]
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def committed(session: Session) -> None:
    """Commit, answering a failed commit as 409 (a conflict) or 503 (nothing stored), never as success."""
    try:
        session.commit()
    except IntegrityError as exc:
        raise Conflict(
            "与已有记录冲突（同时提交的另一项写入已改变了数据），本次未保存任何内容；请刷新后再操作。",
            code="commit_conflict",
        ) from exc
    except SQLAlchemyError as exc:
        error = backend_for(session.get_bind()).translate(exc)
        raise error or DatabaseError(
            "数据库未能保存本次写入，本次未保存任何内容；请稍后重试。", code="commit_failed", retry_after=5
        ) from exc


def _session(
    request: Request, backend: SpatialBackend, timeouts: Timeouts | None, *, write: bool | None = None
) -> Iterator[Session]:
    """Yield the request's session; commit before the answer is sent, roll back on any error."""
    writes = request.method in WRITE_METHODS if write is None else write
    with backend.session(write=writes, timeouts=timeouts) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        committed(session)


def get_session(request: Request, backend: BackendDep) -> Iterator[Session]:
    """Yield a session inside one transaction with the request's timeouts (writes: the write lock first)."""
    yield from _session(request, backend, None)


def get_import_session(request: Request, backend: BackendDep) -> Iterator[Session]:
    """Yield a session for an upload's import: it waits and runs as long as a CLI import may."""
    yield from _session(request, backend, backend.import_timeouts)


def get_check_session(request: Request, backend: BackendDep) -> Iterator[Session]:
    """Yield a read session for checking an upload that stores nothing (a preview): no write lock."""
    yield from _session(request, backend, backend.import_timeouts, write=False)


# scope="function": the commit runs before the response is sent, so a failed commit is the answer.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ImportSessionDep = Annotated[Session, Depends(get_import_session, scope="function")]
CheckSessionDep = Annotated[Session, Depends(get_check_session, scope="function")]


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
    # The edge (``api/limits.py``) moved ``?access_token=`` out of the query string into the scope.
    return query_token(request) or request.cookies.get(TOKEN_COOKIE)


def query_token(request: Request) -> str | None:
    """Return the ``?access_token=`` the request came with (kept aside by the edge, never echoed)."""
    return request.scope.get(QUERY_TOKEN_KEY) or request.query_params.get("access_token")


QUERY_TOKEN_KEY = "rivergis.access_token"


def session_caller(request: Request, backend: SpatialBackend) -> Caller | None:
    """Return the workbench user a browser's session cookie names, on reads only (maps, downloads, lists).

    Writes never accept the cookie: another site could make a browser send it (CSRF); the
    workbench's own forms carry their CSRF token to the page routes instead.
    """
    raw = request.cookies.get(SESSION_COOKIE) if request.method in READ_METHODS else None
    if not raw:
        return None
    with backend.transaction(write=False) as session:
        user = session_user(session, raw)
        return None if user is None else Caller(name=user.username, role=Role(user.role))


def get_caller(request: Request, backend: BackendDep) -> Caller:
    """Identify the caller from ``Authorization: Bearer TOKEN`` (or a browser token on reads).

    The token is read in a short transaction of its own, so a write request's transaction (and on
    SQLite its write lock) begins only with the route's own work.
    """
    header = request.headers.get("authorization", "")
    if not header:
        secret = browser_token(request)
        if not secret:
            return session_caller(request, backend) or Caller(name="anonymous", role=None)
        header = f"Bearer {secret}"
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Authorization 头格式应为 `Bearer <令牌>`", code="bad_authorization")
    now = dt.datetime.now(dt.UTC)
    with backend.transaction(write=False) as session:
        token = lookup_token(session, secret.strip(), now)
    if token is None:
        raise Unauthorized("令牌无效、已吊销或已过期；请向管理员申请（rivergis token create）", code="invalid_token")
    if use_is_stale(token, now):
        request.state.token_use = (token.id, now)  # recorded after the request: api/token_use.py
    request.scope[VALIDATED_KEY] = secret.strip()
    return Caller(name=token.name, role=Role(token.role))


VALIDATED_KEY = "rivergis.validated_token"


def validated_token(request: Request) -> str | None:
    """Return the token this request's caller was identified with, once it was checked."""
    value = request.scope.get(VALIDATED_KEY)
    return value if isinstance(value, str) else None


CallerDep = Annotated[Caller, Depends(get_caller)]


def check_role(caller: Caller, role: Role, settings: Settings, action: str | None = None) -> Caller:
    """Let ``caller`` through when their role allows ``role`` (reads are open with public read)."""
    what = f"操作 {action}" if action else "此操作"
    if role is Role.VIEWER and settings.public_read:
        return caller
    if caller.role is None:
        raise Unauthorized(
            f"{what}需要 {role.value} 及以上角色的令牌：请在请求头加 `Authorization: Bearer <令牌>`",
            code="token_required",
        )
    if not caller.role.allows(role):
        raise Forbidden(
            f"令牌角色 {caller.role.value} 无权执行{what}，需要 {role.value} 及以上角色",
            code="insufficient_role",
            details={"action": action, "needed": role.value} if action else None,
        )
    return caller


def check_action(caller: Caller, action: str, settings: Settings) -> Caller:
    """Let ``caller`` take ``action`` of the role table, or refuse (401/403) naming the role it needs."""
    return check_role(caller, role_for(action), settings, action)


def require(role: Role) -> Any:
    """Return a dependency that lets through callers whose role allows ``role``."""

    # Async: a pure check, not worth a hop to the thread pool on every read.
    async def guard(caller: CallerDep, settings: SettingsDep) -> Caller:
        return check_role(caller, role, settings)

    return Depends(guard)


def allowed(action: str) -> Any:
    """Return a dependency that lets through callers the role table allows ``action``."""
    role = role_for(action)

    async def guard(caller: CallerDep, settings: SettingsDep) -> Caller:
        return check_role(caller, role, settings, action)

    return Depends(guard)


Viewer = Annotated[Caller, require(Role.VIEWER)]
Surveyor = Annotated[Caller, require(Role.SURVEYOR)]
Admin = Annotated[Caller, require(Role.ADMIN)]


def app_clock(app: Any) -> BusinessClock:
    """Return an app's business clock (``app.state.clock``; tests stop it at a chosen moment)."""
    clock: BusinessClock = app.state.clock
    return clock


async def current_clock(request: Request) -> BusinessClock:
    """Return the app's business clock; async so that FastAPI does not hand it to a worker thread."""
    return app_clock(request.app)


ClockDep = Annotated[BusinessClock, Depends(current_clock)]
