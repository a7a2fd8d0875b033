"""The ASGI edge: the caller checked before a body is read, bodies bounded as they stream, tokens never echoed."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis_service.api.app import create_app
from gis_service.api.tempfiles import remove_stale, scrub
from tests.helpers import bearer, clear_caches
from tests.live import peak_rss_kb, reset_peak, stream_body, subprocess_server

MB = 1024 * 1024


@pytest.fixture
def served(engine: Engine, tokens: dict[str, str], tmp_path: Path) -> Any:
    """The service in a uvicorn subprocess on 127.0.0.1 (access log on), its pid and its log file."""
    log = tmp_path / "server.log"
    env = {
        "RIVERGIS_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "RIVERGIS_DATA_DIR": str(tmp_path / "data"),
    }
    with subprocess_server(env, log) as (base, pid):
        yield base, pid, log


def test_a_512_mb_body_leaves_the_servers_memory_flat(
    served: Any, tokens: dict[str, str], backend: Any, artifacts: Path
) -> None:
    # Before: one anonymous 512 MB JSON body took the server from 285 MB to 1.8 GB before its 401.
    base, pid, _log = served
    reset_peak(pid)
    before = peak_rss_kb(pid)
    status, sent = stream_body(base, "/api/v1/problems", 512 * MB, {"Content-Type": "application/json"})
    anonymous = peak_rss_kb(pid) - before
    assert status == 401
    # The answer came before the body: far less than the 512 MB was sent (kernel buffers take a few MB).
    assert sent < 512 * MB

    # With a valid token the body is read, and stopped at the JSON limit (1 MB) while it streams.
    reset_peak(pid)
    before = peak_rss_kb(pid)
    headers = {"Content-Type": "application/json", **bearer(tokens["surveyor"])}
    status_auth, sent_auth = stream_body(base, "/api/v1/problems", 512 * MB, headers)
    authorised = peak_rss_kb(pid) - before
    assert status_auth == 413 and sent_auth < 512 * MB
    for grown in (anonymous, authorised):
        assert grown < 64 * 1024, f"peak memory grew by {grown} kB"
    line = (
        f"{backend.name}: 512 MB body, anonymous → {status}, peak RSS +{anonymous / 1024:.1f} MB; "
        f"with a token → {status_auth}, peak RSS +{authorised / 1024:.1f} MB"
    )
    print(line)
    with (artifacts / f"decisions-{backend.name}.txt").open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def test_a_declared_oversized_body_is_refused_before_it_is_sent(served: Any, tokens: dict[str, str]) -> None:
    base, _pid, _log = served
    host, port = base.removeprefix("http://").split(":")
    token = f"Authorization: Bearer {tokens['surveyor']}\r\n"
    form = "multipart/form-data; boundary=x"
    for path, kind, headers, size, expected in (
        ("/api/v1/problems", "application/json", "", 512 * MB, b" 401 "),  # no token: refused first
        ("/api/v1/problems", "application/json", token, 512 * MB, b" 413 "),  # over the JSON limit (1 MB)
        ("/api/v1/problems/1/events/1/photos", form, token, 100 * MB, b" 413 "),  # over the photo forms' 64 MB
        ("/api/v1/deliveries/zones", form, token, 300 * MB, b" 413 "),  # over the deliveries' 200 MB
    ):
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {size}\r\n{headers}\r\n".encode()
            )
            sock.settimeout(30)
            answer = b""
            while chunk := sock.recv(65536):  # the edge closes the connection after its answer
                answer += chunk
            assert expected in answer.split(b"\r\n", 1)[0], (path, answer[:200])
            if path.startswith("/api/v1/deliveries"):
                assert b"upload_too_large" in answer


def test_tokens_are_never_logged_nor_echoed_in_links(served: Any, tokens: dict[str, str]) -> None:
    # Before: ?access_token= was written in clear to the access log and echoed in self/next links.
    base, _pid, log = served
    secret = tokens["admin"]
    for path in (
        "/api/v1/problems?limit=1&offset=0",
        "/api/v1/layers/rivers/features?limit=1",
        "/ogc/collections/rivers/items?limit=1",
    ):
        r = httpx.get(f"{base}{path}&access_token={secret}", timeout=30)
        assert r.status_code == 200, r.text[:300]
        assert secret not in r.text
        assert "access_token" not in r.text
    r = httpx.get(f"{base}/api/v1/audit?access_token={secret}", timeout=30)
    assert secret not in r.text
    httpx.get(f"{base}/healthz", timeout=10)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "/api/v1/problems" in text  # the access log is on ...
    assert secret not in text  # ... and never holds the token


def test_a_cookie_is_set_only_from_a_token_just_validated(
    engine: Engine, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: a valid header beside any ?access_token= value set that unchecked value as the cookie.
    monkeypatch.setenv("RIVERGIS_HTTPS", "true")
    clear_caches()
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        r = client.get("/maps/problems?access_token=planted", headers=bearer(tokens["viewer"]))
        assert r.status_code == 200 and "planted" not in r.headers.get("set-cookie", "")
        r = client.get("/maps/problems?access_token=planted")
        assert r.status_code == 401 and "set-cookie" not in r.headers
        r = client.get(f"/maps/problems?access_token={tokens['viewer']}")
        cookie = r.headers.get("set-cookie", "")
        assert r.status_code == 200 and tokens["viewer"] in cookie
        assert "Secure" in cookie and "HttpOnly" in cookie


def test_a_json_body_over_its_limit_is_refused_413(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.post(
        "/api/v1/problems",
        content=b'{"description": "' + b"x" * (2 * MB) + b'"}',
        headers={"Content-Type": "application/json", **bearer(tokens["surveyor"])},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_write_routes_refuse_a_missing_or_unknown_token_before_the_body(client: TestClient) -> None:
    r = client.post("/api/v1/problems", content=b"not json at all")
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_required"
    r = client.post("/api/v1/problems", content=b"not json at all", headers=bearer("rg_unknown"))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"


def test_static_maps_serve_browser_assets_only(client: TestClient) -> None:
    # Before: every file under maps/ was served, configuration included.
    assert client.get("/static/maps/js/rivergis.js").status_code == 200
    assert client.get("/static/maps/css/rivergis.css").status_code == 200
    for path in ("basemaps.toml", "styles.toml", "templates"):
        assert client.get(f"/static/maps/{path}").status_code == 404
    assert client.get("/static/vendor/leaflet/package.json").status_code == 404


def test_error_answers_never_show_server_temp_paths(tmp_path: Path) -> None:
    import tempfile

    long_name = "很长的文件名" * 60 + ".shp"
    message = f"[Errno 36] File name too long: '{tempfile.gettempdir()}/rivergis-import-abc123/x/{long_name}'"
    cleaned = scrub({"message": message, "list": [message]})
    assert tempfile.gettempdir() + "/rivergis" not in str(cleaned)
    assert long_name in cleaned["message"]


def test_stale_upload_folders_are_removed_at_start(tmp_path: Path) -> None:
    # Before: a server killed during an upload left its temp folder (60 MB) forever.
    import os
    import time

    stale = tmp_path / "rivergis-upload-old"
    fresh = tmp_path / "rivergis-upload-new"
    other = tmp_path / "someone-else"
    for folder in (stale, fresh, other):
        folder.mkdir()
        (folder / "upload.zip").write_bytes(b"x" * 1024)
    week_ago = time.time() - 7 * 86400
    os.utime(stale, (week_ago, week_ago))
    os.utime(other, (week_ago, week_ago))
    assert remove_stale(tmp_path) == [stale]
    assert not stale.exists() and fresh.exists() and other.exists()


def test_audit_limit_is_bounded_and_a_moon_crs_export_answers_400(client: TestClient, tokens: dict[str, str]) -> None:
    # Before: limit=-1 returned every entry on SpatiaLite and 500 on PostGIS; IAU_2015:30100 answered 500.
    import tempfile

    admin = bearer(tokens["admin"])
    assert client.get("/api/v1/audit?limit=-1", headers=admin).status_code == 400
    assert client.get("/api/v1/audit?limit=5000", headers=admin).status_code == 400
    assert client.get("/api/v1/audit?limit=5", headers=admin).status_code == 200
    before = set(Path(tempfile.gettempdir()).glob("rivergis-download-*"))
    r = client.get("/api/v1/layers/rivers/export?format=gpkg&crs=IAU_2015:30100")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_crs"
    assert set(Path(tempfile.gettempdir()).glob("rivergis-download-*")) == before
