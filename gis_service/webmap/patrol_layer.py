"""The river map's patrol layers (巡河): the chiefs' reaches coloured by their latest patrol, and recent tracks.

A reach is 超期未巡 when its chief has not walked the river within the level's period (the overdue list's
rule); otherwise it takes the coverage of the chief's latest patrol on the river: green from
:data:`~gis_service.chiefs.stats.COVERAGE_GOOD`, amber below, grey while the first period runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
from geoalchemy2.shape import to_shape
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec
from gis_service.chiefs.patrols import overdue_reaches
from gis_service.chiefs.rules import PatrolRules
from gis_service.chiefs.stats import COVERAGE_GOOD
from gis_service.db.models import SRID
from gis_service.db.models_chiefs import ChiefAssignment, Patrol
from gis_service.store.current import CurrentFeatures
from gis_service.webmap.base import to_display
from gis_service.webmap.data import overlay_collection
from gis_service.webmap.escape import popup_html
from gis_service.webmap.legend import LegendItem, LegendSection, colour, map_styles
from gis_service.webmap.problems import OverlayGroup

STATES = {
    "overdue": "超期未巡",
    "good": f"最近巡河覆盖 ≥ {COVERAGE_GOOD:.0%}",
    "partial": f"最近巡河覆盖 < {COVERAGE_GOOD:.0%}",
    "waiting": "本周期尚未巡河",
}

WEIGHTS = {"district": 14, "town": 9, "village": 4}


def reach_state(overdue: bool, coverage: float | None) -> str:
    """Return a reach's state: overdue first, then the latest patrol's coverage (none yet: waiting)."""
    if overdue:
        return "overdue"
    if coverage is None:
        return "waiting"
    return "good" if coverage >= COVERAGE_GOOD else "partial"


def _latest_coverage(session: Session, code: str) -> dict[int, float]:
    """Return the coverage of each chief's latest patrol on the river (by chief id)."""
    query = (
        select(Patrol.chief_id, Patrol.coverage)
        .where(Patrol.river_code == code, Patrol.chief_id.is_not(None))
        .order_by(Patrol.patrol_date.desc(), Patrol.id.desc())
    )
    latest: dict[int, float] = {}
    for chief_id, share in session.execute(query):
        if chief_id is not None:
            latest.setdefault(int(chief_id), float(share))
    return latest


def reach_frame(session: Session, code: str, today: dt.date, rules: PatrolRules) -> gpd.GeoDataFrame:
    """Return the river's reaches in force on ``today`` with chief, level, last patrol, coverage and state."""
    reaches = [r for r in overdue_reaches(session, today, rules, only_overdue=False) if r["river_code"] == code]
    latest = _latest_coverage(session, code)
    ids = [r["assignment_id"] for r in reaches]
    query = select(ChiefAssignment.id, ChiefAssignment.geom).where(ChiefAssignment.id.in_(ids))
    geoms = {int(i): g for i, g in session.execute(query)}
    rows = []
    for r in reaches:
        share = latest.get(r["chief_id"]) if r["last_patrol"] else None
        rows.append({**r, "coverage": share, "state": reach_state(r["overdue"], share)})
    return gpd.GeoDataFrame(rows, geometry=[to_shape(geoms[i]) for i in ids], crs=SRID)


def _reach_collection(frame: gpd.GeoDataFrame, datum: str) -> dict[str, Any]:
    """Return display GeoJSON of the reaches, styled by state, each with an escaped popup."""
    styles = map_styles()["patrol_map"]
    features = []
    shown = to_display(frame, datum) if len(frame) else frame
    # The levels' reaches lie on the same centerline: drawn widest (区级) first and narrowest (村级) on top,
    # each level stays visible as a band of its own colour.
    for row in sorted(shown.itertuples(index=False), key=lambda r: -WEIGHTS.get(r.level, 4)):
        style = {"color": colour(styles[f"{row.state}_color"]), "weight": WEIGHTS.get(row.level, 4), "opacity": 0.9}
        if row.state == "overdue":
            style["dashArray"] = "10 6"
        rows = [
            ("河长", f"{row.chief}（{row.level_label}）"),
            ("河段", f"{row.start} – {row.end}"),
            ("巡河周期", f"{row.period_days} 天"),
            ("上次巡河", row.last_patrol or "未巡"),
            ("最近覆盖率", "" if pd.isna(row.coverage) else f"{row.coverage:.0%}"),
            ("超期", f"{row.days_overdue} 天" if row.overdue else ""),
        ]
        features.append(
            {
                "type": "Feature",
                "geometry": row.geometry.__geo_interface__,
                "properties": {"_s": style, "_p": popup_html(STATES[row.state], rows), "state": row.state},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def recent_tracks(conn: Session | Connection, patrols: LayerSpec, code: str, today: dt.date) -> gpd.GeoDataFrame:
    """Return the river's patrol tracks (of the ``patrols`` layer) of the last ``track_days`` days (newest first)."""
    tracks = CurrentFeatures(patrols, where={"river_code": code}).frame(conn)
    if tracks.empty:
        return tracks
    since = pd.Timestamp(today - dt.timedelta(days=int(map_styles()["patrol_map"]["track_days"]) - 1))
    dates = pd.to_datetime(tracks["patrol_date"])
    return tracks.loc[dates >= since].sort_values("patrol_date", ascending=False)


def patrol_layers(
    fmap: folium.Map,
    conn: Session | Connection,
    patrols: LayerSpec,
    code: str,
    today: dt.date,
    datum: str,
    rules: PatrolRules,
    *,
    show: bool = False,
) -> tuple[list[OverlayGroup], LegendSection]:
    """Add the patrol groups (reach states, recent tracks) to a river's map, hidden unless ``show``.

    Return the groups and their legend; hidden by default because the reaches cover the zoning the map is for.
    """
    session = conn if isinstance(conn, Session) else Session(bind=conn)
    styles = map_styles()["patrol_map"]
    reaches = reach_frame(session, code, today, rules)
    tracks = recent_tracks(conn, patrols, code, today)
    reach_group = folium.FeatureGroup(name="河长河段巡河状态", show=show).add_to(fmap)
    track_group = folium.FeatureGroup(name=f"近 {styles['track_days']} 天巡河轨迹", show=show).add_to(fmap)
    entries = [
        OverlayGroup(reach_group, data=_reach_collection(reaches, datum)),
        OverlayGroup(track_group, data=overlay_collection(patrols, tracks, datum)),
    ]
    counts = reaches["state"].value_counts().to_dict() if len(reaches) else {}
    items = [
        LegendItem(state, label, colour(styles[f"{state}_color"]), "dash" if state == "overdue" else "line",
                   count=int(counts.get(state, 0)))
        for state, label in STATES.items()
    ]  # fmt: skip
    track_colour = colour(patrols.style.get("color"))
    items.append(LegendItem("track", f"近 {styles['track_days']} 天巡河轨迹", track_colour, "line", count=len(tracks)))
    title = "河长河段巡河状态（段数；线越宽级别越高）"
    return entries, LegendSection("patrols", title, items)
