"""The large screen's map layers as display GeoJSON: towns, rivers, reaches by class and the sections.

Vector layers only (no tiles): the dispatch room may have no internet. Every popup is escaped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gis_service.catalogue import Catalogue
from gis_service.quality.dashboard import sections_geojson
from gis_service.webmap.data import read_overlay
from gis_service.webmap.escape import popup_html
from gis_service.webmap.quality_layer import quality_overlay

# No verdict (no target or no result): in words, never a lone "—", which reads as 一 (one) in a CJK font.
VERDICTS = {True: "达标", False: "未达标", None: "无"}


def _sections(session: Session, catalogue: Catalogue, method: str) -> dict[str, Any]:
    """Return the sections as circle markers in their class colour, with a popup each."""
    points = sections_geojson(session, catalogue, None, method)
    for feature in points["features"]:
        p = feature["properties"]
        p["_s"] = {"radius": 8, "color": "#ffffff", "weight": 2, "fillColor": p["color"], "fillOpacity": 1}
        p["_p"] = popup_html(
            f"断面 {p['name']}（{p['code']}）",
            [
                ("水质类别", p["class_label"]),
                ("定类指标", "、".join(p["deciding"])),
                ("达标", VERDICTS[p["compliant"]]),
            ],
        )
    return points


def class_layers(session: Session, catalogue: Catalogue, method: str) -> dict[str, Any]:
    """Return the layers that change with the data: reaches coloured by class, sections, the legend's lines."""
    reaches, legend = quality_overlay(session, catalogue, None, method, "wgs84")
    return {
        "reaches": reaches,
        "sections": _sections(session, catalogue, method),
        "legend": [{"label": i.label, "color": i.color, "count": i.count} for i in legend.items] if legend else [],
    }


def screen_layers(session: Session, catalogue: Catalogue, method: str) -> dict[str, Any]:
    """Return the towns, rivers and source zones (drawn once) and the class layers (fetched again)."""
    return {
        "towns": read_overlay(session, catalogue["towns"]),
        "rivers": read_overlay(session, catalogue["rivers"]),
        "source_zones": read_overlay(session, catalogue["source_zones"]),
        **class_layers(session, catalogue, method),
    }
