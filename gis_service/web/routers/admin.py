"""``/admin`` (admins only): accounts (create, disable, reset password), API tokens, the audit log."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from gis_service.access import Role, create_token
from gis_service.accounts import create_user, disable_user, list_users, reset_password
from gis_service.api.deps import ClockDep, SessionDep
from gis_service.errors import BadRequest, ServiceError
from gis_service.ledger.common import parse_date
from gis_service.token_admin import list_tokens
from gis_service.token_admin import revoke_tokens as revoke_token
from gis_service.web.audit_log import AuditFilter, known_values, search
from gis_service.web.deps import PAGE, ROLE_LABELS, CsrfForm, PageAdmin, WebUser, commit_now
from gis_service.web.templating import render
from gis_service.web.uploads import text

router = APIRouter(dependencies=PAGE, include_in_schema=False)
AUDIT_PAGE = 50
TOKEN_STATES = {"active": "有效", "revoked": "已吊销", "expired": "已过期"}


def _moment(value: str | dt.datetime | None) -> dt.datetime | None:
    """Return a token list's moment (ISO text or datetime) as a datetime, for China-time display."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value)


def _users_page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    error: dict[str, str] | None = None,
    notice: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """Render the accounts tab, with an error or a notice above it."""
    context = {
        "tab": "users",
        "users": list_users(session),
        "roles": [(r.value, ROLE_LABELS[r]) for r in Role],
        "role_labels": {r.value: ROLE_LABELS[r] for r in Role},
        "error": error,
        "notice": notice,
        "values": values or {},
    }
    return render(request, "admin_users.html", user, context, status=status)


@router.get("/admin")
def users(request: Request, session: SessionDep, user: PageAdmin) -> Response:
    """The accounts: username, name, unit, role, state; create, disable, reset password."""
    notice = {"created": "账号已创建。", "disabled": "账号已停用，其登录会话均已结束。", "reset": "密码已重设。"}
    return _users_page(request, session, user, notice=notice.get(request.query_params.get("done", ""), ""))


@router.post("/admin/users")
def add_user(request: Request, session: SessionDep, user: PageAdmin, form: CsrfForm) -> Response:
    """Create an account with a role and a first password (the person changes it after logging in)."""
    values = {k: text(form, k, limit=128) for k in ("username", "display_name", "unit", "role")}
    try:
        with session.begin_nested():
            made = create_user(session, password=str(form.get("password") or ""), **values)
    except BadRequest as exc:
        error = {"message": exc.message, "code": exc.code}
        return _users_page(request, session, user, error=error, values=values, status=exc.http_status)
    user.caller.audit(session, "user.create", "user", made.username, role=made.role)
    commit_now(session)
    return RedirectResponse("/admin?done=created", status_code=303)


@router.post("/admin/users/{username}/disable")
def disable(request: Request, session: SessionDep, user: PageAdmin, _form: CsrfForm, username: str) -> Response:
    """Disable an account: it can no longer log in, and its sessions end (never one's own)."""
    if username == user.username:
        error = {"message": "不能停用自己正在使用的账号；请用另一个管理员账号操作", "code": "cannot_disable_self"}
        return _users_page(request, session, user, error=error, status=400)
    disable_user(session, username)
    user.caller.audit(session, "user.disable", "user", username)
    commit_now(session)
    return RedirectResponse("/admin?done=disabled", status_code=303)


@router.post("/admin/users/{username}/reset")
def reset(request: Request, session: SessionDep, user: PageAdmin, form: CsrfForm, username: str) -> Response:
    """Set a new password for an account: its lockout is lifted and its sessions end."""
    try:
        with session.begin_nested():
            reset_password(session, username, str(form.get("password") or ""))
    except BadRequest as exc:
        error = {"message": exc.message, "code": exc.code}
        return _users_page(request, session, user, error=error, status=exc.http_status)
    user.caller.audit(session, "user.reset", "user", username)
    commit_now(session)
    return RedirectResponse("/admin?done=reset", status_code=303)


