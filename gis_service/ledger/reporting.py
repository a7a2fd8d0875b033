"""Reporting problem sites (上报): check them, derive their jurisdiction, file them with their first event.

One site from the map or a province's 100 000 from a file take the same path: checks over whole
columns, one bulk write of the sites, one of their events, no per-site round trips.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import String, Table, select, type_coerce, update
from sqlalchemy.orm import Session

from gis_service.catalogue import FieldSpec, LayerSpec, catalogue_for
from gis_service.db.backend import session_backend
from gis_service.db.models import Problem, ProblemEvent
from gis_service.errors import BadRequest, Conflict
from gis_service.ledger.common import Clock, catalogue_record
from gis_service.ledger.jurisdiction import jurisdiction_of
from gis_service.ledger.states import ProblemStatus
from gis_service.settings import Settings
from gis_service.store.bulk import insert_features

TABLE: Table = Problem.__table__  # type: ignore[assignment]
EVENTS: Table = ProblemEvent.__table__  # type: ignore[assignment]
TEMP_PREFIX = "tmp-"


def site_frame(problems: LayerSpec, geometry: shapely.Geometry, fields: Mapping[str, Any]) -> gpd.GeoDataFrame:
    """Return a one-site frame of the ``problems`` layer's fields (values checked against it)."""
    return catalogue_record(problems, geometry, fields)


def _categories(category: FieldSpec) -> str:
    """Return the allowed categories as ``label(code)`` text for messages."""
    return "、".join(f"{v.label}({v.code})" for v in category.values.values())


def _with_codes(session: Session, columns: Sequence[Any], codes: list[str]) -> Iterator[Any]:
    """Yield ``columns`` of the sites whose code is in ``codes``: one array query on PostGIS, chunks on SpatiaLite."""
    # Compared as plain text: PostgreSQL's cast to the column's VARCHAR(64) would cut a longer code to a stored one.
    for clause in session_backend(session).member_of(type_coerce(TABLE.c.code, String), codes):
        yield from session.execute(select(*columns).where(clause))


def codes_taken(session: Session, codes: list[str]) -> list[str]:
    """Return which of ``codes`` the ledger already holds."""
    return sorted(row[0] for row in _with_codes(session, [TABLE.c.code], codes))


def check_new_sites(session: Session, problems: LayerSpec, frame: gpd.GeoDataFrame) -> None:
    """Refuse sites without a valid category, with empty geometry, or whose code is already taken."""
    category = problems.field("category")
    if "category" not in frame.columns or frame["category"].isna().any():
        raise BadRequest("问题类别（category）必填；可选：" + _categories(category), code="missing_category")
    bad = sorted({str(c) for c in frame["category"].unique() if c not in category.values})
    if bad:
        raise BadRequest(f"未知问题类别 {bad}；可选：" + _categories(category), code="unknown_category")
    if frame.geometry.isna().any() or frame.geometry.is_empty.any():
        raise BadRequest("问题点缺少几何（空几何）；请提供点位或范围面", code="empty_geometry")
    if "status" in frame.columns:
        unknown = sorted({str(s) for s in frame["status"].dropna().unique() if s not in set(ProblemStatus)})
        if unknown:
            raise BadRequest(f"未知状态 {unknown}", code="unknown_status")
    if "code" not in frame.columns:
        return
    codes = frame["code"].dropna().astype(str)
    dupes = sorted(set(codes[codes.duplicated()]))
    if dupes:
        raise Conflict(
            f"文件中问题编号重复：{', '.join(dupes[:20])}；请保证每个编号唯一",
            code="duplicate_problem_code",
            details={"codes": dupes},
        )
    taken = codes_taken(session, codes.tolist())
    if taken:
        raise Conflict(
            f"问题编号已存在：{', '.join(taken[:20])}；台账中的问题不会被覆盖，请使用新编号",
            code="duplicate_problem_code",
            details={"codes": taken},
        )


