"""What every command shares: the console, error handling (exit 2 for user errors) and the database."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine

from gis_service.db.backend import translate_any
from gis_service.db.engine import check_connection, get_engine
from gis_service.db.schema import current_revision, head_revision
from gis_service.errors import ConfigurationError, ServiceError

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(fn: F) -> F:
    """Turn a :class:`ServiceError` into one clear message and its exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ServiceError as exc:
            fail_message(exc.message, exc.code)
            if exc.details and not isinstance(exc.details, dict | list):
                err_console.print(f"  {exc.details}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
            # Lost, busy, read-only or full (also from the driver itself, as COPY raises): one sentence and
            # exit 3; anything else is a bug and shows its trace.
            error = translate_any(exc)
            if error is None:
                raise
            fail_message(error.message, error.code)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("已中断，未提交的更改已回滚。")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def ready_engine() -> Engine:
    """Return the configured engine after checking it answers and its schema is current."""
    engine = get_engine()
    check_connection(engine)
    if current_revision(engine) != head_revision():
        raise ConfigurationError(
            "数据库尚未初始化或版本过旧：请先运行 `rivergis init`。", code="schema_not_initialised"
        )
    return engine


def fail_message(message: str, code: str) -> None:
    """Print a user error: its stable code and the message naming the fix."""
    err_console.print(f"[bold red]错误[/] {escape(f'[{code}]')} {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: str) -> None:
    """Print a user error and exit 2."""
    fail_message(message, code)
    sys.exit(2)
