"""``rivergis token``: API tokens for scripts and GIS software (shown once, stored hashed), listed and revoked."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from gis_service.access import audit, create_token
from gis_service.cli.common import handles_errors, ready_engine
from gis_service.cli.output import console
from gis_service.db.engine import transaction
from gis_service.token_admin import list_tokens, revoke_tokens

token_app = typer.Typer(help="API 令牌管理", no_args_is_help=True)


@token_app.command("create", help="创建 API 令牌：只显示一次，数据库中仅保存其哈希。")
@handles_errors
def token_create(
    role: Annotated[str, typer.Option(help="viewer | surveyor | admin")],
    name: Annotated[str, typer.Option(help="令牌持有人或用途")],
    expires_days: Annotated[int | None, typer.Option("--expires-days", help="有效天数；不填则长期有效")] = None,
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    engine = ready_engine()
    with transaction(engine) as session:
        secret = create_token(session, name=name, role=role, expires_days=expires_days)
        details = {"role": role, "expires_days": expires_days}
        audit(session, actor="cli", action="token.create", target_type="token", target_id=name, details=details)
    console.print(secret, highlight=False, soft_wrap=True)


@token_app.command("list", help="列出令牌：名称、角色、状态、创建、最近使用、到期时间（不显示令牌本身）。")
@handles_errors
def token_list(as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False) -> None:
    """List the tokens without their secrets."""
    with transaction(ready_engine()) as session:
        rows = list_tokens(session)
    print_tokens(rows, as_json)


@token_app.command("revoke", help="吊销名为 NAME 的全部有效令牌：此后的请求一律拒绝。")
@handles_errors
def token_revoke(name: Annotated[str, typer.Argument(help="令牌名称（见 rivergis token list）")]) -> None:
    """Revoke every live token named NAME."""
    with transaction(ready_engine()) as session:
        count = revoke_tokens(session, name)
        details = {"count": count}
        audit(session, actor="cli", action="token.revoke", target_type="token", target_id=name, details=details)
    console.print(f"已吊销 {count} 个名为“{name}”的令牌", highlight=False, markup=False)


STATES = {"active": "有效", "revoked": "已吊销", "expired": "已过期"}


def _day(value: str | None) -> str:
    """Return an ISO moment as ``YYYY-MM-DD HH:MM`` (UTC), or a dash."""
    return value[:16].replace("T", " ") if value else "—"


def print_tokens(rows: list[dict[str, Any]], as_json: bool) -> None:
    """Print the token list."""
    if as_json:
        print(json.dumps({"tokens": rows}, ensure_ascii=False, indent=2))
        return
    table = Table(title="API 令牌（时间为 UTC）")
    for header in ("名称", "角色", "状态", "创建", "最近使用", "到期"):
        table.add_column(header)
    for r in rows:
        moments = (_day(r[k]) for k in ("created_at", "last_used_at", "expires_at"))
        cells = (r["name"], r["role"], STATES[r["state"]], *moments)
        table.add_row(*(Text(c) for c in cells))  # Text: a name such as "[red]" is shown, not read as markup
    console.print(table)
