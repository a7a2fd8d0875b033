"""The Chinese legend of a map: symbols from the layer catalogue and ``maps/styles.toml``, with counts."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from gis_service.catalogue import FieldSpec
from gis_service.resources import data_path
from gis_service.webmap.escape import render_template

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{3,8}$")
FALLBACK_COLOUR = "#777777"


@lru_cache
def map_styles() -> dict[str, Any]:
    """Return the presentation settings of ``maps/styles.toml``."""
    with (data_path("maps") / "styles.toml").open("rb") as fh:
        return tomllib.load(fh)


def colour(value: Any) -> str:
    """Return ``value`` if it is a hex colour, else a neutral grey (colours go into style attributes)."""
    return value if isinstance(value, str) and HEX_COLOUR.match(value) else FALLBACK_COLOUR


@dataclass
class LegendItem:
    """One line of a legend: a symbol, a Chinese label and an optional count."""

    code: str
    label: str
    color: str
    kind: str = "dot"  # dot | line | area | glyph
    glyph: str = ""
    count: int | None = None


@dataclass
class LegendSection:
    """A titled group of legend lines (e.g. 问题状态); ``key`` names it for in-page count updates."""

    key: str
    title: str
    items: list[LegendItem] = field(default_factory=list)


def coded_section(
    key: str,
    title: str,
    spec: FieldSpec,
    kind: str = "dot",
    counts: Mapping[str, int] | None = None,
    glyphs: Mapping[str, str] | None = None,
    colour_of: Mapping[str, str] | None = None,
) -> LegendSection:
    """Return a legend section listing a coded field's values, with counts when given."""
    items = []
    for value in spec.values.values():
        items.append(
            LegendItem(
                code=value.code,
                label=value.label,
                color=colour((colour_of or {}).get(value.code) or value.color),
                kind=kind,
                glyph=(glyphs or {}).get(value.code, ""),
                count=None if counts is None else int(counts.get(value.code, 0)),
            )
        )
    return LegendSection(key, title, items)


def legend_html(title: str, sections: list[LegendSection], element_id: str = "rg-legend") -> str:
    """Render the legend panel (escaped) for :func:`gis_service.webmap.base.add_html`."""
    return render_template("legend.html", title=title, sections=sections, element_id=element_id)
