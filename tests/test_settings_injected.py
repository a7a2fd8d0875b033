"""The settings an app is built with are what its routes, pages and edge use (``app.state``, not the environment)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis_service.api.app import create_app
from gis_service.db.backend import Timeouts
from gis_service.settings import Settings
from tests.helpers import bearer, clear_caches
from tests.test_import_fixtures import cli, river_frame, shapefile_zip, stored_counts

MB = 1024 * 1024


def test_reads_follow_the_apps_own_settings(engine: Engine) -> None:
    # The environment reads publicly (the default); the app given private settings does not.
    with TestClient(create_app(engine, settings=Settings(public_read=False)), raise_server_exceptions=False) as c:
        assert c.get("/api/v1/layers").status_code == 401
        page = c.get("/ratios", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
    with TestClient(create_app(engine), raise_server_exceptions=False) as c:
        assert c.get("/api/v1/layers").status_code == 200


def test_the_upload_limit_is_the_apps_own(engine: Engine, tokens: dict[str, str]) -> None:
    # 50 000 bytes against a 0.01 MB (10 485 bytes) limit set on the app only: refused at the edge, 413.
    small = Settings(max_upload_mb=0.01)
    with TestClient(create_app(engine, settings=small), raise_server_exceptions=False) as c:
        response = c.post(
            "/api/v1/deliveries/rivers",
            headers=bearer(tokens["surveyor"]),
            files={"file": ("big.zip", io.BytesIO(b"x" * 50_000), "application/zip")},
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "upload_too_large"


def unpacked_mb(archive: Path) -> float:
    """Return the megabytes an archive's members unpack to, as its directory declares (Python's zipfile)."""
    with zipfile.ZipFile(archive) as zf:
        return sum(info.file_size for info in zf.infolist()) / MB


def test_the_archive_limits_are_the_apps_own(engine: Engine, tokens: dict[str, str], tmp_path: Path) -> None:
    # A zipped river Shapefile written by GDAL; the private app allows half of what it unpacks to.
    archive = shapefile_zip(river_frame(), tmp_path / "r", "rivers")
    small = Settings(max_uncompressed_mb=unpacked_mb(archive) / 2)
    headers = bearer(tokens["surveyor"])

    def upload(app_settings: Settings | None, **form: str) -> tuple[int, dict]:
        with TestClient(create_app(engine, settings=app_settings), raise_server_exceptions=False) as c:
            with archive.open("rb") as f:
                r = c.post("/api/v1/deliveries/rivers", headers=headers, files={"file": ("r.zip", f)}, data=form)
            return r.status_code, r.json()

    # The environment's limits (2000 MB) accept the file (a dry run: nothing stored either way).
    status, body = upload(None, dry_run="true")
    assert status == 200 and body["dry_run"] is True, body
    before = stored_counts(engine)
    status, body = upload(small)
    assert status == 413 and body["error"]["code"] == "archive_too_large", body
    assert body["error"]["details"]["limit_bytes"] == int(small.max_uncompressed_mb * MB)
    assert stored_counts(engine) == before
    # The preview (another route into the same pipeline) uses them too.
    with TestClient(create_app(engine, settings=small), raise_server_exceptions=False) as c:
        with archive.open("rb") as f:
            r = c.post("/api/v1/deliveries/rivers/preview", headers=headers, files={"file": ("r.zip", f)})
        assert r.status_code == 413 and r.json()["error"]["code"] == "archive_too_large"


def test_a_quality_sheet_is_unpacked_within_the_apps_limits(
    engine: Engine, tokens: dict[str, str], tmp_path: Path
) -> None:
    # An .xlsx is a zip (written here by openpyxl through pandas): the app's archive limits apply to it.
    sheet = tmp_path / "samples.xlsx"
    pd.DataFrame({"断面编码": ["S1"], "采样日期": ["2024-06-01"], "溶解氧": [7.5]}).to_excel(sheet, index=False)
    small = Settings(max_uncompressed_mb=unpacked_mb(sheet) / 2)
    with TestClient(create_app(engine, settings=small), raise_server_exceptions=False) as c:
        with sheet.open("rb") as f:
            r = c.post("/api/v1/quality/samples", headers=bearer(tokens["surveyor"]), files={"file": ("s.xlsx", f)})
    assert r.status_code == 413 and r.json()["error"]["code"] == "archive_too_large"


def test_the_cli_takes_the_archive_limits_from_the_environment(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = shapefile_zip(river_frame(), tmp_path / "r", "rivers")
    before = stored_counts(engine)
    monkeypatch.setenv("RIVERGIS_MAX_UNCOMPRESSED_MB", str(unpacked_mb(archive) / 2))
    clear_caches()
    try:
        exit_code, body = cli("import", "rivers", str(archive))
    finally:
        monkeypatch.delenv("RIVERGIS_MAX_UNCOMPRESSED_MB")  # not undo(): the engine fixture set the database's
        clear_caches()
    assert exit_code == 2 and body["error"]["code"] == "archive_too_large", body
    assert stored_counts(engine) == before
    # With the environment's default limits the same file imports.
    exit_code, body = cli("import", "rivers", str(archive))
    assert exit_code == 0 and body["stored"] == 1, body


def test_the_database_waits_are_the_apps_own(engine: Engine) -> None:
    # The app's backend (its transactions' lock and statement limits) follows the app's settings.
    own = Settings(db_lock_timeout_s=2.5, db_statement_timeout_s=7, db_import_lock_timeout_s=9, db_import_timeout_s=11)
    app = create_app(engine, settings=own)
    assert app.state.backend.request_timeouts == Timeouts(lock_s=2.5, statement_s=7)
    assert app.state.backend.import_timeouts == Timeouts(lock_s=9, statement_s=11)
