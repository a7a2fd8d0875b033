"""A delivery's preview map: the delivered features with each validation finding marked where it is.

The import stage calls :func:`delivery_preview_html` with the normalised features and the report's
findings, so a surveyor sees the problem on the map, not only as a line of text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import shapely

from gis_service.webmap.base import Script, add_html, fit_to, make_map, render, to_display
from gis_service.webmap.escape import popup_html
from gis_service.webmap.legend import LegendItem, LegendSection, colour, legend_html, map_styles
from gis_service.webmap.problems import OverlayGroup, overlays_script

MAX_POPUP_FIELDS = 14


def _feature_collection(features: gpd.GeoDataFrame, datum: str) -> dict[str, Any]:
    """Return the delivered features as display GeoJSON: one colour, popups with every attribute escaped."""
    col = colour(map_styles()["preview"]["feature_color"])
    shown = to_display(features, datum)
    columns = [c for c in shown.columns if c != shown.geometry.name][:MAX_POPUP_FIELDS]
    geoms = shapely.set_precision(shown.geometry.values, 1e-7)
    out = []
    for i, (geom, record) in enumerate(zip(geoms, shown[columns].to_dict("records"), strict=True)):
        if geom is None or geom.is_empty:
            continue
        point = geom.geom_type in {"Point", "MultiPoint"}
        style = ({"radius": 4, "color": col, "fillColor": col, "fillOpacity": 0.8, "weight": 1} if point
                 else {"color": col, "weight": 3, "opacity": 0.9, "fillColor": col, "fillOpacity": 0.15})
        out.append({"type": "Feature", "geometry": geom.__geo_interface__,
                    "properties": {"_s": style, "_p": popup_html(f"要素 {i + 1}", record.items())}})
    return {"type": "FeatureCollection", "features": out}


def _finding_collection(findings: Sequence[dict[str, Any]], datum: str) -> tuple[dict[str, Any], Counter[str]]:
    """Return the located findings as circle markers coloured by severity, and the count per severity."""
    styles = map_styles()["preview"]
    located = [f for f in findings if _number(f.get("lon")) is not None and _number(f.get("lat")) is not None]
    counts = Counter(str(f.get("severity") or "error") for f in findings)
    if not located:
        return {"type": "FeatureCollection", "features": []}, counts
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy([float(f["lon"]) for f in located],
                                                         [float(f["lat"]) for f in located]), crs="EPSG:4490")
    shown = to_display(points, datum)
    out = []
    for finding, geom in zip(located, shown.geometry.values, strict=True):
        severity = str(finding.get("severity") or "error")
        col = colour(styles["severity_colors"].get(severity))
        label = styles["severity_labels"].get(severity, severity)
        rows = [("级别", label), ("代码", finding.get("code")), ("问题", finding.get("message")),
                ("要素", finding.get("feature")), ("坐标", f"{float(finding['lon']):.6f}, {float(finding['lat']):.6f}")]
        out.append({"type": "Feature", "geometry": geom.__geo_interface__,
                    "properties": {"_s": {"radius": 9, "color": col, "weight": 3, "fillColor": col,
                                          "fillOpacity": 0.35},
                                   "_p": popup_html(f"{label}：{finding.get('code') or ''}", rows)}})
    return {"type": "FeatureCollection", "features": out}, counts


def _number(value: Any) -> float | None:
    """Return a finite float or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def delivery_preview_html(features: gpd.GeoDataFrame, findings: list[dict[str, Any]],
                          *, title: str = "成果预览", basemap: str | None = None) -> str:
    """Return the preview page of a delivery: its features, and its findings (lon, lat, code, message, severity)."""
    fmap, datum = make_map(title, basemap)
    features = features if features.crs is not None else features.set_crs("EPSG:4490")
    features = features[~(features.geometry.isna() | features.geometry.is_empty)]
    found, counts = _finding_collection(findings, datum)
    delivered = folium.FeatureGroup(name=f"交付要素（{len(features)}）").add_to(fmap)
    marked = folium.FeatureGroup(name=f"检查发现的问题（{sum(counts.values())}）").add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    styles = map_styles()["preview"]
    items = [LegendItem(s, styles["severity_labels"].get(s, s), colour(styles["severity_colors"].get(s)),
                        count=counts.get(s, 0)) for s in styles["severity_colors"]]
    items.append(LegendItem("feature", "交付要素", colour(styles["feature_color"]), "line", count=len(features)))
    add_html(fmap, legend_html(title, [LegendSection("severity", "图例", items)]))
    shown = to_display(features, datum)
    fit_to(fmap, [shown] + ([gpd.GeoDataFrame.from_features(found["features"])] if found["features"] else []))
    entries = [OverlayGroup(delivered, data=_feature_collection(features, datum)), OverlayGroup(marked, data=found)]
    Script(overlays_script(fmap.get_name(), entries)).add_to(fmap)
    return render(fmap)
