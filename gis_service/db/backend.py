"""The spatial backend seam: the one place that knows how PostGIS and SpatiaLite differ.

Built once from an engine (:func:`backend_for`), held on ``app.state.backend`` and built the same
way by the CLI. It owns how a transaction begins and how long it may wait (SQLite: ``BEGIN
IMMEDIATE`` for writes with a bounded busy wait, so every check a write makes runs under the write
lock; PostGIS: ``SET LOCAL`` lock and statement timeouts), how decisions on one river and layer are
serialised (PostGIS advisory locks; on SQLite the write lock already does it), and how driver
errors become one sentence (:class:`~gis_service.errors.DatabaseError`). Its spatial SQL (index
filters, predicates, extents, bulk loads, GeoJSON and tiles in SQL) comes from the halves in
:mod:`gis_service.db.backends`: no module outside ``gis_service/db/`` tests the dialect.
"""

from __future__ import annotations

import os
import pwd
import sqlite3
import stat
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Engine, Select, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError, PendingRollbackError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from gis_service.db.backends.base import SpatialSQL
from gis_service.db.backends.postgis import PostGISSQL
from gis_service.db.backends.spatialite import SpatiaLiteSQL
from gis_service.db.driver import DriverStatement
from gis_service.db.pool import SESSION_TIMEOUTS
from gis_service.errors import ConfigurationError, DatabaseError
from gis_service.settings import Settings

# Execution options a session's engine carries to the ``begin`` event.
WRITE_OPTION = "rivergis_write"
TIMEOUTS_OPTION = "rivergis_timeouts"
# Past this many rivers one delivery locks the whole layer rather than each river (10 000 locks cost ~0.1 s).
LOCK_LAYER_RIVERS = 500
RETRY_AFTER_S = 5
BUSY_MESSAGE = "数据库正忙（另一项写入或锁尚未释放），本次未保存任何内容；请 {after} 秒后重试。"
UNAVAILABLE_MESSAGE = "数据库暂不可用（连接失败或中断），本次未保存任何内容；请稍后重试，或请管理员检查数据库服务。"


@dataclass(frozen=True)
class Timeouts:
    """How long a transaction may wait for a lock and run its statements, in seconds."""

    lock_s: float
    statement_s: float

    @property
    def lock_ms(self) -> int:
        """Return the lock wait in milliseconds."""
        return max(1, int(self.lock_s * 1000))

    @property
    def statement_ms(self) -> int:
        """Return the statement limit in milliseconds."""
        return max(1, int(self.statement_s * 1000))


def request_timeouts(settings: Settings) -> Timeouts:
    """Return the waits of one HTTP request."""
    return Timeouts(settings.db_lock_timeout_s, settings.db_statement_timeout_s)


def import_timeouts(settings: Settings) -> Timeouts:
    """Return the waits of an import (CLI commands and HTTP uploads): long enough for a province."""
    return Timeouts(settings.db_import_lock_timeout_s, settings.db_import_timeout_s)


@dataclass(frozen=True)
class DatabaseWaits:
    """How long an engine may take to connect, and its transactions wait: in a request and in an import."""

    connect_s: float
    request: Timeouts
    imports: Timeouts

    @classmethod
    def of(cls, settings: Settings) -> DatabaseWaits:
        """Return the waits the settings give (``RIVERGIS_DB_*_TIMEOUT_S``)."""
        return cls(settings.db_connect_timeout_s, request_timeouts(settings), import_timeouts(settings))


# For an engine made elsewhere than ``make_engine`` (a test's own): the settings' defaults, not the environment.
DEFAULT_WAITS = DatabaseWaits.of(Settings.model_construct())


def busy(message: str = BUSY_MESSAGE, **details: Any) -> DatabaseError:
    """Return the error of a lock or time limit reached: retry later, nothing stored."""
    return DatabaseError(
        message.format(after=RETRY_AFTER_S),
        code="database_busy",
        details=details or None,
        retry_after=RETRY_AFTER_S,
    )


def unavailable(detail: str | None = None) -> DatabaseError:
    """Return the error of a database that does not answer."""
    return DatabaseError(UNAVAILABLE_MESSAGE, code="database_unavailable", details=detail, retry_after=RETRY_AFTER_S)


def permissions(path: Path) -> str:
    """Return ``path``'s mode and owner as ``ls -l`` shows them (``drwxr-xr-x root``)."""
    try:
        info = path.stat()
    except OSError:
        return "不存在"
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    return f"{stat.filemode(info.st_mode)} {owner}"


