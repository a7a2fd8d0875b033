"""HTML escaping for everything the maps show: popups, legends and panels from ``maps/templates``.

Folium's ``Popup`` and ``GeoJsonPopup`` insert their text as raw HTML, so a description such as
``<img src=x onerror=alert(1)>`` from a file or a report would run in every viewer's browser.
Every value passes through here (or through an autoescaping template) before it reaches HTML.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import jinja2

from gis_service.resources import data_path


def text_of(value: Any) -> str:
    """Return a value as display text: dates as ISO, missing as an empty string, booleans in Chinese."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()[:10]
    return str(value)


@lru_cache
def templates() -> jinja2.Environment:
    """Return the autoescaping Jinja environment of ``maps/templates``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_path("maps") / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["display"] = text_of
    return env


def render_template(name: str, **context: Any) -> str:
    """Render a template of ``maps/templates`` with every value escaped."""
    return templates().get_template(name).render(**context)


def popup_html(title: Any, rows: Iterable[tuple[str, Any]], link: str | None = None) -> str:
    """Return a popup's HTML: a title and label/value rows, all escaped; empty values left out."""
    shown = [(label, text_of(value)) for label, value in rows if text_of(value) != ""]
    return render_template("popup.html", title=text_of(title), rows=shown, link=link)
