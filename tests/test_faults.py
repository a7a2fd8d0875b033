"""Faults answered, never a false success: a refused commit, a held lock, a database lost mid-write, a full file.

The shared PostGIS cluster is never stopped: "database lost" is a TCP proxy in the test that cuts
the connection when the write goes through it; "database down" a port nothing answers on.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.engine import make_url

from gis_service.access import create_token
from gis_service.api.app import create_app
from gis_service.db.backend import DatabaseWaits
from gis_service.db.engine import make_engine, sqlite_module, transaction
from gis_service.db.models import Problem, Token
from gis_service.settings import Settings
from tests.helpers import bearer, clear_caches
from tests.live import free_port, threaded
from tests.test_import_fixtures import run

# A problem site inside the district (lon/lat), with a description long enough to need new pages.
REPORT = {"category": "dumping", "lon": 106.93, "lat": 28.95, "description": "堆放建筑垃圾" * 600}
SHORT = 300


def problems(engine: Engine) -> int:
    """Return how many problem sites are stored."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Problem)) or 0)


def refuse_commits(engine: Engine, backend: Any) -> None:
    """Make every commit that stored a problem fail at COMMIT, after all its statements succeeded."""
    with engine.begin() as conn:
        if backend.name == "postgis":
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON problems "
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()"
                )
            )
        else:
            # SQLite checks a deferred foreign key at COMMIT: a row pointing nowhere fails it there.
            conn.execute(text("CREATE TABLE nowhere (id INTEGER PRIMARY KEY)"))
            conn.execute(text("CREATE TABLE guard (ref INTEGER REFERENCES nowhere(id) DEFERRABLE INITIALLY DEFERRED)"))
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_at_commit AFTER INSERT ON problems BEGIN INSERT INTO guard VALUES (-1); END"
                )
            )


def test_a_commit_that_fails_is_never_answered_201(
    demo_engine: Engine, demo_tokens: dict[str, str], backend: Any
) -> None:
    # Before: the request's transaction committed after the answer had gone out: 201 with an id and a
    # code that nothing stored, and the next report got the same id and code.
    before = problems(demo_engine)
    refuse_commits(demo_engine, backend)
    with TestClient(create_app(demo_engine), raise_server_exceptions=False) as client:
        r = client.post("/api/v1/problems", json=REPORT, headers=bearer(demo_tokens["surveyor"]))
    assert r.status_code in {409, 503}, r.text[:SHORT]
    assert r.json()["error"]["code"] in {"commit_failed", "commit_conflict"}
    assert "未保存" in r.json()["error"]["message"]
    assert problems(demo_engine) == before


