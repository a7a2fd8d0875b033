"""``rivergis user``: web workbench accounts (create, list, disable, reset); passwords only from stdin."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from gis_service.cli.common import handles_errors, ready_engine
from gis_service.cli.output import console
from gis_service.errors import BadRequest

user_app = typer.Typer(help="网页工作台账号管理（密码只从标准输入读取）", no_args_is_help=True)
ROLE_LABELS = {"viewer": "查看", "surveyor": "测绘单位", "admin": "管理员"}


def _read_password(password_stdin: bool) -> str:
    """Return the password from the first line of stdin (never from the command line, which ``ps`` shows)."""
    if not password_stdin:
        raise BadRequest(
            "请用 --password-stdin 从标准输入提供密码，例如 `echo '密码' | rivergis user create …`",
            code="password_stdin_required",
        )
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise BadRequest("标准输入中没有密码；请在第一行给出密码", code="missing_password")
    return line


@user_app.command("create", help="创建账号：rivergis user create 用户名 --role admin --password-stdin")
@handles_errors
def create(
    username: Annotated[str, typer.Argument(help="登录用户名")],
    role: Annotated[str, typer.Option(help="viewer | surveyor | admin")],
    name: Annotated[str, typer.Option("--name", help="姓名")] = "",
    unit: Annotated[str, typer.Option("--unit", help="单位（测绘单位、镇街、河长办）")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="从标准输入读取密码")] = False,
) -> None:
    """Create a web workbench account with a role; the password is read from stdin."""
    from gis_service.access import audit
    from gis_service.accounts import create_user
    from gis_service.db.engine import transaction

    password = _read_password(password_stdin)
    engine = ready_engine()
    with transaction(engine) as session:
        user = create_user(session, username=username, role=role, password=password, display_name=name, unit=unit)
        audit(
            session,
            actor="cli",
            action="user.create",
            target_type="user",
            target_id=user.username,
            details={"role": user.role},
        )
    console.print(f"已创建账号 {user.username}（{ROLE_LABELS[user.role]}）", highlight=False)


@user_app.command("list", help="列出全部账号。")
@handles_errors
def list_() -> None:
    """List the accounts: username, name, unit, role, state."""
    from gis_service.accounts import list_users
    from gis_service.db.engine import transaction

    engine = ready_engine()
    table = Table("用户名", "姓名", "单位", "角色", "状态", "创建时间")
    with transaction(engine) as session:
        for u in list_users(session):
            state = "已停用" if u.disabled else ("已锁定" if u.locked_until else "正常")
            table.add_row(
                u.username,
                u.display_name,
                u.unit,
                ROLE_LABELS.get(u.role, u.role),
                state,
                u.created_at.strftime("%Y-%m-%d"),
            )
    console.print(table)


@user_app.command("disable", help="停用账号：不能再登录，已登录的会话立即失效。")
@handles_errors
def disable(username: Annotated[str, typer.Argument(help="用户名")]) -> None:
    """Disable an account and end its sessions."""
    from gis_service.access import audit
    from gis_service.accounts import disable_user
    from gis_service.db.engine import transaction

    engine = ready_engine()
    with transaction(engine) as session:
        user = disable_user(session, username)
        audit(session, actor="cli", action="user.disable", target_type="user", target_id=user.username)
    console.print(f"已停用账号 {user.username}", highlight=False)


@user_app.command("reset", help="重设密码（从标准输入读取），解除锁定，结束该账号的全部会话。")
@handles_errors
def reset(
    username: Annotated[str, typer.Argument(help="用户名")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="从标准输入读取密码")] = False,
) -> None:
    """Set a new password for an account, lift its lockout and end its sessions."""
    from gis_service.access import audit
    from gis_service.accounts import reset_password
    from gis_service.db.engine import transaction

    password = _read_password(password_stdin)
    engine = ready_engine()
    with transaction(engine) as session:
        user = reset_password(session, username, password)
        audit(session, actor="cli", action="user.reset", target_type="user", target_id=user.username)
    console.print(f"已重设 {user.username} 的密码", highlight=False)
