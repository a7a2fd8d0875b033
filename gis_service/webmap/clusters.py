"""Server-side clusters of the issue map: past the cluster threshold the browser gets one grid cell per group
of nearby sites (their count and mean position) for the view and zoom it shows, never the sites themselves.

Cells are squares of about :data:`CELL_PX` screen pixels at the requested zoom, anchored at 0°, 0°, so
that a cluster stays put as the map pans. The counts are the database's (``SpatialSQL.grid_clusters``):
a million sites cost one grouped scan, and the answer is a few hundred cells whatever the ledger's size.
Where the database keeps counts per cell (PostGIS, ``kept_cells``), a view of all sites or of some
statuses and categories reads those instead of the sites. A view answers the cells meeting it, whole.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from gis_service.catalogue import LayerSpec
from gis_service.db.backend import session_backend
from gis_service.errors import BadRequest
from gis_service.ledger.filters import TABLE, ProblemFilter
from gis_service.store.spatial import BBox
from gis_service.store.versions import data_version, database_key
from gis_service.webmap.answers import MAP_ANSWERS
from gis_service.webmap.base import gcj02_from_wgs84

CELL_PX = 64  # a cluster gathers the sites within about this many screen pixels
MAX_ZOOM = 19
# At the map's last zooms a cell shrinks to a few pixels: sites closer than that are one spot.
FINE_ZOOM, FINE_CELL_PX = 18, 4
DECIMALS = 6  # display positions at 1e-6 degree (≈ 0.1 m)


def cell_size(zoom: int) -> float:
    """Return the grid cell's side in degrees at Web Mercator ``zoom`` (256-pixel tiles)."""
    pixels = FINE_CELL_PX if zoom >= FINE_ZOOM else CELL_PX
    return float(pixels * 360.0 / (256 * 2**zoom))


def cell_level(zoom: int) -> int:
    """Return the level ``k`` whose cells, 90 / 2^k degrees, are the cells of ``zoom``."""
    return zoom + 4 if zoom >= FINE_ZOOM else zoom  # 4 px at the last zooms: 16 times smaller than 64 px


def whole_cells(bbox: BBox, cell: float) -> BBox:
    """Return ``bbox`` grown to the whole grid cells it meets."""
    minx, miny, maxx, maxy = bbox
    return (
        math.floor(minx / cell) * cell,
        math.floor(miny / cell) * cell,
        (math.floor(maxx / cell) + 1) * cell,
        (math.floor(maxy / cell) + 1) * cell,
    )


def parse_zoom(value: str | None, default: int) -> int:
    """Validate the ``zoom`` parameter (an integer from 0 to :data:`MAX_ZOOM`); none: ``default``."""
    if value is None:
        return default
    try:
        zoom = int(value)
    except ValueError:
        zoom = -1
    if not 0 <= zoom <= MAX_ZOOM:
        raise BadRequest(
            f"zoom={value!r} 不正确：应为 0 到 {MAX_ZOOM} 的整数（地图当前的缩放级别）",
            code="bad_zoom",
            details={"min": 0, "max": MAX_ZOOM},
        )
    return zoom


