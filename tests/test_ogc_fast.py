"""The OGC fast path (``ogc/fast.py``) answers exactly as the routes do, and skips them only when it may."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

import gis_service.ogc.fast
from gis_service.api.app import create_app
from gis_service.ogc.fast import OgcFastPath
from tests.helpers import bearer, clear_caches
from tests.test_ogc_standard import store_sites

# Zoom 10 tile holding the sites of ``store_sites`` (106.80–106.811 E, 28.90 N): row 426, column 815.
TILE = "/ogc/collections/problems/tiles/WebMercatorQuad/10/426/815"
REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("/ogc/collections/problems/items", {}),
    ("/ogc/collections/problems/items", {"limit": "5", "offset": "2"}),
    ("/ogc/collections/problems/items", {"bbox": "106.80,28.89,106.805,28.91", "town": "青年镇"}),
    ("/ogc/collections/problems/items", {"filter": "category = 'mining'", "sortby": "-found_date"}),
    ("/ogc/collections/problems/items", {"crs": "http://www.opengis.net/def/crs/EPSG/0/4545", "limit": "2"}),
    ("/ogc/collections/problems/items", {"f": "html", "limit": "2"}),
    ("/ogc/collections/problems/items/1", {}),
    ("/ogc/collections/problems/items/1", {"properties": "code,town"}),
    (TILE, {}),
    (TILE, {"town": "南桐镇"}),
    # Refused, by the route's validation or by the route body: the same error either way.
    ("/ogc/collections/problems/items", {"limit": "0"}),
    ("/ogc/collections/problems/items", {"limit": "十"}),
    ("/ogc/collections/problems/items", {"offset": "-1"}),
    ("/ogc/collections/problems/items", {"nonsense": "1"}),
    ("/ogc/collections/problems/items", {"bbox": "1,2,3"}),
    ("/ogc/collections/problems/items", {"filter": "town = 3"}),
    ("/ogc/collections/problems/items", {"f": "xml"}),
    ("/ogc/collections/problems/items", {"delivery": "0"}),
    ("/ogc/collections/nothing/items", {}),
    ("/ogc/collections/problems/items/0", {}),
    ("/ogc/collections/problems/items/999999", {}),
    ("/ogc/collections/problems/items/" + str(2**40), {}),
    ("/ogc/collections/zones/items/1", {"delivery": "abc"}),
    ("/ogc/collections/problems/tiles/WebMercatorQuad/3/8/0", {}),
    ("/ogc/collections/problems/tiles/WorldCRS84Quad/3/0/0", {}),
]


def _without_fast_path(engine: Engine) -> FastAPI:
    """Return the app with its routes alone answering."""
    app = create_app(engine)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not OgcFastPath]
    return app


def _comparable(response: Any) -> tuple[int, dict[str, str], Any]:
    """Return status, headers and body of an answer, the page's time stamp left out (it names the second)."""
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    body: Any = response.content
    if response.headers.get("content-type", "").startswith(("application/geo+json", "application/json")):
        body = json.loads(body)
        if isinstance(body, dict):
            body.pop("timeStamp", None)
    return response.status_code, headers, body


def test_the_fast_path_answers_as_the_routes_do(engine: Engine) -> None:
    store_sites(engine)
    with (
        TestClient(create_app(engine), raise_server_exceptions=False) as fast,
        TestClient(_without_fast_path(engine), raise_server_exceptions=False) as routed,
    ):
        for path, params in REQUESTS:
            for headers in ({}, {"Accept": "text/html"}, {"Accept-Encoding": "gzip"}):
                assert _comparable(fast.get(path, params=params, headers=headers)) == _comparable(
                    routed.get(path, params=params, headers=headers)
                ), (path, params, headers)


def _fast(client: TestClient, path: str, **kwargs: Any) -> tuple[int, int]:
    """Return the answer's status and how many times the fast path ran a route body for it."""
    calls = []

    async def counted(func: Any, *args: Any) -> Any:
        calls.append(func)
        return func(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gis_service.ogc.fast, "run_in_threadpool", counted)
        status = client.request(kwargs.pop("method", "GET"), path, **kwargs).status_code
    return status, len(calls)


@pytest.mark.parametrize("public", [True, False])
def test_only_anonymous_reads_of_a_public_service_skip_the_routes(
    engine: Engine, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch, public: bool
) -> None:
    store_sites(engine)
    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "true" if public else "false")
    clear_caches()
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        for path in ("/ogc/collections/problems/items", "/ogc/collections/problems/items/1", TILE):
            assert _fast(client, path) == ((200, 1) if public else (401, 0)), path
            assert _fast(client, path, headers=bearer(tokens["viewer"])) == (200, 0), path
            assert _fast(client, path, params={"access_token": tokens["viewer"]}) == (200, 0), path
            assert _fast(client, path, params={"limit": "0"})[1] == 0, path
        # Refused in the route's body: tried, then answered by the routes (the equivalence test shows how).
        refused = _fast(client, "/ogc/collections/problems/items", params={"nonsense": "1"})
        assert refused == ((400, 1) if public else (401, 0))
        assert _fast(client, "/ogc/conformance")[1] == 0
        # The fast path sits in front of the edge: a GET with a body is the edge's to count and bound.
        with_body = {"method": "GET", "headers": {"Content-Type": "application/json"}, "content": b"{}"}
        assert _fast(client, "/ogc/collections/problems/items/1", **with_body) == ((200, 0) if public else (401, 0))
