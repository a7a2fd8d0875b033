"""Database engines for SpatiaLite (embedded default) and PostGIS (production).

Connection problems become one clear :class:`ConfigurationError` sentence naming the fix.
"""

from __future__ import annotations

import functools
import importlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session

from gis_service.db.backend import DatabaseWaits, Timeouts, backend_for, build_backend, install, permissions
from gis_service.db.pool import ping_when_idle, remember_timeouts, startup_options
from gis_service.errors import ConfigurationError

SPATIALITE_HINT = (
    "无法加载 SpatiaLite 扩展 mod_spatialite。请安装：Debian/Ubuntu 执行 "
    "`apt-get install libsqlite3-mod-spatialite`（macOS: `brew install libspatialite`），"
    "或用环境变量 SPATIALITE_LIBRARY_PATH 指向 mod_spatialite 库文件。"
)


# ALTER TABLE … DROP COLUMN, which migration 0004 uses, came with SQLite 3.35.
MIN_SQLITE = (3, 35, 0)


def sqlite_module() -> ModuleType:
    """Return a DB-API sqlite module that can load extensions and is recent enough (stdlib, else pysqlite3)."""
    loads = hasattr(sqlite3.connect(":memory:"), "enable_load_extension")
    if loads and sqlite3.sqlite_version_info >= MIN_SQLITE:
        return sqlite3
    try:
        return importlib.import_module("pysqlite3.dbapi2")
    except ImportError:
        if loads:
            raise ConfigurationError(
                f"当前 Python 的 SQLite 版本为 {sqlite3.sqlite_version}，低于所需的 "
                f"{'.'.join(map(str, MIN_SQLITE))}。请执行 `pip install pysqlite3-binary`（自带新版 SQLite），"
                "或设置 RIVERGIS_DATABASE_URL 使用 PostGIS。",
                code="sqlite_too_old",
            ) from None
        raise ConfigurationError(
            "当前 Python 的 sqlite3 不支持加载扩展，无法使用 SpatiaLite。"
            "请执行 `pip install pysqlite3-binary`（或 pysqlite3），"
            "或设置 RIVERGIS_DATABASE_URL 使用 PostGIS。",
            code="sqlite_extensions_unavailable",
        ) from None


def _load_spatialite(dbapi_conn: Any, _record: Any, *, busy_ms: int) -> None:
    """Load mod_spatialite on every new SQLite connection and create its metadata once.

    A locked database is waited on for ``busy_ms`` (the request lock wait).
    """
    dbapi_conn.enable_load_extension(True)
    try:
        dbapi_conn.load_extension(os.environ.get("SPATIALITE_LIBRARY_PATH", "mod_spatialite"))
    except Exception as exc:
        raise ConfigurationError(SPATIALITE_HINT, code="spatialite_missing", details=str(exc)) from exc
    finally:
        dbapi_conn.enable_load_extension(False)
    # The backend's ``begin`` event starts every transaction itself (BEGIN IMMEDIATE for writes).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    # Write-ahead logging: staff keep reading maps and lists while an import writes (one writer at a time).
    if cur.execute("PRAGMA database_list").fetchone()[2]:  # a file, not :memory:
        cur.execute("PRAGMA journal_mode=WAL")
    has_meta = cur.execute(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='spatial_ref_sys'"
    ).fetchone()[0]
    if not has_meta:
        cur.execute("SELECT InitSpatialMetaData(1)")
    cur.close()


def make_engine(url: str, waits: DatabaseWaits) -> Engine:
    """Create an engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``) and its backend.

    ``waits`` (see :meth:`DatabaseWaits.of`) are its maker's: the app's settings or the CLI's.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"RIVERGIS_DATABASE_URL 格式不正确：{url!r}。示例："
            "sqlite:////path/rivergis.sqlite 或 postgresql+psycopg://user:pass@host:5432/db",
            code="bad_database_url",
        ) from exc
    backend = parsed.get_backend_name()
    lock_s = waits.request.lock_s
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _data_folder(Path(database).expanduser().parent)
        engine = create_engine(
            parsed.set(drivername="sqlite+pysqlite"),
            module=sqlite_module(),
            connect_args={"timeout": lock_s, "check_same_thread": False},
        )
        event.listen(engine, "connect", functools.partial(_load_spatialite, busy_ms=int(lock_s * 1000)))
        install(engine)
        build_backend(engine, waits)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            defaults = waits.request
            options = startup_options(defaults.lock_ms, defaults.statement_ms, parsed.query.get("options"))  # type: ignore[arg-type]
            engine = create_engine(
                parsed.difference_update_query(["options"]),
                pool_timeout=lock_s,
                connect_args={"connect_timeout": max(1, round(waits.connect_s)), "options": options},
            )
            ping_when_idle(engine)
            remember_timeouts(engine, defaults)
            install(engine)
            build_backend(engine, waits)
            return engine
        except NoSuchModuleError as exc:
            raise ConfigurationError(
                f"不支持的 PostgreSQL 驱动 {parsed.drivername}；请使用 postgresql+psycopg://",
                code="bad_database_url",
            ) from exc
    raise ConfigurationError(
        f"不支持的数据库 {backend!r}：RIVERGIS_DATABASE_URL 须为 sqlite:/// (SpatiaLite) "
        "或 postgresql+psycopg:// (PostGIS)",
        code="bad_database_url",
    )


def sqlite_file(url: str) -> Path | None:
    """Return the file a SpatiaLite database URL names (None: another database, in memory, or malformed)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # the engine reports a malformed URL in its own words
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    database = parsed.database
    if database.startswith("file:"):  # an SQLite URI filename (``file:/path?mode=ro``, with ``uri=true``)
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database).expanduser()


def _data_folder(folder: Path) -> None:
    """Create the SQLite file's folder, naming it and its permissions when that is not allowed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parent = next((p for p in folder.parents if p.exists()), folder)
        raise ConfigurationError(
            f"无法创建数据目录 {folder}：上级目录 {parent} 的权限为 {permissions(parent)}，运行服务的用户无权写入；"
            "请修改权限，或用 RIVERGIS_DATA_DIR 指向可写的目录。",
            code="data_dir_not_writable",
        ) from exc


def check_connection(engine: Engine) -> None:
    """Connect once, turning driver errors into a sentence that names the fix."""
    backend = backend_for(engine)
    try:
        with engine.connect() as conn:
            backend.prepare(conn)
    except OperationalError as exc:
        raise backend.unreachable(exc) from exc


@lru_cache
def engine_for(url: str, waits: DatabaseWaits) -> Engine:
    """Return the (cached) engine for ``url``: one pool a database, for the app or the CLI that names it."""
    return make_engine(url, waits)


@contextmanager
def transaction(engine: Engine, *, timeouts: Timeouts | None = None) -> Iterator[Session]:
    """Open one write session and transaction (commit on success, roll back on any error).

    Commands and jobs wait as long as an import may (``timeouts`` overrides).
    """
    backend = backend_for(engine)
    with backend.transaction(write=True, timeouts=timeouts or backend.import_timeouts) as session:
        yield session
