"""``rivergis serve`` runs uvicorn's standard server: the C HTTP parser (httptools) and uvloop."""

from __future__ import annotations

import asyncio

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def test_uvicorn_picks_httptools_and_uvloop_by_itself() -> None:
    # ``uvicorn.run`` (the serve command, the benchmarks) leaves both on "auto": it takes these when installed.
    config = uvicorn.Config(app=lambda *_: None, http="auto", loop="auto")
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop) and isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()
