"""The pages' Jinja2 environment (autoescape on) and the one function that renders a page."""

from __future__ import annotations

import datetime as dt
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from gis_service.web.deps import WebUser
from gis_service.web.labels import BLANK, BLANK_SHORT
from gis_service.web.nav import navigation

TEMPLATES = Path(__file__).resolve().parent / "templates"
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
PAGE_HEADERS = {
    # Only the service's own scripts; inline scripts are needed by the embedded Folium maps (srcdoc frames).
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; connect-src 'self'; "
    "frame-ancestors 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def china_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Return a moment in China time (UTC+8) as text."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(CHINA).strftime(fmt)


def blank(value: Any, short: bool = False) -> Any:
    """Return ``value`` as it is, or when it is empty (None, "", NaN) the grey placeholder 暂无 (无 when ``short``).

    The pages' one way to show "no value" (``{{ x|blank }}``, ``{{ none|blank(short=true) }}`` in an else branch).
    Only the placeholder is markup: any other value goes back unchanged, so autoescape still escapes it.
    """
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return Markup('<span class="blank" title="无数据">{}</span>').format(BLANK_SHORT if short else BLANK)
    return value


@lru_cache
def environment() -> jinja2.Environment:
    """Return the templates' environment: autoescape on for every template, undefined names an error."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["china_time"] = china_time
    env.filters["date"] = lambda v: china_time(v, "%Y-%m-%d")
    env.filters["blank"] = blank
    env.policies["json.dumps_function"] = page_json
    return env


def page_json(value: Any, **kwargs: Any) -> str:
    """Return ``value`` as the JSON a page embeds (``tojson``): a NaN or an infinity as null.

    Figures come from pandas, where a missing number is NaN; Python's encoder writes it as ``NaN``,
    which the browser's ``JSON.parse`` refuses, and the page's script stops. orjson writes null (and
    numpy values as numbers); what it cannot write (an integer past 64 bits) the standard library does.
    """
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    if kwargs.get("sort_keys"):
        option |= orjson.OPT_SORT_KEYS
    try:
        return orjson.dumps(value, option=option).decode()
    except TypeError:
        return json.dumps(value, **kwargs)


def render(
    request: Request, template: str, user: WebUser, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """Render ``template`` for ``user`` with the layout's context (navigation, CSRF field, current path)."""

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="csrf_token" value="{}">').format(escape(user.csrf))

    page = (
        environment()
        .get_template(template)
        .render(
            request=request,
            user=user,
            nav=navigation(user, request.url.path),
            csrf_field=csrf_field,
            csrf_token=user.csrf,
            path=request.url.path,
            **(context or {}),
        )
    )
    return HTMLResponse(page, status_code=status, headers=PAGE_HEADERS)
