"""Database-level failures reach users as the JSON error model, never as a 500 with a trace."""

from __future__ import annotations


def test_database_conflicts_and_busy_errors_are_json_not_500(engine):
    """A duplicate key from a concurrent write is a 409; a locked database is a 503 with Retry-After."""
    from fastapi import APIRouter
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import IntegrityError, OperationalError

    from gis_service.api.app import create_app

    app = create_app(engine)
    probe = APIRouter()

    @probe.get("/_dup")
    def dup() -> None:
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: deliveries.version"))

    @probe.get("/_locked")
    def locked() -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    app.include_router(probe)
    with TestClient(app, raise_server_exceptions=False) as c:
        dup_response = c.get("/_dup")
        assert dup_response.status_code == 409 and dup_response.json()["error"]["code"] == "conflict"
        busy = c.get("/_locked")
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "database_busy"
        assert busy.headers["retry-after"] == "5"
