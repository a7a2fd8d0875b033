"""The issue map (``/maps/problems``): a small Folium shell whose problem sites arrive as compact data
and are clustered in the browser, over rivers, approved ranges, zones and outfalls.

The same page, with the assets inlined and the data embedded once, is the standalone export
(``rivergis map problems -o FILE.html``) that opens from a USB stick.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape as escape_attr
from typing import Any
from urllib.parse import urlencode

import folium
from branca.element import Element, Figure
from folium.map import FitBounds
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from gis_service.catalogue import Catalogue, LayerSpec
from gis_service.db.models import Problem
from gis_service.ledger.filters import ProblemFilter
from gis_service.store.current import CurrentFeatures, river_names
from gis_service.webmap.assets import inline_assets
from gis_service.webmap.base import MapSetup, Script, add_html, add_layer_control, js_literal, make_map, render
from gis_service.webmap.clusters import count_capped
from gis_service.webmap.data import (
    RECORD_URL,
    finished_statuses,
    problem_sites,
    read_overlay,
)
from gis_service.webmap.escape import render_template
from gis_service.webmap.legend import LegendItem, LegendSection, coded_section, colour, legend_html, map_styles

TITLE = "清四乱问题点地图"
# Overlay layers of the issue map, bottom to top, with their layer-control names.
OVERLAYS = (
    ("boundaries", "河道管理范围（已批准）"),
    ("zones", "岸线功能分区"),
    ("rivers", "河流"),
    ("outfalls", "入河排污口"),
)
DATA_URL = "/maps/data/problems"
DETAIL_URL = "/maps/data/problems/{id}"
CLUSTERS_URL = "/maps/data/problems/clusters"
LAYER_URL = "/maps/data/layers/{layer}"


@dataclass
class OverlayGroup:
    """An overlay's Folium group and how its features reach the browser (a URL or embedded data)."""

    group: Element
    url: str | None = None
    data: dict[str, Any] | None = None
    fit: bool = False


def overlays_script(map_name: str, entries: list[OverlayGroup]) -> str:
    """Return the JavaScript that fills the overlay groups (``RiverGIS.overlays``)."""
    items = []
    for entry in entries:
        cfg = {"url": entry.url, "data": entry.data, "fit": entry.fit}
        items.append(f"Object.assign({{group: {entry.group.get_name()}}}, {js_literal(cfg)})")
    if not items:
        return ""
    return f"RiverGIS.overlays({map_name}, [{', '.join(items)}]);"


def vocabulary(spec: LayerSpec) -> dict[str, Any]:
    """Return the codes, Chinese labels, colours and glyphs the page needs for problem sites (``spec``: their layer)."""
    glyphs = map_styles()["problems"]["glyphs"]
    return {
        "statuses": [
            {"code": v.code, "label": v.label, "color": colour(v.color)} for v in spec.field("status").values.values()
        ],
        "categories": [
            {"code": v.code, "label": v.label, "glyph": glyphs.get(v.code, v.label[:1])}
            for v in spec.field("category").values.values()
        ],
        "sources": [{"code": v.code, "label": v.label} for v in spec.field("source").values.values()],
        "labels": spec.labels(),
    }


def problems_legend(catalogue: Catalogue) -> str:
    """Return the issue map's legend: site status and category (counts filled in by the page), overlays."""
    spec = catalogue["problems"]
    glyphs = map_styles()["problems"]["glyphs"]
    zero: dict[str, int] = {}
    sections = [
        coded_section("status", "问题点状态（颜色）", spec.field("status"), counts=zero),
        coded_section("category", "问题类别（符号）", spec.field("category"), kind="glyph", counts=zero, glyphs=glyphs),
        coded_section("zone_type", "岸线功能分区", catalogue["zones"].field("zone_type"), kind="line"),
        coded_section("outfall_type", "入河排污口（虚线框：已销号）", catalogue["outfalls"].field("outfall_type")),
        LegendSection(
            "other",
            "其他",
            [
                LegendItem("river", "河流中心线", colour(catalogue["rivers"].style.get("color")), "line"),
                LegendItem("range", "河道管理范围", colour(catalogue["boundaries"].style.get("color")), "area"),
            ],
        ),
    ]
    return legend_html("图例", sections)


