"""Shared fixtures: every database test runs on SpatiaLite and on PostGIS, each test in a fresh database.

A template database (schema, and one with the demo data) is built once a session per backend and
copied for each test (a file copy for SpatiaLite, ``CREATE DATABASE … TEMPLATE`` for PostGIS).
Locally a missing backend skips; with ``CI=true`` it fails the run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, delete, text
from sqlalchemy.engine import make_url

from gis_service.access import create_token
from gis_service.api.app import create_app
from gis_service.clock import BusinessClock
from gis_service.db.backend import DatabaseWaits
from gis_service.db.engine import engine_for, make_engine, transaction
from gis_service.db.models_quality import RiverTask, Sample, Section, SourceZone, TaskProgress
from gis_service.db.schema import upgrade
from gis_service.settings import Settings
from tests.helpers import clear_caches

BACKENDS = ["spatialite", "postgis"]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a backend may never silently drop out of a CI run."""
    if IN_CI:
        pytest.fail(f"backend unavailable in CI: {reason}")
    pytest.skip(reason)


class Backend:
    """Makes fresh databases of one kind from templates."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.workdir = workdir
        self.templates: dict[str, str] = {}
        self.created: list[str] = []
        self.admin: Engine | None = None
        if name == "postgis":
            url = os.environ.get("RIVERGIS_TEST_POSTGIS_URL")
            if not url:
                self.error = "RIVERGIS_TEST_POSTGIS_URL is not set (scripts/test.sh sets it)"
                return
            self.base_url = make_url(url)
            try:
                self.admin = create_engine(self.base_url, isolation_level="AUTOCOMMIT")
                with self.admin.connect() as conn:
                    conn.execute(text("SELECT 1"))
            except Exception as exc:  # noqa: BLE001 - any failure means the backend is missing
                self.error = f"PostGIS unreachable: {exc}"
                return
        self.error = ""

    def _copy(self, source: str | None, name: str) -> str:
        """Return the URL of a new database ``name``, copied from template ``source`` (or empty)."""
        if self.name == "spatialite":
            path = self.workdir / f"{name}.sqlite"
            if source:
                shutil.copyfile(make_url(source).database or "", path)
            return f"sqlite:///{path}"
        assert self.admin is not None
        with self.admin.connect() as conn:
            template = f" TEMPLATE {make_url(source).database}" if source else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
        self.created.append(name)
        return self.base_url.set(database=name).render_as_string(hide_password=False)

    def template(self, kind: str, build: Callable[[Engine], None] | None = None) -> str:
        """Return the URL of the ``kind`` template, building it once."""
        if kind not in self.templates:
            url = self._copy(None, f"rg_tpl_{kind}_{uuid.uuid4().hex[:8]}")
            engine = make_engine(url, DatabaseWaits.of(Settings()))
            if self.name == "postgis":
                with engine.begin() as conn:
                    conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            upgrade(engine)
            if build:
                build(engine)
            engine.dispose()
            self.templates[kind] = url
        return self.templates[kind]

    def fresh(self, kind: str, build: Callable[[Engine], None] | None = None) -> str:
        """Return the URL of a new database copied from the ``kind`` template."""
        return self._copy(self.template(kind, build), f"rg_test_{uuid.uuid4().hex[:12]}")

    def drop_all(self) -> None:
        """Drop every PostGIS database this session made."""
        if self.admin is None:
            return
        with self.admin.connect() as conn:
            for name in reversed(self.created):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Backend]]:
    """Both backends, set up once a session."""
    workdir = tmp_path_factory.mktemp("db")
    made = {name: Backend(name, workdir) for name in BACKENDS}
    yield made
    for backend in made.values():
        backend.drop_all()


def _load_demo(engine: Engine) -> None:
    from gis_service.demo.load import load_demo

    with transaction(engine) as session:
        load_demo(session, Settings(), BusinessClock())


def _use(url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Engine:
    """Point the settings (and so the CLI and app) at ``url``; return its engine."""
    monkeypatch.setenv("RIVERGIS_DATABASE_URL", url)
    monkeypatch.setenv("RIVERGIS_DATA_DIR", str(tmp_path / "data"))
    clear_caches()
    return engine_for(url, DatabaseWaits.of(Settings()))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, backends: dict[str, Backend]) -> Backend:
    """One backend (the test runs once for each)."""
    chosen = backends[request.param]
    if chosen.error:
        unavailable(chosen.error)
    return chosen


@pytest.fixture
def engine(backend: Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:
    """A fresh, empty database with the current schema, configured as the service's database."""
    engine = _use(backend.fresh("schema"), monkeypatch, tmp_path)
    yield engine
    engine.dispose()
    clear_caches()


@pytest.fixture
def demo_engine(backend: Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:
    """A fresh database holding the demo dataset."""
    engine = _use(backend.fresh("demo", _load_demo), monkeypatch, tmp_path)
    yield engine
    engine.dispose()
    clear_caches()


@pytest.fixture
def demo_without_quality(demo_engine: Engine) -> Engine:
    """The demo database without its water-quality data, for tests that build their own from hand-made files."""
    with transaction(demo_engine) as session:
        for model in (TaskProgress, RiverTask, Sample, SourceZone, Section):
            session.execute(delete(model))
    return demo_engine


def _tokens(engine: Engine) -> dict[str, str]:
    with transaction(engine) as session:
        return {role: create_token(session, name=f"test-{role}", role=role) for role in ("viewer", "surveyor", "admin")}


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    """An API client on the empty database."""
    with TestClient(create_app(engine), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def demo_client(demo_engine: Engine) -> Iterator[TestClient]:
    """An API client on the demo database."""
    with TestClient(create_app(demo_engine), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def tokens(engine: Engine) -> dict[str, str]:
    """Tokens of each role on the empty database."""
    return _tokens(engine)


@pytest.fixture
def demo_tokens(demo_engine: Engine) -> dict[str, str]:
    """Tokens of each role on the demo database."""
    return _tokens(demo_engine)


@pytest.fixture
def artifacts() -> Path:
    """The folder where tests keep screenshots and other artifacts."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
