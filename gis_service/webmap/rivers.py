"""A river's map (``/maps/rivers/{code}``): centerline, approved range, zones coloured by type,
gaps and overlaps of the shoreline ratio check marked, and the ratio summary in a panel."""

from __future__ import annotations

import datetime as dt
from typing import Any

import folium
import geopandas as gpd
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from gis_service.analysis.shoreline.ratios import RatioRules, ratio_check
from gis_service.chiefs.rules import PatrolRules
from gis_service.errors import NotFound
from gis_service.store.current import CurrentFeatures
from gis_service.webmap.base import MapSetup, Script, add_html, add_layer_control, make_map, render, to_display
from gis_service.webmap.data import overlay_collection
from gis_service.webmap.escape import popup_html, render_template
from gis_service.webmap.legend import LegendItem, LegendSection, coded_section, colour, legend_html, map_styles
from gis_service.webmap.patrol_layer import patrol_layers
from gis_service.webmap.problems import OverlayGroup, overlays_script
from gis_service.webmap.quality_layer import quality_overlay

GAP_KINDS = {"head": "河源段空缺", "between": "功能区之间空缺", "tail": "河口段空缺", "unzoned": "整岸未划分"}
BANK_LABELS = {"left": "左岸", "right": "右岸"}


def _marks(frame: gpd.GeoDataFrame, kind: str, datum: str) -> dict[str, Any]:
    """Return display GeoJSON of gap or overlap pieces, each with an escaped popup."""
    styles = map_styles()["river_map"]
    features = []
    shown = to_display(frame, datum) if len(frame) else frame
    for row in shown.itertuples(index=False):
        if row.geometry is None or row.geometry.is_empty:
            continue
        bank = BANK_LABELS.get(row.bank, row.bank)
        if kind == "gap":
            title = f"空缺：{bank} {GAP_KINDS.get(row.kind, row.kind)}"
            rows = [("桩号", f"{row.from_chainage} – {row.to_chainage}"), ("长度(m)", f"{row.length_m:.1f}")]
            style = {"color": colour(styles["gap_color"]), "weight": 7, "opacity": 0.9, "dashArray": "8 6"}
        else:
            title = f"重叠：{bank}"
            rows = [
                ("桩号", f"{row.from_chainage} – {row.to_chainage}"),
                ("长度(m)", f"{row.length_m:.1f}"),
                ("功能区", row.zone),
                ("与之重叠", row.other_zone),
            ]
            style = {"color": colour(styles["overlap_color"]), "weight": 8, "opacity": 0.8}
        features.append(
            {
                "type": "Feature",
                "geometry": row.geometry.__geo_interface__,
                "properties": {"_s": style, "_p": popup_html(title, rows)},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def river_map(
    conn: Session | Connection,
    setup: MapSetup,
    code: str,
    rules: RatioRules,
    *,
    today: dt.date,
    patrol_rules: PatrolRules,
    basemap: str | None = None,
    quality_method: str = "annual_mean",
    show_patrols: bool = False,
) -> str:
    """Render a river's map page (patrol states as of ``today``); a river that does not exist is a clear 404."""
    catalogue = setup.catalogue
    river = CurrentFeatures(catalogue["rivers"], where={"code": code}).frame(conn)
    if river.empty:
        raise NotFound(f"没有编码为 {code!r} 的河流；河流列表见 /api/v1/layers/rivers/features", code="river_not_found")
    name = str(river.iloc[0]["name"])
    ranges = CurrentFeatures(catalogue["boundaries"], where={"river_code": code}).frame(conn)
    zones = CurrentFeatures(catalogue["zones"], where={"river_code": code}).frame(conn)
    fmap, datum = make_map(f"{name} 岸线功能分区图", setup, basemap)
    entries = []
    for layer, label, frame, fit in (
        ("boundaries", "河道管理范围", ranges, False),
        ("zones", "岸线功能分区", zones, False),
        ("rivers", "河流中心线", river, True),
    ):
        group = folium.FeatureGroup(name=label).add_to(fmap)
        entries.append(OverlayGroup(group, data=overlay_collection(catalogue[layer], frame, datum), fit=fit))

    report = ratio_check(zones, river, rules, ranges=ranges) if len(zones) else None
    summary = _summary(report, code, name, zones.empty)
    counts = zones["zone_type"].value_counts().to_dict() if len(zones) else {}
    styles = map_styles()["river_map"]
    marks = LegendSection(
        "marks",
        "核算标注",
        [
            LegendItem(
                "gap",
                "空缺（无功能区）",
                colour(styles["gap_color"]),
                "dash",
                count=len(report.gaps) if report is not None else None,
            ),
            LegendItem(
                "overlap",
                "重叠",
                colour(styles["overlap_color"]),
                "line",
                count=len(report.overlaps) if report is not None else None,
            ),
            LegendItem("river", "河流中心线", colour(catalogue["rivers"].style.get("color")), "line"),
            LegendItem("range", "河道管理范围", colour(catalogue["boundaries"].style.get("color")), "area"),
        ],
    )
    sections = [
        coded_section(
            "zone_type", "岸线功能分区（段数）", catalogue["zones"].field("zone_type"), kind="line", counts=counts
        ),
        marks,
    ]
    if report is not None:
        rows = report.gaps[report.gaps["river_code"] == code]
        overlaps = report.overlaps[report.overlaps["river_code"] == code]
        for label, kind, frame in (("空缺", "gap", rows), ("重叠", "overlap", overlaps)):
            group = folium.FeatureGroup(name=label).add_to(fmap)
            entries.append(OverlayGroup(group, data=_marks(frame, kind, datum)))
    quality, quality_legend = quality_overlay(conn, catalogue, code, quality_method, datum, weight=26, opacity=0.55)
    if quality_legend is not None:
        # First, so drawn beneath: a wide translucent band under the zones and the centerline.
        entries.insert(0, OverlayGroup(folium.FeatureGroup(name="河段水质").add_to(fmap), data=quality))
        sections.append(quality_legend)
    patrol_entries, patrol_legend = patrol_layers(
        fmap, conn, catalogue["patrols"], code, today, datum, patrol_rules, show=show_patrols
    )
    entries += patrol_entries
    sections.append(patrol_legend)
    add_layer_control(fmap)
    add_html(fmap, legend_html("图例", sections))
    if summary is not None:
        add_html(
            fmap,
            render_template("ratio_panel.html", river=summary, threshold=rules.threshold),
        )
    Script(overlays_script(fmap.get_name(), entries)).add_to(fmap)
    return render(fmap)


def _summary(report: Any | None, code: str, name: str, unzoned: bool) -> dict[str, Any] | None:
    """Return the river's entry of the ratio check (SPEC.md JSON shape) for the panel."""
    empty_bank = {
        "length_m": 0,
        "zones_m": dict.fromkeys(("protected", "reserved", "controlled", "developed"), 0),
        "ratio": None,
        "gaps_m": 0,
        "overlaps_m": 0,
    }
    if report is None:
        if not unzoned:
            return None
        return {
            "code": code,
            "name": name,
            "ratio": None,
            "compliant": False,
            "banks": {"left": empty_bank, "right": empty_bank},
        }
    for entry in report.to_json()["rivers"]:
        if entry["code"] == code:
            return entry  # type: ignore[no-any-return]
    return None