class SpatialBackend(SpatialSQL):
    """What every backend offers; subclasses fill in their database's rules."""

    name: ClassVar[str] = ""
    # What callers ask instead of testing the dialect's name (the store, ingest and ledger move here next).
    advisory_locks: ClassVar[bool] = False  # rivers locked one by one; else the write lock covers all

    def __init__(self, engine: Engine, waits: DatabaseWaits) -> None:
        self.engine = engine
        self.waits = waits
        self.request_timeouts = waits.request
        self.import_timeouts = waits.imports
        self._binds: dict[tuple[bool, Timeouts, bool], Engine] = {}

    # -- sessions and transactions -------------------------------------------------------------

    def bind(self, *, write: bool, timeouts: Timeouts | None = None, autocommit: bool = False) -> Engine:
        """Return the engine a session binds to: writes take the write lock at their start (SQLite).

        ``autocommit``: each statement its own transaction (``one_read``); built once, like the others.
        """
        key = (write, timeouts or self.request_timeouts, autocommit)
        if key not in self._binds:
            options: dict[str, Any] = {WRITE_OPTION: key[0], TIMEOUTS_OPTION: key[1]}
            if autocommit:
                options["isolation_level"] = "AUTOCOMMIT"
            bound = self.engine.execution_options(**options)
            _BUILT[bound] = self
            self._binds[key] = bound
        return self._binds[key]

    def driver_statement(self, statement: Select[Any]) -> DriverStatement | None:
        """Compile ``statement`` once for the driver (``db/driver.py``); None when SQLAlchemy must run it."""
        return DriverStatement.of(statement, self.engine.dialect)

    def session(self, *, write: bool, timeouts: Timeouts | None = None) -> Session:
        """Return a new session whose transaction begins as a read or a write, with ``timeouts``."""
        return sessionmaker(bind=self.bind(write=write, timeouts=timeouts), expire_on_commit=False)()

    @contextmanager
    def transaction(self, *, write: bool = True, timeouts: Timeouts | None = None) -> Iterator[Session]:
        """Open one session and one transaction: commit on success, roll back on any error."""
        with self.session(write=write, timeouts=timeouts) as session, session.begin():
            yield session

    @contextmanager
    def one_read(self) -> Iterator[Connection]:
        """Yield a connection for a read of one statement (a single feature, a tile): a read transaction here."""
        with self.transaction(write=False) as session:
            yield session.connection()

    @classmethod
    def on_begin(cls, conn: Connection) -> None:
        """Start a transaction the way this database needs (the ``begin`` event of the engine)."""

    @classmethod
    def on_checkin(cls, dbapi_conn: Any, _record: Any) -> None:
        """Make sure a connection returns to the pool outside any transaction (the ``checkin`` event)."""

    # -- locking ---------------------------------------------------------------------------------

    def serialise(self, session: Session, layer: str, river_codes: list[str], *, whole_layer: bool = False) -> None:
        """Serialise deliveries and decisions on these rivers' ``layer`` (all of it: ``whole_layer``) until the
        transaction ends."""

    # -- errors ----------------------------------------------------------------------------------

    def translate(self, exc: BaseException) -> DatabaseError | None:
        """Return the user's error for a database failure, or None when it is not one of this database's."""
        return translate_error(exc)

    def describe(self) -> str:
        """Return the database's location without its password."""
        return self.engine.url.render_as_string(hide_password=True)

    # -- set-up ----------------------------------------------------------------------------------

    def prepare(self, conn: Connection) -> None:
        """Make sure the database has what the service needs (PostGIS: the extension)."""

    def unreachable(self, exc: DBAPIError) -> ConfigurationError:
        """Return the sentence for a database that cannot be opened at start."""
        return ConfigurationError(
            f"无法连接数据库 {self.describe()}：请确认数据库服务已启动、地址和口令正确，或检查 RIVERGIS_DATABASE_URL。",
            code="database_unreachable",
            details=str(exc.orig).strip() if exc.orig else None,
        )

    # -- health ----------------------------------------------------------------------------------

    def ping(self, timeout_s: float) -> None:
        """Run ``SELECT 1`` on a connection of its own, giving up after about ``timeout_s``."""
        with self.transaction(write=False, timeouts=Timeouts(timeout_s, timeout_s)) as session:
            session.execute(text("SELECT 1"))