def _tokens_page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    error: dict[str, str] | None = None,
    secret: str = "",
    made: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """Render the tokens tab; a new token's secret is shown once, on the answer to its creation."""
    rows = list_tokens(session)
    for row in rows:
        for key in ("created_at", "last_used_at", "expires_at", "revoked_at"):
            row[key] = _moment(row.get(key))
    context = {
        "tab": "tokens",
        "tokens": rows,
        "roles": [(r.value, ROLE_LABELS[r]) for r in Role],
        "role_labels": {r.value: ROLE_LABELS[r] for r in Role},
        "states": TOKEN_STATES,
        "error": error,
        "secret": secret,
        "made": made or {},
        "notice": "令牌已吊销，持有它的脚本和 GIS 软件将无法再访问。" if request.query_params.get("revoked") else "",
    }
    return render(request, "admin_tokens.html", user, context, status=status)


@router.get("/admin/tokens")
def tokens(request: Request, session: SessionDep, user: PageAdmin) -> Response:
    """The API tokens: name, role, created, last used, state; create and revoke."""
    return _tokens_page(request, session, user)


@router.post("/admin/tokens")
def add_token(request: Request, session: SessionDep, user: PageAdmin, form: CsrfForm) -> Response:
    """Create a token; its secret is shown once on this answer and stored only as a hash."""
    name, role = text(form, "name", "令牌名称", limit=128), text(form, "role")
    try:
        secret = create_token(session, name=name, role=role)
    except BadRequest as exc:
        error = {"message": exc.message, "code": exc.code}
        return _tokens_page(request, session, user, error=error, status=exc.http_status)
    user.caller.audit(session, "token.create", "token", name, role=role)
    page = _tokens_page(request, session, user, secret=secret, made={"name": name, "role": role})
    commit_now(session)  # the secret works as soon as it is shown
    return page


@router.post("/admin/tokens/revoke")
def revoke(request: Request, session: SessionDep, user: PageAdmin, form: CsrfForm) -> Response:
    """Revoke every live token of a name: the API refuses it from then on."""
    name = text(form, "name", "令牌名称", limit=128)
    try:
        count = revoke_token(session, name)
    except ServiceError as exc:
        if exc.http_status >= 500:
            raise
        error = {"message": exc.message, "code": exc.code}
        return _tokens_page(request, session, user, error=error, status=exc.http_status)
    user.caller.audit(session, "token.revoke", "token", name, count=count)
    commit_now(session)
    return RedirectResponse("/admin/tokens?revoked=1", status_code=303)


@router.get("/admin/audit")
def audit(request: Request, session: SessionDep, clock: ClockDep, user: PageAdmin) -> Response:
    """The audit log: who did what when, filtered by actor, action and China-time dates, newest first, paged."""
    q = request.query_params
    flt = AuditFilter(
        actor=(q.get("actor") or "").strip(),
        action=(q.get("action") or "").strip(),
        since=parse_date(q.get("from"), "开始日期"),
        until=parse_date(q.get("to"), "结束日期"),
    )
    if flt.since and flt.until and flt.since > flt.until:
        raise BadRequest(f"日期范围不正确：开始日期 {flt.since} 晚于结束日期 {flt.until}", code="bad_date_range")
    raw_page = q.get("page", "1")
    page = max(int(raw_page), 1) if raw_page.isdigit() else 1
    entries, total = search(session, flt, clock, limit=AUDIT_PAGE, offset=(page - 1) * AUDIT_PAGE)
    pages = max(math.ceil(total / AUDIT_PAGE), 1)
    query: dict[str, Any] = {k: v for k in ("actor", "action", "from", "to") if (v := (q.get(k) or "").strip())}
    context = {
        "tab": "audit",
        "entries": entries,
        "total": total,
        "page": page,
        "pages": pages,
        "query": query,
        "page_link": lambda n: "/admin/audit?" + urlencode({**query, "page": n}),
        **known_values(session),
    }
    return render(request, "admin_audit.html", user, context)
