"""A delivery's preview map: the delivered features with each validation finding marked where it is.

:func:`delivery_preview_html` takes the normalised features and the report's findings, so a surveyor
sees the problem on the map, not only as a line of text: for a stored delivery, and (through
:func:`checked_delivery_html`) for one only checked, rejected ones included, which store nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import shapely

from gis_service.webmap.assets import inline_assets
from gis_service.webmap.base import MapSetup, Script, add_html, add_layer_control, fit_to, make_map, render, to_display
from gis_service.webmap.escape import popup_html
from gis_service.webmap.legend import LegendItem, LegendSection, colour, legend_html, map_styles
from gis_service.webmap.problems import OverlayGroup, overlays_script

MAX_POPUP_FIELDS = 14
MAX_PREVIEW_FEATURES = 20_000  # features drawn at most; past that, those with findings and a sample
MAX_UNPLACED = 50  # findings without a place listed in the panel; the legend's counts stay exact


def _feature_collection(features: gpd.GeoDataFrame, numbers: np.ndarray, datum: str) -> dict[str, Any]:
    """Return the delivered features (``numbers``: each one's number in the delivery) as display GeoJSON:
    one colour, popups with every attribute escaped."""
    col = colour(map_styles()["preview"]["feature_color"])
    shown = to_display(features, datum)
    columns = [c for c in shown.columns if c != shown.geometry.name][:MAX_POPUP_FIELDS]
    geoms = shapely.set_precision(shown.geometry.values, 1e-7)
    out = []
    for i, geom, record in zip(numbers - 1, geoms, shown[columns].to_dict("records"), strict=True):
        if geom is None or geom.is_empty:
            continue
        point = geom.geom_type in {"Point", "MultiPoint"}
        style = (
            {"radius": 4, "color": col, "fillColor": col, "fillOpacity": 0.8, "weight": 1}
            if point
            else {"color": col, "weight": 3, "opacity": 0.9, "fillColor": col, "fillOpacity": 0.15}
        )
        out.append(
            {
                "type": "Feature",
                "geometry": geom.__geo_interface__,
                "properties": {"_s": style, "_p": popup_html(f"要素 {i + 1}", record.items())},
            }
        )
    return {"type": "FeatureCollection", "features": out}


def _finding_collection(findings: Sequence[dict[str, Any]], datum: str) -> tuple[dict[str, Any], Counter[str]]:
    """Return the located findings as circle markers coloured by severity, and the count per severity."""
    styles = map_styles()["preview"]
    located = [f for f in findings if _number(f.get("lon")) is not None and _number(f.get("lat")) is not None]
    counts = Counter(str(f.get("severity") or "error") for f in findings)
    if not located:
        return {"type": "FeatureCollection", "features": []}, counts
    points = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy([float(f["lon"]) for f in located], [float(f["lat"]) for f in located]),
        crs="EPSG:4490",
    )
    shown = to_display(points, datum)
    out = []
    for finding, geom in zip(located, shown.geometry.values, strict=True):
        severity = str(finding.get("severity") or "error")
        col = colour(styles["severity_colors"].get(severity))
        label = styles["severity_labels"].get(severity, severity)
        rows = [
            ("级别", label),
            ("代码", finding.get("code")),
            ("问题", finding.get("message")),
            ("要素", finding.get("feature")),
            ("坐标", f"{float(finding['lon']):.6f}, {float(finding['lat']):.6f}"),
        ]
        out.append(
            {
                "type": "Feature",
                "geometry": geom.__geo_interface__,
                "properties": {
                    "_s": {"radius": 9, "color": col, "weight": 3, "fillColor": col, "fillOpacity": 0.35},
                    "_p": popup_html(f"{label}：{finding.get('code') or ''}", rows),
                },
            }
        )
    return {"type": "FeatureCollection", "features": out}, counts


def _unplaced_panel(findings: Sequence[dict[str, Any]]) -> str | None:
    """Return a panel (escaped) listing the findings with no place on the map, such as a whole file out of the district.

    Without it a delivery rejected for such a reason would show a map with nothing marked.
    """
    labels = map_styles()["preview"]["severity_labels"]
    unplaced = [f for f in findings if _number(f.get("lon")) is None or _number(f.get("lat")) is None]
    if not unplaced:
        return None
    rows: list[tuple[str, Any]] = []
    for f in unplaced[:MAX_UNPLACED]:
        severity = str(f.get("severity") or "error")
        feature = f"（要素 {f['feature']}）" if f.get("feature") else ""
        rows.append((f"{labels.get(severity, severity)} {f.get('code') or ''}{feature}", f.get("message")))
    if len(unplaced) > MAX_UNPLACED:
        rows.append(("…", f"另有 {len(unplaced) - MAX_UNPLACED} 条，见检查报告"))
    body = popup_html(f"地图上无法标注位置的问题（{len(unplaced)}）", rows)
    return (
        f'<div id="rg-unplaced" class="rg-panel" style="left: 50px; top: 10px; max-width: 460px; '
        f'max-height: 40vh;">{body}</div>'
    )


def shown_features(
    features: gpd.GeoDataFrame, findings: Sequence[dict[str, Any]]
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Return the features to draw and each one's number in the delivery (1-based).

    All of them up to MAX_PREVIEW_FEATURES; past that (a province-wide file would make a page of
    hundreds of megabytes) every feature a finding names, and an even sample of the others.
    """
    numbers = np.arange(1, len(features) + 1)
    drawn = ~(features.geometry.isna() | features.geometry.is_empty).to_numpy()
    if int(drawn.sum()) > MAX_PREVIEW_FEATURES:
        named = np.array(
            [int(n) for f in findings if (n := _number(f.get("feature"))) is not None and 1 <= n <= len(features)],
            dtype=np.int64,
        )
        keep = np.zeros(len(features), dtype=bool)
        keep[named - 1] = True
        rest = np.flatnonzero(drawn & ~keep)
        room = max(MAX_PREVIEW_FEATURES - int(keep.sum()), 0)
        keep[rest[np.linspace(0, len(rest) - 1, min(room, len(rest))).astype(np.int64)]] = True
        drawn &= keep
    return features[drawn], numbers[drawn]


def _number(value: Any) -> float | None:
    """Return a finite float or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def delivery_preview_html(
    features: gpd.GeoDataFrame,
    findings: list[dict[str, Any]],
    setup: MapSetup,
    *,
    title: str = "成果预览",
    basemap: str | None = None,
) -> str:
    """Return the preview page of a delivery: its features, and its findings (lon, lat, code, message, severity)."""
    # Folium writes the page <title> as is, and a title may carry file-supplied text (a river code, a file name).
    fmap, datum = make_map(title, setup, basemap)
    features = features if features.crs is not None else features.set_crs("EPSG:4490")
    total = int((~(features.geometry.isna() | features.geometry.is_empty)).sum())
    features, numbers = shown_features(features, findings)
    found, counts = _finding_collection(findings, datum)
    sampled = f"，显示其中 {len(features)} 个" if len(features) < total else ""
    delivered = folium.FeatureGroup(name=f"交付要素（{total}{sampled}）").add_to(fmap)
    marked = folium.FeatureGroup(name=f"检查发现的问题（{sum(counts.values())}）").add_to(fmap)
    add_layer_control(fmap)
    styles = map_styles()["preview"]
    items = [
        LegendItem(
            s, styles["severity_labels"].get(s, s), colour(styles["severity_colors"].get(s)), count=counts.get(s, 0)
        )
        for s in styles["severity_colors"]
    ]
    items.append(
        LegendItem(
            "feature",
            f"交付要素{'（抽样显示）' if sampled else ''}",
            colour(styles["feature_color"]),
            "line",
            count=total,
        )
    )
    add_html(fmap, legend_html(title, [LegendSection("severity", "图例", items)]))
    panel = _unplaced_panel(findings)
    if panel:
        add_html(fmap, panel)
    shown = to_display(features, datum)
    fit_to(fmap, [shown] + ([gpd.GeoDataFrame.from_features(found["features"])] if found["features"] else []))
    entries = [
        OverlayGroup(delivered, data=_feature_collection(features, numbers, datum)),
        OverlayGroup(marked, data=found),
    ]
    Script(overlays_script(fmap.get_name(), entries)).add_to(fmap)
    return render(fmap)


def checked_delivery_title(report: dict[str, Any], accepted: bool) -> str:
    """Return the title of a checked, unstored delivery's preview: the file, the layer and the outcome."""
    counts = report.get("counts") or {}
    if accepted:
        warnings = counts.get("warning") or 0
        verdict = "通过检查" + (f"，{warnings} 个警告" if warnings else "")
    else:
        verdict = f"未通过检查：{counts.get('error') or 0} 个错误"
    filename = (report.get("source") or {}).get("filename")
    return f"{filename + ' ' if filename else ''}{report.get('layer_label') or ''}成果预览（{verdict}）"


def checked_delivery_html(
    features: gpd.GeoDataFrame | None,
    report: dict[str, Any],
    accepted: bool,
    setup: MapSetup,
    *,
    standalone: bool = False,
    basemap: str | None = None,
) -> str:
    """Return the preview page of a delivery checked but not stored, accepted or rejected.

    ``features`` and ``report`` are what the dry-run check gives (the report's feature numbers count
    the rows of ``features``; None when the file gave no features). ``standalone`` inlines the
    scripts and styles, for a file opened with no service behind it.
    """
    frame = features if features is not None else gpd.GeoDataFrame(geometry=[], crs="EPSG:4490")
    page = delivery_preview_html(
        frame,
        list(report.get("findings") or []),
        setup,
        title=checked_delivery_title(report, accepted),
        basemap=basemap,
    )
    return inline_assets(page, setup.assets_dir) if standalone else page
