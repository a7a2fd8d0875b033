"""A delivery's map for its review page: the new version drawn over the river's current one.

Only geometries go into the page (no attributes), so nothing a file carried can reach the map as markup.
"""

from __future__ import annotations

import html

import folium
import geopandas as gpd
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec
from gis_service.db.models import Delivery
from gis_service.store.current import LayerVersions
from gis_service.webmap.base import MapSetup, add_html, add_layer_control, fit_to, make_map, render, to_display
from gis_service.webmap.legend import LegendItem, LegendSection, legend_html

CURRENT_COLOUR = "#868e96"
NEW_COLOUR = "#206bc4"


def _geometries(session: Session, layer: LayerSpec, delivery: Delivery) -> gpd.GeoDataFrame:
    """Return a delivery's geometries (of ``layer``) alone, in EPSG:4490."""
    frame = LayerVersions(layer, delivery_id=delivery.id).frame(session)
    return gpd.GeoDataFrame(geometry=frame.geometry.values, crs=frame.crs or "EPSG:4490")


def _layer(fmap: folium.Map, frame: gpd.GeoDataFrame, name: str, colour: str, dashed: bool) -> None:
    """Draw ``frame`` (display lon/lat) as one styled layer."""
    style = {"color": colour, "weight": 3 if not dashed else 2, "fillColor": colour, "fillOpacity": 0.12}
    if dashed:
        style["dashArray"] = "6 4"
    folium.GeoJson(
        frame.__geo_interface__,
        name=name,
        style_function=lambda _f: style,
        marker=folium.CircleMarker(radius=4, color=colour, fill=True, fill_opacity=0.8),
    ).add_to(fmap)


def version_map_html(session: Session, setup: MapSetup, delivery: Delivery, current: Delivery | None) -> str:
    """Return the page showing ``delivery`` over ``current`` (the river's approved version, if another)."""
    layer = setup.catalogue[delivery.layer]
    label = layer.label
    title = f"{delivery.river_code} {label}：第 {delivery.version} 版"
    fmap, datum = make_map(html.escape(title, quote=False), setup)
    new = to_display(_geometries(session, layer, delivery), datum)
    frames = [new]
    items = []
    if current is not None and current.id != delivery.id:
        old = to_display(_geometries(session, layer, current), datum)
        _layer(fmap, old, f"现行 第 {current.version} 版", CURRENT_COLOUR, dashed=True)
        frames.append(old)
        items.append(
            LegendItem("current", f"现行版本（第 {current.version} 版）", CURRENT_COLOUR, "line", count=len(old))
        )
    _layer(fmap, new, f"本次 第 {delivery.version} 版", NEW_COLOUR, dashed=False)
    items.append(LegendItem("new", f"本次交付（第 {delivery.version} 版）", NEW_COLOUR, "line", count=len(new)))
    add_layer_control(fmap)
    add_html(fmap, legend_html(title, [LegendSection("versions", "图例", items)]))
    fit_to(fmap, frames)
    return render(fmap)