class PostGISBackend(PostGISSQL, SpatialBackend):
    """PostgreSQL with PostGIS: row and advisory locks, ``SET LOCAL`` timeouts."""

    name = "postgresql"
    advisory_locks = True

    @contextmanager
    def one_read(self) -> Iterator[Connection]:
        """Autocommit: one statement is its own snapshot, without BEGIN and COMMIT (two round trips).

        The request timeouts hold: they are the connection's defaults (``db/pool.py``).
        """
        with self.bind(write=False, autocommit=True).connect() as conn:
            yield conn

    @classmethod
    def on_begin(cls, conn: Connection) -> None:
        """Bound the transaction's lock waits and statements (``SET LOCAL`` ends with it)."""
        limits = conn.get_execution_options().get(TIMEOUTS_OPTION)
        # A connection opened with these timeouts (``db/pool.py``) has them already: no round trip.
        if isinstance(limits, Timeouts) and conn.info.get(SESSION_TIMEOUTS) != limits:
            # One round trip; ``is_local`` true: the settings end with the transaction, like SET LOCAL.
            conn.exec_driver_sql(
                f"SELECT set_config('lock_timeout', '{limits.lock_ms}', true), "
                f"set_config('statement_timeout', '{limits.statement_ms}', true)"
            )

    def serialise(self, session: Session, layer: str, river_codes: list[str], *, whole_layer: bool = False) -> None:
        """Take transaction-scoped advisory locks: the layer's shared and each river's, in sorted order.

        A province-scale delivery (or one asking for ``whole_layer``) holds the layer's lock exclusively
        instead, which excludes every other delivery and decision of the layer for its duration.
        """
        if not river_codes:
            return
        if whole_layer or len(river_codes) > LOCK_LAYER_RIVERS:
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:layer))"), {"layer": layer})
            return
        session.execute(text("SELECT pg_advisory_xact_lock_shared(hashtext(:layer))"), {"layer": layer})
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:layer || '/' || c)) FROM unnest(CAST(:codes AS text[])) c"),
            {"layer": layer, "codes": sorted(set(river_codes))},
        )

    def prepare(self, conn: Connection) -> None:
        """Create the PostGIS extension when missing, or say who must."""
        if conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname='postgis'")).scalar():
            return
        try:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            conn.commit()
        except SQLAlchemyError as exc:
            raise ConfigurationError(
                "数据库未启用 PostGIS 扩展，且当前用户无权创建。请由管理员执行 "
                "`CREATE EXTENSION postgis;`（Debian 包 postgresql-15-postgis-3）。",
                code="postgis_missing",
            ) from exc


class SpatiaLiteBackend(SpatiaLiteSQL, SpatialBackend):
    """SQLite with SpatiaLite: one writer at a time, taken at the start of every write transaction."""

    name = "sqlite"

    @classmethod
    def on_begin(cls, conn: Connection) -> None:
        """Begin ``IMMEDIATE`` for writes (the write lock first, then the checks) after a bounded busy wait."""
        options = conn.get_execution_options()
        limits = options.get(TIMEOUTS_OPTION)
        if isinstance(limits, Timeouts):
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {limits.lock_ms}")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE_OPTION, False) else "BEGIN")

    @classmethod
    def on_checkin(cls, dbapi_conn: Any, _record: Any) -> None:
        """Roll back what a failed COMMIT left open: SQLite keeps that transaction (and its write lock)."""
        if dbapi_conn is not None and getattr(dbapi_conn, "in_transaction", False):
            dbapi_conn.rollback()

    def database_path(self) -> Path | None:
        """Return the SQLite file, or None in memory."""
        database = self.engine.url.database or ""
        return Path(database).expanduser() if database and database != ":memory:" else None

    def unreachable(self, exc: DBAPIError) -> ConfigurationError:
        """Name the data folder and its permissions when the file cannot be opened."""
        path = self.database_path()
        if path is None:
            return super().unreachable(exc)
        return ConfigurationError(
            f"无法打开数据库文件 {path}：请检查数据目录 {path.parent} 的权限（{permissions(path.parent)}），"
            "运行服务的用户须可读写该目录（或用 RIVERGIS_DATA_DIR 指向可写的目录）。",
            code="database_unreachable",
            details=str(exc.orig).strip() if exc.orig else None,
        )

    def translate(self, exc: BaseException) -> DatabaseError | None:
        """Name the file and its folder's permissions when SQLite cannot write or open it."""
        return translate_error(exc, self.database_path())


def _sqlite_errors() -> tuple[type[BaseException], ...]:
    """Return the sqlite3 error classes of every loaded sqlite module (stdlib and pysqlite3)."""
    kinds: list[type[BaseException]] = [sqlite3.Error]
    try:
        import pysqlite3.dbapi2 as pysqlite  # type: ignore[import-not-found,import-untyped,unused-ignore]

        kinds.append(pysqlite.Error)
    except ImportError:
        pass
    return tuple(kinds)


def _sqlite_error(message: str, path: Path | None) -> DatabaseError:
    """Translate one SQLite error message."""
    lowered = message.lower()
    where = str(path) if path else "数据库"
    folder = path.parent if path else None
    if "locked" in lowered or "busy" in lowered:
        return busy()
    if "readonly" in lowered or "read-only" in lowered:
        perms = f"（文件 {permissions(path)}，目录 {folder} {permissions(folder)}）" if path and folder else ""
        return DatabaseError(
            f"数据库文件 {where} 只读{perms}，本次未保存任何内容；请让运行服务的用户可写该文件及其目录。",
            code="database_read_only",
        )
    if "full" in lowered:
        return DatabaseError(
            f"数据库文件 {where} 所在磁盘已满，本次未保存任何内容；请清理磁盘空间后重试。",
            code="database_full",
        )
    if "unable to open" in lowered and folder is not None:
        return DatabaseError(
            f"无法打开数据库文件 {where}：请检查数据目录 {folder} 的权限（{permissions(folder)}），"
            "运行服务的用户须可读写该目录。",
            code="database_unreachable",
            details=message,
        )
    return unavailable(message)