def test_a_full_spatialite_file_answers_503_and_stores_nothing(
    backends: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # SpatiaLite only: a file that may not grow (SQLite's max_page_count) is a full disk to the service.
    chosen = backends["spatialite"]
    url = chosen.fresh("schema")
    monkeypatch.setenv("RIVERGIS_DATABASE_URL", url)
    monkeypatch.setenv("RIVERGIS_DATA_DIR", str(tmp_path / "data"))
    clear_caches()
    engine = make_engine(url, DatabaseWaits.of(Settings()))
    with transaction(engine) as session:
        token = create_token(session, name="s", role="surveyor")
        pages = session.execute(text("PRAGMA page_count")).scalar()
    engine.dispose()
    event.listen(engine, "connect", lambda c, _r: c.execute(f"PRAGMA max_page_count = {pages}"))
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        r = client.post("/api/v1/problems", json=REPORT, headers=bearer(token))
    assert r.status_code == 503 and r.json()["error"]["code"] == "database_full", r.text[:SHORT]
    assert "磁盘已满" in r.json()["error"]["message"]
    assert problems(engine) == 0
    engine.dispose()


def hold_lock(engine: Engine, backend: Any) -> Any:
    """Return a connection of another client holding the lock every problem write needs."""
    if backend.name == "postgis":
        conn = engine.connect()
        conn.execute(text("LOCK TABLE problems IN ACCESS EXCLUSIVE MODE"))
        return conn
    # The service's own sqlite module: two SQLite libraries in one process do not see each other's locks.
    raw = sqlite_module().connect(make_url(engine.url).database or "", isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    return raw


def test_a_held_lock_is_answered_503_busy_within_the_timeout(
    demo_engine: Engine, demo_tokens: dict[str, str], backend: Any, monkeypatch: pytest.MonkeyPatch, artifacts: Path
) -> None:
    # Before: the request waited for as long as the lock was held (60 s and more seen).
    monkeypatch.setenv("RIVERGIS_DB_LOCK_TIMEOUT_S", "1")
    clear_caches()
    holder = hold_lock(demo_engine, backend)
    try:
        with threaded(create_app(demo_engine)) as base:
            start = time.perf_counter()
            # The client gives up long after the 1 s setting: an answer at all means the wait was bounded.
            r = httpx.post(f"{base}/api/v1/problems", json=REPORT, headers=bearer(demo_tokens["surveyor"]), timeout=30)
            seconds = time.perf_counter() - start
    finally:
        holder.rollback() if backend.name == "postgis" else holder.execute("ROLLBACK")
        holder.close()
    assert r.status_code == 503 and r.json()["error"]["code"] == "database_busy", r.text[:SHORT]
    assert r.headers["Retry-After"].isdigit()
    print(f"{backend.name}: answered {r.status_code} under a held lock after {seconds:.2f} s (lock timeout 1 s)")
    with (artifacts / f"decisions-{backend.name}.txt").open("a", encoding="utf-8") as out:
        out.write(f"{backend.name}: held lock → {r.status_code} database_busy after {seconds:.2f} s (timeout 1 s)\n")


class CuttingProxy:
    """A TCP proxy to PostgreSQL that cuts its connections when a client sends ``cut_on``."""

    def __init__(self, target: tuple[str, int], cut_on: bytes) -> None:
        self.target = target
        self.cut_on = cut_on
        self.cuts = 0
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        """Accept clients until closed."""
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        """Copy bytes one way; cut both sockets when the client sends the marker."""
        try:
            while data := source.recv(65536):
                if upstream and self.cut_on in data:
                    self.cuts += 1
                    break
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        """Stop accepting."""
        self.listener.close()


@contextmanager
def lost_mid_write(engine: Engine, backend: Any, marker: bytes) -> Iterator[str]:
    """Yield a database URL on which the write carrying ``marker`` fails: PostGIS connection cut, SQLite read-only."""
    url = make_url(engine.url.render_as_string(hide_password=False))
    if backend.name == "postgis":
        proxy = CuttingProxy((url.host or "127.0.0.1", url.port or 5432), marker)
        try:
            yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        finally:
            proxy.close()
        assert proxy.cuts >= 1
        return
    yield f"sqlite:///file:{url.database}?mode=ro&uri=true"


def test_a_database_lost_mid_write_answers_503_and_the_cli_exits_3(
    demo_engine: Engine, demo_tokens: dict[str, str], backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: 500 internal_error over HTTP, and a 70-140-line traceback from the CLI (exit 1).
    before = problems(demo_engine)
    with lost_mid_write(demo_engine, backend, b'COPY "problems"') as url:
        engine = make_engine(url, DatabaseWaits.of(Settings()))
        with TestClient(create_app(engine), raise_server_exceptions=False) as client:
            r = client.post("/api/v1/problems", json=REPORT, headers=bearer(demo_tokens["surveyor"]))
        engine.dispose()
    assert r.status_code == 503, r.text[:SHORT]
    assert r.json()["error"]["code"] in {"database_unavailable", "database_read_only"}
    assert problems(demo_engine) == before

    with lost_mid_write(demo_engine, backend, b"INSERT INTO tokens") as url:
        monkeypatch.setenv("RIVERGIS_DATABASE_URL", url)
        clear_caches()
        result = run("token", "create", "--role", "viewer", "--name", "断线")
        clear_caches()
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2, result.output
    assert "未保存" in result.output or "只读" in result.output
    with demo_engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Token).where(Token.name == "断线")) == 0


def blackhole() -> tuple[socket.socket, int]:
    """Return a listening socket that accepts connections and never answers, and its port."""
    port = free_port()
    return socket.create_server(("127.0.0.1", port), backlog=64), port


def test_healthz_answers_within_two_seconds_and_says_the_database_state(
    demo_engine: Engine, backend: Any, tmp_path: Path
) -> None:
    with TestClient(create_app(demo_engine), raise_server_exceptions=False) as client:
        ok = client.get("/healthz")
    assert ok.status_code == 200 and ok.json()["database_state"] == "ok"
    if backend.name == "postgis":
        # A server that accepts and never answers: the connect timeout (5 s) alone would be too late.
        listener, port = blackhole()
        url = make_url(demo_engine.url.render_as_string(hide_password=False)).set(host="127.0.0.1", port=port)
        broken = make_engine(url.render_as_string(hide_password=False), DatabaseWaits.of(Settings()))
    else:
        folder = tmp_path / "gone"
        folder.mkdir()
        broken = make_engine(f"sqlite:///{folder / 'rivergis.sqlite'}", DatabaseWaits.of(Settings()))
        folder.rmdir()
        listener = None
    try:
        with threaded(create_app(broken)) as base:
            # The client waits 4 s at most: under the 5 s connect timeout, over the 2 s promised.
            r = httpx.get(f"{base}/healthz", timeout=4)
    finally:
        if listener is not None:
            listener.close()
    assert r.status_code == 503
    assert r.json()["status"] == "degraded"
    assert r.json()["database_state"] in {"timeout", "unavailable", "unreachable"}


def test_an_unusable_data_folder_is_named_with_its_permissions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: "请确认数据库服务已启动" (server wording) for a folder the service cannot write.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    folder = blocker / "data"
    monkeypatch.setenv("RIVERGIS_DATA_DIR", str(folder))
    monkeypatch.delenv("RIVERGIS_DATABASE_URL", raising=False)
    clear_caches()
    result = run("init")
    clear_caches()
    assert result.exit_code == 3, result.output
    assert str(folder) in result.output.replace("\n", "") and "权限" in result.output
    assert "数据库服务已启动" not in result.output and "Traceback" not in result.output
