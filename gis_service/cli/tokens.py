"""``rivergis token``: API tokens for scripts and GIS software (shown once, stored hashed)."""

from __future__ import annotations

from typing import Annotated

import typer

from gis_service.cli.common import console, handles_errors, ready_engine
from gis_service.db.engine import transaction

token_app = typer.Typer(help="API 令牌管理", no_args_is_help=True)


@token_app.command("create", help="创建 API 令牌：只显示一次，数据库中仅保存其哈希。")
@handles_errors
def token_create(
    role: Annotated[str, typer.Option(help="viewer | surveyor | admin")],
    name: Annotated[str, typer.Option(help="令牌持有人或用途")],
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    from gis_service.access import audit, create_token

    engine = ready_engine()
    with transaction(engine) as session:
        secret = create_token(session, name=name, role=role)
        audit(session, actor="cli", action="token.create", target_type="token", target_id=name, details={"role": role})
    console.print(secret, highlight=False, soft_wrap=True)