def _postgres_error(orig: BaseException) -> DatabaseError | None:
    """Translate one psycopg error by its SQLSTATE (None: not a state of the database, e.g. a refused commit)."""
    state = getattr(orig, "sqlstate", None) or ""
    # 55P03 lock_not_available (lock_timeout), 57014 query_canceled (statement_timeout),
    # 40001/40P01 serialization failure and deadlock: the same request later will go through.
    if state in {"55P03", "57014", "40001", "40P01"}:
        return busy(sqlstate=state)
    if state == "53100":
        return DatabaseError("数据库服务器磁盘已满，本次未保存任何内容；请管理员清理空间。", code="database_full")
    # No state: the connection failed or broke; 08 connection exceptions, 57P0x shutdown, 53 resources.
    if not state or state.startswith(("08", "57P", "53")):
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else None
        return unavailable(first)
    return None


def translate_error(exc: BaseException, sqlite_path: Path | None = None) -> DatabaseError | None:
    """Return the user's error for a failure of either database, or None for other errors (and conflicts)."""
    if isinstance(exc, DatabaseError):
        return exc
    if isinstance(exc, PoolTimeout):
        return busy()
    if isinstance(exc, PendingRollbackError):
        return unavailable()
    orig: BaseException | None
    if isinstance(exc, DBAPIError):
        orig = exc.orig
    elif type(exc).__module__.startswith(("psycopg", "sqlite3", "pysqlite3")):
        # Raised by the driver itself (COPY and executemany on the raw connection), not wrapped.
        orig = exc
    else:
        return None
    if isinstance(orig, _sqlite_errors()):
        if isinstance(orig, sqlite3.IntegrityError) or type(orig).__name__ == "IntegrityError":
            return None
        return _sqlite_error(str(orig), sqlite_path)
    if orig is not None and type(orig).__module__.startswith("psycopg"):
        if type(orig).__name__ in {"IntegrityError", "UniqueViolation", "ForeignKeyViolation", "CheckViolation"}:
            return None
        return _postgres_error(orig)
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return unavailable()
    if isinstance(exc, OperationalError):
        lowered = str(orig).lower()
        return busy() if "locked" in lowered or "busy" in lowered else unavailable()
    return None


BACKENDS: dict[str, type[SpatialBackend]] = {"postgresql": PostGISBackend, "sqlite": SpatiaLiteBackend}
_BUILT: weakref.WeakKeyDictionary[Engine, SpatialBackend] = weakref.WeakKeyDictionary()


def backend_class(engine: Engine) -> type[SpatialBackend]:
    """Return the backend class for ``engine``'s dialect."""
    try:
        return BACKENDS[engine.dialect.name]
    except KeyError:
        raise ConfigurationError(f"不支持的数据库 {engine.dialect.name!r}", code="bad_database_url") from None


def install(engine: Engine) -> None:
    """Hook the backend's ``begin`` rule into a new engine (called once by ``make_engine``)."""
    kind = backend_class(engine)
    event.listen(engine, "begin", kind.on_begin)
    event.listen(engine, "checkin", kind.on_checkin)


def backend_for(engine: Engine | Connection) -> SpatialBackend:
    """Return the backend of ``engine`` (built once per engine; an engine with options shares its base's)."""
    if isinstance(engine, Connection):
        engine = engine.engine
    built = _BUILT.get(engine)
    if built is None:  # ``make_engine`` builds its engines' backends: this one was made elsewhere
        built = backend_class(engine)(engine, DEFAULT_WAITS)
        _BUILT[engine] = built
    return built


def build_backend(engine: Engine, waits: DatabaseWaits) -> SpatialBackend:
    """Build ``engine``'s backend with ``waits`` (its maker's: the app at start-up); later lookups find it."""
    built = backend_class(engine)(engine, waits)
    _BUILT[engine] = built
    return built


def session_backend(session: Session | Connection) -> SpatialBackend:
    """Return the backend of the engine a session or connection works on."""
    return backend_for(session.get_bind() if isinstance(session, Session) else session)


def translate_any(exc: BaseException, url: str) -> DatabaseError | None:
    """Translate ``exc`` without knowing its engine (the CLI's last resort), naming the file of ``url``."""
    path = None
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///")).expanduser()
    return translate_error(exc, path if path and os.path.basename(path) else None)
