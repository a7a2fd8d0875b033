"""Database engines for SpatiaLite (embedded default) and PostGIS (production).

Connection problems become one clear :class:`ConfigurationError` sentence naming the fix.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

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


def _load_spatialite(dbapi_conn: Any, _record: Any) -> None:
    """Load mod_spatialite on every new SQLite connection and create its metadata once."""
    dbapi_conn.enable_load_extension(True)
    try:
        dbapi_conn.load_extension(os.environ.get("SPATIALITE_LIBRARY_PATH", "mod_spatialite"))
    except Exception as exc:
        raise ConfigurationError(SPATIALITE_HINT, code="spatialite_missing", details=str(exc)) from exc
    finally:
        dbapi_conn.enable_load_extension(False)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # Write-ahead logging: staff keep reading maps and lists while an import writes (one writer at a time).
    if cur.execute("PRAGMA database_list").fetchone()[2]:  # a file, not :memory:
        cur.execute("PRAGMA journal_mode=WAL")
    has_meta = cur.execute(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='spatial_ref_sys'"
    ).fetchone()[0]
    if not has_meta:
        cur.execute("SELECT InitSpatialMetaData(1)")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"RIVERGIS_DATABASE_URL 格式不正确：{url!r}。示例："
            "sqlite:////path/rivergis.sqlite 或 postgresql+psycopg://user:pass@host:5432/db",
            code="bad_database_url",
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed.set(drivername="sqlite+pysqlite"),
            module=sqlite_module(),
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        event.listen(engine, "connect", _load_spatialite)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            return create_engine(parsed, pool_pre_ping=True)
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


def check_connection(engine: Engine) -> None:
    """Connect once, turning driver errors into a sentence that names the fix."""
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                has_postgis = conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname='postgis'")).scalar()
                if not has_postgis:
                    try:
                        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
                        conn.commit()
                    except Exception as exc:
                        raise ConfigurationError(
                            "数据库未启用 PostGIS 扩展，且当前用户无权创建。请由管理员执行 "
                            "`CREATE EXTENSION postgis;`（Debian 包 postgresql-15-postgis-3）。",
                            code="postgis_missing",
                        ) from exc
    except OperationalError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise ConfigurationError(
            f"无法连接数据库 {where}：请确认数据库服务已启动、地址和口令正确，或检查 RIVERGIS_DATABASE_URL。",
            code="database_unreachable",
            details=str(exc.orig).strip() if exc.orig else None,
        ) from exc


@lru_cache
def engine_for(url: str) -> Engine:
    """Return the (cached) engine for ``url``."""
    return make_engine(url)


@lru_cache
def _unpooled(url: str) -> Engine:
    """Return the (cached) engine for ``url`` whose connections are opened and closed on each use."""
    return create_engine(url, poolclass=NullPool)


def side_engine(engine: Engine) -> Engine:
    """Return an engine on ``engine``'s database whose connections are outside its pool.

    For reads beside one of ``engine``'s connections that is busy (an import's writer): waiting on
    the pool there could wait on requests that each hold a connection and want another.
    """
    return _unpooled(engine.url.render_as_string(hide_password=False))


def get_engine() -> Engine:
    """Return the engine of the configured database."""
    from gis_service.settings import get_settings

    return engine_for(get_settings().resolved_database_url())


@contextmanager
def transaction(engine: Engine | None = None) -> Iterator[Session]:
    """Open one session and one transaction: commit on success, roll back on any error."""
    factory = sessionmaker(bind=engine or get_engine(), expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
