"""The CLI's consoles and its one way of printing a user error; light enough for ``rivergis --help``."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

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