def legend_counts(tallies: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Return the filter's total and its counts by status and by category from ``(status, category, n)`` rows."""
    counts: dict[str, int] = {}
    for status, category, n in tallies:
        counts[f"status:{status}"] = counts.get(f"status:{status}", 0) + n
        counts[f"category:{category}"] = counts.get(f"category:{category}", 0) + n
    return {"total": sum(n for *_, n in tallies), "counts": counts}


def problem_clusters(
    conn: Session | Connection,
    spec: LayerSpec,
    flt: ProblemFilter,
    *,
    today: dt.date,
    zoom: int,
    bbox: BBox | None = None,
    datum: str = "wgs84",
    with_counts: bool = False,
) -> dict[str, Any]:
    """Return the filtered sites in ``bbox`` as grid clusters for ``zoom``; one-site cells carry the site.

    Columns: ``x``/``y`` (mean position, display lon/lat), ``n`` (sites in the cell), ``id`` (the
    site of a one-site cell, else null) and ``sc`` (its status and category indexes, else null).
    ``with_counts`` adds the filter's total and legend counts (asked once per filter, not per pan).
    Answers are kept per data version: the same question on unchanged data is not counted again. The
    status and category indexes are into the codes of ``spec``, the catalogue's problems layer.
    """
    version = data_version(conn, TABLE)
    vocabulary = (tuple(spec.field("status").values), tuple(spec.field("category").values))
    # Today matters to the overdue filter only, but a day's answers are few: it is always part of the key.
    asked = (today, flt, zoom, bbox, datum, with_counts, vocabulary)
    key = None if version is None else ("clusters", database_key(conn), version, *asked)
    return dict(
        MAP_ANSWERS.get(
            key,
            lambda: _clusters(
                conn, vocabulary, flt, today=today, zoom=zoom, bbox=bbox, datum=datum, with_counts=with_counts
            ),
        )
    )


def _clusters(
    conn: Session | Connection,
    vocabulary: tuple[tuple[str, ...], tuple[str, ...]],
    flt: ProblemFilter,
    *,
    today: dt.date,
    zoom: int,
    bbox: BBox | None,
    datum: str,
    with_counts: bool,
) -> dict[str, Any]:
    """Count the clusters of :func:`problem_clusters` in the database."""
    backend = session_backend(conn)
    tally = ("status", "category") if with_counts else ()
    where = flt.clauses(today, backend)  # a wrong value is refused whichever way the cells are counted
    cell = cell_size(zoom)
    found = None
    if replace(flt, status=(), category=()) == ProblemFilter():
        equal = {"status": flt.status, "category": flt.category}
        found = backend.kept_cells(conn, TABLE, cell_level(zoom), equal, bbox=bbox, tally=tally)
    if found is None:
        found = backend.grid_clusters(conn, TABLE, where, cell, bbox=bbox and whole_cells(bbox, cell), tally=tally)
    rows, tallies = found
    if bbox is not None:
        # The cells meeting the view, whole: a site on the far edge of the last one belongs to the next.
        lo_x, lo_y, hi_x, hi_y = (math.floor(v / cell) for v in bbox)
        rows = [r for r in rows if r[0] is not None and lo_x <= r[0] <= hi_x and lo_y <= r[1] <= hi_y]
    statuses, categories = list(vocabulary[0]), list(vocabulary[1])
    out: dict[str, Any] = {"v": 1, "zoom": zoom, "cell": cell_size(zoom), "status": statuses, "category": categories}
    if with_counts:
        out |= legend_counts(tallies)
    if not rows:
        return out | {"n": 0, "cells": 0, "x": [], "y": [], "count": [], "id": [], "sc": []}
    counts = np.array([r[2] for r in rows], dtype=np.int64)
    lon = np.array([r[3] for r in rows], dtype=float) / counts
    lat = np.array([r[4] for r in rows], dtype=float) / counts
    if datum == "gcj02":
        lon, lat = gcj02_from_wgs84(lon, lat)
    ids: list[int | None] = [int(r[5]) if r[2] == 1 else None for r in rows]
    out |= {
        "n": int(counts.sum()),
        "cells": len(rows),
        "x": np.round(lon, DECIMALS).tolist(),
        "y": np.round(lat, DECIMALS).tolist(),
        "count": counts.tolist(),
        "id": ids,
        "sc": _single_codes(conn, [i for i in ids if i is not None], ids, statuses, categories),
    }
    return out


def _single_codes(
    conn: Session | Connection, singles: list[int], ids: list[int | None], statuses: list[str], categories: list[str]
) -> list[int | None]:
    """Return ``status * len(categories) + category`` for each one-site cell (its icon), None for clusters."""
    codes: dict[int, int] = {}
    backend = session_backend(conn)
    for clause in backend.member_of(TABLE.c.id, singles) if singles else []:
        for site_id, status, category in conn.execute(
            select(TABLE.c.id, TABLE.c.status, TABLE.c.category).where(clause)
        ):
            s = statuses.index(status) if status in statuses else len(statuses)
            c = categories.index(category) if category in categories else 0
            codes[site_id] = s * len(categories) + c
    return [codes.get(i) if i is not None else None for i in ids]


def count_capped(conn: Session | Connection, flt: ProblemFilter, *, today: dt.date, cap: int) -> int:
    """Return how many sites the filter keeps, counting no further than ``cap + 1`` (is it over ``cap``?)."""
    backend = session_backend(conn)
    kept = select(TABLE.c.id).where(*flt.clauses(today, backend)).limit(cap + 1).subquery("kept")
    version = data_version(conn, TABLE)
    key = None if version is None else ("capped", database_key(conn), version, today, flt, cap)
    return MAP_ANSWERS.get(key, lambda: int(conn.execute(select(func.count()).select_from(kept)).scalar_one()))
