"""Rivers coloured by water-quality class (GB 3838): each stretch takes the class of its nearest section.

A river's centerline is cut half-way between consecutive sections (measured along the line in a
metric CRS), so every stretch shows the class of the section that monitors it; a river without a
section of a class in the period is left out (the plain centerline layer still shows it).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from gis_service.catalogue import Catalogue
from gis_service.quality.assessment import quality_report
from gis_service.quality.standard import CLASS_COLORS, CLASS_LABELS
from gis_service.store.current import CurrentFeatures
from gis_service.webmap.base import to_display
from gis_service.webmap.escape import popup_html
from gis_service.webmap.legend import LegendItem, LegendSection

STORED_CRS = "EPSG:4490"
VERDICTS = {True: "达标", False: "未达标", None: "无目标"}


def _parts(geometries: list[BaseGeometry]) -> list[BaseGeometry]:
    """Return a river's centerline pieces merged into as few lines as they join into."""
    merged = shapely.line_merge(shapely.union_all(geometries))
    return list(getattr(merged, "geoms", [merged]))


def class_stretches(rivers: gpd.GeoDataFrame, sections: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the stretches of ``rivers`` (code, geometry) nearest to each classed section (code, river_code, point).

    Each stretch row carries the section's columns and ``from_m``/``to_m`` along its line piece.
    """
    rows: list[dict[str, Any]] = []
    if rivers.empty or sections.empty:
        return gpd.GeoDataFrame(rows, geometry=[], crs=STORED_CRS)
    metric = rivers.estimate_utm_crs()
    lines = rivers.to_crs(metric)
    points = sections.to_crs(metric)
    for code, group in lines.groupby("code"):
        mine = points[points["river_code"] == code]
        if mine.empty:
            continue
        parts = _parts(list(group.geometry))
        # A section belongs to the line piece it lies nearest to (a river may come in disjoint pieces).
        nearest = [int(np.argmin([part.distance(p) for part in parts])) for p in mine.geometry]
        for index, part in enumerate(parts):
            on = mine[[n == index for n in nearest]]
            if on.empty:
                continue
            where = sorted(zip((part.project(p) for p in on.geometry), range(len(on)), strict=True))
            cuts = [0.0] + [(a[0] + b[0]) / 2 for a, b in zip(where, where[1:], strict=False)] + [part.length]
            for k, (_, row) in enumerate(where):
                section = on.iloc[row]
                rows.append(
                    {
                        **{c: section[c] for c in on.columns if c != "geometry"},
                        "from_m": round(cuts[k], 1),
                        "to_m": round(cuts[k + 1], 1),
                        "geometry": substring(part, cuts[k], cuts[k + 1]),
                    }
                )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=metric).to_crs(STORED_CRS)


def classed_sections(
    conn: Session | Connection, catalogue: Catalogue, river: str | None, method: str
) -> gpd.GeoDataFrame:
    """Return the sections (of ``river``, or all) classed in the newest period, with ``q_class``, ``q_target`` …"""
    if not isinstance(conn, Session):
        conn = Session(bind=conn)
    results = {r["code"]: r for r in quality_report(conn, None, method)["sections"] if r["class"]}
    frame = CurrentFeatures(catalogue["sections"], where={"river_code": river} if river else {}).frame(conn)
    frame = frame[frame["code"].isin(list(results))].copy()
    for key in ("class", "target", "compliant", "deciding"):
        frame[f"q_{key}"] = [results[c].get(key) for c in frame["code"]]
    return frame


def quality_overlay(
    conn: Session | Connection,
    catalogue: Catalogue,
    river: str | None,
    method: str,
    datum: str,
    *,
    weight: int = 6,
    opacity: float = 0.9,
) -> tuple[dict[str, Any], LegendSection | None]:
    """Return the stretches as display GeoJSON (styled, escaped popups) and their legend, None without classes."""
    sections = classed_sections(conn, catalogue, river, method)
    if sections.empty:
        return {"type": "FeatureCollection", "features": []}, None
    rivers = CurrentFeatures(catalogue["rivers"], where={"code": river} if river else {}).frame(conn)
    stretches = class_stretches(rivers[["code", "geometry"]], sections)
    features = []
    for row in to_display(stretches, datum).itertuples(index=False):
        cls = str(row.q_class)
        rows = [
            ("水质类别", CLASS_LABELS.get(cls, cls)),
            ("水质目标", CLASS_LABELS.get(str(row.q_target), "无")),
            ("是否达标", VERDICTS[row.q_compliant]),
            ("定类指标", "、".join(row.q_deciding or [])),
            ("代表河段(m)", f"{row.from_m:.0f} – {row.to_m:.0f}"),
        ]
        features.append(
            {
                "type": "Feature",
                "geometry": row.geometry.__geo_interface__,
                "properties": {
                    "_s": {"color": CLASS_COLORS[cls], "weight": weight, "opacity": opacity},
                    "_p": popup_html(f"断面 {row.name}（{row.code}）", rows),
                    "class": cls,
                },
            }
        )
    counts = stretches["q_class"].value_counts().to_dict()
    legend = LegendSection(
        "quality",
        "河段水质类别（GB 3838-2002）",
        [LegendItem(k, v, CLASS_COLORS[k], "line", count=int(counts.get(k, 0))) for k, v in CLASS_LABELS.items()],
    )
    return {"type": "FeatureCollection", "features": features}, legend
