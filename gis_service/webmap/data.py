"""The data the maps load: problem sites as compact columns for the current filter, one site's record,
and overlay layers as display GeoJSON with escaped popups and catalogue styles.

A naive Folium map writes every site as a block of JavaScript with its popup HTML; 100 000 sites
make a page of about a hundred megabytes. Here a site is seven to nine characters: its x and y
offsets in 1e-5 degree (≈ 1 m) and its status and category, as fixed-width base-64 digits; ids
travel as runs of consecutive values; the popup is fetched on click.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec
from gis_service.db.backend import session_backend
from gis_service.errors import NotFound
from gis_service.ledger.filters import FINISHED, TABLE, ProblemFilter, is_overdue
from gis_service.store.current import CurrentFeatures
from gis_service.store.spatial import BBox, geom_wkb
from gis_service.webmap.base import gcj02_from_wgs84, to_display
from gis_service.webmap.escape import popup_html
from gis_service.webmap.legend import colour

SCALE = 100_000  # coordinates travel as integers of 1e-5 degree (about 1 m), plenty for a marker
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"  # JSON-safe digits
_ALPHABET = np.frombuffer(BASE64.encode("ascii"), dtype=np.uint8)
OVERLAY_LIMIT = 5000
RECORD_URL = "/api/v1/problems/{id}"


def finished_statuses() -> tuple[str, ...]:
    """Return the statuses in which a site is done and so never overdue (the ledger's one definition)."""
    return FINISHED


def _index_of(values: np.ndarray, vocabulary: list[str]) -> np.ndarray:
    """Return each value's index in ``vocabulary`` (values not in it are appended, so none is lost)."""
    for value in dict.fromkeys(v for v in values.tolist() if v not in vocabulary):
        vocabulary.append(value)
    lookup = {v: i for i, v in enumerate(vocabulary)}
    return np.fromiter((lookup[v] for v in values.tolist()), dtype=np.int64, count=len(values))


def fixed_width(values: np.ndarray) -> tuple[str, int]:
    """Encode non-negative integers as one string of fixed-width base-64 digits; return it and the width.

    JSON numbers cost a digit per decimal place plus a comma; three base-64 characters hold
    what six or seven decimal digits would (262 144 values: 2.6 degrees at 1e-5).
    """
    values = np.asarray(values, dtype=np.int64)
    top = int(values.max()) if len(values) else 0
    width = 1
    while 64**width <= top:
        width += 1
    digits = np.empty((len(values), width), dtype=np.int64)
    rest = values.copy()
    for k in range(width - 1, -1, -1):
        digits[:, k] = rest % 64
        rest //= 64
    return _ALPHABET[digits].tobytes().decode("ascii"), width


def id_runs(ids: np.ndarray) -> list[list[int]]:
    """Return ascending ids as ``[first, count]`` runs of consecutive values (a ledger's ids mostly are)."""
    if not len(ids):
        return []
    breaks = np.flatnonzero(np.diff(ids) != 1) + 1
    starts = np.concatenate([[0], breaks])
    counts = np.diff(np.concatenate([starts, [len(ids)]]))
    return [[int(ids[a]), int(c)] for a, c in zip(starts, counts, strict=True)]


def _points(wkbs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Return lon/lat of each site's marker point (a point inside polygon sites)."""
    geoms = shapely.from_wkb(np.asarray(wkbs, dtype=object))
    points = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    return shapely.get_x(points), shapely.get_y(points)


FULL_COLUMNS = (
    "code",
    "river_code",
    "town",
    "found_date",
    "deadline",
    "responsible_unit",
    "description",
    "source",
    "closed_date",
)


def problem_sites(
    conn: Session | Connection,
    spec: LayerSpec,
    flt: ProblemFilter,
    *,
    today: dt.date,
    datum: str = "wgs84",
    bbox: BBox | None = None,
    full: bool = False,
    limit: int | None = None,
) -> dict[str, Any]:
    """Return the filtered sites as compact columns (``full``: with every popup field, for a standalone page).

    ``spec`` is the catalogue's problems layer: its status and category codes index the columns.

    Past ``limit`` sites no site is sent: the answer says ``"mode": "clusters"`` and the page asks
    for server-side clusters instead (see :mod:`gis_service.webmap.clusters`).
    """
    table = TABLE
    cols = [table.c.id, table.c.status, table.c.category, geom_wkb(table)]
    if full:
        cols += [table.c[name] for name in FULL_COLUMNS]
    backend = session_backend(conn)
    query = select(*cols).where(*flt.clauses(today, backend)).order_by(table.c.id)
    if bbox is not None:
        query = query.where(backend.bbox_filter(table, bbox))
    if limit is not None:
        query = query.limit(limit + 1)
    rows = conn.execute(query).all()
    statuses, categories = list(spec.field("status").values), list(spec.field("category").values)
    if limit is not None and len(rows) > limit:
        return {"v": 2, "n": None, "mode": "clusters", "limit": limit, "status": statuses, "category": categories}
    out: dict[str, Any] = {
        "v": 2,
        "mode": "sites",
        "n": len(rows),
        "scale": SCALE,
        "status": statuses,
        "category": categories,
        "alphabet": BASE64,
    }
    if not rows:
        return out | {"x0": 0, "y0": 0, "ids": [], "x": "", "y": "", "sc": "", "wx": 1, "wy": 1, "wsc": 1}
    columns = list(zip(*rows, strict=True))
    ids = np.asarray(columns[0], dtype=np.int64)
    lon, lat = _points(list(columns[3]))
    if datum == "gcj02":
        lon, lat = gcj02_from_wgs84(lon, lat)
    x, y = np.rint(lon * SCALE).astype(np.int64), np.rint(lat * SCALE).astype(np.int64)
    x0, y0 = int(x.min()), int(y.min())
    s_idx = _index_of(np.asarray(columns[1], dtype=object), statuses)
    c_idx = _index_of(np.asarray(columns[2], dtype=object), categories)
    xs, wx = fixed_width(x - x0)
    ys, wy = fixed_width(y - y0)
    # status and category share one digit: status * number of categories + category
    scs, wsc = fixed_width(s_idx * len(categories) + c_idx)
    out |= {"x0": x0, "y0": y0, "ids": id_runs(ids), "x": xs, "y": ys, "sc": scs, "wx": wx, "wy": wy, "wsc": wsc}
    if full:
        out["cols"] = {name: [_plain(v) for v in columns[4 + i]] for i, name in enumerate(FULL_COLUMNS)}
    return out


def _plain(value: Any) -> Any:
    """Return a JSON-ready value (dates as ISO text)."""
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def problem_record(conn: Session | Connection, rivers: LayerSpec, problem_id: int, today: dt.date) -> dict[str, Any]:
    """Return one site's popup record (raw values; the page escapes them as it shows them)."""
    table = TABLE
    row = conn.execute(select(table).where(table.c.id == problem_id)).mappings().first()
    if row is None:
        raise NotFound(f"没有编号为 {problem_id} 的问题点", code="problem_not_found")
    record = {
        "id": row["id"],
        **{name: _plain(row[name]) for name in FULL_COLUMNS},
        "status": row["status"],
        "category": row["category"],
    }
    if record["river_code"]:
        river = CurrentFeatures(rivers, where={"code": record["river_code"]}, limit=1)
        names = river.values(conn, "name")
        record["river_name"] = names[0][0] if names else None
    record["overdue"] = is_overdue(row["status"], row["deadline"], today)
    record["url"] = RECORD_URL.format(id=row["id"])
    return record


# ---- overlays -----------------------------------------------------------------------------------


def feature_style(spec: LayerSpec, props: Mapping[str, Any], geom_type: str) -> dict[str, Any]:
    """Return a feature's Leaflet path style from the catalogue style (colour by a coded field)."""
    style = spec.style
    colour_by = style.get("color_by")
    value_colour = None
    if colour_by:
        value = spec.field(colour_by).values.get(props.get(colour_by) or "")
        value_colour = value.color if value else None
    col = colour(value_colour or style.get("color"))
    out: dict[str, Any] = {"color": col, "weight": style.get("weight", 2), "opacity": 0.9}
    if "Polygon" in geom_type:
        out |= {"fillColor": col, "fillOpacity": style.get("fill_opacity", 0.15)}
    if style.get("dash_array"):
        out["dashArray"] = style["dash_array"]
    if "Point" in geom_type:
        out |= {
            "radius": style.get("radius", 5),
            "fillColor": col,
            "fillOpacity": 0.85,
            "color": "#333333",
            "weight": 1,
        }
        if spec.name == "outfalls" and props.get("status") == "closed":
            # A closed (销号) outfall stays on the map, faded, so the register's history is visible.
            out |= {"fillOpacity": 0.3, "dashArray": "2 2", "color": "#777777"}
    return out


def feature_popup(spec: LayerSpec, props: Mapping[str, Any]) -> str:
    """Return a feature's popup HTML: the catalogue's Chinese labels and value labels, escaped."""
    title = props.get("name") or props.get("code") or spec.label
    rows = [(f.label, f.value_label(props.get(f.name))) for f in spec.fields]
    return popup_html(f"{spec.label}：{title}" if title != spec.label else title, rows)


def overlay_collection(
    spec: LayerSpec, gdf: gpd.GeoDataFrame, datum: str = "wgs84", truncated: bool = False
) -> dict[str, Any]:
    """Return display GeoJSON of a layer: geometry at 1e-6°, a style and an escaped popup per feature."""
    shown = to_display(gdf, datum)
    geoms = shapely.set_precision(shown.geometry.values, 1e-6)
    texts = shapely.to_geojson(geoms)
    names = [n for n in spec.field_names if n in shown.columns]
    records = shown[names].astype(object).where(shown[names].notna(), None).to_dict("records")
    features = []
    for text, record, geom in zip(texts, records, geoms, strict=True):
        if text is None or shapely.is_empty(geom):
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": _json(text),
                "properties": {"_s": feature_style(spec, record, geom.geom_type), "_p": feature_popup(spec, record)},
            }
        )
    return {"type": "FeatureCollection", "layer": spec.name, "features": features, "truncated": truncated}


def _json(text: str) -> Any:
    """Parse a GeoJSON geometry text."""
    import json

    return json.loads(text)


def read_overlay(
    conn: Session | Connection,
    spec: LayerSpec,
    *,
    bbox: BBox | None = None,
    where: Mapping[str, Any] | None = None,
    datum: str = "wgs84",
    limit: int = OVERLAY_LIMIT,
) -> dict[str, Any]:
    """Read a layer's current features (approved versions) for the map, at most ``limit``."""
    gdf = CurrentFeatures(spec, bbox=bbox, where=where or {}, limit=limit + 1).frame(conn)
    truncated = len(gdf) > limit
    return overlay_collection(spec, gdf.iloc[:limit], datum, truncated)
