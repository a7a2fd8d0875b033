"""PostgreSQL connections: tested before use only after sitting idle, and born with the request timeouts.

``pool_pre_ping`` sends ``SELECT 1`` on every checkout: a round trip before each request's own,
a third of a single feature's time. A connection that was in use a moment ago is alive as far
as a ping can tell, so only one idle for :data:`IDLE_PING_S` is tested (SQLAlchemy's recipe for
custom pessimistic disconnect handling: a failed ping raises ``DisconnectionError`` and the pool
replaces the connection). A server lost in between is still caught: the request's own statement
fails, the pool is invalidated and the caller gets the backend's 503.

Each connection also starts with the request timeouts as its session defaults (libpq
``options``), so that a request's transaction need not set them (one round trip fewer); the
backend sets them only for other timeouts (imports, the health check), see
``PostGISBackend.on_begin``. And with ``jit=off``: PostgreSQL compiles a query whose estimated
cost passes ``jit_above_cost``, which a tile or a deep page of a large layer does, and the
compilation took longer than the query (1-2 s against 0.3 s for a z6 tile of 33 000 sites); the
work here is in PostGIS's C functions, which JIT does not speed up.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

# How long a connection may sit in the pool before its next checkout pings it.
IDLE_PING_S = 2.0
CHECKED_IN = "rivergis_checked_in"
# The timeouts a connection was opened with (``ConnectionRecord.info``; see ``PostGISBackend.on_begin``).
SESSION_TIMEOUTS = "rivergis_session_timeouts"


def startup_options(lock_ms: int, statement_ms: int, given: str | None = None) -> str:
    """Return libpq ``options`` setting the lock and statement timeouts and no JIT (after any ``options`` given)."""
    ours = f"-c lock_timeout={lock_ms} -c statement_timeout={statement_ms} -c jit=off"
    return f"{given} {ours}" if given else ours


def ping_when_idle(engine: Engine) -> None:
    """Ping a connection at checkout only when it sat idle for :data:`IDLE_PING_S` or more."""

    def checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info[CHECKED_IN] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(CHECKED_IN)
        # No checkin yet: the connection was opened for this checkout.
        if last is None or time.monotonic() - last < IDLE_PING_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            record.info.pop(CHECKED_IN, None)
            raise DisconnectionError("connection lost while idle in the pool") from exc

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checkout)


def remember_timeouts(engine: Engine, timeouts: Any) -> None:
    """Note on every new connection the session timeouts it was opened with."""

    def connected(_dbapi_conn: Any, record: Any) -> None:
        record.info[SESSION_TIMEOUTS] = timeouts

    event.listen(engine, "connect", connected)
