"""The CLI's consoles and its one way of printing a user error; light enough for ``rivergis --help``."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# Off a terminal (a pipe, a file, a test runner) rich would assume 80 columns and cut tables: never cut there.
PIPE_WIDTH = 4096


def make_console(*, stderr: bool = False) -> Console:
    """Return a console: the terminal's width on a terminal, lines never cut elsewhere."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=PIPE_WIDTH)


console = make_console()
err_console = make_console(stderr=True)


def fail_message(message: str, code: str) -> None:
    """Print a user error: its stable code and the message naming the fix."""
    err_console.print(f"[bold red]错误[/] {escape(f'[{code}]')} {escape(message)}", highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Print JSON to stdout (no rich markup, no wrapping): what scripts read with ``--json``."""
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def print_rows(columns: list[str], rows: list[list[Any]]) -> None:
    """Print rows as a table, every cell as plain text (a file's text is never read as markup)."""
    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    console.print(table)