def filter_form(conn: Session | Connection, catalogue: Catalogue, flt: ProblemFilter) -> str:
    """Return the in-page filter form (escaped), pre-set to ``flt``, listing the towns and rivers."""
    vocab = vocabulary(catalogue["problems"])
    towns = {name for (name,) in CurrentFeatures(catalogue["towns"]).values(conn, "name")}
    towns |= {name for (name,) in conn.execute(select(Problem.town).distinct()) if name}
    rivers = sorted(river_names(conn, catalogue).items())
    return render_template(
        "filter.html",
        statuses=vocab["statuses"],
        categories=vocab["categories"],
        towns=sorted(towns),
        rivers=rivers,
        flt=flt,
        collapsed=not flt.query(),
    )


def problems_map(
    conn: Session | Connection,
    setup: MapSetup,
    flt: ProblemFilter,
    *,
    today: dt.date,
    basemap: str | None = None,
    standalone: bool = False,
    record_base: str | None = None,
    cluster_threshold: int | None = None,
) -> str:
    """Render the issue map page; ``standalone`` embeds the data and inlines the assets (one file).

    Served, a filter keeping more than ``cluster_threshold`` sites opens on server-side clusters.
    """
    catalogue = setup.catalogue
    fmap, datum = make_map(TITLE, setup, basemap)
    minx, miny, maxx, maxy = setup.district.bbox
    fit = FitBounds([[miny, minx], [maxy, maxx]])
    # At once: during an animated zoom the map still says its first zoom, and the clusters would be asked for it.
    fit.options["animate"] = False
    fit.add_to(fmap)
    entries = []
    for layer, label in OVERLAYS:
        group = folium.FeatureGroup(name=label, show=True).add_to(fmap)
        if standalone:
            entries.append(OverlayGroup(group, data=read_overlay(conn, catalogue[layer], datum=datum, limit=10**7)))
        else:
            entries.append(OverlayGroup(group, url=f"{LAYER_URL.format(layer=layer)}?datum={datum}"))
    sites = folium.FeatureGroup(name="问题点", show=True).add_to(fmap)
    add_layer_control(fmap)

    cfg: dict[str, Any] = vocabulary(catalogue["problems"]) | {
        "filter": _js_filter(flt),
        "finished": list(finished_statuses()),
        "today": today.isoformat(),
        "fit": True,
    }
    if standalone:
        cfg |= {
            "data": problem_sites(conn, catalogue["problems"], flt, today=today, datum=datum, full=True),
            "riverNames": river_names(conn, catalogue),
            "recordUrl": f"{record_base.rstrip('/')}{RECORD_URL}" if record_base else None,
        }
    else:
        over = (
            cluster_threshold is not None
            and count_capped(conn, flt, today=today, cap=cluster_threshold) > cluster_threshold
        )
        if not over:
            # Fetched while the scripts load, not after: the page's script takes this very request.
            cfg["firstUrl"] = first = f"{DATA_URL}?{urlencode({'datum': datum, **_query(flt)})}"
            link = f'<link rel="preload" href="{escape_attr(first)}" as="fetch" crossorigin="anonymous">'
            root = fmap.get_root()
            assert isinstance(root, Figure)  # make_map puts the map in a Figure
            root.header.add_child(Element(link), name="rg_preload_data")
        cfg |= {
            "dataUrl": f"{DATA_URL}?datum={datum}",
            "clustersUrl": f"{CLUSTERS_URL}?datum={datum}",
            "detailUrl": DETAIL_URL,
            "recordUrl": RECORD_URL,
            "mode": "clusters" if over else "sites",
        }
    add_html(fmap, filter_form(conn, catalogue, flt))
    add_html(fmap, problems_legend(catalogue))
    add_html(fmap, '<div id="rg-status" class="rg-panel rg-status">加载中…</div>')
    name = fmap.get_name()
    Script(overlays_script(name, entries)).add_to(fmap)
    Script(f"RiverGIS.problems({name}, {sites.get_name()}, {js_literal(cfg)});").add_to(fmap)
    html = render(fmap)
    return inline_assets(html, setup.assets_dir) if standalone else html


def _query(flt: ProblemFilter) -> dict[str, str]:
    """Return the filter as the data route's query parameters (only those set)."""
    shown = _js_filter(flt)
    params = {k: ",".join(v) if isinstance(v, list) else v for k, v in shown.items() if k != "overdue"}
    if shown["overdue"]:
        params["overdue"] = "1"
    return {k: v for k, v in params.items() if v}


def _js_filter(flt: ProblemFilter) -> dict[str, Any]:
    """Return the filter in the shape the page's script keeps (the URL parameter names)."""
    return {
        "status": list(flt.status),
        "category": list(flt.category),
        "town": flt.town or "",
        "river": flt.river_code or "",
        "from": flt.found_from.isoformat() if flt.found_from else "",
        "to": flt.found_to.isoformat() if flt.found_to else "",
        "overdue": bool(flt.overdue),
    }
