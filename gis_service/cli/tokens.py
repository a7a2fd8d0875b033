"""Printing of ``rivergis token list``: a table for people, JSON for scripts; secrets are never shown."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table
from rich.text import Text

from gis_service.cli.common import console

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
