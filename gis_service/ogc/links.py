"""The one URL builder of the OGC API: links as the client sees the service, behind a proxy too.

The base is the request's scheme, host and ``root_path``; when the immediate client is a trusted
proxy (``RIVERGIS_TRUSTED_PROXIES``), ``X-Forwarded-Proto``, ``-Host`` and ``-Prefix`` replace them.
A link never carries ``access_token``: a token in a URL leaks into logs, bookmarks and referrers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from gis_service.api.deps import app_settings

NEVER_COPIED = frozenset({"access_token"})


def _first(value: str | None) -> str | None:
    """Return the first of a comma-separated forwarded header (the client-facing proxy's), or None."""
    if not value:
        return None
    return value.split(",")[0].strip() or None


class Links:
    """Builds absolute links for one request."""

    def __init__(self, request: Request) -> None:
        self.request = request
        url = request.url
        scheme, host = url.scheme, url.netloc
        prefix = str(request.scope.get("root_path") or "")
        client = request.client.host if request.client else None
        if app_settings(request.app).trusts(client):
            headers = request.headers
            scheme = _first(headers.get("x-forwarded-proto")) or scheme
            host = _first(headers.get("x-forwarded-host")) or host
            forwarded_prefix = _first(headers.get("x-forwarded-prefix"))
            if forwarded_prefix is not None:
                prefix = forwarded_prefix
        self.base = f"{scheme}://{host}{prefix.rstrip('/')}"

    def url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        """Return the absolute URL of ``path`` (from the service root) with ``query`` (None values left out)."""
        params = {k: v for k, v in (query or {}).items() if v is not None and k not in NEVER_COPIED}
        return f"{self.base}{path}" + (f"?{urlencode(params)}" if params else "")

    def here(self, **changes: Any) -> str:
        """Return this request's URL with ``changes`` to its query (None removes a parameter)."""
        params: dict[str, Any] = dict(self.request.query_params)
        params.update(changes)
        root = str(self.request.scope.get("root_path") or "")
        path = self.request.url.path
        if root and path.startswith(root):
            path = path[len(root) :]
        return self.url(path, params)

    def link(self, rel: str, href: str, media_type: str, title: str | None = None) -> dict[str, str]:
        """Return one link object."""
        link = {"href": href, "rel": rel, "type": media_type}
        if title:
            link["title"] = title
        return link
