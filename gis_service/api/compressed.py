"""Map data answers that a browser pulls often and large: an ``ETag`` (304 when unchanged) and the body
compressed as the browser asks (``Content-Encoding: br`` or ``gzip``, ``Vary: Accept-Encoding``).

The app's gzip middleware leaves an answer that already names its encoding alone.
"""

from __future__ import annotations

import gzip
import hashlib

import brotli
from fastapi import Request
from fastapi.responses import Response

# Brotli's quality 5 compresses these base-64 columns about as well as 11, in a few milliseconds.
BROTLI_QUALITY = 5
GZIP_LEVEL = 6
MIN_SIZE = 256  # smaller bodies go as they are (the headers would cost about what compression saves)


def _accepted(request: Request) -> set[str]:
    """Return the codings the request accepts (``q=0`` refuses one)."""
    accepted = set()
    for part in request.headers.get("accept-encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name and params.replace(" ", "") not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}:
            accepted.add(name.strip().lower())
    return accepted


def etag_of(body: bytes) -> str:
    """Return a strong entity tag of the (uncompressed) body."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(request: Request, etag: str) -> bool:
    """Return whether ``If-None-Match`` names ``etag`` (weak comparison, as RFC 9110 asks for GET)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag in tags


def conditional(request: Request, body: bytes, media_type: str) -> Response:
    """Answer ``body``: 304 when the browser holds it already, else compressed as the browser accepts."""
    etag = etag_of(body)
    headers = {"ETag": etag, "Vary": "Accept-Encoding", "Cache-Control": "private, no-cache"}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    accepted = _accepted(request)
    if len(body) >= MIN_SIZE and "br" in accepted:
        body = brotli.compress(body, quality=BROTLI_QUALITY, mode=brotli.MODE_TEXT)
        headers["Content-Encoding"] = "br"
    elif len(body) >= MIN_SIZE and ("gzip" in accepted or "*" in accepted):
        body = gzip.compress(body, GZIP_LEVEL, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=media_type, headers=headers)