def _filled(frame: gpd.GeoDataFrame, derived: pd.DataFrame, today: Any) -> gpd.GeoDataFrame:
    """Return the sites with their derived jurisdiction, default status and date, and a code each."""
    status = frame["status"] if "status" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    found = frame["found_date"] if "found_date" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    code = frame["code"] if "code" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    blank_code = code.isna() | (code.astype(str) == "")
    # A temporary unique code, replaced by one made from the new id once the site is stored.
    temporary = pd.Series(
        [f"{TEMP_PREFIX}{uuid.uuid4().hex}" for _ in range(int(blank_code.sum()))],
        index=frame.index[blank_code],
        dtype=object,
    )
    return frame.assign(
        river_code=derived["river_code"],
        town=derived["town"],
        inside_range=derived["inside_range"].astype(bool),
        status=status.where(status.notna() & (status.astype(str) != ""), ProblemStatus.REPORTED.value),
        found_date=found.where(found.notna(), today),
        code=code.astype(object).where(~blank_code, temporary),
    )


def _ids_of(session: Session, codes: list[str]) -> list[int]:
    """Return the ids of the sites with ``codes``, in that order."""
    found = {row[0]: row[1] for row in _with_codes(session, [TABLE.c.code, TABLE.c.id], codes)}
    return [found[c] for c in codes]


def _first_events(
    frame: gpd.GeoDataFrame, ids: list[int], actor: str, now: Any, note: str | None
) -> dict[str, np.ndarray]:
    """Return the first ledger event of each new site, column by column: ``report``, or ``import`` for history."""
    data = frame[["river_code", "town", "inside_range"]].assign(
        source=frame["source"] if "source" in frame.columns else None
    )
    data = data.astype(object).where(data.notna(), None)
    status = frame["status"].to_numpy(dtype=object)
    n = len(frame)
    return {
        "problem_id": np.asarray(ids, dtype=object),
        "action": np.where(status == ProblemStatus.REPORTED.value, "report", "import").astype(object),
        "from_status": np.full(n, None, dtype=object),
        "to_status": status,
        "actor": np.full(n, actor, dtype=object),
        "at": np.full(n, now, dtype=object),
        "note": np.full(n, note, dtype=object),
        "data": np.asarray(data[["source", "river_code", "town", "inside_range"]].to_dict("records"), dtype=object),
    }


def _write_events(session: Session, columns: dict[str, np.ndarray]) -> None:
    """Write events given column by column: one COPY on PostGIS, an executemany on SpatiaLite."""
    session_backend(session).insert_columns(session.connection(), EVENTS, columns)


def report_new(
    session: Session,
    frame: gpd.GeoDataFrame,
    *,
    actor: str,
    settings: Settings,
    clock: Clock,
    note: str | None = None,
) -> list[int]:
    """Add normalised problem sites (EPSG:4490, catalogue fields) to the ledger; return their ids."""
    if frame.empty:
        return []
    frame = frame.reset_index(drop=True)
    catalogue = catalogue_for(settings)
    check_new_sites(session, catalogue["problems"], frame)
    now = clock()
    derived = jurisdiction_of(session, catalogue, frame, settings.jurisdiction_distance_m)
    frame = _filled(frame, derived, clock.local_date(now))
    insert_features(
        session,
        catalogue["problems"],
        frame,
        {"zone_type": derived["zone_type"], "lock_version": 1, "created_at": now, "updated_at": now},
    )
    codes = frame["code"].astype(str).tolist()
    ids = _ids_of(session, codes)
    generated = np.flatnonzero(frame["code"].astype(str).str.startswith(TEMP_PREFIX).to_numpy())
    if len(generated):
        session.execute(
            update(Problem),
            [{"id": ids[i], "code": f"WT{clock.local_date(now):%Y%m%d}-{ids[i]:06d}"} for i in generated],
        )
    _write_events(session, _first_events(frame, ids, actor, now, note))
    return ids


def report_sites(session: Session, frame: gpd.GeoDataFrame, *, actor: str, settings: Settings, clock: Clock) -> int:
    """Add normalised problem sites to the ledger with derived jurisdiction; return how many were added."""
    return len(report_new(session, frame, actor=actor, settings=settings, clock=clock))
