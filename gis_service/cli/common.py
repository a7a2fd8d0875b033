"""What every command shares: the console, error handling (exit 2 for user errors) and the database."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from sqlalchemy import Engine

from gis_service.catalogue import Catalogue, catalogue_for
from gis_service.cli.output import err_console, fail_message
from gis_service.clock import BusinessClock
from gis_service.db.backend import DatabaseWaits, translate_any
from gis_service.db.engine import check_connection, engine_for, sqlite_file
from gis_service.db.schema import current_revision, head_revision
from gis_service.district import District, district_for
from gis_service.errors import ConfigurationError, ServiceError
from gis_service.settings import Settings, get_settings

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
            error = translate_any(exc, cli_settings().resolved_database_url())
            if error is None:
                raise
            fail_message(error.message, error.code)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("已中断，未提交的更改已回滚。")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def require_database_file() -> None:
    """Refuse, creating nothing, when the configured SpatiaLite file does not exist (only ``init`` makes one).

    Opening a missing SQLite file would create it (and its folder): a mistyped data folder would
    silently become an empty 6 MB database instead of an error.
    """
    path = sqlite_file(cli_settings().resolved_database_url())
    if path is None or path.exists():
        return
    folder = "" if path.parent.is_dir() else f"（数据目录 {path.parent} 也不存在）"
    raise ConfigurationError(
        f"{path} 处没有数据库{folder}：请先运行 `rivergis init` 创建，"
        "或用 RIVERGIS_DATA_DIR / RIVERGIS_DATABASE_URL 指向已有的数据库。",
        code="no_database",
    )


def ready_engine() -> Engine:
    """Return the configured engine after checking it exists, answers and its schema is current."""
    require_database_file()
    settings = cli_settings()
    engine = engine_for(settings.resolved_database_url(), DatabaseWaits.of(settings))
    check_connection(engine)
    if current_revision(engine) != head_revision():
        raise ConfigurationError(
            "数据库尚未初始化或版本过旧：请先运行 `rivergis init`。", code="schema_not_initialised"
        )
    return engine


def fail(message: str, code: str) -> None:
    """Print a user error and exit 2."""
    fail_message(message, code)
    sys.exit(2)


def cli_settings() -> Settings:
    """Return the command's settings: read from the environment once a process, where the CLI starts."""
    return get_settings()


def cli_catalogue() -> Catalogue:
    """Return the layer catalogue of the command's settings."""
    return catalogue_for(cli_settings())


def cli_district() -> District:
    """Return the district of the command's settings."""
    return district_for(cli_settings())


def business_clock() -> BusinessClock:
    """Return the business clock of the configured time zone (the app keeps the same on ``app.state``)."""
    return BusinessClock.named(cli_settings().timezone)
