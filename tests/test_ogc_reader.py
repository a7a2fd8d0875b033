"""Who may read the OGC routes: the same answers as every other read, without a worker thread for anonymous callers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis_service.api.app import create_app
from tests.helpers import bearer, clear_caches

PATHS = ["/ogc/collections/problems/items", "/ogc/collections/problems/items/1", "/ogc/conformance"]


@pytest.mark.parametrize("public", [True, False])
def test_ogc_reads_answer_anonymous_token_and_bad_token_callers_like_viewer(
    engine: Engine, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch, public: bool
) -> None:
    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "true" if public else "false")
    clear_caches()
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        for path in PATHS:
            anonymous = client.get(path)
            # Public: anonymous reads (the item does not exist: 404); closed: a token is required.
            assert anonymous.status_code in ({200, 404} if public else {401}), (path, anonymous.text)
            if not public:
                assert anonymous.json()["error"]["code"] == "token_required"
            assert client.get(path, headers=bearer(tokens["viewer"])).status_code in {200, 404}
            wrong = client.get(path, headers=bearer("not-a-token"))
            assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_token"
            tile = client.get("/ogc/collections/problems/tiles/WebMercatorQuad/6/26/50", params={"access_token": "x"})
            assert tile.status_code == 401
